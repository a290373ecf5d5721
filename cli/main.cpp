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
      "Two soft RNICs in one process, no hugepages, no root-only set-up: RoCEv2 over IPv4 and "
      "IPv6 on an in-memory DPDK net_ring pair (the in-memory loopback wire if DPDK cannot "
      "start), connected by the RoCEv2 CM, and iWARP over the kernel's loopback TCP "
      "(127.0.0.1 and ::1, io_uring). On each: a Send ping-pong, RDMA Writes of a large buffer "
      "and RDMA Reads of it back, every byte verified; then a table of bytes, throughput, "
      "latency p50/p99 and retransmits. Exits 1 if a phase fails or a byte differs");
  demo_cmd
      ->add_option("--loss", demo.loss_percent,
                   "Drop this percentage of frames on each RoCEv2 port (fault injection) to "
                   "show recovery; iWARP is left alone (kernel TCP recovers its own losses)")
      ->check(CLI::Range(0.0, 50.0));
  demo_cmd->add_option("--capture", demo.capture,
                       "Write what crossed the RoCEv2 wire (as device a saw it) to this pcap file. "
                       "iWARP runs on kernel TCP, below which the engine sees no frames: it is "
                       "not captured");
  demo_cmd
      ->add_option("--wire", demo.wire,
                   "RoCEv2 wire: ring (DPDK net_ring pair, no hugepages; falls back to loopback "
                   "when DPDK cannot start) or loopback (in-memory, no DPDK)")
      ->check(CLI::IsMember({"ring", "loopback"}))
      ->capture_default_str();
  demo_cmd->add_flag("--json", demo.json, "Results as one JSON document on stdout");
  demo_cmd
      ->add_option("--size", demo.size_mib,
                   "MiB written and read back per transport (default " +
                       std::to_string(softrnic::cli::kSizeMib) + ", with --loss " +
                       std::to_string(softrnic::cli::kLossySizeMib) + ")")
      ->check(CLI::Range(1, 1024));
  demo_cmd
      ->add_option("--chunk", demo.chunk_kib,
                   "KiB per RDMA Write and Read (default " +
                       std::to_string(softrnic::cli::kChunkKib) + ", with --loss " +
                       std::to_string(softrnic::cli::kLossyChunkKib) + ")")
      ->check(CLI::Range(1, 16384));
  demo_cmd
      ->add_option("--pingpongs", demo.pingpongs,
                   "Send round trips per transport (default " +
                       std::to_string(softrnic::cli::kPingpongs) + ", with --loss " +
                       std::to_string(softrnic::cli::kLossyPingpongs) + ")")
      ->check(CLI::Range(1, 1000000));
  bool no_roce = false, no_iwarp = false;
  auto* no_roce_flag = demo_cmd->add_flag("--no-roce", no_roce, "Leave out the RoCEv2 part");
  demo_cmd->add_flag("--no-iwarp", no_iwarp, "Leave out the iWARP part")->excludes(no_roce_flag);
  auto* codec_flag = demo_cmd->add_flag(
      "--codec", demo.codec,
      "Instead: the codec round trip (build a frame for every opcode, write a pcap, decode it "
      "back and compare)");
  demo_cmd
      ->add_option("-o,--output", demo.output,
                   "With --codec: where to write the capture (default: demo.pcap in a new temp "
                   "directory)")
      ->needs(codec_flag);

  // Usage errors exit with status 2 (as getopt tools do); --help and --version with 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  demo.roce = !no_roce;
  demo.iwarp = !no_iwarp;

  // Logs go to stderr so that stdout stays machine-readable (decode --json).
  spdlog::set_default_logger(spdlog::stderr_color_mt("softrnic"));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  if (*decode_cmd) return softrnic::cli::run_decode(decode, std::cout, std::cerr);
  if (*demo_cmd) return softrnic::cli::run_demo(demo, std::cout, std::cerr);
  return 2;
}
