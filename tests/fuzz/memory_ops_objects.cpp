// The memory-object operations of a session: regions, fast-register regions and type 2 windows,
// through the key table's calls or as work requests, each mirrored into the shadow when the
// engine accepts it.
#include <algorithm>

#include "memory_ops_session.hpp"

namespace softrnic::fuzz {

using roce::SendWr;
using verbs::WrOpcode;


void Session::register_mr(Input& in, bool again) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  const std::uint8_t pick = in.u8();
  const auto [at, size] = buffer(d, in.u8());
  const std::uint32_t off = (in.u8() * 8u) % size;
  const std::uint32_t len = in.u16() % (size - off + 1);
  std::uint32_t access = in.u8() & 0x3f;
  std::byte* host = arena_.base() + at + off;
  const std::uint64_t va = make_va(in.u8(), host, len, &access);
  auto& mem = memory(d);
  verbs::MemKeyRaw key;
  if (again) {
    const std::uint32_t used = key_of(d, pick, in.u8());
    const auto r = mem.reregister_mr(used, host, len, va, access);
    if (!succeeded(r, "reregister_mr")) return;
    if (shadow_.holder(d, used, "reregister_mr").kind != Reg::Kind::mr)
      fail("reregister_mr accepted a key that is no memory region");
    key = *r;
  } else {
    const auto r = mem.register_mr(side_[d].pd[(b0 >> 1) & 1], host, len, va, access);
    if (!succeeded(r, "register_mr")) return;
    key = *r;
    shadow_.allocated(d, Reg::Kind::mr, side_[d].pd[(b0 >> 1) & 1], key);
  }
  Reg reg;
  reg.kind = Reg::Kind::mr;
  reg.slot = key >> 8;
  reg.key = key;
  reg.access = access;
  reg.va = (access & verbs::kZeroBased) ? 0 : va;
  reg.length = len;
  reg.pieces = {{at + off, len}};
  shadow_.registered(d, std::move(reg));
}

void Session::deregister(Input& in) {
  const int d = in.u8() & 1;
  const std::uint8_t pick = in.u8();
  const std::uint32_t key = key_of(d, pick, in.u8());
  if (!succeeded(memory(d).deregister(key), "deregister")) return;
  shadow_.deregistered(d, shadow_.holder(d, key, "deregister"));
}

void Session::alloc_frmr(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  const auto pd = side_[d].pd[(b0 >> 1) & 1];
  const auto r = memory(d).alloc_frmr(pd, 1 + in.u8() % 16);
  if (succeeded(r, "alloc_frmr")) shadow_.allocated(d, Reg::Kind::frmr, pd, *r);
}

void Session::alloc_mw(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  const auto pd = side_[d].pd[(b0 >> 1) & 1];
  const auto r = memory(d).alloc_mw(pd);
  if (succeeded(r, "alloc_mw")) shadow_.allocated(d, Reg::Kind::mw, pd, *r);
}

