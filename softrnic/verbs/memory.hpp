// Protection domains, memory regions, fast-register MRs and type 2 memory windows, in one key
// space (IBA 10.6). A key is index << 8 | key byte; the key byte changes on every re-registration,
// fast-register or bind, so a stale key never reaches memory. Every remote or local access goes
// through check(), which enforces PD, state, bounds and rights: memory outside a registration is
// never touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
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

// A checked window of registered memory; obtained only from MemoryTable::check.
struct MemRef {
  const struct MemoryObject* obj = nullptr;
  std::uint64_t offset = 0;  // from the start of the underlying region
  std::uint64_t length = 0;
  std::uint32_t generation = 0;  // the object's generation when checked (MemoryTable::current)
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
  // MW: the region it windows, and where the window starts inside it.
  MemKeyRaw parent = 0;
  std::uint64_t parent_offset = 0;
  std::uint32_t bound_qp = 0;
  std::uint32_t mw_refs = 0;  // MR: windows bound to it (deregistration is refused while > 0)
  // Bumped whenever the object stops describing the memory it did (deregistration, invalidation,
  // re-registration, a new fast-register or bind), so a window checked earlier can be re-checked.
  std::uint32_t generation = 0;
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

  // True while a window checked earlier still describes the same registration: work that outlives
  // its check (a read response being sent) asks before every packet.
  static bool current(const MemRef& r);
  // Copies between a checked window and plain memory; offset is from the window's start.
  static void copy_in(const MemRef& r, std::uint64_t offset, ConstByteSpan src);
  static void copy_out(const MemRef& r, std::uint64_t offset, ByteSpan dst);
  // Pointer to 8 aligned bytes (atomics); the window must be 8 bytes long and 8-aligned.
  static std::byte* atomic_ptr(const MemRef& r);
  // The host address of [offset, offset + len) of a window when those bytes are one contiguous
  // piece of memory (always for an MR; within one page for a fast-registered region), else
  // nullptr. Zero-copy transmit hands such pieces to the port instead of copying them.
  static const std::byte* contiguous(const MemRef& r, std::uint64_t offset, std::uint64_t len);

  const MemoryObject* find(MemKeyRaw key) const;

 private:
  Result<std::uint32_t> take_slot(MemoryObject::Kind kind, PdHandle pd);
  MemoryObject* lookup_mut(MemKeyRaw key);
  bool pd_valid(PdHandle pd) const;

  DeviceLimits limits_;
  std::vector<MemoryObject> objects_;  // index 0 is never used, so key 0 is always invalid
  std::vector<std::uint32_t> free_;
  std::vector<std::uint32_t> pd_refs_;  // objects per PD; index 0 unused
  std::vector<bool> pd_live_;
};

}  // namespace softrnic::verbs
