// Capture decoding for `softrnic decode`: every frame goes through the same wire::parse_frame as
// the receive path (with bad ICRCs reported instead of dropped), TCP connections are reassembled
// and handed to pluggable stream consumers (iWARP), and each packet or message becomes a record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "base/result.hpp"
#include "capture/decode_record.hpp"
#include "capture/pcap_file.hpp"
#include "capture/tcp_reassembler.hpp"
#include "capture/tcp_stream_consumer.hpp"
#include "wire/l4.hpp"
#include "wire/parse.hpp"

namespace softrnic::capture {

struct DecoderOptions {
  std::uint16_t roce_port = wire::kRoceV2Port;
  std::size_t max_buffered_per_direction = TcpReassembler::kDefaultMaxBuffered;
  // Connections beyond this many at once are shown as plain TCP (bounded memory).
  std::size_t max_connections = 4096;
};

class CaptureDecoder {
 public:
  // `tcp_consumers` may be null: TCP segments are then shown as plain TCP. It must outlive this.
  explicit CaptureDecoder(TcpConsumerFactory* tcp_consumers = nullptr, DecoderOptions opts = {});
  ~CaptureDecoder();
  CaptureDecoder(const CaptureDecoder&) = delete;
  CaptureDecoder& operator=(const CaptureDecoder&) = delete;

  // Appends the records of one frame to out: one for a RoCEv2/ARP/ND/other frame; for TCP, the
  // records its stream consumer emits while taking the segment, or one plain TCP record if none.
  void decode(const CapturedFrame& f, std::vector<DecodeRecord>& out);
  // End of the capture: streams are flushed and ended, which may complete or truncate messages.
  void finish(std::vector<DecodeRecord>& out);

  std::size_t open_connections() const { return connections_.size(); }

 private:
  struct ConnectionKey {
    bool ipv6 = false;
    TcpEndpoint low;  // the two endpoints in a fixed order, so both directions find the entry
    TcpEndpoint high;
    auto operator<=>(const ConnectionKey&) const = default;
  };
  struct Connection;

  void decode_tcp(const wire::ParsedFrame& p, std::uint64_t frame, std::vector<DecodeRecord>& out);
  Connection* connection_for(const ConnectionKey& key, const TcpEndpoint& src,
                             const TcpEndpoint& dst, std::uint8_t flags);

  TcpConsumerFactory* tcp_consumers_;
  DecoderOptions opts_;
  std::map<ConnectionKey, std::unique_ptr<Connection>> connections_;
  std::uint64_t last_frame_ = 0;
};

// Decodes a whole capture, passing each record to on_record in order. Returns the summary, or the
// reader's error for a damaged file (records before the damage have been passed on).
[[nodiscard]] Result<DecodeSummary> decode_capture(
    PcapReader& reader, TcpConsumerFactory* tcp_consumers,
    const std::function<void(const DecodeRecord&)>& on_record, DecoderOptions opts = {});

}  // namespace softrnic::capture
