// The rping client and server (rping_format.hpp has the protocol) over either wire: RoCEv2 with
// its CM (softrnic/cm) or iWARP (iwarp::Device), which take the same connection calls and events.
// One thread: the device, the CM and every connection are polled in turn. The verbs choices are
// rping's: per connection a PD, a CQ of 32, an RC QP of 16 send and 2 receive WRs (one receive
// posted, reposted as each completes), IRD and ORD 1 offered, retry and RNR retry 7.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "cm/connection_manager.hpp"
#include "hosted_devices.hpp"
#include "iwarp/device.hpp"
#include "roce/device.hpp"

namespace softrnic::cli {

struct RpingConfig {
  int size = 64;            // -S
  int count = 0;            // -C; 0: until Ctrl-C
  bool verbose = false;     // -v: print the ping data
  bool validate = false;    // -V: the client compares what came back with what it sent
  bool debug = false;       // -d: rping's debug lines on stdout
  bool persistent = false;  // -P: the server serves one client after another, or several at once
  std::chrono::milliseconds timeout{10000};  // a peer that should answer and does not
};

struct RpingResult {
  std::uint64_t pings = 0;        // completed round trips (every connection of a server)
  std::uint64_t connections = 0;  // accepted (server)
  std::string error;              // empty: success
  bool interrupted = false;
};

struct RoceSide {
  HostedDevices& hosted;
  roce::Device& dev;
  cm::ConnectionManager& cm;
  using Qp = roce::Qp;
  void poll() {
    hosted.poll();
    cm.poll();
  }
};

struct IwarpSide {
  HostedDevices& hosted;
  iwarp::Device& dev;
  iwarp::Device& cm;  // an iWARP device makes its own connections
  using Qp = iwarp::Qp;
  void poll() { hosted.poll(); }
};

// The client: connects to p.remote and pings cfg.count times (forever when 0), then disconnects.
template <class Side>
RpingResult run_rping_client(Side& side, const RpingConfig& cfg, const cm::ConnectParams& p,
                             std::ostream& out, std::ostream& err);
// The server: listens on `at` (address all zero: every address of the device) and answers pings
// until its client disconnects (with persistent: until Ctrl-C).
template <class Side>
RpingResult run_rping_server(Side& side, const RpingConfig& cfg, const cm::Address& at,
                             std::ostream& out, std::ostream& err);

}  // namespace softrnic::cli
