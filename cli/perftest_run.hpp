// The data phase of the perftest dialect on connected QPs, written to behave on the wire as
// perftest's own loops do so that a real ib_*_bw / ib_*_lat can be the peer:
//   *_bw (Write/Read/Atomic): the client keeps up to tx depth operations in flight per QP toward
//     the peer's advertised address; the server's CPU does nothing.
//   send_bw: the server keeps receives posted (one per expected message) and counts them; the
//     client sends. On iWARP (no RNR) the server grants credit as perftest does there: every
//     rx_depth/3 receives it RDMA-Writes its receive count (a 32-bit host-order word) into the
//     client's credit word, whose address and key replace the buffer's in the key message; the
//     client keeps at most rx_depth sends beyond the last grant.
//   write_lat: ping-pong of RDMA Writes; each side sets the last byte of the message to the
//     iteration number (mod 256) and waits for that byte to change in its own buffer.
//   send_lat: ping-pong of Sends, the client first.
//   read_lat / atomic (lat): the client alone, one operation at a time.
// Latency is measured between consecutive posts (halved for the ping-pongs), bandwidth from the
// first post to the last completion, as perftest reports them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "perftest_fabric.hpp"
#include "perftest_oob.hpp"

namespace softrnic::cli::perftest {

enum class Verb { send, write, read, atomic };
enum class Test { bw, lat };

struct RunParams {
  Verb verb = Verb::write;
  Test test = Test::bw;
  bool client = false;
  std::uint64_t iters = 1000;
  double duration = 0;  // seconds; 0: by iterations
  std::uint32_t tx_depth = 128;
  std::uint32_t rx_depth = 512;
  std::uint32_t cq_mod = 100;
  bool cmp_swap = false;   // atomics: compare-and-swap instead of fetch-and-add
  bool credits = false;    // send_bw on iWARP
  std::function<bool()> stop;
  std::chrono::milliseconds stall_timeout{15000};  // no progress for this long: the peer is gone
};

// One registered buffer with perftest's layout: per QP i, a local area at i*area and the area the
// peer targets at (qps+i)*area; then one 32-bit credit word per QP.
class Buffers {
 public:
  [[nodiscard]] Result<void> allocate(Fabric& f, int qps, std::uint64_t area);
  std::uint64_t area() const { return area_; }
  std::byte* local(int qp) { return base_ + static_cast<std::uint64_t>(qp) * area_; }
  std::byte* target(int qp) { return base_ + static_cast<std::uint64_t>(qps_ + qp) * area_; }
  std::byte* credit(int qp) { return base_ + 2 * static_cast<std::uint64_t>(qps_) * area_ + 4u * static_cast<unsigned>(qp); }
  std::uint64_t va(const std::byte* p) const { return reinterpret_cast<std::uint64_t>(p); }
  std::uint32_t key() const { return key_; }

 private:
  std::vector<std::byte> storage_;
  std::byte* base_ = nullptr;
  std::uint64_t area_ = 0;
  int qps_ = 0;
  std::uint32_t key_ = 0;
};

// What one size's run measured (times in ns of the steady clock).
struct Measure {
  std::uint64_t size = 0;
  std::uint64_t iters = 0;  // completed operations (all QPs)
  std::vector<std::uint64_t> posted, completed;
  bool interrupted = false;
};

// Receives a Send test needs before the peer may start (the receiving side of send_bw, both
// sides of send_lat): posted before the key message that releases the peer.
[[nodiscard]] Result<void> prepare_size(Fabric& f, const std::vector<int>& qps, Buffers& b,
                                        std::uint64_t size, const RunParams& p);
[[nodiscard]] Result<Measure> run_size(Fabric& f, const std::vector<int>& qps, Buffers& b,
                                       const std::vector<Dest>& peers, std::uint64_t size,
                                       const RunParams& p);

struct LatStats {
  double t_min = 0, t_max = 0, t_typical = 0, t_avg = 0, t_stdev = 0, p99 = 0, p999 = 0;
};
// format_factor: 0x100000 for MB/sec, 125000000 for Gb/sec.
BwReport bw_report(const Measure& m, std::uint32_t cq_mod, double format_factor);
LatStats lat_stats(const Measure& m, bool round_trip);

}  // namespace softrnic::cli::perftest
