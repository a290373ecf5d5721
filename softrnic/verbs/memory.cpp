#include "verbs/memory.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/random.hpp"

namespace softrnic::verbs {

std::string_view to_string(AccessError e) {
  switch (e) {
    case AccessError::invalid_key: return "invalid key";
    case AccessError::pd_mismatch: return "protection domain mismatch";
    case AccessError::invalid_state: return "key not valid (invalidated or unbound)";
    case AccessError::bounds: return "outside the registration";
    case AccessError::rights: return "access right not granted";
    case AccessError::qp_mismatch: return "memory window bound to another QP";
  }
  return "unknown";
}

namespace {
constexpr std::uint32_t index_of(MemKeyRaw k) { return k >> 8; }
constexpr std::uint8_t key_of(MemKeyRaw k) { return static_cast<std::uint8_t>(k); }
constexpr MemKeyRaw make_key(std::uint32_t index, std::uint8_t key) { return index << 8 | key; }
constexpr std::uint32_t kRemoteRights = kRemoteRead | kRemoteWrite | kRemoteAtomic;

// [va, va + len) inside [base, base + size)? Overflow-safe.
bool inside(std::uint64_t va, std::uint64_t len, std::uint64_t base, std::uint64_t size) {
  if (va < base) return false;
  const std::uint64_t off = va - base;
  return off <= size && len <= size - off;
}

// IBA 10.6.3.1: remote write/atomic need local write.
bool rights_consistent(std::uint32_t access) {
  return !(access & (kRemoteWrite | kRemoteAtomic)) || (access & kLocalWrite);
}
}  // namespace

MemoryTable::MemoryTable(const DeviceLimits& limits) : limits_(limits) {
  const std::uint64_t want = std::uint64_t{limits.max_mr} + limits.max_mw + 1;
  capacity_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(want, 1u << 24));  // 24-bit index
  chunks_.reserve((capacity_ >> kChunkBits) + 1);
  chunks_.push_back(std::make_unique<MemoryObject[]>(1u << kChunkBits));
  pd_refs_.resize(1);
  pd_live_.resize(1);
}

Result<PdHandle> MemoryTable::alloc_pd() {
  for (std::uint32_t i = 1; i < pd_live_.size(); ++i) {
    if (!pd_live_[i]) {
      pd_live_[i] = true;
      return i;
    }
  }
  if (pd_live_.size() > limits_.max_pd) return make_error(Errc::busy, "too many protection domains");
  pd_live_.push_back(true);
  pd_refs_.push_back(0);
  return static_cast<PdHandle>(pd_live_.size() - 1);
}

Result<void> MemoryTable::free_pd(PdHandle pd) {
  if (!pd_valid(pd)) return make_error(Errc::not_found, "no such protection domain");
  if (pd_refs_[pd] != 0)
    return make_error(Errc::busy, "protection domain still has " + std::to_string(pd_refs_[pd]) +
                                      " memory objects");
  pd_live_[pd] = false;
  return {};
}

bool MemoryTable::pd_valid(PdHandle pd) const { return pd != 0 && pd < pd_live_.size() && pd_live_[pd]; }

Result<std::uint32_t> MemoryTable::take_slot(MemoryObject::Kind kind, PdHandle pd) {
  if (!pd_valid(pd)) return make_error(Errc::invalid_argument, "no such protection domain");
  std::uint32_t idx;
  if (!free_.empty()) {
    idx = free_.front();
    free_.pop_front();
  } else {
    if (used_ >= capacity_) return make_error(Errc::busy, "memory key table full");
    if ((used_ >> kChunkBits) >= chunks_.size())
      chunks_.push_back(std::make_unique<MemoryObject[]>(1u << kChunkBits));
    idx = used_++;
  }
  auto& o = slot(idx);
  // The slot keeps its generation (bumped: nothing checked against its last use stays current)
  // and never repeats its last key byte; the new one is drawn at random.
  const std::uint64_t generation = o.generation + 1;
  std::uint8_t key = secure_random<std::uint8_t>();
  if (key == o.key) key = static_cast<std::uint8_t>(key + 1);
  std::vector<std::byte*> pages = std::move(o.pages);
  pages.clear();
  o = MemoryObject{};
  o.pages = std::move(pages);
  o.generation = generation;
  o.key = key;
  o.kind = kind;
  o.pd = pd;
  ++pd_refs_[pd];
  return idx;
}

