// What `softrnic decode` says about a capture: one record per RoCEv2 packet, per MPA FPDU (iWARP),
// per ARP/ND message and per other frame, and a summary that decides the exit status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace softrnic::capture {

enum class RecordProto : std::uint8_t { roce_v4, roce_v6, iwarp, arp, nd, tcp, other };

constexpr std::string_view record_proto_name(RecordProto p) {
  switch (p) {
    case RecordProto::roce_v4:
      return "RoCEv2/IPv4";
    case RecordProto::roce_v6:
      return "RoCEv2/IPv6";
    case RecordProto::iwarp:
      return "iWARP";
    case RecordProto::arp:
      return "ARP";
    case RecordProto::nd:
      return "ND";
    case RecordProto::tcp:
      return "TCP";
    case RecordProto::other:
      return "other";
  }
  return "other";
}

// Verdict of an integrity check: RoCEv2 ICRC or MPA CRC32c (`off` when MPA negotiated no CRC).
enum class CrcVerdict : std::uint8_t { none, ok, bad, off };

constexpr std::string_view crc_verdict_name(CrcVerdict v) {
  switch (v) {
    case CrcVerdict::none:
      return "";
    case CrcVerdict::ok:
      return "ok";
    case CrcVerdict::bad:
      return "bad";
    case CrcVerdict::off:
      return "off";
  }
  return "";
}

struct DecodeRecord {
  std::uint64_t frame = 0;  // the capture frame (for an FPDU: the one that completed it)
  RecordProto proto = RecordProto::other;
  // RC_SEND_ONLY, CNP, ARP_REQUEST, ND_NS, an RDMAP message name, TCP flags, or what `other` is.
  std::string opcode;
  std::optional<std::uint32_t> qpn;    // RoCEv2 destination QP
  std::optional<std::uint32_t> psn;    // RoCEv2
  std::optional<std::uint32_t> msn;    // iWARP untagged (DDP MSN)
  std::optional<std::uint32_t> stag;   // iWARP tagged
  std::size_t length = 0;              // payload bytes (RoCEv2: without pad; TCP: segment data)
  CrcVerdict icrc = CrcVerdict::none;  // RoCEv2
  CrcVerdict crc = CrcVerdict::none;   // iWARP MPA
  std::string malformed;               // empty, or the named reason the frame / FPDU was rejected
  std::string note;                    // addresses, ports, or why a frame could not be checked
  bool snapped = false;                // the capture kept fewer bytes than were on the wire

  bool is_malformed() const { return !malformed.empty(); }
};

struct DecodeSummary {
  std::uint64_t frames = 0;
  std::uint64_t records = 0;
  std::uint64_t roce = 0;
  std::uint64_t icrc_ok = 0;
  std::uint64_t icrc_bad = 0;
  std::uint64_t iwarp = 0;
  std::uint64_t crc_bad = 0;
  std::uint64_t arp = 0, nd = 0;
  std::uint64_t other = 0;  // frames that are not RDMA, ARP, ND or TCP (not judged)
  std::uint64_t malformed = 0;
  std::uint64_t snapped = 0;  // frames cut short by the capture's snap length: not checked

  void add(const DecodeRecord& r) {
    ++records;
    if (r.proto == RecordProto::roce_v4 || r.proto == RecordProto::roce_v6) ++roce;
    if (r.proto == RecordProto::iwarp) ++iwarp;
    if (r.proto == RecordProto::arp) ++arp;
    if (r.proto == RecordProto::nd) ++nd;
    if (r.proto == RecordProto::other && !r.is_malformed()) ++other;
    if (r.icrc == CrcVerdict::ok) ++icrc_ok;
    if (r.icrc == CrcVerdict::bad) ++icrc_bad;
    if (r.crc == CrcVerdict::bad) ++crc_bad;
    if (r.is_malformed()) ++malformed;
    if (r.snapped) ++snapped;
  }
  // Nothing wrong on the wire: every checked CRC verified and no frame was rejected.
  bool clean() const { return icrc_bad == 0 && crc_bad == 0 && malformed == 0; }
};

}  // namespace softrnic::capture
