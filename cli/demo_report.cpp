#include "demo_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

namespace softrnic::cli {

namespace {

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string human_bytes(std::uint64_t b) {
  if (b >= (1u << 20) && b % (1u << 20) == 0) return std::to_string(b >> 20) + " MiB";
  if (b >= (1u << 10) && b % (1u << 10) == 0) return std::to_string(b >> 10) + " KiB";
  if (b >= (1u << 20)) return fixed(static_cast<double>(b) / (1u << 20), 1) + " MiB";
  return std::to_string(b) + " B";
}

std::string pad(const std::string& s, std::size_t w, bool right = false) {
  if (s.size() >= w) return s;
  const std::string fill(w - s.size(), ' ');
  return right ? fill + s : s + fill;
}

std::string duration(double seconds) {
  return seconds < 1 ? fixed(seconds * 1000, 1) + " ms" : fixed(seconds, 2) + " s";
}

}  // namespace

double PhaseResult::throughput_mbps() const {
  return seconds > 0 ? static_cast<double>(bytes) * 8.0 / seconds / 1e6 : 0.0;
}

bool DemoReport::ok() const {
  return failures.empty() &&
         std::all_of(phases.begin(), phases.end(), [](const PhaseResult& p) { return p.ok(); });
}

double percentile(std::vector<double>& samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least p% of the samples at or below it.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(samples.size()));
  const auto i = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
  return samples[std::min(i, samples.size() - 1)];
}

void print_table(const DemoReport& r, std::ostream& out) {
  out << "\nRoCEv2 wire: " << r.roce_wire;
  if (r.loss_percent > 0) out << ", " << fixed(r.loss_percent, 2) << "% loss injected each way";
  out << '\n';
  if (!r.note.empty()) out << "note: " << r.note << '\n';
  out << '\n'
      << pad("transport", 17) << pad("operation", 23) << pad("bytes", 10, true)
      << pad("throughput", 16, true) << pad("p50 us", 10, true) << pad("p99 us", 10, true)
      << pad("retransmits", 13, true) << "  result\n";
  for (const auto& p : r.phases) {
    const std::string tput = p.throughput_mbps() >= 1000
                                 ? fixed(p.throughput_mbps() / 1000, 2) + " Gbit/s"
                                 : fixed(p.throughput_mbps(), 1) + " Mbit/s";
    out << pad(p.transport, 17) << pad(p.operation, 23) << pad(human_bytes(p.bytes), 10, true)
        << pad(tput, 16, true) << pad(p.p50_us ? fixed(*p.p50_us, 1) : "-", 10, true)
        << pad(p.p99_us ? fixed(*p.p99_us, 1) : "-", 10, true)
        << pad(p.retransmits ? std::to_string(*p.retransmits) : p.retransmits_note, 13, true) << "  "
        << (p.ok() ? "verified" : "FAILED: " + (p.error.empty() ? "data differs" : p.error))
        << '\n';
  }
  if (!r.phases.empty()) {
    out << "(latency: a ping-pong round trip; for rdma write/read, post to completion of one "
        << human_bytes(r.chunk) << " request with " << r.window << " in flight; smbd echo: a 64 B "
        << "request/response round trip through the NDK shim; -: the row measures none)\n";
  }
  for (const auto& s : r.skipped) out << pad(s.transport, 17) << "SKIPPED: " << s.reason << '\n';
  for (const auto& f : r.failures) out << "FAILED: " << f << '\n';
  if (!r.capture.empty()) {
    out << "\ncapture: " << r.capture << ", " << r.capture_frames
        << " frames (RoCEv2 as device a saw them; iWARP as ia's TCP streams with synthesized "
           "headers) -- `softrnic decode "
        << r.capture << "`\n";
    if (r.capture_over_limit != 0)
      out << "capture: " << r.capture_over_limit
          << " later frames left out: the file reached --capture-max-bytes\n";
  }
  out << '\n' << (r.ok() ? "demo OK: every byte verified" : "demo FAILED") << '\n';
}

void print_json(const DemoReport& r, std::ostream& out) {
  nlohmann::json j;
  j["ok"] = r.ok();
  j["roce_wire"] = r.roce_wire;
  j["note"] = r.note;
  j["loss_percent"] = r.loss_percent;
  j["chunk_bytes"] = r.chunk;
  j["window"] = r.window;
  j["capture"] = r.capture.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.capture);
  j["capture_frames"] = r.capture_frames;
  j["capture_frames_over_limit"] = r.capture_over_limit;
  j["phases"] = nlohmann::json::array();
  for (const auto& p : r.phases) {
    nlohmann::json e;
    e["transport"] = p.transport;
    e["operation"] = p.operation;
    e["bytes"] = p.bytes;
    e["messages"] = p.messages;
    e["seconds"] = p.seconds;
    e["throughput_mbps"] = p.throughput_mbps();
    if (p.p50_us && p.p99_us) {
      e["latency_us"] = {{"p50", *p.p50_us}, {"p99", *p.p99_us}};
    } else {
      e["latency_us"] = nullptr;  // the row measures no latency
    }
    e["retransmits"] = p.retransmits ? nlohmann::json(*p.retransmits) : nlohmann::json(nullptr);
    e["verified"] = p.verified;
    e["error"] = p.error;
    j["phases"].push_back(std::move(e));
  }
  j["skipped"] = nlohmann::json::array();
  for (const auto& s : r.skipped)
    j["skipped"].push_back({{"transport", s.transport}, {"reason", s.reason}});
  j["failures"] = r.failures;
  out << j.dump(2) << '\n';
}

void Progress::begin(const std::string& label, std::uint64_t total) {
  label_ = label;
  total_ = std::max<std::uint64_t>(total, 1);
  last_draw_ = {};
  if (tty_) draw(0);
}

void Progress::update(std::uint64_t done) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done);
}

void Progress::draw(std::uint64_t done) {
  constexpr int kWidth = 30;
  const auto filled = static_cast<int>(std::min(done, total_) * kWidth / total_);
  err_ << '\r' << pad(label_, 34) << " [" << std::string(static_cast<std::size_t>(filled), '#')
       << std::string(static_cast<std::size_t>(kWidth - filled), '.') << "] "
       << pad(std::to_string(std::min(done, total_) * 100 / total_), 3, true) << "%" << std::flush;
}

void Progress::end(const PhaseResult& r) {
  const std::string verdict =
      r.ok() ? "ok" : "FAILED: " + (r.error.empty() ? "data differs" : r.error);
  if (tty_) {
    draw(r.ok() ? total_ : 0);
    err_ << "  " << duration(r.seconds) << " " << verdict << '\n';
  } else {
    err_ << pad(label_, 34) << " done in " << duration(r.seconds) << ": " << verdict << '\n';
  }
  err_ << std::flush;
}

void Progress::note(const std::string& line) { err_ << line << '\n' << std::flush; }

}  // namespace softrnic::cli
