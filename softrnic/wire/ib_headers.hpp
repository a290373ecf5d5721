// InfiniBand transport headers as carried by RoCEv2 (IBA vol. 1 ch. 9, annex A17).
// Views read and write them in place; the plain field structs are what builders take.
#pragma once

#include <cstdint>

#include "base/ids.hpp"
#include "base/seqnum.hpp"
#include "wire/view.hpp"

namespace softrnic::wire {

// Base Transport Header, 12 bytes (IBA 9.2).
template <class B>
class BasicBthView : public FixedView<12, B> {
 public:
  using FixedView<12, B>::FixedView;
  std::uint8_t opcode() const { return load_u8(this->c(), 0); }
  bool solicited() const { return (load_u8(this->c(), 1) & 0x80) != 0; }
  bool mig_req() const { return (load_u8(this->c(), 1) & 0x40) != 0; }
  std::uint8_t pad_count() const { return (load_u8(this->c(), 1) >> 4) & 3; }
  std::uint8_t tver() const { return load_u8(this->c(), 1) & 0x0f; }
  Pkey pkey() const { return Pkey{load_be16(this->c(), 2)}; }
  std::uint8_t resv8a() const { return load_u8(this->c(), 4); }  // FECN | BECN | resv6
  bool fecn() const { return (resv8a() & 0x80) != 0; }
  bool becn() const { return (resv8a() & 0x40) != 0; }
  Qpn dest_qp() const { return Qpn{load_be24(this->c(), 5)}; }
  bool ack_req() const { return (load_u8(this->c(), 8) & 0x80) != 0; }
  std::uint8_t resv7() const { return load_u8(this->c(), 8) & 0x7f; }
  Psn psn() const { return Psn{load_be24(this->c(), 9)}; }

