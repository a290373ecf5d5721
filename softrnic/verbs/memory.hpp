// Protection domains, memory regions, fast-register MRs and type 2 memory windows, in one key
// space (IBA 10.6). A key is index << 8 | key byte; the key byte is drawn at random on allocation and
// changes on every re-registration, fast-register or bind, so a stale or guessed key rarely names
// anything, and a slot's generation makes sure that work checked earlier never reaches memory the
// key no longer names. Every remote or local access goes
// through check(), which enforces PD, state, bounds and rights: memory outside a registration is
// never touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <span>
#include <vector>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "verbs/limits.hpp"
#include "verbs/types.hpp"

namespace softrnic::verbs {

using PdHandle = std::uint32_t;
using MemKeyRaw = std::uint32_t;

enum class AccessError : std::uint8_t {
  invalid_key,    // no such object, or the key byte is stale
  pd_mismatch,
  invalid_state,  // invalidated FRMR/MW, or not yet registered/bound
  bounds,         // outside [va, va + length) or the arithmetic overflows
  rights,         // the object does not grant the access
  qp_mismatch,    // a type 2 MW used through a QP it is not bound to
};
std::string_view to_string(AccessError e);

struct MemoryObject;

// A checked window of registered memory; obtained only from MemoryTable::check. It holds the
// objects it was checked against and their generations: the table's storage never moves and a
// slot's generation only ever grows, so comparing generations (current()) tells whether the window
// still names the memory it named when checked. Every packet that touches memory asks first.
struct MemRef {
  const MemoryObject* obj = nullptr;  // the region whose memory is touched
  const MemoryObject* via = nullptr;  // the memory window it was reached through, if any
  std::uint64_t offset = 0;           // from the start of the underlying region
  std::uint64_t length = 0;
  std::uint64_t generation = 0;      // obj's generation when checked
  std::uint64_t via_generation = 0;  // via's generation when checked
};

struct MemoryObject {
  enum class Kind : std::uint8_t { free, mr, frmr, mw };
  Kind kind = Kind::free;
  bool valid = false;  // MR: always; FRMR: after fast-register; MW: while bound
  std::uint8_t key = 0;
  PdHandle pd = 0;
  std::uint32_t access = 0;
  std::uint64_t va = 0;      // address of byte 0 as the peer names it (0 when zero-based)
  std::uint64_t length = 0;
  // Backing: contiguous host memory (MR), or a page list (FRMR).
  std::byte* host = nullptr;
  std::vector<std::byte*> pages;  // FRMR, reserved to max_pages at allocation
  std::uint32_t page_size = 0;
  std::uint32_t max_pages = 0;
  std::uint64_t first_page_offset = 0;  // FRMR: offset of va inside pages[0]
  // MW: the region it windows (slot and the generation it had when bound), and where the window
  // starts inside it.
  std::uint32_t parent = 0;
  std::uint64_t parent_generation = 0;
  std::uint64_t parent_offset = 0;
  std::uint32_t bound_qp = 0;
  std::uint32_t mw_refs = 0;  // MR: windows bound to it (deregistration is refused while > 0)
  // Bumped whenever the object stops describing the memory it did (allocation, deregistration,
  // invalidation, re-registration, a new fast-register or bind). Never reset, never decreases.
  std::uint64_t generation = 0;
};

class MemoryTable {
 public:
  explicit MemoryTable(const DeviceLimits& limits = kDefaultLimits);

  [[nodiscard]] Result<PdHandle> alloc_pd();
  [[nodiscard]] Result<void> free_pd(PdHandle pd);

  // Registers [host, host + length) and names it `va` (ignored when access has kZeroBased).
  [[nodiscard]] Result<MemKeyRaw> register_mr(PdHandle pd, void* host, std::uint64_t length,
                                              std::uint64_t va, std::uint32_t access);
  // Same region object, new memory/rights, new key byte.
  [[nodiscard]] Result<MemKeyRaw> reregister_mr(MemKeyRaw key, void* host, std::uint64_t length,
                                                std::uint64_t va, std::uint32_t access);
  [[nodiscard]] Result<void> deregister(MemKeyRaw key);

  [[nodiscard]] Result<MemKeyRaw> alloc_frmr(PdHandle pd, std::uint32_t max_pages);
  // Fast-register work request (IBA 10.6.3.5): the consumer supplies the new key byte.
  [[nodiscard]] Result<MemKeyRaw> fast_register(MemKeyRaw key, std::uint8_t new_key,
                                                std::span<std::byte* const> pages,
                                                std::uint32_t page_size, std::uint64_t va,
                                                std::uint64_t first_page_offset,
                                                std::uint64_t length, std::uint32_t access);

