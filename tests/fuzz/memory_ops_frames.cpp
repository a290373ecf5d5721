// The wire operations of a session: frames held back and released, frames crafted from captured
// ones or from scratch, and what every frame that reaches a device tells the shadow.
#include <algorithm>
#include <optional>

#include "memory_ops_session.hpp"
#include "wire/build.hpp"
#include "wire/crc.hpp"
#include "wire/parse.hpp"

namespace softrnic::fuzz {

namespace {
// RC and UC opcodes a crafted frame takes most often (any byte otherwise).
constexpr std::array<std::uint8_t, 28> kFrameOpcodes = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
    0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17, 0x20, 0x24, 0x26, 0x2a, 0x2b};
}  // namespace

// Which registrations a request arriving at device `side` may write from now on: the parser
// is the device's (ICRC not required, so that nothing the device takes is missed).
void Session::delivered(int side, const Packet& pkt) {
  const auto p = wire::parse_frame(pkt.bytes(), {.drop_bad_icrc = false});
  if (!p || (p->proto != wire::Proto::roce_v4 && p->proto != wire::Proto::roce_v6)) return;
  const wire::OpcodeInfo& op = p->op();
  if (op.op == wire::Op::rdma_write && op.first_or_only()) {
    shadow_.named(side, wire::reth_of(*p).rkey.raw());
  } else if (op.op == wire::Op::compare_swap || op.op == wire::Op::fetch_add) {
    shadow_.named(side, wire::atomic_eth_of(*p).rkey.raw());
  }
}

// Delivers up to n frames `side` sent while held: oldest first, newest first, every other one,
// or each twice.
void Session::release_held(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int side = b0 & 1;
  const int n = 1 + in.u8() % 16;
  auto& held = wire_.held[side];
  for (int i = 0; i < n && !held.empty(); ++i) {
    const bool newest = ((b0 >> 1) & 3) == 1;
    FuzzWire::Frame f = newest ? std::move(held.back()) : std::move(held.front());
    newest ? held.pop_back() : held.pop_front();
    const int order = (b0 >> 1) & 3;
    if (order == 2 && (i & 1)) continue;  // lost
    (void)wire_.inject(side, f);
    if (order == 3) (void)wire_.inject(side, f);
  }
}