  void set_opcode(std::uint8_t v) { store_u8(this->m(), 0, v); }
  void set_flags(bool se, bool mig, std::uint8_t pad, std::uint8_t tver) {
    store_u8(this->m(), 1,
             static_cast<std::uint8_t>((se ? 0x80 : 0) | (mig ? 0x40 : 0) | (pad & 3) << 4 |
                                       (tver & 0x0f)));
  }
  void set_pkey(Pkey p) { store_be16(this->m(), 2, p.raw); }
  void set_resv8a(std::uint8_t v) { store_u8(this->m(), 4, v); }
  void set_dest_qp(Qpn q) { store_be24(this->m(), 5, q.raw()); }
  void set_ack_req_resv7(bool a, std::uint8_t resv7) {
    store_u8(this->m(), 8, static_cast<std::uint8_t>((a ? 0x80 : 0) | (resv7 & 0x7f)));
  }
  void set_psn(Psn p) { store_be24(this->m(), 9, p.raw()); }
};
using BthView = BasicBthView<const std::byte>;
using BthMut = BasicBthView<std::byte>;

// Field structs, in header order. Reserved bits are kept so that captures re-emit byte for byte.
struct Bth {
  std::uint8_t opcode = 0;
  bool solicited = false;
  bool mig_req = false;
  std::uint8_t pad_count = 0;  // builders compute it; parse reports it
  std::uint8_t tver = 0;
  Pkey pkey{};
  std::uint8_t resv8a = 0;  // FECN/BECN/resv6
  Qpn dest_qp{};
  bool ack_req = false;
  std::uint8_t resv7 = 0;
  Psn psn{};
};

struct Rdeth {
  std::uint32_t word = 0;  // reserved(8) | EE context(24)
};
struct Deth {
  Qkey qkey{};
  std::uint8_t reserved = 0;
  Qpn src_qp{};
};
struct Reth {
  std::uint64_t va = 0;
  Rkey rkey{};
  std::uint32_t dma_length = 0;
};
struct AtomicEth {
  std::uint64_t va = 0;
  Rkey rkey{};
  std::uint64_t swap_add = 0;
  std::uint64_t compare = 0;
};
struct Aeth {
  std::uint8_t syndrome = 0;
  Msn msn{};
};
struct AtomicAckEth {
  std::uint64_t orig_data = 0;
};
struct ImmDt {
  std::uint32_t value = 0;
};
struct Ieth {
  Rkey rkey{};
};

// AETH syndrome (IBA 9.7.5.1.7 / table 44): bits 7..5 type, 4..0 credit count, RNR timer or code.
namespace aeth {
inline constexpr std::uint8_t kTypeAck = 0;
inline constexpr std::uint8_t kTypeRnrNak = 1;
inline constexpr std::uint8_t kTypeNak = 3;
inline constexpr std::uint8_t kUnlimitedCredits = 0x1f;
inline constexpr std::uint8_t kNakPsnSeqError = 0;
inline constexpr std::uint8_t kNakInvalidRequest = 1;
inline constexpr std::uint8_t kNakRemoteAccess = 2;
inline constexpr std::uint8_t kNakRemoteOperational = 3;
inline constexpr std::uint8_t kNakInvalidRdRequest = 4;
constexpr std::uint8_t type(std::uint8_t syndrome) { return syndrome >> 5; }
constexpr std::uint8_t value(std::uint8_t syndrome) { return syndrome & 0x1f; }
constexpr std::uint8_t make(std::uint8_t type, std::uint8_t value) {
  return static_cast<std::uint8_t>((type & 7) << 5 | (value & 0x1f));
}
}  // namespace aeth

// Reads and writes of the extended headers at a known offset; the opcode table says where.
inline Rdeth read_rdeth(ConstByteSpan b, std::size_t o) { return {load_be32(b, o)}; }
inline Deth read_deth(ConstByteSpan b, std::size_t o) {
  return {Qkey{load_be32(b, o)}, load_u8(b, o + 4), Qpn{load_be24(b, o + 5)}};
}
inline Reth read_reth(ConstByteSpan b, std::size_t o) {
  return {load_be64(b, o), Rkey{load_be32(b, o + 8)}, load_be32(b, o + 12)};
}
inline AtomicEth read_atomic_eth(ConstByteSpan b, std::size_t o) {
  return {load_be64(b, o), Rkey{load_be32(b, o + 8)}, load_be64(b, o + 12), load_be64(b, o + 20)};
}
inline Aeth read_aeth(ConstByteSpan b, std::size_t o) {
  return {load_u8(b, o), Msn{load_be24(b, o + 1)}};
}
inline AtomicAckEth read_atomic_ack_eth(ConstByteSpan b, std::size_t o) {
  return {load_be64(b, o)};
}
inline ImmDt read_immdt(ConstByteSpan b, std::size_t o) { return {load_be32(b, o)}; }
inline Ieth read_ieth(ConstByteSpan b, std::size_t o) { return {Rkey{load_be32(b, o)}}; }

inline void write(ByteSpan b, std::size_t o, const Rdeth& h) { store_be32(b, o, h.word); }
inline void write(ByteSpan b, std::size_t o, const Deth& h) {
  store_be32(b, o, h.qkey.raw);
  store_u8(b, o + 4, h.reserved);
  store_be24(b, o + 5, h.src_qp.raw());
}
inline void write(ByteSpan b, std::size_t o, const Reth& h) {
  store_be64(b, o, h.va);
  store_be32(b, o + 8, h.rkey.raw());
  store_be32(b, o + 12, h.dma_length);
}
inline void write(ByteSpan b, std::size_t o, const AtomicEth& h) {
  store_be64(b, o, h.va);
  store_be32(b, o + 8, h.rkey.raw());
  store_be64(b, o + 12, h.swap_add);
  store_be64(b, o + 20, h.compare);
}
inline void write(ByteSpan b, std::size_t o, const Aeth& h) {
  store_u8(b, o, h.syndrome);
  store_be24(b, o + 1, h.msn.raw());
}
inline void write(ByteSpan b, std::size_t o, const AtomicAckEth& h) { store_be64(b, o, h.orig_data); }
inline void write(ByteSpan b, std::size_t o, const ImmDt& h) { store_be32(b, o, h.value); }
inline void write(ByteSpan b, std::size_t o, const Ieth& h) { store_be32(b, o, h.rkey.raw()); }

inline Bth read_bth(BthView v) {
  return {v.opcode(), v.solicited(), v.mig_req(), v.pad_count(), v.tver(),  v.pkey(),
          v.resv8a(), v.dest_qp(),   v.ack_req(), v.resv7(),     v.psn()};
}
inline void write(BthMut v, const Bth& h) {
  v.set_opcode(h.opcode);
  v.set_flags(h.solicited, h.mig_req, h.pad_count, h.tver);
  v.set_pkey(h.pkey);
  v.set_resv8a(h.resv8a);
  v.set_dest_qp(h.dest_qp);
  v.set_ack_req_resv7(h.ack_req, h.resv7);
  v.set_psn(h.psn);
}

}  // namespace softrnic::wire