// Fast-register: posted on a QP (a work request) or called on the table directly.
void Session::fast_register(Input& in) {
  const int d = in.u8() & 1;
  const std::uint8_t qp_pick = in.u8();
  const std::uint8_t pick = in.u8();
  const std::uint32_t key = key_of(d, pick, in.u8());
  const auto new_key = in.u8();
  std::uint32_t npages = in.u8() % 9;
  const std::uint32_t page_size = 256u << (in.u8() % 5);
  const std::uint64_t fbo = in.u16() % page_size;
  const std::uint8_t len_mode = in.u8();
  std::uint64_t len = in.u16();
  const std::uint64_t pages_bytes = std::uint64_t{npages} * page_size;
  // Mostly within the pages; else possibly too long, to be refused.
  if (len_mode < 0xf0 && pages_bytes >= fbo) len %= pages_bytes - fbo + 1;
  std::uint32_t access = in.u8() & 0x3f;
  const std::uint8_t va_mode = in.u8();
  auto& pages = page_lists_.emplace_back();
  std::vector<Piece> page_at;
  for (std::uint32_t i = 0; i < npages; ++i) {
    const auto [at, size] = buffer(d, in.u8(), page_size);
    const std::uint32_t off = (in.u8() * 64u) % (size - std::min(size, page_size) + 1);
    pages.push_back(arena_.base() + at + off);
    page_at.push_back({at + off, std::min(size, page_size)});
  }
  const std::uint64_t va = make_va(va_mode, npages ? pages[0] + fbo : nullptr, len, &access);
  Reg reg;
  reg.kind = Reg::Kind::frmr;
  reg.slot = key >> 8;
  reg.key = (key & ~0xffu) | new_key;
  reg.access = access;
  reg.va = (access & verbs::kZeroBased) ? 0 : va;
  reg.length = len;
  // The pieces the registration would cover, as the table walks them.
  for (std::uint64_t pos = fbo, done = 0; done < len && pos / page_size < npages;) {
    const Piece& p = page_at[pos / page_size];
    const std::uint64_t inside = pos % page_size;
    const std::uint64_t n = std::min<std::uint64_t>(len - done, page_size - inside);
    if (inside + n > p.len) break;  // a page the buffer could not hold whole: never registered
    reg.pieces.push_back(
        {static_cast<std::uint32_t>(p.at + inside), static_cast<std::uint32_t>(n)});
    done += n;
    pos += n;
  }
  if (qp_pick >= 0xc0) {
    const auto r = memory(d).fast_register(key, new_key, pages, page_size, va, fbo, len, access);
    if (!succeeded(r, "fast_register")) return;
    Obj& o = shadow_.holder(d, key, "fast_register");
    if (o.kind != Reg::Kind::frmr) fail("fast_register accepted a key that is no FRMR");
    reg.key = *r;
    o.key_bytes.push_back(new_key);
    shadow_.registered(d, std::move(reg));
    return;
  }
  QpSlot* q = live_qp(d, qp_pick);
  if (!q) return;
  SendWr wr;
  wr.wr_id = next_wr_id();
  wr.opcode = WrOpcode::fast_reg_mr;
  wr.flags = verbs::kSignaled | ((qp_pick & 1) ? verbs::kFence : 0u);
  wr.local_key = key;
  wr.mem.new_key = new_key;
  wr.mem.pages = pages.data();
  wr.mem.npages = npages;
  wr.mem.page_size = page_size;
  wr.mem.first_page_offset = fbo;
  wr.mem.va = va;
  wr.mem.length = len;
  wr.mem.access = access;
  if (!succeeded(side_[d].dev->post_send(*q->qp, wr), "post_send")) return;
  // The consumer's view: the FRMR's key now carries the new byte.
  if (Obj* o = shadow_.owner(d, key >> 8); o && o->kind == Reg::Kind::frmr) {
    o->key = reg.key;
    o->key_bytes.push_back(new_key);
    o->va_hint = reg.va;
    o->len_hint = len;
  }
  PostedWr p;
  p.kind = PostedWr::Kind::fast_reg;
  p.wr_id = wr.wr_id;
  p.qpn = q->qpn;
  p.posted_at = shadow_.next_event();
  p.slot = key >> 8;
  shadow_.posted(d, std::move(p), std::move(reg));
}