  [[nodiscard]] Result<MemKeyRaw> alloc_mw(PdHandle pd);
  // Type 2 bind: the window over [va, va + length) of MR `mr`, usable through qp only.
  [[nodiscard]] Result<MemKeyRaw> bind_mw(MemKeyRaw mw, std::uint8_t new_key, MemKeyRaw mr,
                                          std::uint64_t va, std::uint64_t length,
                                          std::uint32_t access, std::uint32_t qp);

  // Local invalidate / send with invalidate (IBA 10.6.5): FRMRs and MWs only.
  [[nodiscard]] std::expected<void, AccessError> invalidate(MemKeyRaw key, PdHandle pd,
                                                            std::uint32_t qp);

  // The data-path check. `access` is the right needed (0 = local read); qp is the QP the access
  // comes through (for type 2 windows).
  [[nodiscard]] std::expected<MemRef, AccessError> check(MemKeyRaw key, PdHandle pd,
                                                         std::uint64_t va, std::uint64_t length,
                                                         std::uint32_t access,
                                                         std::uint32_t qp = 0) const;

  // Type 2 windows live only as long as their QP (IBA 10.6.7.2.2): a destroyed QP's windows
  // become invalid, so a QP created later with the same number cannot use them.
  void invalidate_windows_of(std::uint32_t qp);

  // True while a window checked earlier still describes the same registration. Every accessor
  // below asks it first, so work that outlives its check (later packets of a message, read
  // responses, posted WQEs) never touches memory that was deregistered, invalidated or re-used
  // since. Compiled out only for the benchmark that measures what it costs.
  static bool current(const MemRef& r) {
#ifdef SOFTRNIC_NO_REVALIDATION
    return r.obj != nullptr;
#else
    return r.obj != nullptr && r.obj->generation == r.generation &&
           (r.via == nullptr || r.via->generation == r.via_generation);
#endif
  }
  // Copies between a checked window and plain memory; offset is from the window's start. False,
  // with nothing copied, when the window is no longer current or [offset, offset + n) is outside it.
  [[nodiscard]] static bool copy_in(const MemRef& r, std::uint64_t offset, ConstByteSpan src);
  [[nodiscard]] static bool copy_out(const MemRef& r, std::uint64_t offset, ByteSpan dst);
  // Pointer to 8 aligned bytes (atomics); the window must be 8 bytes long and 8-aligned, and current.
  static std::byte* atomic_ptr(const MemRef& r);
  // The host address of [offset, offset + len) of a window when those bytes are one contiguous
  // piece of memory (always for an MR; within one page for a fast-registered region), else
  // nullptr (also when the window is no longer current). Zero-copy transmit hands such pieces to
  // the port instead of copying them.
  static const std::byte* contiguous(const MemRef& r, std::uint64_t offset, std::uint64_t len);

  const MemoryObject* find(MemKeyRaw key) const;
  std::size_t capacity() const { return capacity_; }

 private:
  static constexpr std::uint32_t kChunkBits = 10;  // slots per chunk: 1024
  Result<std::uint32_t> take_slot(MemoryObject::Kind kind, PdHandle pd);
  MemoryObject& slot(std::uint32_t i) { return chunks_[i >> kChunkBits][i & ((1u << kChunkBits) - 1)]; }
  MemoryObject* lookup_mut(MemKeyRaw key);
  bool pd_valid(PdHandle pd) const;
  void unbind_window(MemoryObject& w);

  DeviceLimits limits_;
  // Slots live in chunks allocated once and never moved or freed while the table lives, so a
  // MemRef's pointers stay valid memory whatever is registered later. Slot 0 is never used, so
  // key 0 is always invalid.
  std::vector<std::unique_ptr<MemoryObject[]>> chunks_;
  std::uint32_t capacity_ = 0;  // slots the limits allow, slot 0 included
  std::uint32_t used_ = 1;      // slots ever handed out, slot 0 included
  std::deque<std::uint32_t> free_;  // FIFO: a freed slot is re-used as late as possible
  std::vector<std::uint32_t> pd_refs_;  // objects per PD; index 0 unused
  std::vector<bool> pd_live_;
};

}  // namespace softrnic::verbs
