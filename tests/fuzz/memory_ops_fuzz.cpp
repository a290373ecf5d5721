// Stateful libFuzzer target for memory protection in the RoCEv2 engine: two devices on an
// in-memory wire (memory_ops_wire.hpp) and a virtual clock, driven by an input decoded as a
// sequence of operations (memory_ops_session.hpp), with a shadow of every buffer
// (memory_ops_shadow.hpp) as the oracle. memory_ops_seeds.py writes the seed corpus.
//
// Input: byte 0 seeds the engine's random draws (key bytes, QPN bits) for the run, byte 1 holds
// flags (bit 0: zero-copy transmit from 64 bytes, bit 1: no ACK coalescing, bit 2: a wire of
// only kSmallPool buffers, so that transmit runs out of them); then operations,
// each an opcode byte (modulo kOpCount) and its arguments (bytes past the end read as 0):
//   register / deregister / re-register an MR; allocate an FRMR, fast-register it (posted or
//   called), invalidate a key (posted or called); allocate a type 2 window and bind it (posted
//   or called); create an RC or UC pair and connect it, destroy a QP, move one to ERR; post
//   SEND / WRITE / READ / atomics (with immediate, invalidate, fence, inline) and receives with
//   SGEs into registered buffers, offsets and lengths from the input, in bounds or not; poll both
//   devices some rounds; advance the clock; set a direction of the wire to pass, hold or drop
//   frames and release held ones (in order, reversed, skipping, duplicated); deliver a crafted
//   frame (a captured one with its opcode, PSN, QPN, R_Key, VA, DMA length or payload changed,
//   truncated or with a byte flipped, or one built from scratch).
//
// Invariants, checked after every operation and every round of polling (abort on violation):
//  - no sanitizer report; AddressSanitizer also stops any access to arena granules no possibly
//    live registration covers;
//  - guard bytes around every buffer never change;
//  - a byte no grant covers never changes. Grants: a registration with remote write or atomic
//    rights, once a WRITE or atomic naming its key has arrived since it was made; a receive,
//    READ or atomic WQE still live, through the registrations its keys named when the engine
//    took it. A registration that went away leaves its bytes as they were when the consumer
//    learnt it went;
//  - the key table never accepts, in a call, a key the consumer was never given;
//  - every frame the builders make from a crafted spec parses back to the same header fields;
//  - bounded work: at most kMaxOps operations and kMaxRounds rounds per input.
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/random.hpp"
#include "memory_ops_session.hpp"

namespace softrnic::fuzz {
namespace {

// The engine draws key bytes and QPN bits from getrandom(2). Within one input they come from a
// generator seeded by the input, so a run replays exactly (libFuzzer needs that to keep and
// minimise inputs); outside an input the real system call answers.
bool g_replay = false;
std::uint64_t g_replay_state = 0;

std::uint64_t next_replay_word() {
  // splitmix64
  std::uint64_t z = (g_replay_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace
}  // namespace softrnic::fuzz

extern "C" ssize_t getrandom(void* buf, std::size_t n, unsigned flags) {
  using namespace softrnic::fuzz;
  if (!g_replay) return syscall(SYS_getrandom, buf, n, flags);
  auto* out = static_cast<std::uint8_t*>(buf);
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t w = next_replay_word();
    std::memcpy(out + i, &w, std::min<std::size_t>(8, n - i));
  }
  return static_cast<ssize_t>(n);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace softrnic::fuzz;
  // Buffers and the wire's frames outlive every device that may still name them.
  static Arena arena;
  static FuzzWire wire;
  static Shadow shadow(arena);
  Input in(data, size);
  const std::uint8_t seed = in.u8();
  const std::uint8_t flags = in.u8();
  g_replay = true;
  g_replay_state = seed;
  softrnic::detail::random_pool.used = softrnic::detail::random_pool.buf.size();  // drop old draws
  wire.reset((flags & 1) ? 64 : 0, (flags & 4) ? kSmallPool : FuzzWire::kPackets);
  shadow.reset(seed);
  {
    Session session(wire, arena, shadow, flags);
    session.run(in);
  }
  shadow.check("the devices went");
  g_replay = false;
  return 0;
}
