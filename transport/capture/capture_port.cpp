#include "capture/capture_port.hpp"

#include <algorithm>
#include <utility>

namespace softrnic::capture {

Result<void> CapturePort::start(std::shared_ptr<CaptureSink> sink, std::string file) {
  if (sink_) return make_error(Errc::busy, "a capture to " + file_ + " is already running");
  if (!sink) return make_error(Errc::invalid_argument, "no capture sink for " + file);
  sink_ = std::move(sink);
  file_ = std::move(file);
  return {};
}

std::shared_ptr<CaptureSink> CapturePort::stop() {
  file_.clear();
  return std::exchange(sink_, nullptr);
}

std::size_t CapturePort::rx_burst(std::span<Packet*> out) {
  const std::size_t n = inner_.rx_burst(out);
  if (!sink_ || n == 0) return n;
  const Timestamp ts = wall_now();
  for (std::size_t i = 0; i < n; ++i) {
    counters_.add(sink_->offer(out[i]->bytes(), ts) ? CaptureCounter::rx_frames
                                                     : CaptureCounter::frames_dropped);
  }
  return n;
}

std::size_t CapturePort::tx_burst(std::span<Packet*> pkts) {
  if (!sink_) return inner_.tx_burst(pkts);
  const std::size_t max_frame = inner_.max_frame();
  std::size_t sent = 0;
  while (sent < pkts.size()) {
    const auto chunk = pkts.subspan(sent, std::min(kBurst, pkts.size() - sent));
    // Copied before the port takes them; the rest of the chunk waits for no room.
    std::size_t staged = 0;
    for (; staged < chunk.size(); ++staged) {
      const Packet& p = *chunk[staged];
      const ByteSpan room = sink_->reserve(std::min<std::size_t>(p.frame_len(), max_frame));
      if (room.empty()) break;
      stage_len_[staged] = static_cast<std::uint32_t>(copy_frame(p, room));
      if (stage_len_[staged] < p.frame_len()) counters_.add(CaptureCounter::frames_truncated);
    }
    const std::size_t n = inner_.tx_burst(chunk);
    const std::size_t kept = std::min(n, staged);
    // Frames past `staged` had no room: publish counts them as dropped.
    for (std::size_t i = staged; i < n; ++i) stage_len_[i] = 0;
    sink_->publish(std::span(stage_len_).first(n), wall_now());
    counters_.add(CaptureCounter::tx_frames, kept);
    counters_.add(CaptureCounter::frames_dropped, n - kept);
    sent += n;
    if (n < chunk.size()) break;  // the rest stay with the caller, uncaptured
  }
  return sent;
}

}  // namespace softrnic::capture
