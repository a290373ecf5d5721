// One input of the memory_ops fuzz target: two RoCEv2 devices on the fuzz wire, a virtual clock,
// and the operations the input names (memory_ops_fuzz.cpp describes the format), each mirrored
// into the shadow. The session's functions live in one file per kind of operation:
// memory_ops_session.cpp (decoding, polling, choosing), memory_ops_objects.cpp (regions, FRMRs,
// windows), memory_ops_queues.cpp (queue pairs, work requests), memory_ops_frames.cpp (the wire
// and crafted frames).
#pragma once

#include <array>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "memory_ops_shadow.hpp"
#include "memory_ops_wire.hpp"
#include "roce/device.hpp"

namespace softrnic::fuzz {

inline constexpr int kMaxOps = 160;
inline constexpr int kMaxRounds = 1500;
inline constexpr int kMaxQpsPerDevice = 4;
// The clock moves by kIdleStepNs after a round where nothing happened; after the last operation,
// kSettleRounds more rounds with steps of kSettleStepNs let timers fire.
inline constexpr std::uint64_t kIdleStepNs = 50'000;
inline constexpr int kSettleRounds = 48;
inline constexpr std::uint64_t kSettleStepNs = 1'000'000;
inline constexpr std::uint32_t kMaxInline = 64;
inline constexpr std::size_t kSmallPool = 40;

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "memory_ops_fuzz: %s\n", what);
  std::abort();
}

// MEMORY_OPS_TRACE in the environment: every operation and what the engine answered, on stderr
// (to read a reproducer).
inline const bool g_trace = std::getenv("MEMORY_OPS_TRACE") != nullptr;

__attribute__((format(printf, 1, 2))) inline void trace(const char* fmt, ...) {
  if (!g_trace) return;
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
}

// Whether a call succeeded, traced with its answer.
template <class R>
bool succeeded(const R& r, const char* call) {
  if (!g_trace) return r.has_value();
  if (r) {
    if constexpr (std::is_integral_v<typename R::value_type>) {
      trace("  %s -> %#x", call, static_cast<unsigned>(*r));
    } else {
      trace("  %s -> ok", call);
    }
  } else if constexpr (requires { r.error().message; }) {
    trace("  %s refused: %s", call, r.error().message.c_str());
  } else {
    trace("  %s refused: %s", call, std::string(verbs::to_string(r.error())).c_str());
  }
  return r.has_value();
}

// The input, read front to back; past its end every byte reads as 0.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  std::uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  std::uint16_t u16() {
    const std::uint16_t lo = u8();
    return static_cast<std::uint16_t>(lo | u8() << 8);
  }
  std::int16_t s16() { return static_cast<std::int16_t>(u16()); }
  std::uint32_t u32() {
    const std::uint32_t lo = u16();
    return lo | std::uint32_t{u16()} << 16;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// The operations, in the order of their opcode bytes (memory_ops_seeds.py lists the same).
enum class Op : std::uint8_t {
  register_mr,
  deregister,
  reregister_mr,
  alloc_frmr,
  fast_register,
  invalidate,
  alloc_mw,
  bind_mw,
  create_pair,
  destroy_qp,
  qp_to_error,
  post_send,
  post_recv,
  poll,
  advance_clock,
  wire_mode,
  release_held,
  craft_frame,
  count_,
};
inline constexpr int kOpCount = static_cast<int>(Op::count_);

inline wire::Ipv6Addr gid_of(int dev) {
  return wire::ipv4_mapped({198, 18, 0, static_cast<std::uint8_t>(dev + 1)});
}

// A key the consumer holds, or one close to it: stale key byte, another slot, a flipped bit.
inline std::uint32_t vary_key(std::uint32_t key, std::uint8_t how) {
  if (how < 0xc0) return key;
  if (how < 0xd0) return (key & ~0xffu) | ((key + 1) & 0xff);
  if (how < 0xe0) return (key & ~0xffu) | ((key - 1) & 0xff);
  if (how < 0xf0) return key ^ (0x100u << (how & 7));
  if (how == 0xff) return 0;
  return key ^ (1u << (how & 7));
}

struct QpSlot {
  roce::Qp* qp = nullptr;  // nullptr once destroyed
  std::uint32_t qpn = 0;
  bool live = true;
};

struct Side {
  std::unique_ptr<roce::Device> dev;
  std::array<verbs::PdHandle, 2> pd{};
  verbs::Cq* scq = nullptr;  // every QP of the device completes into these two
  verbs::Cq* rcq = nullptr;
  std::vector<QpSlot> qps;
};

class Session {
 public:
  // flags: byte 1 of the input.
  Session(FuzzWire& wire, Arena& arena, Shadow& shadow, std::uint8_t flags);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Every operation of the input, then a few rounds for what is still in flight.
  void run(Input& in);

 private:
  static const char* op_name(Op op);
  void step(Op op, Input& in);

  // Polling: rounds of both devices, each checked, then their completions.
  void poll_rounds(int n, std::uint64_t idle_step = kIdleStepNs);
  void bind_taken_sinks();
  void drain_completions();

  // Choosing things from input bytes.
  verbs::MemoryTable& memory(int d) { return side_[d].dev->memory(); }
  Obj* object(int d, std::uint8_t pick);
  std::uint32_t key_of(int d, std::uint8_t pick, std::uint8_t how);
  std::uint64_t va_of(int d, std::uint8_t pick);
  QpSlot* live_qp(int d, std::uint8_t pick);
  std::size_t live_qps(int d);
  std::pair<std::uint32_t, std::uint32_t> buffer(int d, std::uint8_t pick,
                                                 std::uint32_t min_size = 0);
  static std::uint64_t make_va(std::uint8_t mode, std::byte* host, std::uint64_t len,
                               std::uint32_t* access);
  std::uint64_t next_wr_id() { return next_wr_id_++; }

  // Memory objects (memory_ops_objects.cpp).
  void register_mr(Input& in, bool again);
  void deregister(Input& in);
  void alloc_frmr(Input& in);
  void alloc_mw(Input& in);
  void fast_register(Input& in);
  void invalidate(Input& in);
  void bind_mw(Input& in);

  // Queue pairs and work requests (memory_ops_queues.cpp).
  void create_pair(Input& in);
  void destroy_qp(Input& in);
  void qp_to_error(Input& in);
  std::uint8_t read_sges(Input& in, int d, std::uint8_t nsge,
                         std::array<roce::Sge, roce::kMaxSge>& sg);
  void post_send(Input& in);
  void post_recv(Input& in);
  // Tells the shadow that a posted WR (a READ/atomic or a receive) may write its SGEs.
  void record_sinks(int d, const QpSlot& q, std::uint64_t wr_id, bool recv,
                    const std::array<roce::Sge, roce::kMaxSge>& sg, std::uint8_t num_sge);

  // The wire (memory_ops_frames.cpp).
  void delivered(int side, const Packet& pkt);
  void release_held(Input& in);
  void craft_frame(Input& in);
  static void fix_icrc(std::span<std::byte> frame);

  FuzzWire& wire_;
  Arena& arena_;
  Shadow& shadow_;
  VirtualClock clock_;
  std::array<Side, 2> side_;
  std::uint64_t next_wr_id_ = 1;
  int rounds_left_ = kMaxRounds;
  std::deque<std::vector<std::byte*>> page_lists_;  // FRMR page lists: the consumer's until the end
};

}  // namespace softrnic::fuzz