MemoryObject* MemoryTable::lookup_mut(MemKeyRaw key) {
  const auto i = index_of(key);
  if (i == 0 || i >= used_) return nullptr;
  auto& o = slot(i);
  if (o.kind == MemoryObject::Kind::free || o.key != key_of(key)) return nullptr;
  return &o;
}

const MemoryObject* MemoryTable::find(MemKeyRaw key) const {
  return const_cast<MemoryTable*>(this)->lookup_mut(key);
}

Result<MemKeyRaw> MemoryTable::register_mr(PdHandle pd, void* host, std::uint64_t length,
                                           std::uint64_t va, std::uint32_t access) {
  if (host == nullptr && length != 0) return make_error(Errc::invalid_argument, "null buffer");
  if (length > limits_.max_mr_size)
    return make_error(Errc::invalid_argument, "registration larger than the device maximum");
  if (!rights_consistent(access))
    return make_error(Errc::invalid_argument, "remote write or atomic access needs local write");
  if (!(access & kZeroBased) && va + length < va)
    return make_error(Errc::invalid_argument, "VA + length overflows");
  auto idx = take_slot(MemoryObject::Kind::mr, pd);
  if (!idx) return std::unexpected(idx.error());
  auto& o = slot(*idx);
  o.valid = true;
  o.access = access;
  o.host = static_cast<std::byte*>(host);
  o.length = length;
  o.va = (access & kZeroBased) ? 0 : va;
  return make_key(*idx, o.key);
}

Result<MemKeyRaw> MemoryTable::reregister_mr(MemKeyRaw key, void* host, std::uint64_t length,
                                             std::uint64_t va, std::uint32_t access) {
  auto* o = lookup_mut(key);
  if (!o || o->kind != MemoryObject::Kind::mr) return make_error(Errc::not_found, "no such memory region");
  if (o->mw_refs) return make_error(Errc::busy, "memory windows are bound to this region");
  if (host == nullptr && length != 0) return make_error(Errc::invalid_argument, "null buffer");
  if (length > limits_.max_mr_size)
    return make_error(Errc::invalid_argument, "registration larger than the device maximum");
  if (!rights_consistent(access))
    return make_error(Errc::invalid_argument, "remote write or atomic access needs local write");
  if (!(access & kZeroBased) && va + length < va)
    return make_error(Errc::invalid_argument, "VA + length overflows");
  o->key = static_cast<std::uint8_t>(o->key + 1);
  ++o->generation;
  o->access = access;
  o->host = static_cast<std::byte*>(host);
  o->length = length;
  o->va = (access & kZeroBased) ? 0 : va;
  return make_key(index_of(key), o->key);
}

Result<void> MemoryTable::deregister(MemKeyRaw key) {
  auto* o = lookup_mut(key);
  if (!o) return make_error(Errc::not_found, "no such memory key");
  if (o->mw_refs) return make_error(Errc::busy, "memory windows are bound to this region");
  if (o->kind == MemoryObject::Kind::mw && o->valid) unbind_window(*o);
  --pd_refs_[o->pd];
  const std::uint8_t k = o->key;
  const std::uint64_t gen = o->generation;
  std::vector<std::byte*> pages = std::move(o->pages);
  pages.clear();
  *o = MemoryObject{};
  o->pages = std::move(pages);
  o->key = k;
  o->generation = gen + 1;
  free_.push_back(index_of(key));
  return {};
}

Result<MemKeyRaw> MemoryTable::alloc_frmr(PdHandle pd, std::uint32_t max_pages) {
  if (max_pages == 0 || max_pages > limits_.max_fast_reg_pages)
    return make_error(Errc::invalid_argument, "page list length out of range");
  auto idx = take_slot(MemoryObject::Kind::frmr, pd);
  if (!idx) return std::unexpected(idx.error());
  auto& o = slot(*idx);
  o.max_pages = max_pages;
  o.pages.reserve(max_pages);
  return make_key(*idx, o.key);
}

