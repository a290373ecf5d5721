// softrnic: the command-line front end. Parsing only; the commands live in the softrnic_cli library
// so that tests call the same code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "decode_command.hpp"
#include "demo_command.hpp"

#ifndef SOFTRNIC_VERSION
#error "SOFTRNIC_VERSION is set by cli/meson.build"
#endif

int main(int argc, char** argv) {
  CLI::App app{"softrnic: a software RDMA NIC (RoCEv2 and iWARP-lite)", "softrnic"};
  app.set_version_flag("--version", std::string("softrnic ") + SOFTRNIC_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log control-path details to stderr");

  softrnic::cli::DecodeCommand decode;
  auto* decode_cmd = app.add_subcommand(
      "decode",
      "List the RoCEv2, iWARP, ARP and ND packets of a pcap/pcapng capture, checking "
      "every ICRC/CRC; exits 1 if one is bad or a frame is malformed");
  decode_cmd->add_option("FILE", decode.path, "Capture file (pcap or pcapng)")->required();
  decode_cmd->add_flag("--json", decode.json, "One JSON object per line instead of text");

  softrnic::cli::DemoCommand demo;
  auto* demo_cmd = app.add_subcommand(
      "demo",
      "Codec round trip for now: build a frame for every opcode, write a pcap, decode it "
      "back and compare");
  demo_cmd->add_option("-o,--output", demo.output,
                       "Where to write the capture (default: demo.pcap in a new temp directory)");

  CLI11_PARSE(app, argc, argv);

  // Logs go to stderr so that stdout stays machine-readable (decode --json).
  spdlog::set_default_logger(spdlog::stderr_color_mt("softrnic"));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  if (*decode_cmd) return softrnic::cli::run_decode(decode, std::cout, std::cerr);
  if (*demo_cmd) return softrnic::cli::run_demo(demo, std::cout, std::cerr);
  return 2;
}
