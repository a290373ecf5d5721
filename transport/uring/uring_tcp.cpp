// The io_uring stream transport's core: the ring, the slot table, completions and the per-poll
// service of every stream and listener that has work (see uring_tcp.hpp for the design).
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>

#include "uring/uring_tcp_core.hpp"

namespace softrnic::transport {

std::string_view counter_name(UringTcpCounter c) {
  switch (c) {
#define SOFTRNIC_X(n)      \
  case UringTcpCounter::n: \
    return #n;
    SOFTRNIC_URING_TCP_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case UringTcpCounter::count_:
      break;
  }
  return "unknown";
}

namespace {
constexpr std::size_t kCqeBatch = 64;
constexpr std::uint32_t kMaxSlots = 1u << 24;  // user_data: generation 32, slot 24, op 8 bits
constexpr int kShutdownRounds = 200;           // x 10 ms: waiting for cancelled operations
}  // namespace

using C = UringTcpCounter;
using uring_tcp::ConnRec;
using uring_tcp::ListenRec;
using uring_tcp::Op;
using uring_tcp::Rec;

// ---- setup and teardown ----

Result<void> UringTcpTransport::Core::open() {
  if (config.send_buffer_bytes == 0 || config.recv_buffer_bytes == 0)
    return make_error(Errc::invalid_argument, "stream buffers must hold at least one byte");
  if (config.ring_depth < 8 || config.ring_depth > 32768)
    return make_error(Errc::out_of_range, "ring_depth must be 8..32768");
  if (config.listen_backlog < 1)
    return make_error(Errc::invalid_argument, "listen_backlog must be at least 1");
  io_uring_params params{};
  // SUBMIT_ALL: an SQE refused at submission does not hold back the ones after it. Completions
  // beyond the CQ's size are kept by the kernel (IORING_FEAT_NODROP), so the CQ size only matters
  // for speed.
  const unsigned cq = std::bit_ceil(4 * config.ring_depth);
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries = cq;
  int rc = io_uring_queue_init_params(config.ring_depth, &ring_, &params);
  if (rc == -EINVAL) {  // kernels before 5.19 know no COOP_TASKRUN or SUBMIT_ALL
    params = {};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = cq;
    rc = io_uring_queue_init_params(config.ring_depth, &ring_, &params);
  }
  if (rc < 0)
    return make_error(Errc::unsupported, "io_uring_queue_init: " + tcp_socket::errno_text(-rc));
  ring_ready_ = true;
  multishot_ok = config.multishot_accept;
  work_.reserve(256);
  servicing_.reserve(256);
  return {};
}

UringTcpTransport::Core::~Core() {
  if (!ring_ready_) return;
  // Streams still held by the user stay readable, but nothing moves any more.
  for (Slot& s : slots_) {
    if (!s.rec) continue;
    s.rec->teardown = true;
    if (s.rec->kind != Rec::Kind::stream) continue;
    auto& c = static_cast<ConnRec&>(*s.rec);
    using S = Stream::State;
    if (c.state == S::connecting || c.state == S::open || c.state == S::peer_closed) {
      c.state = S::failed;
      c.error = "the transport was destroyed";
      c.failure = StreamFailure::other;
    }
  }
  for (Slot& s : slots_)
    if (s.rec) (void)cancel_in_flight(*s.rec);
  (void)submit();
  // Bounded wait: each round reaps completions or times out after 10 ms.
  for (int round = 0; round < kShutdownRounds && in_flight > 0; ++round) {
    __kernel_timespec ts{0, 10'000'000};
    io_uring_cqe* cqe = nullptr;
    (void)io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
    (void)reap();
  }
  for (Slot& s : slots_) {
    if (!s.rec) continue;
    if (s.rec->fd >= 0) close_socket(*s.rec, false);
    s.rec->core = nullptr;
    if (s.rec->in_flight > 0) {
      // The kernel never answered the cancel: its buffers must outlive whatever it still does.
      static std::vector<std::shared_ptr<Rec>>* graveyard = new std::vector<std::shared_ptr<Rec>>;
      graveyard->push_back(s.rec);
    }
    s.rec.reset();
  }
  io_uring_queue_exit(&ring_);
}

// ---- the slot table ----

Result<void> UringTcpTransport::Core::add(const std::shared_ptr<Rec>& r) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (slots_.size() >= kMaxSlots)
      return make_error(Errc::busy, "too many streams and listeners on one transport");
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[slot].rec = r;
  r->slot = slot;
  r->gen = slots_[slot].gen;
  r->core = this;
  return {};
}

