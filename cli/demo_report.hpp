// What `softrnic demo` measured, and how it shows it: a progress bar per phase (redrawn in place
// when stderr is a terminal, one plain line per phase otherwise), then a table or JSON.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace softrnic::cli {

struct PhaseResult {
  std::string transport;       // "RoCEv2/IPv4", "iWARP/IPv6", ...
  std::string operation;       // "send ping-pong", "rdma write", "rdma read"
  std::uint64_t bytes = 0;     // payload bytes moved (both directions for the ping-pong)
  std::uint64_t messages = 0;  // work requests completed
  double seconds = 0;
  // Per round trip (ping-pong) or per work request; none for a row that measures no latency.
  std::optional<double> p50_us, p99_us;
  std::optional<std::uint64_t> retransmits;  // unset: the transport's retransmits are not ours
  std::string retransmits_note = "n/a (TCP)";  // shown when retransmits is unset
  bool verified = false;                     // every byte compared equal
  std::string error;                         // non-empty: the phase failed, and why
  bool ok() const { return error.empty() && verified; }
  double throughput_mbps() const;  // megabits per second (10^6), 0 when nothing was timed
};

struct SkippedPart {
  std::string transport;
  std::string reason;
};

struct DemoReport {
  std::string roce_wire;  // "net_ring (DPDK)" or "loopback (in memory)"
  std::string note;       // why the wire is not the intended one; empty when it is
  double loss_percent = 0;
  std::string capture;  // the pcap written, empty when none
  std::uint64_t capture_frames = 0;
  std::uint64_t capture_over_limit = 0;  // frames left out: the file reached --capture-max-bytes
  std::vector<PhaseResult> phases;
  std::vector<SkippedPart> skipped;
  std::vector<std::string> failures;  // failures outside a phase (set-up, connection)
  std::uint32_t chunk = 0;            // bytes per RDMA Write/Read
  std::uint32_t window = 0;           // of them in flight
  bool ok() const;
};

// p-th percentile (0..100) of samples, in the samples' unit; 0 when there are none. Sorts them.
double percentile(std::vector<double>& samples, double p);

void print_table(const DemoReport& r, std::ostream& out);
void print_json(const DemoReport& r, std::ostream& out);

// Progress of one phase on stderr: a bar redrawn at most every 100 ms on a terminal, else a
// single line when the phase ends.
class Progress {
 public:
  Progress(std::ostream& err, bool terminal) : err_(err), tty_(terminal) {}
  void begin(const std::string& label, std::uint64_t total);
  void update(std::uint64_t done);
  void end(const PhaseResult& r);
  void note(const std::string& line);  // a line of its own (set-up steps)

 private:
  void draw(std::uint64_t done);
  std::ostream& err_;
  bool tty_;
  std::string label_;
  std::uint64_t total_ = 1;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace softrnic::cli
