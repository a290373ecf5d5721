#include "capture/capture_port.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

namespace softrnic::capture {

Result<void> CapturePort::start(PcapWriter writer, std::string file) {
  if (writer_) return make_error(Errc::busy, "a capture to " + file_ + " is already running");
  slot_size_ = inner_.max_frame();
  stage_.assign(static_cast<std::size_t>(slot_size_) * kBurst, std::byte{0});
  writer_.emplace(std::move(writer));
  file_ = std::move(file);
  return {};
}

std::optional<PcapWriter> CapturePort::stop() {
  std::optional<PcapWriter> out;
  out.swap(writer_);
  file_.clear();
  stage_ = {};
  return out;
}

void CapturePort::write(ConstByteSpan frame, const Timestamp& ts, CaptureCounter counter) {
  if (auto r = writer_->write(frame, ts); !r) {
    counters_.add(CaptureCounter::write_errors);
    return;
  }
  counters_.add(counter);
}

std::size_t CapturePort::rx_burst(std::span<Packet*> out) {
  const std::size_t n = inner_.rx_burst(out);
  if (!writer_ || n == 0) return n;
  const Timestamp ts = wall_now();
  for (std::size_t i = 0; i < n; ++i) write(out[i]->bytes(), ts, CaptureCounter::rx_frames);
  return n;
}

std::size_t CapturePort::tx_burst(std::span<Packet*> pkts) {
  if (!writer_) return inner_.tx_burst(pkts);
  std::size_t sent = 0;
  while (sent < pkts.size()) {
    const auto chunk = pkts.subspan(sent, std::min(kBurst, pkts.size() - sent));
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      const auto len = static_cast<std::uint32_t>(
          copy_frame(*chunk[i], ByteSpan(stage_.data() + i * slot_size_, slot_size_)));
      if (len < chunk[i]->frame_len()) counters_.add(CaptureCounter::frames_truncated);
      stage_len_[i] = len;
    }
    const std::size_t n = inner_.tx_burst(chunk);
    const Timestamp ts = wall_now();
    for (std::size_t i = 0; i < n; ++i) {
      write(ConstByteSpan(stage_.data() + i * slot_size_, stage_len_[i]), ts,
            CaptureCounter::tx_frames);
    }
    sent += n;
    if (n < chunk.size()) break;  // the rest stay with the caller, unwritten
  }
  return sent;
}

}  // namespace softrnic::capture
