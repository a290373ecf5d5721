// Receive side of one direction of an iWARP TCP connection: turns a byte stream, fed in chunks
// split anywhere, into MPA Request/Reply frames and FPDUs (RFC 5044). It keeps explicit state --
// which message it is in and how many of its bytes it holds -- so every split point gives the same
// events. A message wholly inside a fed chunk is reported in place (no copy); one that straddles
// chunks is gathered in a buffer sized for the largest FPDU, allocated once at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string_view>

#include "base/bytes.hpp"
#include "base/counters.hpp"
#include "wire/iwarp_error.hpp"
#include "wire/mpa.hpp"
#include "wire/mpa_fpdu.hpp"

namespace softrnic::wire {

// What the direction starts with: the initiator -> responder direction with the Request, the
// responder -> initiator direction with the Reply; `fpdus` skips connection setup.
enum class MpaStreamStart : std::uint8_t { request, reply, fpdus };

struct MpaStreamOptions {
  MpaStreamStart start = MpaStreamStart::fpdus;
  // CRC in this direction's FPDUs. The Reply's C bit decides for both directions (RFC 5044 s.7):
  // a stream that starts with the Reply takes it from there, the Request direction is told by its
  // owner (set_crc) once the Reply has been seen on the other direction.
  bool crc = false;
  // RFC 5044: a CRC error ends the connection. Capture decoders that want to see the FPDU anyway
  // set this to false; such FPDUs are then reported with CrcVerdict::bad.
  bool stop_on_bad_crc = true;
};

enum class MpaStreamPhase : std::uint8_t { mpa_frame, fpdus, stopped };

#define SOFTRNIC_MPA_STREAM_COUNTERS(X)                          \
  X(bytes)                                                       \
  X(mpa_frames)                                                  \
  X(fpdus)                                                       \
  X(fpdus_reassembled) /* gathered across chunks, i.e. copied */ \
  X(crc_bad)                                                     \
  X(errors)

enum class MpaStreamCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_MPA_STREAM_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
  count_
};

constexpr std::string_view counter_name(MpaStreamCounter c) {
  switch (c) {
#define SOFTRNIC_X(n)       \
  case MpaStreamCounter::n: \
    return "mpa_rx_" #n;
    SOFTRNIC_MPA_STREAM_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case MpaStreamCounter::count_:
      break;
  }
  return "mpa_rx_unknown";
}

// Receives the events of MpaStream::feed. Spans are valid only during the call (they point into
// the fed chunk or into the stream's buffer).
class MpaStreamVisitor {
 public:
  virtual ~MpaStreamVisitor() = default;
  virtual void on_mpa_frame(const MpaFrame& frame, ConstByteSpan bytes) = 0;
  virtual void on_fpdu(const ParsedFpdu& fpdu) = 0;
  // The last event of a stream: `bytes` is what there is of the offending message.
  virtual void on_error(IwarpError error, ConstByteSpan bytes) = 0;
};

class MpaStream {
 public:
  explicit MpaStream(const MpaStreamOptions& opts);
  MpaStream(const MpaStream&) = delete;
  MpaStream& operator=(const MpaStream&) = delete;

  // Takes the next bytes of the direction and reports every message they complete. Returns how
  // many bytes of chunk were taken: all of them, unless an error stopped the stream (the bytes
  // after the offending message are then not taken, and later calls take nothing).
  std::size_t feed(ConstByteSpan chunk, MpaStreamVisitor& visitor);

  // Sets whether FPDUs carry a CRC. A change is refused (false) once the first FPDU byte has been
  // taken: the mode is fixed for the life of the connection. May be called from on_mpa_frame.
  [[nodiscard]] bool set_crc(bool on);
  bool crc() const { return crc_; }

  MpaStreamPhase phase() const { return phase_; }
  std::optional<IwarpError> error() const { return error_; }
  std::uint64_t offset() const { return offset_; }  // bytes taken so far
  // Stream offset of the first byte of the message being reported (valid during callbacks).
  std::uint64_t message_offset() const { return message_offset_; }
  std::size_t buffered() const { return buffered_; }
  const Counters<MpaStreamCounter>& counters() const { return counters_; }

 private:
  std::expected<std::size_t, IwarpError> message_size(ConstByteSpan b) const;
  void take(std::size_t n);
  void deliver(ConstByteSpan message, MpaStreamVisitor& v);
  void deliver_mpa_frame(ConstByteSpan message, MpaStreamVisitor& v);
  void deliver_fpdu(ConstByteSpan message, MpaStreamVisitor& v);
  void fail(IwarpError e, ConstByteSpan bytes, MpaStreamVisitor& v);

  MpaStreamStart start_;
  bool stop_on_bad_crc_;
  bool crc_;
  bool fpdu_bytes_taken_ = false;
  MpaStreamPhase phase_;
  std::optional<IwarpError> error_;
  std::unique_ptr<std::byte[]> buffer_;  // kMaxFpduSize bytes (also holds a Request/Reply)
  std::size_t buffered_ = 0;
  std::uint64_t offset_ = 0;
  std::uint64_t message_offset_ = 0;
  Counters<MpaStreamCounter> counters_;
};

}  // namespace softrnic::wire