void UringTcpTransport::Core::release(Rec& r) {
  const std::uint32_t slot = r.slot;
  Slot& s = slots_[slot];
  ++s.gen;  // completions or work-list entries naming the old generation find nothing
  free_slots_.push_back(slot);
  s.rec.reset();  // may destroy r (its handle is gone)
}

UringTcpTransport::Core::Rec* UringTcpTransport::Core::lookup(std::uint64_t user_data) const {
  const std::uint32_t slot = static_cast<std::uint32_t>(user_data >> 8) & (kMaxSlots - 1);
  const auto gen = static_cast<std::uint32_t>(user_data >> 32);
  if (slot >= slots_.size() || !slots_[slot].rec || slots_[slot].gen != gen) return nullptr;
  return slots_[slot].rec.get();
}

void UringTcpTransport::Core::queue(Rec& r) {
  if (r.queued || r.core == nullptr) return;
  r.queued = true;
  work_.push_back(key(r, Op::cancel));  // the op byte is ignored here
}

// ---- submission ----

io_uring_sqe* UringTcpTransport::Core::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    counters.add(C::sq_full);
    (void)submit();
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringTcpTransport::Core::prepared(Rec& r, io_uring_sqe* sqe, Op op) {
  io_uring_sqe_set_data64(sqe, key(r, op));
  ++sqes_pending_;
  if (op == Op::cancel) return;  // its completion is not waited for
  ++r.in_flight;
  ++in_flight;
}

bool UringTcpTransport::Core::submit() {
  if (sqes_pending_ == 0) return true;
  counters.add(C::submits);
  const int rc = io_uring_submit(&ring_);
  if (rc < 0) return false;
  sqes_pending_ = 0;
  return true;
}

// ---- completions ----

std::size_t UringTcpTransport::Core::reap() {
  std::array<io_uring_cqe*, kCqeBatch> cqes;
  std::size_t total = 0;
  for (;;) {
    // Also runs deferred task work (COOP_TASKRUN) when the kernel flagged some.
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes.data(), kCqeBatch);
    for (unsigned k = 0; k < n; ++k)
      on_cqe(io_uring_cqe_get_data64(cqes[k]), cqes[k]->res, cqes[k]->flags);
    io_uring_cq_advance(&ring_, n);
    total += n;
    if (n < kCqeBatch) return total;
  }
}

void UringTcpTransport::Core::on_cqe(std::uint64_t user_data, std::int32_t res,
                                     std::uint32_t flags) {
  const auto op = static_cast<Op>(user_data & 0xff);
  if (op == Op::cancel) return;
  Rec* r = lookup(user_data);
  if (r == nullptr) {
    // Records stay until their completions drain, so this is a stray: never leak a socket.
    if (op == Op::accept && res >= 0) ::close(res);
    return;
  }
  const bool last = op != Op::accept || (flags & IORING_CQE_F_MORE) == 0;
  if (last) {
    --r->in_flight;
    --in_flight;
  }
  if (r->kind == Rec::Kind::listener) {
    on_accept(static_cast<ListenRec&>(*r), res, last);
  } else {
    auto& c = static_cast<ConnRec&>(*r);
    switch (op) {
      case Op::connect:
        on_connect(c, res);
        break;
      case Op::send:
        on_send(c, res);
        break;
      case Op::recv:
        on_recv(c, res);
        break;
      default:
        break;
    }
  }
  queue(*r);
}

void UringTcpTransport::Core::fail(ConnRec& c, const char* what, int err) {
  using S = Stream::State;
  if (c.state == S::connecting || c.state == S::open || c.state == S::peer_closed) {
    if (c.state != S::connecting) counters.add(C::stream_errors);
    c.state = S::failed;
    c.error = std::string(what) + " " + to_string(c.peer) + ": " + tcp_socket::errno_text(err);
    c.failure = stream_failure_of(err);
  }
  c.teardown = true;
}

