// `softrnic cli-model`: the command line as the parser knows it (every subcommand, option, flag,
// positional, type, default and help text) as JSON. The build turns it into the man pages and the
// bash/zsh completions (cli/docs/gen_docs.py), so they cannot drift from the parser.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "command.hpp"

namespace softrnic::cli {
namespace {

nlohmann::json describe_option(const CLI::Option& o) {
  nlohmann::json j;
  j["short"] = o.get_snames();
  j["long"] = o.get_lnames();
  j["positional"] = o.get_positional() && o.get_snames().empty() && o.get_lnames().empty();
  j["name"] = o.get_name(true, false);
  const bool flag = o.get_expected_max() == 0;  // CLI11 flags expect no value
  j["value"] = flag ? std::string() : o.get_type_name();
  j["flag"] = flag;
  j["value_optional"] = !flag && o.get_expected_min() == 0;
  j["repeatable"] = o.get_expected_max() > 1;
  j["required"] = o.get_required();
  j["default"] = o.get_default_str();
  j["description"] = o.get_description();
  return j;
}

nlohmann::json describe_app(const CLI::App& app) {
  nlohmann::json j;
  j["name"] = app.get_name();
  j["description"] = app.get_description();
  j["footer"] = app.get_footer();
  j["options"] = nlohmann::json::array();
  for (const CLI::Option* o : app.get_options()) j["options"].push_back(describe_option(*o));
  j["subcommands"] = nlohmann::json::array();
  for (const CLI::App* s : app.get_subcommands([](const CLI::App* a) { return !a->get_group().empty(); }))
    j["subcommands"].push_back(describe_app(*s));
  return j;
}

}  // namespace

void add_cli_model_command(CLI::App& app, CommandList& list) {
  auto* sub = app.add_subcommand("cli-model", "The command line as JSON, for man pages and completions");
  sub->group("");  // hidden from --help: a build tool, not a user command
  list.push_back({sub, [&app](std::ostream& out, std::ostream&) {
                    out << describe_app(app).dump(1) << "\n";
                    return 0;
                  }});
}

}  // namespace softrnic::cli
