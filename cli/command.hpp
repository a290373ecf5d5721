// How a subcommand plugs into `softrnic`: each command's file adds its CLI11 subcommand with its
// flags and returns what runs it once the command line parsed. main.cpp only lists them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <vector>

namespace softrnic::cli {

struct Command {
  CLI::App* app = nullptr;  // the subcommand; chosen when *app is true after parsing
  std::function<int(std::ostream& out, std::ostream& err)> run;
};
using CommandList = std::vector<Command>;

// Usage errors (a bad flag, a bad value) exit with this status, as getopt tools do.
inline constexpr int kExitUsage = 2;

void add_decode_command(CLI::App& app, CommandList& list);
void add_demo_command(CLI::App& app, CommandList& list);
void add_devinfo_command(CLI::App& app, CommandList& list);
void add_stats_command(CLI::App& app, CommandList& list);
void add_capture_command(CLI::App& app, CommandList& list);
void add_serve_command(CLI::App& app, CommandList& list);
void add_perftest_commands(CLI::App& app, CommandList& list);  // send_bw ... read_lat
void add_rc_pingpong_command(CLI::App& app, CommandList& list);
void add_ud_pingpong_command(CLI::App& app, CommandList& list);
void add_rping_command(CLI::App& app, CommandList& list);
// Hidden: the command line as JSON for the generated man pages and completions (cli/docs).
void add_cli_model_command(CLI::App& app, CommandList& list);

}  // namespace softrnic::cli
