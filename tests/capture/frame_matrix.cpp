#include "frame_matrix.hpp"

#include <array>

namespace softrnic::test {

namespace {
constexpr std::array<std::size_t, 6> kPayloadLengths = {0, 1, 255, 256, 4095, 4096};

// A cheap deterministic mix of the case index, so that values look unrelated between fields.
std::uint64_t mix(std::size_t index, std::uint64_t salt) {
  std::uint64_t x = (index + 1) * 0x9e3779b97f4a7c15ull ^ salt;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 29);
}
}  // namespace

std::string MatrixCase::name() const {
  const auto& op = wire::opcode_info(opcode);
  return std::string(wire::transport_prefix(op.transport)) + std::string(op.name) +
         (version == wire::IpVersion::v4 ? "/IPv4" : "/IPv6") + (vlan ? "/vlan" : "") + "/len" +
         std::to_string(payload_len);
}

std::vector<MatrixCase> frame_matrix() {
  std::vector<MatrixCase> cases;
  for (unsigned code = 0; code < wire::kOpcodeTable.size(); ++code) {
    const auto& op = wire::opcode_info(static_cast<std::uint8_t>(code));
    if (!op.valid()) continue;
    for (const auto version : {wire::IpVersion::v4, wire::IpVersion::v6}) {
      for (const bool vlan : {false, true}) {
        for (const std::size_t len : kPayloadLengths) {
          if (!op.payload && len != 0) continue;
          cases.push_back({cases.size(), static_cast<std::uint8_t>(code), version, vlan, len});
        }
      }
    }
  }
  return cases;
}

std::vector<std::byte> matrix_payload(const MatrixCase& c) {
  std::vector<std::byte> p(c.payload_len);
  for (std::size_t i = 0; i < p.size(); ++i) {
    p[i] = std::byte{static_cast<std::uint8_t>(mix(c.index, i) >> 24)};
  }
  return p;
}

wire::RoceSpec matrix_spec(const MatrixCase& c, ConstByteSpan payload) {
  const auto r = [&](std::uint64_t salt) { return mix(c.index, salt); };
  const auto& op = wire::opcode_info(c.opcode);
  wire::RoceSpec s;
  s.eth.dst = {0x02, 0x11, 0x22, 0x33, 0x44, static_cast<std::uint8_t>(c.index)};
  s.eth.src = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, static_cast<std::uint8_t>(r(1))};
  if (c.vlan)
    s.eth.vlan_tci = wire::make_tci(static_cast<std::uint8_t>(r(2) & 7), (r(2) & 8) != 0,
                                    static_cast<std::uint16_t>(1 + r(3) % 4094));
  s.ip.version = c.version;
  if (c.version == wire::IpVersion::v4) {
    s.ip.src = wire::ipv4_mapped({10, 0, static_cast<std::uint8_t>(r(4)), 1});
    s.ip.dst = wire::ipv4_mapped({10, 0, static_cast<std::uint8_t>(r(5)), 2});
  } else {
    s.ip.src = {0xfd, 0, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(r(4)),
                1};
    s.ip.dst = {0xfd, 0, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(r(5)),
                2};
    s.ip.flow_label = static_cast<std::uint32_t>(r(6) & 0xfffff);
  }
  s.ip.tos = static_cast<std::uint8_t>(r(7));
  s.ip.ttl = static_cast<std::uint8_t>(1 + r(8) % 255);
  s.ip.id = static_cast<std::uint16_t>(r(9));
  s.src_port = static_cast<std::uint16_t>(0xc000 | (r(10) & 0x3fff));
  // IPv6 with a real checksum (what a kernel UDP socket needs), IPv4 with zero (what rxe sends).
  s.udp_checksum =
      c.version == wire::IpVersion::v6 ? wire::UdpChecksum::compute : wire::UdpChecksum::zero;

  s.bth.opcode = c.opcode;
  s.bth.solicited = (r(11) & 1) != 0;
  s.bth.mig_req = (r(11) & 2) != 0;
  s.bth.pkey = Pkey{static_cast<std::uint16_t>(0x8000 | r(12))};
  s.bth.resv8a = static_cast<std::uint8_t>(r(13) & 0xc0);  // FECN/BECN
  // QP 1 would make tshark decode the payload as a MAD; keep clear of it.
  s.bth.dest_qp = Qpn(static_cast<std::uint32_t>(2 + r(14) % 0xfffff0));
  s.bth.ack_req = (r(15) & 1) != 0;
  s.bth.psn = Psn(static_cast<std::uint32_t>(r(16)));
  if (op.op == wire::Op::cnp) s.bth.resv8a = 0x40;

  s.ext.rdeth = {static_cast<std::uint32_t>(r(20) & 0xffffff)};
  s.ext.deth = {Qkey{static_cast<std::uint32_t>(r(21))}, 0, Qpn(static_cast<std::uint32_t>(r(22)))};
  s.ext.reth = {r(23), Rkey(static_cast<std::uint32_t>(r(24))), static_cast<std::uint32_t>(r(25))};
  s.ext.atomic_eth = {r(26), Rkey(static_cast<std::uint32_t>(r(27))), r(28), r(29)};
  s.ext.aeth = {static_cast<std::uint8_t>(r(30)), Msn(static_cast<std::uint32_t>(r(31)))};
  s.ext.atomic_ack_eth = {r(32)};
  s.ext.immdt = {static_cast<std::uint32_t>(r(33))};
  s.ext.ieth = {Rkey(static_cast<std::uint32_t>(r(34)))};
  s.payload = payload;
  return s;
}

}  // namespace softrnic::test
