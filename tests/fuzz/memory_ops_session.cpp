// The session's frame: devices made and torn down, operations decoded and checked, polling, and
// the choices every operation makes from input bytes.
#include <algorithm>

#include "memory_ops_session.hpp"

namespace softrnic::fuzz {

Session::Session(FuzzWire& wire, Arena& arena, Shadow& shadow, std::uint8_t flags)
    : wire_(wire), arena_(arena), shadow_(shadow) {
  for (int d = 0; d < 2; ++d) {
    roce::DeviceConfig c;
    Port& port = wire.end(d);
    c.mac = port.mac();
    c.gids = {gid_of(d)};
    c.coalesce_acks = (flags & 2) == 0;
    c.limits.max_qp = 16;
    c.limits.max_mr = 64;
    c.limits.max_mw = 64;
    c.limits.max_cq = 4;
    Side& s = side_[d];
    s.dev = std::make_unique<roce::Device>(port, clock_, c);
    for (auto& pd : s.pd) pd = *s.dev->memory().alloc_pd();
    s.scq = *s.dev->create_cq(256);
    s.rcq = *s.dev->create_cq(256);
  }
  wire_.on_deliver = [this](int side, const Packet& p) { delivered(side, p); };
}

Session::~Session() { wire_.on_deliver = nullptr; }

void Session::run(Input& in) {
  for (int n = 0; n < kMaxOps && !in.done(); ++n) {
    const auto op = static_cast<Op>(in.u8() % kOpCount);
    trace("%s", op_name(op));
    step(op, in);
    shadow_.refresh();
    shadow_.check(op_name(op));
  }
  // Let what is in flight land (or time out) before the devices go.
  wire_.mode[0] = wire_.mode[1] = FuzzWire::Mode::pass;
  rounds_left_ = std::max(rounds_left_, kSettleRounds);
  poll_rounds(kSettleRounds, kSettleStepNs);
}

const char* Session::op_name(Op op) {
  static constexpr std::array<const char*, kOpCount> kNames = {
      "register_mr", "deregister", "reregister_mr", "alloc_frmr", "fast_register", "invalidate",
      "alloc_mw",    "bind_mw",    "create_pair",   "destroy_qp", "qp_to_error",   "post_send",
      "post_recv",   "poll",       "advance_clock", "wire_mode",  "release_held",  "craft_frame"};
  return kNames[static_cast<std::size_t>(op)];
}

void Session::step(Op op, Input& in) {
  switch (op) {
    case Op::register_mr:
      return register_mr(in, false);
    case Op::deregister:
      return deregister(in);
    case Op::reregister_mr:
      return register_mr(in, true);
    case Op::alloc_frmr:
      return alloc_frmr(in);
    case Op::fast_register:
      return fast_register(in);
    case Op::invalidate:
      return invalidate(in);
    case Op::alloc_mw:
      return alloc_mw(in);
    case Op::bind_mw:
      return bind_mw(in);
    case Op::create_pair:
      return create_pair(in);
    case Op::destroy_qp:
      return destroy_qp(in);
    case Op::qp_to_error:
      return qp_to_error(in);
    case Op::post_send:
      return post_send(in);
    case Op::post_recv:
      return post_recv(in);
    case Op::poll:
      return poll_rounds(1 + in.u8() % 32);
    case Op::advance_clock:
      clock_.advance(std::uint64_t{1} << (8 + in.u8() % 24));
      return;
    case Op::wire_mode: {
      const std::uint8_t b = in.u8();
      wire_.mode[b & 1] = static_cast<FuzzWire::Mode>((b >> 1) % 3);
      return;
    }
    case Op::release_held:
      return release_held(in);
    case Op::craft_frame:
      return craft_frame(in);
    case Op::count_:
      return;
  }
}

void Session::poll_rounds(int n, std::uint64_t idle_step) {
  for (int i = 0; i < n && rounds_left_ > 0; ++i, --rounds_left_) {
    const std::size_t work = side_[0].dev->poll() + side_[1].dev->poll();
    bind_taken_sinks();
    shadow_.refresh();  // what arrived may have opened registrations
    // Memory changes only when a frame arrives, which counts as work. Checked before the
    // completions close what the round wrote.
    if (work != 0) shadow_.check("a round of polling");
    drain_completions();
    if (work == 0) clock_.advance(idle_step);
  }
}

// Sink WRs the engine has taken since: a send queue it fetched, the receive it holds.
void Session::bind_taken_sinks() {
  for (int d = 0; d < 2; ++d) {
    for (const QpSlot& q : side_[d].qps) {
      if (!q.live) continue;
      if (q.qp->sq_ring.empty()) shadow_.bind_send_sinks(d, q.qpn);
      if (q.qp->have_recv) shadow_.bind_sinks(d, q.qp->cur_recv.wr_id);
    }
  }
}

void Session::drain_completions() {
  bool any = false;
  std::array<verbs::Cqe, 64> buf;
  for (int d = 0; d < 2; ++d) {
    for (verbs::Cq* cq : {side_[d].scq, side_[d].rcq}) {
      while (const std::size_t n = cq->poll(buf)) {
        for (std::size_t i = 0; i < n; ++i) {
          trace("  completion on device %d: wr %llu %s", d,
                static_cast<unsigned long long>(buf[i].wr_id),
                std::string(verbs::to_string(buf[i].status)).c_str());
          shadow_.completed(d, buf[i]);
        }
        any = true;
      }
    }
  }
  if (any) shadow_.refresh();
}

Obj* Session::object(int d, std::uint8_t pick) {
  auto& objs = shadow_.objects(d);
  return objs.empty() ? nullptr : &objs[pick % objs.size()];
}

std::uint32_t Session::key_of(int d, std::uint8_t pick, std::uint8_t how) {
  const Obj* o = object(d, pick);
  return vary_key(o ? o->key : 0x100, how);
}

std::uint64_t Session::va_of(int d, std::uint8_t pick) {
  const Obj* o = object(d, pick);
  return o ? o->va_hint : 0;
}

QpSlot* Session::live_qp(int d, std::uint8_t pick) {
  std::array<QpSlot*, kMaxQpsPerDevice * 8> live{};
  std::size_t n = 0;
  for (auto& q : side_[d].qps)
    if (q.live && n < live.size()) live[n++] = &q;
  return n == 0 ? nullptr : live[pick % n];
}

std::size_t Session::live_qps(int d) {
  return static_cast<std::size_t>(
      std::ranges::count_if(side_[d].qps, [](const QpSlot& q) { return q.live; }));
}

// A buffer of device d: its arena offset and size, at least min_size long when one is.
std::pair<std::uint32_t, std::uint32_t> Session::buffer(int d, std::uint8_t pick,
                                                        std::uint32_t min_size) {
  int i = pick % Arena::kBuffers;
  for (int k = 0; k < Arena::kBuffers && Arena::kSizes[i] < min_size; ++k)
    i = (i + 1) % Arena::kBuffers;
  return {arena_.buffer_at(d, i), Arena::kSizes[i]};
}

// VA a registration is named by: the host address, a made-up one, one near the top of the
// address space, or zero-based.
std::uint64_t Session::make_va(std::uint8_t mode, std::byte* host, std::uint64_t len,
                               std::uint32_t* access) {
  switch (mode & 3) {
    case 0:
      return reinterpret_cast<std::uint64_t>(host);
    case 1:
      return 0x10000000ull * (1 + (mode >> 2)) + (mode >> 2) * 8;
    case 2:
      return ~std::uint64_t{0} - len + (mode >> 2);  // ends at 2^64 - 1, or wraps
    default:
      *access |= verbs::kZeroBased;
      return 0;
  }
}

}  // namespace softrnic::fuzz
