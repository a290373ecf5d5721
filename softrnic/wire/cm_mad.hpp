// Communication Management MADs (IBA 16.7 common MAD header, IBA 12.6 CM messages) as carried on
// QP1 over RoCEv2, and the RDMA-CM IP addressing annex (IBA A11: service IDs from an IP port
// space, the 36-byte IP private-data header of a REQ).
//
// Control path only: messages decode into plain structs and encode back into a 256-byte MAD.
// Every field of the layouts is kept, reserved ones included, so a MAD from the wire re-encodes
// byte for byte.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "base/result.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"
#include "wire/parse.hpp"

namespace softrnic::wire::cm {

inline constexpr std::size_t kMadSize = 256;
inline constexpr std::size_t kMadHeaderSize = 24;
inline constexpr std::size_t kCmDataSize = kMadSize - kMadHeaderSize;  // 232
inline constexpr std::uint8_t kBaseVersion = 1;
inline constexpr std::uint8_t kMgmtClassCm = 0x07;
inline constexpr std::uint8_t kCmClassVersion = 2;
inline constexpr std::uint8_t kMethodSend = 0x03;
inline constexpr std::uint32_t kGsiQkey = 0x80010000;  // IBA 10.2.5: the well-known GSI Q_Key
inline constexpr std::uint32_t kGsiQpn = 1;

// Private data each message leaves to its user (IBA 12.6, table 99 and following).
inline constexpr std::size_t kReqPrivateData = 92;
inline constexpr std::size_t kMraPrivateData = 222;
inline constexpr std::size_t kRejPrivateData = 148;
inline constexpr std::size_t kRepPrivateData = 196;
inline constexpr std::size_t kRtuPrivateData = 224;
inline constexpr std::size_t kDreqPrivateData = 220;
inline constexpr std::size_t kDrepPrivateData = 224;
inline constexpr std::size_t kRejAriSize = 72;

enum class AttrId : std::uint16_t {
  class_port_info = 0x0001,
  req = 0x0010,
  mra = 0x0011,
  rej = 0x0012,
  rep = 0x0013,
  rtu = 0x0014,
  dreq = 0x0015,
  drep = 0x0016,
  sidr_req = 0x0017,
  sidr_rep = 0x0018,
  lap = 0x0019,
  apr = 0x001a,
};
std::string_view attr_name(std::uint16_t attr_id);

// IBA 12.6.7 table 112 (the reasons this project sends or reports by name).
enum class RejectReason : std::uint16_t {
  no_qp = 1,
  no_resources = 3,
  timeout = 4,
  unsupported_request = 5,
  invalid_comm_id = 6,
  invalid_comm_instance = 7,
  invalid_service_id = 8,
  invalid_transport_type = 9,
  stale_connection = 10,
  invalid_gid = 12,
  invalid_path_mtu = 26,
  insufficient_resp_resources = 27,
  consumer_reject = 28,
  rnr_retry_count_reject = 29,
  duplicate_local_comm_id = 30,
  unsupported_class_version = 31,
};
std::string_view reject_reason_name(std::uint16_t reason);

// Which message an MRA or REJ answers (IBA 12.6.6, 12.6.7).
enum class MsgKind : std::uint8_t { req = 0, rep = 1, other = 2 };

struct MadHeader {
  std::uint8_t base_version = kBaseVersion;
  std::uint8_t mgmt_class = kMgmtClassCm;
  std::uint8_t class_version = kCmClassVersion;
  std::uint8_t method = kMethodSend;
  std::uint16_t status = 0;
  std::uint16_t class_specific = 0;
  std::uint64_t tid = 0;
  std::uint16_t attr_id = 0;
  std::uint16_t reserved = 0;
  std::uint32_t attr_mod = 0;
  bool operator==(const MadHeader&) const = default;
};

// One path of a REQ (primary or alternate), bytes 52..95 / 96..139 of the CM data.
struct CmPath {
  std::uint16_t local_lid = 0xffff;  // RoCE has no LIDs: the permissive LID
  std::uint16_t remote_lid = 0xffff;
  Ipv6Addr local_gid{};
  Ipv6Addr remote_gid{};
  std::uint32_t flow_label = 0;  // 20 bits
  std::uint8_t reserved_a = 0;   // 6 bits
  std::uint8_t packet_rate = 0;  // 6 bits
  std::uint8_t traffic_class = 0;
  std::uint8_t hop_limit = 64;
  std::uint8_t sl = 0;  // 4 bits
  bool subnet_local = false;
  std::uint8_t reserved_b = 0;         // 3 bits
  std::uint8_t local_ack_timeout = 0;  // 5 bits
  std::uint8_t reserved_c = 0;         // 3 bits
  bool operator==(const CmPath&) const = default;
};

struct Req {
  std::uint32_t local_comm_id = 0;
  std::uint32_t reserved0 = 0;
  std::uint64_t service_id = 0;
  std::uint64_t local_ca_guid = 0;
  std::uint32_t reserved1 = 0;
  std::uint32_t local_qkey = 0;
  std::uint32_t local_qpn = 0;  // 24 bits
  std::uint8_t responder_resources = 0;
  std::uint32_t local_eecn = 0;  // 24 bits
  std::uint8_t initiator_depth = 0;
  std::uint32_t remote_eecn = 0;                 // 24 bits
  std::uint8_t remote_cm_response_timeout = 0;  // 5 bits
  std::uint8_t transport_type = 0;              // 2 bits: 0 RC, 1 UC
  bool e2e_flow_control = false;
  std::uint32_t starting_psn = 0;               // 24 bits
  std::uint8_t local_cm_response_timeout = 0;  // 5 bits
  std::uint8_t retry_count = 0;                // 3 bits
  std::uint16_t pkey = 0xffff;
  std::uint8_t path_mtu = 0;  // 4 bits: 1 = 256 .. 5 = 4096
  bool rdc_exists = false;
  std::uint8_t rnr_retry_count = 0;  // 3 bits
  std::uint8_t max_cm_retries = 0;   // 4 bits
  bool srq = false;
  std::uint8_t ext_transport = 0;  // 3 bits
  CmPath primary;
  CmPath alternate{.local_lid = 0, .remote_lid = 0, .hop_limit = 0};
  std::array<std::byte, kReqPrivateData> private_data{};
  bool operator==(const Req&) const = default;
};

struct Mra {
  std::uint32_t local_comm_id = 0;
  std::uint32_t remote_comm_id = 0;
  MsgKind message_mraed = MsgKind::req;  // 2 bits
  std::uint8_t reserved0 = 0;            // 6 bits
  std::uint8_t service_timeout = 0;      // 5 bits
  std::uint8_t reserved1 = 0;            // 3 bits
  std::array<std::byte, kMraPrivateData> private_data{};
  bool operator==(const Mra&) const = default;
};

struct Rej {
  std::uint32_t local_comm_id = 0;
  std::uint32_t remote_comm_id = 0;
  MsgKind message_rejected = MsgKind::req;  // 2 bits
  std::uint8_t reserved0 = 0;               // 6 bits
  std::uint8_t reject_info_length = 0;      // 7 bits
  std::uint8_t reserved1 = 0;               // 1 bit
  std::uint16_t reason = 0;
  std::array<std::byte, kRejAriSize> ari{};
  std::array<std::byte, kRejPrivateData> private_data{};
  bool operator==(const Rej&) const = default;
};

struct Rep {
  std::uint32_t local_comm_id = 0;
  std::uint32_t remote_comm_id = 0;
  std::uint32_t local_qkey = 0;
  std::uint32_t local_qpn = 0;  // 24 bits
  std::uint8_t reserved0 = 0;
  std::uint32_t local_eecn = 0;  // 24 bits
  std::uint8_t reserved1 = 0;
  std::uint32_t starting_psn = 0;  // 24 bits
  std::uint8_t reserved2 = 0;
  std::uint8_t responder_resources = 0;
  std::uint8_t initiator_depth = 0;
  std::uint8_t target_ack_delay = 0;  // 5 bits
  std::uint8_t failover_accepted = 0;  // 2 bits
  bool e2e_flow_control = false;
  std::uint8_t rnr_retry_count = 0;  // 3 bits
  bool srq = false;
  std::uint8_t reserved3 = 0;  // 4 bits
  std::uint64_t local_ca_guid = 0;
  std::array<std::byte, kRepPrivateData> private_data{};
  bool operator==(const Rep&) const = default;
};

struct Rtu {
  std::uint32_t local_comm_id = 0;
  std::uint32_t remote_comm_id = 0;
  std::array<std::byte, kRtuPrivateData> private_data{};
  bool operator==(const Rtu&) const = default;
};

struct Dreq {
  std::uint32_t local_comm_id = 0;
  std::uint32_t remote_comm_id = 0;
  std::uint32_t remote_qpn = 0;  // 24 bits
  std::uint8_t reserved0 = 0;
  std::array<std::byte, kDreqPrivateData> private_data{};
  bool operator==(const Dreq&) const = default;
};

struct Drep {
  std::uint32_t local_comm_id = 0;
  std::uint32_t remote_comm_id = 0;
  std::array<std::byte, kDrepPrivateData> private_data{};
  bool operator==(const Drep&) const = default;
};

using CmMessage = std::variant<Req, Mra, Rej, Rep, Rtu, Dreq, Drep>;

struct CmMad {
  MadHeader hdr;
  CmMessage msg;
};

// The attribute ID that goes with a message.
AttrId attr_of(const CmMessage& m);

// Decodes a 256-byte CM MAD. Errors name what is wrong: short MAD, base version, management class,
// class version, method, or an attribute this CM does not handle (SIDR, LAP, APR, ...).
[[nodiscard]] Result<CmMad> decode_cm_mad(ConstByteSpan mad);
// Encodes hdr and msg; hdr.attr_id is taken from the message.
std::array<std::byte, kMadSize> encode_cm_mad(const CmMad& mad);

// IB path MTU enumeration (IBA 9.2 table 5 ... 1 = 256 .. 5 = 4096); 0 for anything else.
constexpr std::uint8_t mtu_enum(std::uint32_t bytes) {
  switch (bytes) {
    case 256: return 1;
    case 512: return 2;
    case 1024: return 3;
    case 2048: return 4;
    case 4096: return 5;
    default: return 0;
  }
}
constexpr std::uint32_t mtu_bytes(std::uint8_t e) { return e >= 1 && e <= 5 ? 128u << e : 0; }

// IBA A11.2: an IP-based service ID is 0x0000000001 | port space (8 bits) | port (16 bits).
inline constexpr std::uint8_t kPortSpaceTcp = 0x06;
inline constexpr std::uint8_t kPortSpaceUdp = 0x11;
inline constexpr std::uint8_t kPortSpaceIb = 0x3f;
inline constexpr std::uint8_t kPortSpaceIpoib = 0x02;
constexpr std::uint64_t ip_service_id(std::uint8_t port_space, std::uint16_t port) {
  return (std::uint64_t{1} << 24) | (std::uint64_t{port_space} << 16) | port;
}
constexpr bool is_ip_service_id(std::uint64_t sid) { return (sid >> 24) == 1; }
constexpr std::uint8_t service_port_space(std::uint64_t sid) { return static_cast<std::uint8_t>(sid >> 16); }
constexpr std::uint16_t service_port(std::uint64_t sid) { return static_cast<std::uint16_t>(sid); }

// IBA A11.6: the IP addressing header at the start of a REQ's private data. Addresses are held as
// GIDs (IPv4 as ::ffff:a.b.c.d); on the wire an IPv4 address sits in the last 4 of 16 bytes.
inline constexpr std::size_t kIpCmHeaderSize = 36;
inline constexpr std::size_t kReqUserPrivateData = kReqPrivateData - kIpCmHeaderSize;  // 56
struct IpCmHeader {
  std::uint8_t major = 0;  // 4 bits
  std::uint8_t minor = 0;  // 4 bits
  IpVersion ip_version = IpVersion::v4;
  std::uint16_t src_port = 0;
  Ipv6Addr src{};
  Ipv6Addr dst{};
};
void write_ip_cm_header(std::span<std::byte, kReqPrivateData> pd, const IpCmHeader& h);
// Errors: version other than 0.0, an IP version nibble other than 4 or 6.
[[nodiscard]] Result<IpCmHeader> read_ip_cm_header(std::span<const std::byte, kReqPrivateData> pd);

// The CA GUID of a device from its MAC: modified EUI-64 (RFC 4291 appendix A).
constexpr std::uint64_t guid_from_mac(const MacAddr& m) {
  return (std::uint64_t{static_cast<std::uint8_t>(m[0] ^ 0x02)} << 56) | (std::uint64_t{m[1]} << 48) |
         (std::uint64_t{m[2]} << 40) | (std::uint64_t{0xff} << 32) | (std::uint64_t{0xfe} << 24) |
         (std::uint64_t{m[3]} << 16) | (std::uint64_t{m[4]} << 8) | m[5];
}

}  // namespace softrnic::wire::cm
