// The Packet descriptor every mbuf of a DpdkPort pool carries in its private area (priv_size),
// and the O(1) ways between the two: mbuf -> descriptor by rte_mbuf_to_priv, descriptor -> mbuf by
// port_private. Built once per mbuf when the pool is made; never allocated on the data path.
// Internal to transport/dpdk/ (it includes DPDK headers).
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "engine/port.hpp"

namespace softrnic::transport::dpdk_detail {

inline constexpr std::uint32_t kSlotTag = 0x534f4654;  // marks a private area holding a MbufSlot

struct MbufSlot {
  Packet packet;
  std::uint32_t tag = kSlotTag;
  bool busy = false;  // handed to the caller (alloc, rx) and not yet freed or sent
};

inline constexpr std::uint16_t kPrivSize = static_cast<std::uint16_t>(
    (sizeof(MbufSlot) + RTE_MBUF_PRIV_ALIGN - 1) & ~std::size_t{RTE_MBUF_PRIV_ALIGN - 1});

// rte_mempool_obj_iter callback: builds the descriptor of one mbuf.
inline void construct_slot(rte_mempool*, void*, void* obj, unsigned) {
  auto* m = static_cast<rte_mbuf*>(obj);
  auto* slot = new (rte_mbuf_to_priv(m)) MbufSlot;
  slot->packet.port_private = reinterpret_cast<std::uintptr_t>(m);
}

// The descriptor of an mbuf, or nullptr when its pool is not a DpdkPort's.
inline MbufSlot* slot_of(rte_mbuf* m) {
  if (rte_pktmbuf_priv_size(m->pool) != kPrivSize) return nullptr;
  auto* slot = static_cast<MbufSlot*>(rte_mbuf_to_priv(m));
  return slot->tag == kSlotTag ? slot : nullptr;
}

// The mbuf of a descriptor, or nullptr when p is not one of ours.
inline rte_mbuf* mbuf_of(Packet* p) {
  if (p == nullptr) return nullptr;
  auto* m = reinterpret_cast<rte_mbuf*>(static_cast<std::uintptr_t>(p->port_private));
  if (m == nullptr || rte_mbuf_to_priv(m) != static_cast<void*>(p)) return nullptr;
  return m;
}

// The descriptor of an mbuf known to be ours (just allocated from our pool, or just checked).
inline MbufSlot& own_slot(rte_mbuf* m) { return *static_cast<MbufSlot*>(rte_mbuf_to_priv(m)); }

// Points the descriptor at the frame in its mbuf and marks it as the caller's.
inline Packet* hand_out(rte_mbuf* m, MbufSlot& slot) {
  slot.busy = true;
  Packet& p = slot.packet;
  p.data = rte_pktmbuf_mtod(m, std::byte*);
  p.len = rte_pktmbuf_data_len(m);
  p.capacity = static_cast<std::uint32_t>(m->buf_len - m->data_off);
  p.flags = 0;
  p.clear_ext();
  return &p;
}

}  // namespace softrnic::transport::dpdk_detail
