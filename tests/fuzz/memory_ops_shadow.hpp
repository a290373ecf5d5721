// The oracle of the memory_ops fuzz target: the buffers it registers, and a shadow of what every
// byte of them may legally become.
//
// Every buffer sits in one arena between guard zones. The shadow mirrors, from the consumer's
// side, every registration that may be live (memory regions, fast-registered regions, type 2
// windows) and every posted work request whose local memory the engine may write (receive WQEs,
// READ and atomic sinks). From them it derives two masks over the arena:
//  - open: bytes the engine may write now (a remote-write or remote-atomic grant, or a
//    local-write registration under a live sink);
//  - registered: bytes some possibly live registration covers.
// A remote grant opens a registration only once a request naming its key has arrived after it
// was made (Reg::named), so the tail of a message checked against an earlier registration finds
// the new one closed even when it got the same key.
// check() compares every byte that is not open with the snapshot taken when it last was, and
// takes a new snapshot of the open ones; guards are never open. Bytes no registration covers are
// also poisoned for AddressSanitizer, so an engine read or write there stops at the access.
//
// The shadow is conservative where the consumer cannot know the order of events: a
// registration a posted work request may make counts from the moment it is posted; one that
// work request, invalidation or deregistration ends counts until the consumer is told (a
// completion, or a call that returned). It never closes a byte the engine may still write.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "verbs/cq.hpp"
#include "verbs/memory.hpp"

namespace softrnic::fuzz {

// The fuzzer's memory: kBuffers buffers per device, each between guard zones, allocated once.
class Arena {
 public:
  static constexpr std::uint32_t kGuard = 64;
  // The last is long enough for a READ of more responses than a turn of the engine sends.
  static constexpr std::array<std::uint32_t, 7> kSizes = {256, 512, 1024, 2048, 4096, 1024, 20480};
  static constexpr int kBuffers = static_cast<int>(kSizes.size());
  static constexpr int kDevices = 2;

  Arena();
  std::byte* base() const { return base_; }
  std::uint32_t size() const { return size_; }
  // Arena offset of buffer i of device dev.
  std::uint32_t buffer_at(int dev, int i) const { return at_[dev][i]; }
  // Which device and buffer an arena offset belongs to (-1: a guard), for reports.
  void locate(std::uint32_t at, int* dev, int* buffer, std::uint32_t* offset) const;

 private:
  std::byte* base_ = nullptr;
  std::uint32_t size_ = 0;
  std::array<std::array<std::uint32_t, kBuffers>, kDevices> at_{};
};

struct Piece {
  std::uint32_t at = 0;  // arena offset
  std::uint32_t len = 0;
};

// One registration that may be live: what a key names, as the consumer asked for it.
struct Reg {
  enum class Kind : std::uint8_t { mr, frmr, mw };
  Kind kind = Kind::mr;
  std::uint64_t id = 0;    // unique within an input
  std::uint32_t slot = 0;  // key >> 8
  std::uint32_t key = 0;
  std::uint32_t access = 0;
  std::uint64_t va = 0;  // 0 when zero-based
  std::uint64_t length = 0;
  std::vector<Piece> pieces;  // mr, frmr: the backing in VA order, length bytes in all
  // mw: the window [parent_va, parent_va + length) of whatever parent_key names.
  std::uint32_t parent_key = 0;
  std::uint64_t parent_va = 0;
  std::uint32_t bound_qpn = 0;
  std::uint64_t wr_id = 0;         // pending: the work request that may make it (0: confirmed)
  std::uint64_t confirmed_at = 0;  // event sequence number when it became confirmed
  // A WRITE (first or only packet) or an atomic naming its key has reached the device since it
  // was made. Only such a request may write it: the rest of a message that began before it was
  // made checked another registration, whatever the key.
  bool named = false;
};

// A key-table object the fuzzer allocated (region, FRMR or window) and what it knows of it.
struct Obj {
  Reg::Kind kind = Reg::Kind::mr;
  std::uint32_t slot = 0;
  std::uint32_t key = 0;  // the key the consumer would use now
  verbs::PdHandle pd = 0;
  bool live = true;
  std::uint64_t serial = 0;
  std::vector<std::uint8_t> key_bytes;  // every key byte the consumer was given or chose
  std::vector<Reg> regs;                // confirmed registrations that may be live
  std::uint64_t va_hint = 0;            // where its last registration started, for addresses
  std::uint64_t len_hint = 0;
};

struct SgeRef {
  std::uint32_t lkey = 0;
  std::uint64_t addr = 0;
  std::uint32_t length = 0;
};

// A posted work request the shadow must follow until its completion.
struct PostedWr {
  enum class Kind : std::uint8_t { sink, fast_reg, bind, local_inv };
  Kind kind = Kind::sink;
  bool recv = false;  // a receive WR (else a send queue WR)
  std::uint64_t wr_id = 0;
  std::uint32_t qpn = 0;
  std::uint64_t posted_at = 0;  // event sequence number
  std::vector<SgeRef> sinks;    // sink: local memory the engine may write for it
  // sink: once the engine has taken the WQE and checked its keys (bind_sinks), the
  // registrations they named then; before that, whatever they name now.
  bool bound = false;
  std::vector<std::uint64_t> bound_to;
  std::uint32_t slot = 0;    // fast_reg, bind, local_inv: the object's slot
  std::uint64_t serial = 0;  // local_inv: the object it was posted for
};

class Shadow {
 public:
  explicit Shadow(Arena& arena);