// A frame for device `to`: a captured one changed in the fields the input picks, or one made
// from scratch, then perhaps truncated or with one byte flipped (and the ICRC made right again).
void Session::craft_frame(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int to = b0 & 1, from = 1 - to;
  const std::uint16_t change = in.u16();
  const std::uint8_t opcode_pick = in.u8();
  const std::int16_t psn_delta = in.s16();
  const std::uint8_t qp_pick = in.u8();
  const std::uint8_t key_pick = in.u8(), key_how = in.u8();
  const std::int16_t va_delta = in.s16();
  const std::uint32_t dma_len = in.u16();
  const std::uint16_t payload_len = in.u16();
  const std::uint8_t fill = in.u8();
  const std::uint8_t syndrome = in.u8();
  const std::uint16_t cut = in.u16();
  const std::uint16_t flip_at = in.u16();
  const std::uint8_t flip = in.u8();

  wire::RoceSpec spec;
  std::optional<wire::ParsedFrame> base;
  const FuzzWire::Frame* captured = (change & 1) ? nullptr : wire_.recent(from, b0 >> 1);
  if (captured) {
    auto p = wire::parse_frame(*captured);
    if (p && (p->proto == wire::Proto::roce_v4 || p->proto == wire::Proto::roce_v6)) base = *p;
  }
  std::vector<std::byte> payload;
  if (base) {
    spec = wire::roce_spec_of(*base);
    payload.assign(spec.payload.begin(), spec.payload.end());
  } else {
    spec.eth.src = wire_.end(from).mac();
    spec.eth.dst = wire_.end(to).mac();
    spec.ip.src = gid_of(from);
    spec.ip.dst = gid_of(to);
    spec.ip.tos = 2;
    spec.src_port = 0xc123;
    spec.bth.pkey = Pkey{0xffff};
    spec.bth.opcode = 0x04;
  }
  QpSlot* target = nullptr;
  if (!side_[to].qps.empty()) target = &side_[to].qps[qp_pick % side_[to].qps.size()];
  if (change & 2) {
    spec.bth.opcode =
        opcode_pick < 0xe0 ? kFrameOpcodes[opcode_pick % kFrameOpcodes.size()] : opcode_pick;
  }
  if ((change & 4) && target) spec.bth.dest_qp = Qpn{target->qpn};
  const wire::OpcodeInfo& op = wire::opcode_info(spec.bth.opcode);
  if (change & 8) {
    // Relative to what the target QP expects: its receive PSN for requests, its oldest
    // outstanding request for responses; else relative to the frame's own.
    Psn psn = spec.bth.psn;
    if ((change & 0x10) && target && target->live) {
      const roce::Qp& qp = *target->qp;
      psn = op.dir == wire::Dir::response
                ? (qp.sq_una < qp.sq_head ? qp.sq[qp.sq_una % qp.sq.size()].first_psn : qp.next_psn)
                : qp.epsn;
    }
    spec.bth.psn = psn + static_cast<std::uint32_t>(static_cast<std::int32_t>(psn_delta));
  }
  if (change & 0x20) {
    const std::uint32_t rkey = key_of(to, key_pick, key_how);
    const std::uint64_t va =
        va_of(to, key_pick) + static_cast<std::uint64_t>(std::int64_t{va_delta});
    spec.ext.reth.rkey = Rkey{rkey};
    spec.ext.reth.va = va;
    spec.ext.atomic_eth.rkey = Rkey{rkey};
    spec.ext.atomic_eth.va = va;
    spec.ext.ieth.rkey = Rkey{rkey};
  }
  if (change & 0x40) spec.ext.reth.dma_length = (change & 0x80) ? dma_len : dma_len % 2100;
  if (change & 0x100) {
    payload.assign(payload_len % 2100, std::byte{fill});
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(fill + i);
  }
  if (change & 0x200) {
    spec.ext.aeth.syndrome = syndrome;
    spec.ext.aeth.msn = Msn{syndrome * 3u};
    spec.ext.atomic_ack_eth.orig_data = syndrome * 0x0101010101010101ull;
    spec.ext.atomic_eth.swap_add = fill;
    spec.ext.atomic_eth.compare = fill * 2u;
  }
  if (change & 0x400) spec.bth.ack_req = !spec.bth.ack_req;
  if (!op.payload) payload.clear();
  spec.payload = payload;
  spec.trailer = {};
  spec.udp_checksum = wire::UdpChecksum::zero;

  std::array<std::byte, wire::kMaxFrameSize> buf;
  const auto n = wire::build_roce(spec, buf);
  if (!n) return;
  std::span<std::byte> frame(buf.data(), *n);
  if (op.valid()) {
    // The builders' frames parse back as they were described.
    const auto p = wire::parse_frame(frame);
    if (!p || p->bth().opcode() != spec.bth.opcode || p->bth().psn() != spec.bth.psn ||
        p->bth().dest_qp() != spec.bth.dest_qp || p->payload().size() != payload.size())
      fail("a built frame does not parse back to its spec");
  }
  if (change & 0x800) frame = frame.first(cut % (frame.size() + 1));
  if ((change & 0x1000) && !frame.empty()) {
    frame[flip_at % frame.size()] ^= std::byte{flip};
    if (change & 0x2000) fix_icrc(frame);
  }
  const int copies = (change & 0x4000) ? 2 : 1;
  for (int i = 0; i < copies; ++i) (void)wire_.inject(from, frame);
}

void Session::fix_icrc(std::span<std::byte> frame) {
  const auto p = wire::parse_frame(frame, {.drop_bad_icrc = false});
  if (!p || (p->proto != wire::Proto::roce_v4 && p->proto != wire::Proto::roce_v6)) return;
  const std::size_t ip_hdr = p->ip_version == 4 ? wire::Ipv4View::kSize : wire::Ipv6View::kSize;
  const std::size_t icrc_at = p->ip_end - wire::kIcrcSize;
  const std::uint32_t c = wire::icrc(ConstByteSpan(frame).subspan(p->l3_off, ip_hdr),
                                     ConstByteSpan(frame).subspan(p->l4_off, icrc_at - p->l4_off));
  store_le32(frame, icrc_at, c);
}

}  // namespace softrnic::fuzz
