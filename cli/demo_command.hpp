// `softrnic demo`: two soft RNICs in one process, no hugepages, no root-only set-up.
//   - RoCEv2 over IPv4 and IPv6 between devices a and b on a DPDK net_ring pair (the in-memory
//     loopback wire when DPDK cannot start), connected through the RoCEv2 CM;
//   - iWARP over the kernel's loopback TCP (127.0.0.1 and ::1) through io_uring.
// On each: a Send ping-pong, RDMA Writes of a large buffer, RDMA Reads of it back, every byte
// verified; then a table (or JSON) of bytes, throughput, latency p50/p99 and retransmits.
// `--codec` keeps the older codec round trip (demo_codec.hpp).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace softrnic::cli {

// Defaults of size_mib and pingpongs, without and with --loss.
inline constexpr std::uint32_t kSizeMib = 64, kLossySizeMib = 16;
inline constexpr std::uint32_t kPingpongs = 10000, kLossyPingpongs = 200;
// Go-back-N resends everything after a lost packet, and a lost Read response re-requests the rest
// of its Read: smaller requests keep what one loss costs small.
inline constexpr std::uint32_t kChunkKib = 1024, kLossyChunkKib = 64;

struct DemoCommand {
  bool codec = false;         // the codec round trip instead of the devices
  std::string output;         // --codec: the pcap to write (empty: a temporary directory)
  double loss_percent = 0;    // frames dropped on each RoCE port, 0..50
  std::string capture;        // pcap of what crossed the RoCE wire; empty: none
  bool capture_overwrite = false;       // --capture / --output may replace an existing file
  std::uint64_t capture_max_bytes = 0;  // --capture's size limit; 0: none
  std::string wire = "ring";  // RoCE wire: "ring" (DPDK net_ring) or "loopback" (in memory)
  bool json = false;
  std::optional<std::uint32_t> size_mib;   // written and read back per transport
  std::optional<std::uint32_t> chunk_kib;  // per RDMA Write / Read
  std::optional<std::uint32_t> pingpongs;  // Send round trips per transport
  bool roce = true;                        // run the RoCEv2 part
  bool iwarp = true;                       // run the iWARP part
  bool ndk = true;                         // run the SMB-Direct-like consumer through the NDK shim
  std::string scenario;      // consumer test mode: the NDK part runs under this scenario file
  std::string scenario_log;  // its JSON-lines event log; empty: none
};

// 0 when every phase ran and every byte was verified; 1 when a phase failed or data differed
// (the reason is printed); 2 on an I/O error of --codec.
int run_demo(const DemoCommand& cmd, std::ostream& out, std::ostream& err);

}  // namespace softrnic::cli