Result<MemKeyRaw> MemoryTable::fast_register(MemKeyRaw key, std::uint8_t new_key,
                                             std::span<std::byte* const> pages,
                                             std::uint32_t page_size, std::uint64_t va,
                                             std::uint64_t first_page_offset, std::uint64_t length,
                                             std::uint32_t access) {
  auto* o = lookup_mut(key);
  if (!o || o->kind != MemoryObject::Kind::frmr)
    return make_error(Errc::not_found, "not a fast-register memory region");
  // IBA 10.6.3.5: the region must be invalid (freshly allocated or invalidated).
  if (o->valid) return make_error(Errc::busy, "region is still valid; invalidate it first");
  if (pages.size() > o->max_pages) return make_error(Errc::invalid_argument, "too many pages");
  if (page_size == 0 || (page_size & (page_size - 1)))
    return make_error(Errc::invalid_argument, "page size must be a power of two");
  if (first_page_offset >= page_size) return make_error(Errc::invalid_argument, "first page offset too large");
  // Compared without adding or wrapping: a length near 2^64, or an offset into an empty list,
  // cannot pass the check.
  const std::uint64_t span = std::uint64_t{page_size} * pages.size();
  if (first_page_offset > span || length > span - first_page_offset)
    return make_error(Errc::invalid_argument, "length exceeds the page list");
  if (length > limits_.max_mr_size)
    return make_error(Errc::invalid_argument, "registration larger than the device maximum");
  if (!(access & kZeroBased) && va + length < va)
    return make_error(Errc::invalid_argument, "VA + length overflows");
  for (std::byte* page : pages)
    if (page == nullptr) return make_error(Errc::invalid_argument, "null page in the page list");
  if (!rights_consistent(access))
    return make_error(Errc::invalid_argument, "remote write or atomic access needs local write");
  o->pages.assign(pages.begin(), pages.end());
  o->page_size = page_size;
  o->first_page_offset = first_page_offset;
  o->length = length;
  o->access = access;
  o->va = (access & kZeroBased) ? 0 : va;
  o->key = new_key;
  o->valid = true;
  ++o->generation;
  return make_key(index_of(key), new_key);
}

Result<MemKeyRaw> MemoryTable::alloc_mw(PdHandle pd) {
  auto idx = take_slot(MemoryObject::Kind::mw, pd);
  if (!idx) return std::unexpected(idx.error());
  return make_key(*idx, slot(*idx).key);
}

Result<MemKeyRaw> MemoryTable::bind_mw(MemKeyRaw mw, std::uint8_t new_key, MemKeyRaw mr,
                                       std::uint64_t va, std::uint64_t length,
                                       std::uint32_t access, std::uint32_t qp) {
  auto* w = lookup_mut(mw);
  if (!w || w->kind != MemoryObject::Kind::mw) return make_error(Errc::not_found, "no such memory window");
  // IBA 10.6.7.2.2: a type 2 window is bound only while invalid.
  if (w->valid) return make_error(Errc::busy, "window is bound; invalidate it first");
  auto* r = lookup_mut(mr);
  if (!r || !r->valid || r->kind == MemoryObject::Kind::mw)
    return make_error(Errc::not_found, "no such memory region to bind to");
  if (r->pd != w->pd) return make_error(Errc::invalid_argument, "window and region are in different PDs");
  if (!(r->access & kMwBind)) return make_error(Errc::invalid_argument, "region does not allow window binds");
  // IBA 10.6.7.2.2: remote write or atomic through a window needs local write on the region.
  if ((access & (kRemoteWrite | kRemoteAtomic)) && !(r->access & kLocalWrite))
    return make_error(Errc::invalid_argument, "remote write or atomic needs local write on the region");
  const std::uint64_t rva = r->va;
  if (!inside(va, length, rva, r->length)) return make_error(Errc::out_of_range, "window outside the region");
  w->parent = index_of(mr);
  w->parent_generation = r->generation;
  w->parent_offset = va - rva;
  w->length = length;
  w->va = (access & kZeroBased) ? 0 : va;
  w->access = access & (kRemoteRights | kZeroBased);
  w->bound_qp = qp;
  w->key = new_key;
  w->valid = true;
  ++w->generation;
  ++r->mw_refs;
  return make_key(index_of(mw), new_key);
}

std::expected<void, AccessError> MemoryTable::invalidate(MemKeyRaw key, PdHandle pd, std::uint32_t qp) {
  auto* o = lookup_mut(key);
  if (!o) return std::unexpected(AccessError::invalid_key);
  if (o->kind == MemoryObject::Kind::mr) return std::unexpected(AccessError::rights);
  if (o->pd != pd) return std::unexpected(AccessError::pd_mismatch);
  if (!o->valid) return std::unexpected(AccessError::invalid_state);
  if (o->kind == MemoryObject::Kind::mw) {
    if (o->bound_qp != 0 && qp != 0 && o->bound_qp != qp) return std::unexpected(AccessError::qp_mismatch);
    unbind_window(*o);
    return {};
  }
  o->valid = false;
  ++o->generation;
  return {};
}

