// The plug-in point for protocols carried on TCP (iWARP: MPA/DDP/RDMAP). The capture decoder
// reassembles each connection and hands every direction's in-order bytes to a consumer, which
// turns them into records (for iWARP: one per MPA request/reply and per FPDU).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/bytes.hpp"
#include "capture/decode_record.hpp"
#include "wire/ip.hpp"

namespace softrnic::capture {

// The initiator is the side that sent the SYN (or, for a connection joined mid-stream, the sender
// of the first segment seen).
enum class TcpDirection : std::uint8_t { from_initiator, from_responder };

struct TcpEndpoint {
  wire::Ipv6Addr address{};  // IPv4 addresses in IPv4-mapped form
  std::uint16_t port = 0;
  auto operator<=>(const TcpEndpoint&) const = default;
};

struct TcpConnectionId {
  bool ipv6 = false;
  TcpEndpoint initiator;
  TcpEndpoint responder;
};

// One TCP connection's consumer. Calls for the two directions interleave in capture order, so a
// consumer can let one direction's state (an MPA Reply's CRC flag) govern the other.
class TcpStreamConsumer {
 public:
  virtual ~TcpStreamConsumer() = default;
  // The next in-order stream bytes of `dir`, carried by capture frame `frame`. Records go to out.
  virtual void on_bytes(TcpDirection dir, ConstByteSpan bytes, std::uint64_t frame,
                        std::vector<DecodeRecord>& out) = 0;
  // Bytes of `dir` before the next on_bytes are missing for good (capture joined mid-stream, or a
  // reassembly hole was given up).
  virtual void on_gap(TcpDirection dir, std::uint64_t frame, std::vector<DecodeRecord>& out) = 0;
  // `dir` has ended (FIN reached, RST, or end of capture); a partial message is now truncated.
  virtual void on_end(TcpDirection dir, std::uint64_t frame, std::vector<DecodeRecord>& out) = 0;
};

class TcpConsumerFactory {
 public:
  virtual ~TcpConsumerFactory() = default;
  // A consumer for a newly seen connection, or nullptr to show its frames as plain TCP.
  virtual std::unique_ptr<TcpStreamConsumer> make(const TcpConnectionId& id) = 0;
};

}  // namespace softrnic::capture