void UringTcpTransport::Core::on_connect(ConnRec& c, std::int32_t res) {
  c.connect_in_flight = false;
  if (c.state != Stream::State::connecting) return;  // closed meanwhile: teardown under way
  if (res < 0) {
    counters.add(C::connect_failures);
    fail(c, "connect to", -res);
    return;
  }
  counters.add(C::connected);
  c.local = tcp_socket::local_of(c.fd);
  c.mss = tcp_socket::mss_of(c.fd);
  c.state = Stream::State::open;
}

void UringTcpTransport::Core::on_send(ConnRec& c, std::int32_t res) {
  c.send_in_flight = false;
  c.tx.release_held();
  if (res > 0) {
    counters.add(C::send_ops);
    counters.add(C::send_bytes, static_cast<std::uint64_t>(res));
    c.tx.drop(static_cast<std::size_t>(res));
  } else if (res < 0 && res != -ECANCELED) {
    fail(c, "send to", -res);
  }
}

void UringTcpTransport::Core::on_recv(ConnRec& c, std::int32_t res) {
  c.recv_in_flight = false;
  if (res > 0) {
    counters.add(C::recv_ops);
    counters.add(C::recv_bytes, static_cast<std::uint64_t>(res));
    if (c.discard_rx) {
      c.rx.clear();
    } else {
      c.rx.commit(static_cast<std::size_t>(res));
    }
  } else if (res == 0) {
    counters.add(C::peer_fins);
    c.eof = true;
    if (c.state == Stream::State::open) c.state = Stream::State::peer_closed;
  } else if (res != -ECANCELED) {
    fail(c, "recv from", -res);
  }
}

void UringTcpTransport::Core::on_accept(ListenRec& l, std::int32_t res, bool last) {
  if (last) l.accept_in_flight = false;
  if (res >= 0) {
    if (l.teardown || l.fd < 0) {
      ::close(res);
    } else if (l.waiting.size() >= static_cast<std::size_t>(config.listen_backlog)) {
      counters.add(C::accept_dropped);
      ::close(res);
    } else {
      l.waiting.push_back(res);
      ++open_sockets;
    }
  } else if (res == -EINVAL && l.multishot) {
    multishot_ok = false;  // the kernel knows no multishot accept: one at a time from now on
  } else if (res != -ECANCELED) {
    counters.add(C::accept_errors);
  }
}

// ---- service: what each marked record needs next ----

std::size_t UringTcpTransport::Core::poll() {
  std::size_t work = reap();
  if (closing_ > 0) check_linger();
  work += service_queued();
  work += sqes_pending_;
  (void)submit();
  return work + reap();  // what completed inline at submission
}

std::size_t UringTcpTransport::Core::service_queued() {
  std::size_t n = 0;
  servicing_.swap(work_);
  for (const std::uint64_t k : servicing_) {
    Rec* r = lookup(k);
    if (r == nullptr) continue;
    r->queued = false;
    service(*r);
    ++n;
    if (r->fd < 0 && r->in_flight == 0) release(*r);
  }
  servicing_.clear();
  return n;
}

void UringTcpTransport::Core::service(Rec& r) {
  if (r.fd < 0) return;
  if (r.teardown) {
    if (r.in_flight > 0) {
      if (!r.cancel_sent && !cancel_in_flight(r)) queue(r);
      return;
    }
    close_socket(r, false);
    return;
  }
  if (r.kind == Rec::Kind::listener) {
    service_listener(static_cast<ListenRec&>(r));
  } else {
    service_stream(static_cast<ConnRec&>(r));
  }
}

bool UringTcpTransport::Core::cancel_in_flight(Rec& r) {
  if (r.in_flight == 0 || r.cancel_sent) return true;
  std::array<Op, 3> ops{};
  std::size_t n = 0;
  if (r.kind == Rec::Kind::listener) {
    if (static_cast<ListenRec&>(r).accept_in_flight) ops[n++] = Op::accept;
  } else {
    const auto& c = static_cast<ConnRec&>(r);
    if (c.connect_in_flight) ops[n++] = Op::connect;
    if (c.send_in_flight) ops[n++] = Op::send;
    if (c.recv_in_flight) ops[n++] = Op::recv;
  }
  for (std::size_t i = 0; i < n; ++i) {
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) return false;  // tried again at the next poll
    // A multishot accept is cancelled by its user_data like any other request.
    io_uring_prep_cancel64(sqe, key(r, ops[i]), 0);
    prepared(r, sqe, Op::cancel);
    counters.add(C::cancels);
  }
  r.cancel_sent = true;
  return true;
}

