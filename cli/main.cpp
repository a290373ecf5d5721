// softrnic: the command-line front end. Parsing only; the commands live in the softrnic_cli library
// so that tests call the same code, and each adds its own subcommand (command.hpp).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "command.hpp"
#include "journal_log.hpp"

#ifndef SOFTRNIC_VERSION
#error "SOFTRNIC_VERSION is set by cli/meson.build"
#endif

int main(int argc, char** argv) {
  namespace cli = softrnic::cli;
  CLI::App app{"softrnic: a software RDMA NIC (RoCEv2 and iWARP-lite)", "softrnic"};
  app.set_version_flag("--version", std::string("softrnic ") + SOFTRNIC_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log control-path details to stderr");

  cli::CommandList commands;
  cli::add_demo_command(app, commands);
  cli::add_devinfo_command(app, commands);
  cli::add_stats_command(app, commands);
  cli::add_capture_command(app, commands);
  cli::add_serve_command(app, commands);
  cli::add_decode_command(app, commands);
  cli::add_perftest_commands(app, commands);
  cli::add_rc_pingpong_command(app, commands);
  cli::add_ud_pingpong_command(app, commands);
  cli::add_rping_command(app, commands);
  cli::add_cli_model_command(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : cli::kExitUsage;
  }

  // Logs go to stderr so that stdout stays machine-readable (decode --json); under systemd in
  // the journal's "<N>message" form (journal_log.hpp).
  spdlog::set_default_logger(cli::make_stderr_logger(cli::stderr_is_journal()));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  for (const auto& c : commands)
    if (*c.app) return c.run(std::cout, std::cerr);
  return cli::kExitUsage;
}
