// One side of an rc_pingpong / ud_pingpong run on a RoCEv2 device, with the verbs choices of
// rdma-core's ibv_rc_pingpong / ibv_ud_pingpong (so the two interoperate and measure alike):
//
//   one buffer of `size` bytes (UD: 40 more, the GRH room in front of what arrives), filled with
//   0x7b and registered for local write; a CQ of rx_depth + 1; a QP with one send WR and rx_depth
//   receive WRs, all receives pointing at the same buffer. RC: path MTU -m, rq PSN from the peer,
//   one read/atomic each way, min RNR timer 12, timeout 14, retry and RNR retry 7. UD: Q_Key
//   0x11111111, sends from buffer + 40.
//
//   The loop: the client sends first. A side posts its next send once both its previous send
//   and a receive have completed, until it has sent `iters`; it is done when it has sent and
//   received `iters` messages. Receives are topped up to rx_depth whenever one or none is left.
//
//   -c: the client writes 0 at the first byte of every page of its buffer; a side checks, after the
//   run, that what it holds is the client's buffer (0 at each page start, 0x7b elsewhere).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "hosted_devices.hpp"
#include "pingpong_format.hpp"

namespace softrnic::cli {

inline constexpr std::uint32_t kUdQkey = 0x11111111;
inline constexpr std::uint32_t kUdGrhRoom = 40;

struct PingpongConfig {
  bool ud = false;
  std::uint32_t size = 4096;
  std::uint32_t rx_depth = 500;
  std::uint32_t iters = 1000;
  std::uint32_t mtu = 1024;                  // RC path MTU
  bool events = false;                       // -e: wait for CQ notifications before polling
  bool validate = false;                     // -c
  std::chrono::milliseconds timeout{10000};  // no completion for this long: the peer is gone
};

struct PingpongOutcome {
  std::uint64_t sent = 0, received = 0;
  double usec = 0;
  std::uint64_t cq_events = 0;
  bool interrupted = false;
  std::string error;                   // empty when the run completed
  std::vector<std::size_t> bad_pages;  // -c: pages whose bytes differ
  std::uint64_t iters_done() const { return sent < received ? sent : received; }
};

class PingpongSession {
 public:
  [[nodiscard]] static Result<std::unique_ptr<PingpongSession>> create(HostedDevices& h,
                                                                       const PingpongConfig& c);
  ~PingpongSession();
  PingpongSession(const PingpongSession&) = delete;
  PingpongSession& operator=(const PingpongSession&) = delete;

  std::uint32_t qpn() const;
  // Brings the QP up toward the peer (RC: to RTS with the peer's QPN and PSN; UD: to RTS and an
  // address handle to the peer's GID) and posts the receives.
  [[nodiscard]] Result<void> connect(const wire::Ipv6Addr& local_gid, std::uint32_t my_psn,
                                     const PingpongDest& peer);
  // Runs the exchange to the end, to an error, to the timeout or to Ctrl-C.
  PingpongOutcome run(bool client);

  struct State;

 private:
  explicit PingpongSession(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

}  // namespace softrnic::cli