void UringTcpTransport::Core::service_listener(ListenRec& l) {
  if (l.accept_in_flight) return;
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {
    queue(l);
    return;
  }
  l.multishot = multishot_ok;
  if (l.multishot) {
    io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
  } else {
    io_uring_prep_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  prepared(l, sqe, Op::accept);
  l.accept_in_flight = true;
  counters.add(C::accept_arms);
}

void UringTcpTransport::Core::service_stream(ConnRec& c) {
  if (c.connect_in_flight) return;
  if (!c.send_in_flight && !c.tx.empty()) {
    io_uring_sqe* sqe = get_sqe();
    if (sqe == nullptr) {
      queue(c);
      return;
    }
    const ByteRing::Pieces d = c.tx.data();
    c.send_iov[0] = {d.first.data(), d.first.size()};
    c.send_iov[1] = {d.second.data(), d.second.size()};
    c.send_msg = {};
    c.send_msg.msg_iov = c.send_iov.data();
    c.send_msg.msg_iovlen = d.second.empty() ? 1 : 2;
    // MSG_NOSIGNAL: a reset peer is an error completion, not SIGPIPE.
    io_uring_prep_sendmsg(sqe, c.fd, &c.send_msg, MSG_NOSIGNAL);
    prepared(c, sqe, Op::send);
    c.send_in_flight = true;
  }
  if (c.closing && !c.wr_shut && c.tx.empty() && !c.send_in_flight) {
    (void)::shutdown(c.fd, SHUT_WR);  // FIN after the last queued byte
    c.wr_shut = true;
  }
  if (!c.recv_in_flight && !c.eof) {
    if (c.discard_rx) c.rx.clear();
    c.rx.rewind();
    // A receive ring more than half full grows (the reader keeps up less than the peer sends).
    if (!c.discard_rx && c.rx.space() < c.rx.capacity() / 2) c.rx.grow_for(c.rx.capacity() / 2 + 1);
    if (c.rx.space() > 0) {
      io_uring_sqe* sqe = get_sqe();
      if (sqe == nullptr) {
        queue(c);
        return;
      }
      const ByteRing::Pieces v = c.rx.vacant();
      c.recv_iov[0] = {v.first.data(), v.first.size()};
      c.recv_iov[1] = {v.second.data(), v.second.size()};
      c.recv_msg = {};
      c.recv_msg.msg_iov = c.recv_iov.data();
      c.recv_msg.msg_iovlen = v.second.empty() ? 1 : 2;
      io_uring_prep_recvmsg(sqe, c.fd, &c.recv_msg, 0);
      prepared(c, sqe, Op::recv);
      c.recv_in_flight = true;
    }
  }
  // Orderly close done: our FIN is out and the peer's has arrived.
  if (c.wr_shut && c.eof && c.in_flight == 0) close_socket(c, true);
}

void UringTcpTransport::Core::close_socket(Rec& r, bool orderly) {
  if (r.fd < 0) return;
  ::close(r.fd);
  r.fd = -1;
  --open_sockets;
  if (r.kind == Rec::Kind::listener) {
    auto& l = static_cast<ListenRec&>(r);
    for (const int fd : l.waiting) ::close(fd);
    open_sockets -= l.waiting.size();
    l.waiting.clear();
    return;
  }
  auto& c = static_cast<ConnRec&>(r);
  if (c.closing) --closing_;
  c.closing = false;
  counters.add(orderly ? C::orderly_closes : C::aborts);
}

void UringTcpTransport::Core::check_linger() {
  // A walk over every record, so at most once a millisecond.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_linger_check_) return;
  next_linger_check_ = now + std::chrono::milliseconds(1);
  for (Slot& s : slots_) {
    if (!s.rec || s.rec->kind != Rec::Kind::stream) continue;
    auto& c = static_cast<ConnRec&>(*s.rec);
    if (!c.closing || c.teardown || c.fd < 0 || now < c.linger_deadline) continue;
    // The peer neither took the queued bytes nor closed in time: give up with a reset.
    counters.add(C::linger_timeouts);
    tcp_socket::set_abortive(c.fd);
    c.teardown = true;
    queue(c);
  }
}

}  // namespace softrnic::transport
