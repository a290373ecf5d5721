// A Port decorator that records the frames crossing a port into a capture file: what `softrnic
// capture` starts and stops through a device's control socket. Off by default, and then each call
// costs one branch on top of the wrapped port's.
//
// While capturing, frames are copied into the capture's CaptureSink (capture_sink.hpp), whose
// writer thread writes the file: no file I/O, lock or allocation here. Received frames are copied
// as the wrapped port's rx_burst hands them out. Transmitted frames are kept only once the
// wrapped port has accepted them, in order; but an accepted frame belongs to the port (a DPDK
// ring's peer may already be reading or freeing it on its own thread), so tx_burst first copies
// the frames into room reserved in the sink, then publishes the accepted ones. A frame that finds
// the sink's ring full is not captured and is counted (capture_frames_dropped).
//
// Threads: every call, start() and stop() included, belongs to the engine thread that owns the
// port (the control socket gets there through roce::Device::submit).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/counters.hpp"
#include "base/result.hpp"
#include "capture/capture_sink.hpp"
#include "engine/port.hpp"

namespace softrnic::capture {

enum class CaptureCounter : std::uint8_t {
  rx_frames,         // received frames handed to the capture file's writer
  tx_frames,         // transmitted (accepted) frames handed to the capture file's writer
  frames_truncated,  // longer than the port's max_frame(): captured cut to it
  frames_dropped,    // the sink's ring was full: the frame is not in the file
  count_
};

constexpr std::string_view counter_name(CaptureCounter c) {
  switch (c) {
    case CaptureCounter::rx_frames:
      return "capture_rx_frames";
    case CaptureCounter::tx_frames:
      return "capture_tx_frames";
    case CaptureCounter::frames_truncated:
      return "capture_frames_truncated";
    case CaptureCounter::frames_dropped:
      return "capture_frames_dropped";
    case CaptureCounter::count_:
      break;
  }
  return "capture_unknown";
}

class CapturePort final : public Port {
 public:
  // The wrapped port must outlive the decorator.
  explicit CapturePort(Port& inner) : inner_(inner) {}
  CapturePort(const CapturePort&) = delete;
  CapturePort& operator=(const CapturePort&) = delete;
  ~CapturePort() override = default;  // an unstopped capture's sink closes when its last owner goes

  std::size_t rx_burst(std::span<Packet*> out) override;
  std::size_t tx_burst(std::span<Packet*> pkts) override;
  Packet* alloc() override { return inner_.alloc(); }
  void free(Packet* p) override { inner_.free(p); }

  std::uint32_t mtu() const override { return inner_.mtu(); }
  std::uint32_t max_frame() const override { return inner_.max_frame(); }
  wire::MacAddr mac() const override { return inner_.mac(); }
  bool link_up() const override { return inner_.link_up(); }
  bool has_link_layer() const override { return inner_.has_link_layer(); }
  // Frames given by reference are staged whole (data, payload, tail) like any other.
  std::uint32_t zero_copy_min() const override { return inner_.zero_copy_min(); }

  // Starts copying frames into `sink` (file names the capture in messages). Fails when a
  // capture runs. Control path only (it allocates the file name).
  [[nodiscard]] Result<void> start(std::shared_ptr<CaptureSink> sink, std::string file);
  // Stops and hands the sink back for the caller to close (off the engine thread if it likes);
  // nullptr when no capture runs.
  std::shared_ptr<CaptureSink> stop();

  bool capturing() const { return sink_ != nullptr; }
  const CaptureSink* sink() const { return sink_.get(); }
  const std::string& file() const { return file_; }
  Port& inner() { return inner_; }
  const Counters<CaptureCounter>& counters() const { return counters_; }

 private:
  static_assert(kBurst <= FrameRing::kMaxReserved, "a transmit burst is reserved at once");

  Port& inner_;
  std::shared_ptr<CaptureSink> sink_;
  std::string file_;
  std::array<std::uint32_t, kBurst> stage_len_{};  // bytes copied for each frame of a burst
  Counters<CaptureCounter> counters_;
};

}  // namespace softrnic::capture