void MemoryTable::unbind_window(MemoryObject& w) {
  MemoryObject& parent = slot(w.parent);
  if (parent.mw_refs) --parent.mw_refs;
  w.valid = false;
  w.bound_qp = 0;
  ++w.generation;
}

void MemoryTable::invalidate_windows_of(std::uint32_t qp) {
  if (qp == 0) return;
  for (std::uint32_t i = 1; i < used_; ++i) {
    MemoryObject& o = slot(i);
    if (o.kind == MemoryObject::Kind::mw && o.valid && o.bound_qp == qp) unbind_window(o);
  }
}

std::expected<MemRef, AccessError> MemoryTable::check(MemKeyRaw key, PdHandle pd, std::uint64_t va,
                                                      std::uint64_t length, std::uint32_t access,
                                                      std::uint32_t qp) const {
  const MemoryObject* o = find(key);
  if (!o) return std::unexpected(AccessError::invalid_key);
  if (o->pd != pd) return std::unexpected(AccessError::pd_mismatch);
  if (!o->valid) return std::unexpected(AccessError::invalid_state);
  if ((o->access & access) != access) return std::unexpected(AccessError::rights);
  if (o->kind == MemoryObject::Kind::mw && o->bound_qp != 0 && qp != 0 && o->bound_qp != qp)
    return std::unexpected(AccessError::qp_mismatch);
  if (!inside(va, length, o->va, o->length)) return std::unexpected(AccessError::bounds);
  const std::uint64_t off = va - o->va;
  if (o->kind == MemoryObject::Kind::mw) {
    const MemoryObject& parent = const_cast<MemoryTable*>(this)->slot(o->parent);
    if (!parent.valid || parent.generation != o->parent_generation)
      return std::unexpected(AccessError::invalid_state);
    return MemRef{&parent, o, o->parent_offset + off, length, parent.generation, o->generation};
  }
  return MemRef{o, nullptr, off, length, o->generation, 0};
}

namespace {
// Calls f(host_ptr, n, done) for each contiguous piece of [offset, offset + len) of the region.
template <class F>
void for_each_piece(const MemoryObject& o, std::uint64_t offset, std::uint64_t len, F&& f) {
  if (o.kind == MemoryObject::Kind::mr) {
    f(o.host + offset, len, std::uint64_t{0});
    return;
  }
  std::uint64_t pos = o.first_page_offset + offset;
  std::uint64_t done = 0;
  while (done < len) {
    const std::uint64_t page = pos / o.page_size;
    const std::uint64_t in = pos % o.page_size;
    const std::uint64_t n = std::min<std::uint64_t>(len - done, o.page_size - in);
    f(o.pages[page] + in, n, done);
    done += n;
    pos += n;
  }
}
}  // namespace

namespace {
bool within(const MemRef& r, std::uint64_t offset, std::uint64_t n) {
  return offset <= r.length && n <= r.length - offset;
}
}  // namespace

bool MemoryTable::copy_in(const MemRef& r, std::uint64_t offset, ConstByteSpan src) {
  if (!current(r) || !within(r, offset, src.size())) return false;
  for_each_piece(*r.obj, r.offset + offset, src.size(),
                 [&](std::byte* p, std::uint64_t n, std::uint64_t done) {
                   std::memcpy(p, src.data() + done, n);
                 });
  return true;
}

bool MemoryTable::copy_out(const MemRef& r, std::uint64_t offset, ByteSpan dst) {
  if (!current(r) || !within(r, offset, dst.size())) return false;
  for_each_piece(*r.obj, r.offset + offset, dst.size(),
                 [&](std::byte* p, std::uint64_t n, std::uint64_t done) {
                   std::memcpy(dst.data() + done, p, n);
                 });
  return true;
}

std::byte* MemoryTable::atomic_ptr(const MemRef& r) {
  if (!current(r) || !within(r, 0, 8)) return nullptr;
  std::byte* out = nullptr;
  for_each_piece(*r.obj, r.offset, 8, [&](std::byte* p, std::uint64_t n, std::uint64_t) {
    if (n == 8) out = p;
  });
  return out;
}

const std::byte* MemoryTable::contiguous(const MemRef& r, std::uint64_t offset,
                                         std::uint64_t len) {
  if (!current(r) || !within(r, offset, len)) return nullptr;
  const std::byte* out = nullptr;
  for_each_piece(*r.obj, r.offset + offset, len, [&](std::byte* p, std::uint64_t n, std::uint64_t) {
    if (n == len) out = p;
  });
  return out;
}

}  // namespace softrnic::verbs