  // A new input: every byte gets its initial pattern (from seed), nothing is registered.
  void reset(std::uint8_t seed);

  std::vector<Obj>& objects(int dev) { return dev_[dev].objs; }
  // The live object holding slot, or nullptr.
  Obj* owner(int dev, std::uint32_t slot);
  // Aborts unless some live object holds the key's slot and was ever given its key byte: the
  // table accepted a key the consumer never held.
  Obj& holder(int dev, std::uint32_t key, const char* call);

  // --- calls that returned success (the caller mirrors the engine's answer) ---
  Obj& allocated(int dev, Reg::Kind kind, verbs::PdHandle pd, std::uint32_t key);
  void registered(int dev, Reg reg);  // MR (new or re-registered), FRMR fast-register, MW bind
  void deregistered(int dev, Obj& o);
  void invalidated(int dev, Obj& o);
  void qp_destroyed(int dev, std::uint32_t qpn);

  // --- work requests ---
  // A posted fast-register or bind: its registration counts as possibly live from now.
  void posted(int dev, PostedWr wr, Reg pending);
  void posted(int dev, PostedWr wr);
  void completed(int dev, const verbs::Cqe& e);
  // A WRITE first/only packet or an atomic naming `key` reached device dev.
  void named(int dev, std::uint32_t key);
  // The engine has taken sink WR wr_id (fetched a READ or atomic, took a receive) and checked its
  // keys against what they named then: later registrations under the same keys are not its.
  void bind_sinks(int dev, std::uint64_t wr_id);
  // Every sink WR of QP qpn not bound yet (the engine fetched its send queue).
  void bind_send_sinks(int dev, std::uint32_t qpn);

  // Recomputes the masks and the poisoning if the shadow changed since the last time.
  void refresh();
  // The invariant: closed bytes and guards hold their snapshot. `when` names the step for the
  // report.
  void check(const char* when);

  std::uint64_t next_event() { return ++event_; }
  // The caller changed an object it got from objects(), owner() or holder().
  void touched() { dirty_ = true; }

 private:
  struct Device {
    std::vector<Obj> objs;
    std::vector<Reg> pending;  // registrations posted work requests may make
    std::vector<PostedWr> wrs;
  };

  void add_reg_pieces(const Reg& r, std::uint64_t off, std::uint64_t len,
                      std::vector<std::uint8_t>& mask);
  void add_window(int dev, const Reg& w, std::vector<std::uint8_t>& mask);
  void add_sink(int dev, const PostedWr& wr, const SgeRef& s, std::vector<std::uint8_t>& mask);
  template <class F>
  void for_each_reg(int dev, F&& f);
  void land(int dev, Reg reg, std::uint64_t posted_at, bool ran);
  void drop_windows_over(int dev, std::uint32_t slot);
  void poison();

  Arena& arena_;
  std::array<Device, Arena::kDevices> dev_;
  std::vector<std::uint8_t> open_;
  std::vector<std::uint8_t> registered_;
  std::vector<std::byte> snapshot_;
  std::vector<std::uint8_t> poisoned_;  // per 8-byte granule, as last set
  bool dirty_ = true;
  std::uint64_t event_ = 0;
  std::uint64_t serial_ = 0;
  std::uint64_t reg_ids_ = 0;
};

}  // namespace softrnic::fuzz
