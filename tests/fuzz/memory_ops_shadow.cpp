#include "memory_ops_shadow.hpp"

#include <sanitizer/asan_interface.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace softrnic::fuzz {

namespace {

// The oracle's loops are not part of what the fuzzer should explore: no coverage feedback.
#define MEMORY_OPS_ORACLE __attribute__((no_sanitize("coverage")))

constexpr std::uint32_t kRemoteWriteRights = verbs::kRemoteWrite | verbs::kRemoteAtomic;
constexpr std::byte kGuardByte{0xa5};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "memory_ops_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

Arena::Arena() {
  std::uint32_t at = kGuard;
  for (int d = 0; d < kDevices; ++d) {
    for (int i = 0; i < kBuffers; ++i) {
      at_[d][i] = at;
      at += kSizes[i] + kGuard;
    }
  }
  size_ = at;
  // Lives as long as the process: buffers outlive every device that may still name them.
  base_ = static_cast<std::byte*>(std::aligned_alloc(4096, (size_ + 4095) / 4096 * 4096));
  if (base_ == nullptr) fail("no memory for the arena");
}

void Arena::locate(std::uint32_t at, int* dev, int* buffer, std::uint32_t* offset) const {
  *dev = -1;
  *buffer = -1;
  *offset = at;
  for (int d = 0; d < kDevices; ++d) {
    for (int i = 0; i < kBuffers; ++i) {
      if (at >= at_[d][i] && at < at_[d][i] + kSizes[i]) {
        *dev = d;
        *buffer = i;
        *offset = at - at_[d][i];
      }
    }
  }
}

Shadow::Shadow(Arena& arena) : arena_(arena) {
  open_.resize(arena.size());
  registered_.resize(arena.size());
  snapshot_.resize(arena.size());
  poisoned_.resize(arena.size() / 8);
}

MEMORY_OPS_ORACLE void Shadow::reset(std::uint8_t seed) {
  ASAN_UNPOISON_MEMORY_REGION(arena_.base(), arena_.size());
  std::ranges::fill(poisoned_, std::uint8_t{0});
  std::byte* m = arena_.base();
  std::fill(m, m + arena_.size(), kGuardByte);
  for (int d = 0; d < Arena::kDevices; ++d) {
    for (int i = 0; i < Arena::kBuffers; ++i) {
      const std::uint32_t at = arena_.buffer_at(d, i);
      for (std::uint32_t k = 0; k < Arena::kSizes[i]; ++k)
        m[at + k] = static_cast<std::byte>((at + k) * 131u + (at + k) / 251u + seed);
    }
  }
  std::copy(m, m + arena_.size(), snapshot_.begin());
  for (auto& d : dev_) {
    d.objs.clear();
    d.pending.clear();
    d.wrs.clear();
  }
  event_ = 0;
  dirty_ = true;
  refresh();
}

Obj* Shadow::owner(int dev, std::uint32_t slot) {
  for (auto& o : dev_[dev].objs)
    if (o.live && o.slot == slot) return &o;
  return nullptr;
}

Obj& Shadow::holder(int dev, std::uint32_t key, const char* call) {
  Obj* o = owner(dev, key >> 8);
  char why[160];
  if (o == nullptr) {
    std::snprintf(why, sizeof why,
                  "%s accepted key %#x on device %d: no live object holds its slot", call, key,
                  dev);
    fail(why);
  }
  const auto byte = static_cast<std::uint8_t>(key);
  // A region's key is the one its last registration returned; FRMR and window keys change as
  // work requests run, so any byte the consumer ever chose for them may be current.
  const bool known = o->kind == Reg::Kind::mr
                         ? key == o->key
                         : std::ranges::find(o->key_bytes, byte) != o->key_bytes.end();
  if (!known) {
    std::snprintf(why, sizeof why, "%s accepted key %#x on device %d, a key byte never given out",
                  call, key, dev);
    fail(why);
  }
  return *o;
}

Obj& Shadow::allocated(int dev, Reg::Kind kind, verbs::PdHandle pd, std::uint32_t key) {
  dirty_ = true;
  if (owner(dev, key >> 8) != nullptr) fail("a key-table slot was handed out twice");
  Obj o;
  o.kind = kind;
  o.slot = key >> 8;
  o.key = key;
  o.pd = pd;
  o.serial = ++serial_;
  o.key_bytes.push_back(static_cast<std::uint8_t>(key));
  dev_[dev].objs.push_back(std::move(o));
  return dev_[dev].objs.back();
}

void Shadow::registered(int dev, Reg reg) {
  dirty_ = true;
  Obj* o = owner(dev, reg.slot);
  if (o == nullptr) fail("registration of an object the shadow does not hold");
  // A call that (re-)registers succeeds only on an object that names nothing else any more: an
  // MR is replaced, an FRMR or window had to be invalid.
  o->regs.clear();
  if (reg.kind != Reg::Kind::mw) drop_windows_over(dev, reg.slot);
  o->key = reg.key;
  o->key_bytes.push_back(static_cast<std::uint8_t>(reg.key));
  o->va_hint = reg.va;
  o->len_hint = reg.length;
  reg.id = ++reg_ids_;
  reg.wr_id = 0;
  reg.named = false;
  reg.confirmed_at = next_event();
  o->regs.push_back(std::move(reg));
}

void Shadow::deregistered(int dev, Obj& o) {
  dirty_ = true;
  o.regs.clear();
  o.live = false;
  // Deregistration is refused while windows are bound to a region: none is bound to it now.
  if (o.kind != Reg::Kind::mw) drop_windows_over(dev, o.slot);
}

void Shadow::invalidated(int, Obj& o) {
  o.regs.clear();
  dirty_ = true;
}

void Shadow::drop_windows_over(int dev, std::uint32_t slot) {
  for (auto& o : dev_[dev].objs) {
    if (o.kind != Reg::Kind::mw) continue;
    std::erase_if(o.regs, [&](const Reg& w) { return (w.parent_key >> 8) == slot; });
  }
}

void Shadow::posted(int dev, PostedWr wr, Reg pending) {
  dirty_ = true;
  pending.id = ++reg_ids_;
  pending.wr_id = wr.wr_id;
  pending.named = false;
  dev_[dev].pending.push_back(std::move(pending));
  dev_[dev].wrs.push_back(std::move(wr));
}

void Shadow::posted(int dev, PostedWr wr) {
  dev_[dev].wrs.push_back(std::move(wr));
  dirty_ = true;
}

// A fast-register or bind that ran: it lands on whatever object holds its slot now (if it ran on
// an earlier holder, that one is gone and took the registration with it). When it surely ran,
// the object was invalid then, so registrations confirmed before it was posted are over.
void Shadow::land(int dev, Reg reg, std::uint64_t posted_at, bool ran) {
  Obj* o = owner(dev, reg.slot);
  if (o == nullptr || o->kind != reg.kind) return;
  if (ran) std::erase_if(o->regs, [&](const Reg& r) { return r.confirmed_at < posted_at; });
  reg.wr_id = 0;
  reg.confirmed_at = next_event();
  o->regs.push_back(std::move(reg));
}

void Shadow::completed(int dev, const verbs::Cqe& e) {
  auto& d = dev_[dev];
  const auto it = std::ranges::find(d.wrs, e.wr_id, &PostedWr::wr_id);
  if (it == d.wrs.end()) return;
  dirty_ = true;
  const PostedWr wr = std::move(*it);
  d.wrs.erase(it);
  const bool ok = e.status == verbs::WcStatus::success;
  switch (wr.kind) {
    case PostedWr::Kind::sink:
      return;
    case PostedWr::Kind::fast_reg:
    case PostedWr::Kind::bind: {
      const auto p = std::ranges::find(d.pending, wr.wr_id, &Reg::wr_id);
      if (p == d.pending.end()) return;
      Reg reg = std::move(*p);
      d.pending.erase(p);
      // Flushed or failed: it never ran.
      if (ok) land(dev, std::move(reg), wr.posted_at, true);
      return;
    }
    case PostedWr::Kind::local_inv: {
      // It found the object valid and made it invalid: what was confirmed before it was posted
      // ran before it and is over. Only when the object held the slot all along.
      Obj* o = owner(dev, wr.slot);
      if (ok && o != nullptr && o->serial == wr.serial)
        std::erase_if(o->regs, [&](const Reg& r) { return r.confirmed_at < wr.posted_at; });
      return;
    }
  }
}

void Shadow::qp_destroyed(int dev, std::uint32_t qpn) {
  dirty_ = true;
  auto& d = dev_[dev];
  std::vector<PostedWr> wrs;
  std::swap(wrs, d.wrs);
  for (auto& wr : wrs) {
    if (wr.qpn != qpn) {
      d.wrs.push_back(std::move(wr));
      continue;
    }
    if (wr.kind != PostedWr::Kind::fast_reg && wr.kind != PostedWr::Kind::bind) continue;
    const auto p = std::ranges::find(d.pending, wr.wr_id, &Reg::wr_id);
    if (p == d.pending.end()) continue;
    Reg reg = std::move(*p);
    d.pending.erase(p);
    // A fast-register may have run before the QP went; a bind made through the QP, if it ran,
    // made a window of that QP, which dies with it (IBA 10.6.7.2.2).
    if (wr.kind == PostedWr::Kind::fast_reg) land(dev, std::move(reg), wr.posted_at, false);
  }
  for (auto& o : d.objs) {
    if (o.kind == Reg::Kind::mw)
      std::erase_if(o.regs, [&](const Reg& w) { return w.bound_qpn == qpn; });
  }
}

void Shadow::named(int dev, std::uint32_t key) {
  auto name = [&](Reg& r) {
    if (r.key != key || r.named) return;
    r.named = true;
    dirty_ = true;
  };
  for (auto& o : dev_[dev].objs) {
    if (!o.live) continue;
    for (auto& r : o.regs) name(r);
  }
  for (auto& r : dev_[dev].pending) name(r);
}

template <class F>
void Shadow::for_each_reg(int dev, F&& f) {
  for (const auto& o : dev_[dev].objs) {
    if (!o.live) continue;
    for (const auto& r : o.regs) f(r);
  }
  for (const auto& r : dev_[dev].pending) f(r);
}

MEMORY_OPS_ORACLE void Shadow::add_reg_pieces(const Reg& r, std::uint64_t off, std::uint64_t len,
                                              std::vector<std::uint8_t>& mask) {
  if (off >= r.length) return;
  len = std::min(len, r.length - off);
  std::uint64_t pos = 0;  // VA offset where the current piece starts
  for (const Piece& p : r.pieces) {
    const std::uint64_t from = std::max(pos, off), to = std::min(pos + p.len, off + len);
    if (from < to) std::memset(mask.data() + p.at + (from - pos), 1, to - from);
    pos += p.len;
    if (pos >= off + len) break;
  }
}

void Shadow::add_window(int dev, const Reg& w, std::vector<std::uint8_t>& mask) {
  for_each_reg(dev, [&](const Reg& parent) {
    if (parent.kind == Reg::Kind::mw || parent.key != w.parent_key || w.parent_va < parent.va)
      return;
    add_reg_pieces(parent, w.parent_va - parent.va, w.length, mask);
  });
}

namespace {
bool sink_may_use(const Reg& r, const SgeRef& s) {
  return r.kind != Reg::Kind::mw && r.key == s.lkey && (r.access & verbs::kLocalWrite);
}
}  // namespace

void Shadow::bind_sinks(int dev, std::uint64_t wr_id) {
  const auto it = std::ranges::find(dev_[dev].wrs, wr_id, &PostedWr::wr_id);
  if (it == dev_[dev].wrs.end() || it->kind != PostedWr::Kind::sink || it->bound) return;
  it->bound = true;
  for (const auto& s : it->sinks)
    for_each_reg(dev, [&](const Reg& r) {
      if (sink_may_use(r, s)) it->bound_to.push_back(r.id);
    });
  dirty_ = true;
}

void Shadow::bind_send_sinks(int dev, std::uint32_t qpn) {
  for (const auto& wr : dev_[dev].wrs) {
    if (wr.kind == PostedWr::Kind::sink && !wr.recv && !wr.bound && wr.qpn == qpn)
      bind_sinks(dev, wr.wr_id);
  }
}

void Shadow::add_sink(int dev, const PostedWr& wr, const SgeRef& s,
                      std::vector<std::uint8_t>& mask) {
  for_each_reg(dev, [&](const Reg& r) {
    if (!sink_may_use(r, s) || s.addr < r.va) return;
    if (wr.bound && std::ranges::find(wr.bound_to, r.id) == wr.bound_to.end()) return;
    add_reg_pieces(r, s.addr - r.va, s.length, mask);
  });
}

MEMORY_OPS_ORACLE void Shadow::refresh() {
  if (!dirty_) return;
  dirty_ = false;
  std::memset(open_.data(), 0, open_.size());
  std::memset(registered_.data(), 0, registered_.size());
  for (int dev = 0; dev < Arena::kDevices; ++dev) {
    for_each_reg(dev, [&](const Reg& r) {
      const bool remote_write = r.named && (r.access & kRemoteWriteRights);
      if (r.kind == Reg::Kind::mw) {
        if (remote_write) add_window(dev, r, open_);
        return;
      }
      add_reg_pieces(r, 0, r.length, registered_);
      if (remote_write) add_reg_pieces(r, 0, r.length, open_);
    });
    for (const auto& wr : dev_[dev].wrs)
      for (const auto& s : wr.sinks) add_sink(dev, wr, s, open_);
  }
  poison();
}

// Granules (8 bytes) with no registered byte are poisoned, the others not: nothing the engine
// may legally touch is ever poisoned. Only granules whose state changed are (un)poisoned.
MEMORY_OPS_ORACLE void Shadow::poison() {
  std::byte* m = arena_.base();
  const std::uint32_t granules = arena_.size() / 8;
  for (std::uint32_t g = 0; g < granules;) {
    std::uint64_t word;
    __builtin_memcpy(&word, registered_.data() + g * 8, 8);
    const std::uint8_t want = word == 0;
    if (poisoned_[g] == want) {
      ++g;
      continue;
    }
    std::uint32_t end = g + 1;
    for (; end < granules && poisoned_[end] != want; ++end) {
      __builtin_memcpy(&word, registered_.data() + end * 8, 8);
      if ((word == 0) != want) break;
    }
    if (want) {
      ASAN_POISON_MEMORY_REGION(m + g * 8, (end - g) * 8);
    } else {
      ASAN_UNPOISON_MEMORY_REGION(m + g * 8, (end - g) * 8);
    }
    std::fill(poisoned_.begin() + g, poisoned_.begin() + end, want);
    g = end;
  }
}

// Reads the arena with its poisoning in place: not instrumented, word by word.
MEMORY_OPS_ORACLE __attribute__((no_sanitize("address"))) void Shadow::check(const char* when) {
  const std::byte* m = arena_.base();
  const std::uint8_t* open = open_.data();
  std::byte* snap = snapshot_.data();
  constexpr std::uint64_t kAllOpen = 0x0101010101010101ull;
  const std::uint32_t size = arena_.size();
  for (std::uint32_t i = 0; i < size; i += 8) {
    std::uint64_t mask, now, was;
    __builtin_memcpy(&mask, open + i, 8);
    __builtin_memcpy(&now, m + i, 8);
    if (mask == kAllOpen) {
      __builtin_memcpy(snap + i, &now, 8);
      continue;
    }
    __builtin_memcpy(&was, snap + i, 8);
    if (mask == 0 && now == was) continue;
    for (std::uint32_t k = i; k < i + 8; ++k) {
      if (open[k]) {
        snap[k] = m[k];
      } else if (m[k] != snap[k]) {
        int dev, buffer;
        std::uint32_t offset;
        arena_.locate(k, &dev, &buffer, &offset);
        std::fprintf(
            stderr,
            "memory_ops_fuzz: after %s, %s byte no grant covers changed: device %d buffer %d "
            "offset %u (arena %u) was %#x, now %#x\n",
            when, buffer < 0 ? "a guard" : "a buffer", dev, buffer, offset, k,
            static_cast<unsigned>(snap[k]), static_cast<unsigned>(m[k]));
        std::abort();
      }
    }
  }
}

}  // namespace softrnic::fuzz
