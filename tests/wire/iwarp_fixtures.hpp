// Shared by the iWARP tests: hex input, ULPDU specs for every RDMAP opcode, and a visitor that
// records what an MpaStream reports so that runs with different chunkings can be compared.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "wire/ddp_rdmap.hpp"
#include "wire/mpa.hpp"
#include "wire/mpa_fpdu.hpp"
#include "wire/mpa_stream.hpp"

namespace softrnic::wire::iwarp_test {

using Bytes = std::vector<std::byte>;

inline Bytes hex(std::string_view h) {
  Bytes out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < h.size();) {
    if (h[i] == ' ' || h[i] == '\n') {
      ++i;
      continue;
    }
    out.push_back(std::byte(nib(h[i]) << 4 | nib(h[i + 1])));
    i += 2;
  }
  return out;
}

inline Bytes pattern(std::size_t n, std::uint8_t seed = 0) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
  return b;
}

inline Bytes concat(std::initializer_list<ConstByteSpan> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Terminate options with D and R: DDP Segment Length, an untagged DDP header, a Read Request
// header (what a responder sends back about a Read Request it refused).
inline const Bytes& terminate_options() {
  static const Bytes opts = [] {
    UlpduSpec rr;
    rr.ddp.ctrl.opcode = static_cast<std::uint8_t>(RdmapOp::rdma_read_request);
    rr.ddp.untagged.qn = ddp_queue::kReadRequest;
    rr.read_request = {Stag{0x1111}, 0x2222, 64, Stag{0x3333}, 0x4444};
    Bytes b(kDdpSegmentLengthSize + ulpdu_size(rr));
    store_be16(b, 0, static_cast<std::uint16_t>(ulpdu_size(rr)));
    EXPECT_TRUE(build_ulpdu(rr, ByteSpan(b).subspan(kDdpSegmentLengthSize)).has_value());
    return b;
  }();
  return opts;
}

// A plausible ULPDU for op, carrying payload where the opcode has one. The spec points at
// payload: keep it alive as long as the spec.
inline UlpduSpec spec_for(RdmapOp op, ConstByteSpan payload = {}) {
  const RdmapOpcodeInfo& info = rdmap_opcode_info(op);
  UlpduSpec s;
  s.ddp.ctrl.tagged = info.tagged;
  s.ddp.ctrl.last = true;
  s.ddp.ctrl.opcode = static_cast<std::uint8_t>(op);
  if (info.tagged) {
    s.ddp.tagged = {Stag{0x12345678}, 0x00007f0000001000};
  } else {
    s.ddp.untagged = {info.invalidate ? 0xabcdef01u : 0u, info.queue, DdpMsn{7}, 0};
  }
  if (op == RdmapOp::rdma_read_request)
    s.read_request = {Stag{0x2222}, 0x7f0000009000, 4096, Stag{0x1234}, 0x7f0000002000};
  if (op == RdmapOp::terminate) {
    s.ddp.untagged.msn = DdpMsn{1};
    s.terminate.layer = terminate_layer::kDdp;
    s.terminate.etype = 2;
    s.terminate.code = 0x01;
    s.terminate.m = s.terminate.d = s.terminate.r = true;
    s.terminate.options = terminate_options();
  }
  if (info.payload) s.payload = payload;
  return s;
}

inline Bytes fpdu_of(const UlpduSpec& s, bool crc) {
  Bytes b(fpdu_size(ulpdu_size(s)));
  auto n = build_fpdu(s, crc, b);
  EXPECT_TRUE(n.has_value()) << (n ? "" : n.error().to_string());
  return b;
}

inline Bytes mpa_of(const MpaFrame& f) {
  Bytes b(f.wire_size());
  auto n = build_mpa_frame(f, b);
  EXPECT_TRUE(n.has_value()) << (n ? "" : n.error().to_string());
  return b;
}

struct StreamEvent {
  enum class Kind { mpa_frame, fpdu, error };
  Kind kind;
  std::uint64_t offset = 0;
  Bytes bytes;
  IwarpError error = IwarpError::count_;
  CrcVerdict crc = CrcVerdict::off;
  bool operator==(const StreamEvent&) const = default;
};

// Records events; optionally sets the CRC mode when the Request goes by (as the owner of the
// Request direction does after seeing the Reply on the other direction).
class Recorder : public MpaStreamVisitor {
 public:
  explicit Recorder(MpaStream& s, std::optional<bool> crc_after_request = std::nullopt)
      : stream_(s), crc_after_request_(crc_after_request) {}

  std::vector<StreamEvent> events;
  std::vector<MpaFrame> frames;  // private_data spans are not valid after the call
  std::function<void(const ParsedFpdu&)> fpdu_check;

  void on_mpa_frame(const MpaFrame& f, ConstByteSpan bytes) override {
    events.push_back({StreamEvent::Kind::mpa_frame, stream_.message_offset(),
                      Bytes(bytes.begin(), bytes.end())});
    frames.push_back(f);
    if (crc_after_request_ && f.kind == MpaKind::request) {
      EXPECT_TRUE(stream_.set_crc(*crc_after_request_));
    }
  }
  void on_fpdu(const ParsedFpdu& f) override {
    events.push_back({StreamEvent::Kind::fpdu, stream_.message_offset(),
                      Bytes(f.bytes.begin(), f.bytes.end()), IwarpError::count_, f.crc});
    if (fpdu_check) fpdu_check(f);
  }
  void on_error(IwarpError e, ConstByteSpan bytes) override {
    events.push_back(
        {StreamEvent::Kind::error, stream_.message_offset(), Bytes(bytes.begin(), bytes.end()), e});
  }

 private:
  MpaStream& stream_;
  std::optional<bool> crc_after_request_;
};

// Feeds `data` cut at the given offsets (ascending) and returns the events.
inline std::vector<StreamEvent> run_stream(ConstByteSpan data, const MpaStreamOptions& opts,
                                           const std::vector<std::size_t>& cuts,
                                           std::optional<bool> crc_after_request = std::nullopt) {
  MpaStream s(opts);
  Recorder r(s, crc_after_request);
  std::size_t from = 0;
  auto feed_to = [&](std::size_t to) {
    const std::size_t taken = s.feed(data.subspan(from, to - from), r);
    if (!s.error()) {
      EXPECT_EQ(taken, to - from);
    }
    from = to;
  };
  for (std::size_t c : cuts) feed_to(c);
  feed_to(data.size());
  return r.events;
}

}  // namespace softrnic::wire::iwarp_test