// Local invalidate: posted on a QP or called on the table directly.
void Session::invalidate(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  const std::uint8_t qp_pick = in.u8();
  const std::uint8_t pick = in.u8();
  const std::uint32_t key = key_of(d, pick, in.u8());
  if (qp_pick >= 0xc0) {
    QpSlot* q = live_qp(d, qp_pick);
    const std::uint32_t qpn = (b0 & 2) && q ? q->qpn : 0;
    const auto pd = side_[d].pd[(b0 >> 2) & 1];
    if (!succeeded(memory(d).invalidate(key, pd, qpn), "invalidate")) return;
    shadow_.invalidated(d, shadow_.holder(d, key, "invalidate"));
    return;
  }
  QpSlot* q = live_qp(d, qp_pick);
  if (!q) return;
  SendWr wr;
  wr.wr_id = next_wr_id();
  wr.opcode = WrOpcode::local_inv;
  wr.flags = verbs::kSignaled | ((b0 & 2) ? verbs::kFence : 0u);
  wr.local_key = key;
  if (!succeeded(side_[d].dev->post_send(*q->qp, wr), "post_send")) return;
  PostedWr p;
  p.kind = PostedWr::Kind::local_inv;
  p.wr_id = wr.wr_id;
  p.qpn = q->qpn;
  p.posted_at = shadow_.next_event();
  p.slot = key >> 8;
  const Obj* o = shadow_.owner(d, key >> 8);
  p.serial = o ? o->serial : 0;
  shadow_.posted(d, std::move(p));
}

// Type 2 bind: posted on a QP (bound to it) or called on the table (bound to a QP or none).
void Session::bind_mw(Input& in) {
  const std::uint8_t b0 = in.u8();
  const int d = b0 & 1;
  const std::uint8_t qp_pick = in.u8();
  const std::uint32_t mw_key = key_of(d, in.u8(), in.u8());
  const std::uint8_t mr_pick = in.u8();
  const std::uint32_t mr_key = key_of(d, mr_pick, in.u8());
  const auto new_key = in.u8();
  const std::uint64_t va = va_of(d, mr_pick) + in.s16();
  const std::uint64_t len = in.u16() % 4200;
  const std::uint32_t access = in.u8() & 0x3f;
  Reg reg;
  reg.kind = Reg::Kind::mw;
  reg.slot = mw_key >> 8;
  reg.key = (mw_key & ~0xffu) | new_key;
  reg.access = access & (verbs::kRemoteRead | verbs::kRemoteWrite | verbs::kRemoteAtomic |
                         verbs::kZeroBased);
  reg.va = (access & verbs::kZeroBased) ? 0 : va;
  reg.length = len;
  reg.parent_key = mr_key;
  reg.parent_va = va;
  QpSlot* q = live_qp(d, qp_pick);
  if (qp_pick >= 0xc0) {
    const std::uint32_t qpn = (b0 & 2) && q ? q->qpn : 0;
    const auto r = memory(d).bind_mw(mw_key, new_key, mr_key, va, len, access, qpn);
    if (!succeeded(r, "bind_mw")) return;
    Obj& o = shadow_.holder(d, mw_key, "bind_mw");
    if (o.kind != Reg::Kind::mw) fail("bind_mw accepted a key that is no window");
    o.key_bytes.push_back(new_key);
    reg.key = *r;
    reg.bound_qpn = qpn;
    shadow_.registered(d, std::move(reg));
    return;
  }
  if (!q) return;
  SendWr wr;
  wr.wr_id = next_wr_id();
  wr.opcode = WrOpcode::bind_mw;
  wr.flags = verbs::kSignaled | ((b0 & 2) ? verbs::kFence : 0u);
  wr.local_key = mw_key;
  wr.mem.new_key = new_key;
  wr.mem.mr_key = mr_key;
  wr.mem.va = va;
  wr.mem.length = len;
  wr.mem.access = access;
  if (!succeeded(side_[d].dev->post_send(*q->qp, wr), "post_send")) return;
  if (Obj* o = shadow_.owner(d, mw_key >> 8); o && o->kind == Reg::Kind::mw) {
    o->key = reg.key;
    o->key_bytes.push_back(new_key);
    o->va_hint = reg.va;
    o->len_hint = len;
  }
  reg.bound_qpn = q->qpn;
  PostedWr p;
  p.kind = PostedWr::Kind::bind;
  p.wr_id = wr.wr_id;
  p.qpn = q->qpn;
  p.posted_at = shadow_.next_event();
  p.slot = mw_key >> 8;
  shadow_.posted(d, std::move(p), std::move(reg));
}

}  // namespace softrnic::fuzz
