// A Port decorator that records the frames crossing a port into a pcap file: what `softrnic
// capture` starts and stops through a device's control socket. Off by default, and then each call
// costs one branch on top of the wrapped port's.
//
// Received frames are written as the wrapped port's rx_burst hands them out. Transmitted frames
// are written only once the wrapped port has accepted them, in order; but an accepted frame
// belongs to the port (a DPDK ring's peer may already be reading or freeing it on its own thread),
// so while capturing, tx_burst first copies the frames into a staging area sized at start(), then
// writes the accepted ones from there. Nothing is allocated per packet.
//
// Threads: every call, start() and stop() included, belongs to the engine thread that owns the
// port (the control socket gets there through roce::Device::submit).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/counters.hpp"
#include "base/result.hpp"
#include "capture/pcap_file.hpp"
#include "engine/port.hpp"

namespace softrnic::capture {

enum class CaptureCounter : std::uint8_t {
  rx_frames,         // received frames written
  tx_frames,         // transmitted (accepted) frames written
  frames_truncated,  // longer than the port's max_frame(): written cut to it
  write_errors,      // the writer refused a frame (disk full, ...): the frame is not in the file
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
    case CaptureCounter::write_errors:
      return "capture_write_errors";
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
  ~CapturePort() override = default;  // an unstopped capture is flushed and closed with the writer

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

  // Starts writing to `writer` (file names the capture in messages). Fails when a capture runs.
  // Allocates the staging area: control path only.
  [[nodiscard]] Result<void> start(PcapWriter writer, std::string file);
  // Stops and hands the writer back for the caller to close (off the engine thread if it likes);
  // nothing when no capture runs.
  std::optional<PcapWriter> stop();

  bool capturing() const { return writer_.has_value(); }
  const std::string& file() const { return file_; }
  Port& inner() { return inner_; }
  const Counters<CaptureCounter>& counters() const { return counters_; }

 private:
  void write(ConstByteSpan frame, const Timestamp& ts, CaptureCounter counter);

  Port& inner_;
  std::optional<PcapWriter> writer_;
  std::string file_;
  std::uint32_t slot_size_ = 0;
  std::vector<std::byte> stage_;                   // kBurst slots of slot_size_ bytes
  std::array<std::uint32_t, kBurst> stage_len_{};  // bytes copied into each slot
  Counters<CaptureCounter> counters_;
};

}  // namespace softrnic::capture
