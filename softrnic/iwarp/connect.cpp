// iWARP connection setup: TCP through the stream transport, then the MPA Request/Reply exchange
// (RFC 5044 section 7, RFC 6581 enhanced mode with IRD/ORD and a zero-length RTR), with the calls
// and events of the RoCEv2 CM. Also Device::poll, which runs it beside the data path.
#include <algorithm>
#include <cstring>
#include <random>

#include "iwarp/device.hpp"
#include "iwarp/terminate_codes.hpp"
#include "wire/mpa_fpdu.hpp"

namespace softrnic::iwarp {

using verbs::QpState;

struct Conn {
  enum class St : std::uint8_t {
    tcp_connecting,  // active: waiting for the TCP handshake
    awaiting_reply,  // active: Request sent
    awaiting_request,  // passive: reading the Request
    owner_decides,     // passive: connect_request delivered
    rtr_wait,          // passive: Reply sent, RTR negotiated, waiting for it
    established,
    closed,
  };
  cm::ConnId id = 0;
  bool active = false;
  St st = St::tcp_connecting;
  std::unique_ptr<Stream> stream;  // until a QP takes it
  Qp* qp = nullptr;
  cm::Handler handler;
  cm::ListenerId listener = 0;
  std::vector<std::byte> in;   // MPA frame bytes read so far
  std::vector<std::byte> out;  // MPA frame bytes not yet taken by the stream
  std::vector<std::byte> private_data;
  wire::MpaFrame peer{};  // the peer's Request or Reply (private_data points into `in`)
  std::uint8_t ird = 0, ord = 0;
  std::uint64_t deadline = 0;
};

struct Device::Impl {
  struct Listener {
    cm::ListenerId id;
    cm::Address addr;
    std::unique_ptr<StreamListener> listener;
    cm::Handler handler;
  };
  std::vector<Listener> listeners;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<std::pair<cm::Handler, cm::CmEvent>> events;
  cm::ListenerId next_listener = 1;
  cm::ConnId next_id = 1;
  Conn* find(cm::ConnId id) {
    for (auto& c : conns)
      if (c->id == id) return c.get();
    return nullptr;
  }
};

namespace {

constexpr std::uint64_t kMpaTimeoutNs = 10'000'000'000;  // TCP + MPA exchange

using Cause = cm::CmEvent::Cause;

// What a failed TCP connect means to the connection's owner.
Cause cause_of(StreamFailure f) {
  switch (f) {
    case StreamFailure::refused: return Cause::refused;
    case StreamFailure::unreachable: return Cause::unreachable;
    case StreamFailure::timed_out: return Cause::timed_out;
    default: return Cause::aborted;
  }
}

cm::CmEvent event(const Conn& c, cm::CmEvent::Type t) {
  cm::CmEvent e;
  e.type = t;
  e.conn = c.id;
  e.listener = c.listener;
  if (c.stream) {
    e.local = {c.stream->local().ip, c.stream->local().port};
    e.remote = {c.stream->peer().ip, c.stream->peer().port};
  } else if (c.qp && c.qp->stream) {
    e.local = {c.qp->stream->local().ip, c.qp->stream->local().port};
    e.remote = {c.qp->stream->peer().ip, c.qp->stream->peer().port};
  }
  e.responder_resources = c.ird;
  e.initiator_depth = c.ord;
  return e;
}

// Pushes c.out into the stream; true once all of it is taken.
bool push_out(Conn& c) {
  Stream& s = c.stream ? *c.stream : *c.qp->stream;
  while (!c.out.empty()) {
    const std::size_t n = s.write(c.out);
    if (n == 0) return false;
    c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return true;
}

// Reads exactly one MPA frame (never a byte past it: FPDUs may follow). Returns the frame once
// complete, an error, or nothing yet.
std::optional<std::expected<wire::MpaFrame, wire::IwarpError>> read_frame(Conn& c) {
  for (;;) {
    auto want = wire::mpa_frame_size(c.in);
    if (!want) return std::unexpected(want.error());
    if (c.in.size() >= *want) return wire::parse_mpa_frame(c.in);
    const std::size_t have = c.in.size();
    c.in.resize(*want);
    const std::size_t n = c.stream->read(ByteSpan(c.in).subspan(have, *want - have));
    c.in.resize(have + n);
    if (n == 0) return std::nullopt;
  }
}

void write_frame(Conn& c, const wire::MpaFrame& f) {
  std::array<std::byte, wire::kMpaMaxFrameSize> buf{};
  auto n = wire::build_mpa_frame(f, buf);
  if (n) c.out.insert(c.out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
}

}  // namespace

Device::Device(StreamTransport& transport, Clock& clock, IwarpConfig config)
    : transport_(transport), clock_(clock), config_(config), memory_(config.limits), impl_(std::make_unique<Impl>()) {
  qps_.resize(2);
}

Device::~Device() {
  for (auto& q : qps_) {
    if (q && q->stream) q->stream->abort();
  }
}

void Device::emit(Conn& c, cm::CmEvent e) {
  if (c.handler) impl_->events.emplace_back(c.handler, std::move(e));
  if (e.type == cm::CmEvent::Type::disconnected) c.st = Conn::St::closed;
}

Result<cm::ListenerId> Device::listen(const cm::Address& local, cm::Handler handler) {
  if (!handler) return make_error(Errc::invalid_argument, "listen: a handler is required");
  auto l = transport_.listen({local.ip, local.port});
  if (!l) return make_error(l.error().code, "listen on " + cm::to_string(local) + ": " + l.error().message);
  const cm::ListenerId id = impl_->next_listener++;
  impl_->listeners.push_back({id, local, std::move(*l), std::move(handler)});
  return id;
}

Result<void> Device::stop_listening(cm::ListenerId id) {
  auto& ls = impl_->listeners;
  const auto it = std::find_if(ls.begin(), ls.end(), [&](const Impl::Listener& l) { return l.id == id; });
  if (it == ls.end()) return make_error(Errc::not_found, "stop_listening: no listener " + std::to_string(id));
  ls.erase(it);
  return {};
}

Result<cm::ConnId> Device::connect(Qp& qp, const cm::ConnectParams& p, cm::Handler handler) {
  if (qp.state != QpState::reset || qp.conn)
    return make_error(Errc::invalid_argument, "connect: QP " + std::to_string(qp.qpn) + " must be new (RESET)");
  if (p.private_data.size() > kMaxPrivateData)
    return make_error(Errc::invalid_argument, "connect: private data is at most " + std::to_string(kMaxPrivateData) +
                                                  " bytes on iWARP, got " + std::to_string(p.private_data.size()));
  if (p.remote.ip == wire::Ipv6Addr{} || p.remote.port == 0)
    return make_error(Errc::invalid_argument, "connect: the remote address and port are required");
  auto s = transport_.connect({p.remote.ip, p.remote.port}, {p.local_ip.value_or(wire::Ipv6Addr{}), p.local_port});
  if (!s) return make_error(s.error().code, "connect to " + cm::to_string(p.remote) + ": " + s.error().message);
  auto c = std::make_unique<Conn>();
  c->id = impl_->next_id++;
  c->active = true;
  c->stream = std::move(*s);
  c->qp = &qp;
  c->handler = std::move(handler);
  c->private_data.assign(p.private_data.begin(), p.private_data.end());
  c->ird = static_cast<std::uint8_t>(std::min<std::uint32_t>(p.responder_resources, config_.limits.max_ird));
  c->ord = static_cast<std::uint8_t>(std::min<std::uint32_t>(p.initiator_depth, config_.limits.max_ord));
  c->deadline = clock_.now_ns() + kMpaTimeoutNs;
  qp.conn = c.get();
  qp.state = QpState::init;
  impl_->conns.push_back(std::move(c));
  return impl_->conns.back()->id;
}

Result<void> Device::accept(cm::ConnId id, Qp& qp, const cm::AcceptParams& p, cm::Handler handler) {
  Conn* c = impl_ ? impl_->find(id) : nullptr;
  if (!c || c->active || c->st != Conn::St::owner_decides)
    return make_error(Errc::not_found, "accept: no incoming connection " + std::to_string(id) + " waiting for an answer");
  if (qp.state != QpState::reset || qp.conn)
    return make_error(Errc::invalid_argument, "accept: QP " + std::to_string(qp.qpn) + " must be new (RESET)");
  if (p.private_data.size() > kMaxPrivateData)
    return make_error(Errc::invalid_argument, "accept: private data is at most " + std::to_string(kMaxPrivateData) +
                                                  " bytes on iWARP, got " + std::to_string(p.private_data.size()));
  const auto& req = c->peer;
  wire::MpaFrame rep;
  rep.kind = wire::MpaKind::reply;
  // MPA's rule: the Reply's C decides both directions; a requested C is echoed (RFC 5044 7.1.5).
  rep.crc = req.crc || config_.request_crc;
  rep.revision = req.revision;
  rep.enhanced = req.has_ird_ord_block();
  rep.ird_ord.reset();
  bool rtr = false;
  if (req.has_ird_ord_block()) {
    const auto& r = *req.ird_ord;
    c->ird = static_cast<std::uint8_t>(std::min<std::uint32_t>({p.responder_resources, r.ord, config_.limits.max_ird}));
    c->ord = static_cast<std::uint8_t>(std::min<std::uint32_t>({p.initiator_depth, r.ird, config_.limits.max_ord}));
    wire::MpaIrdOrd mine;
    mine.ird = c->ird;
    mine.ord = c->ord;
    if (r.p2p) {
      // RFC 6581: pick one RTR the initiator offered (siw prefers the zero-length Write).
      mine.p2p = true;
      mine.rtr_write = r.rtr_write;
      mine.rtr_read = !r.rtr_write && r.rtr_read;
      mine.rtr_zero_length_send = !r.rtr_write && !r.rtr_read && r.rtr_zero_length_send;
      rtr = mine.rtr_write || mine.rtr_read || mine.rtr_zero_length_send;
    }
    rep.ird_ord = mine;
  } else {
    c->ird = static_cast<std::uint8_t>(std::min<std::uint32_t>(p.responder_resources, config_.limits.max_ird));
    c->ord = static_cast<std::uint8_t>(std::min<std::uint32_t>(p.initiator_depth, config_.limits.max_ord));
  }
  rep.private_data = p.private_data;
  write_frame(*c, rep);
  if (handler) c->handler = std::move(handler);
  c->qp = &qp;
  qp.conn = c;
  qp.ird = c->ird;
  qp.ord = c->ord;
  const std::uint32_t mss = c->stream->mss();
  qp.stream = std::move(c->stream);
  start_fpdus(qp, rep.crc, mss);
  // An RTR, or the strict rule, keeps the responder quiet until the initiator has spoken; else it
  // waits out the settle time (IwarpConfig::strict_responder). Either way the rest of the Reply
  // leaves from poll() before any FPDU.
  qp.hold_tx = rtr || config_.strict_responder;
  if (!qp.hold_tx && config_.rtr_settle_ns != 0) qp.tx_hold_until_ns = clock_.now_ns() + config_.rtr_settle_ns;
  (void)push_out(*c);
  if (rtr) {
    c->st = Conn::St::rtr_wait;
  } else {
    c->st = Conn::St::established;
    add(IwarpCounter::connections_established);
    emit(*c, event(*c, cm::CmEvent::Type::established));
  }
  return {};
}

Result<void> Device::reject(cm::ConnId id, std::span<const std::byte> private_data) {
  Conn* c = impl_ ? impl_->find(id) : nullptr;
  if (!c || c->active || c->st != Conn::St::owner_decides)
    return make_error(Errc::not_found, "reject: no incoming connection " + std::to_string(id) + " waiting for an answer");
  if (private_data.size() > kMaxPrivateData)
    return make_error(Errc::invalid_argument, "reject: private data is at most " + std::to_string(kMaxPrivateData) +
                                                  " bytes on iWARP, got " + std::to_string(private_data.size()));
  wire::MpaFrame rep;
  rep.kind = wire::MpaKind::reply;
  rep.reject = true;
  rep.revision = c->peer.revision;
  rep.enhanced = c->peer.has_ird_ord_block();
  if (!rep.enhanced) rep.ird_ord.reset();
  rep.private_data = private_data;
  write_frame(*c, rep);
  (void)push_out(*c);
  c->stream->close();
  c->st = Conn::St::closed;
  add(IwarpCounter::mpa_rejects_tx);
  return {};
}

Result<void> Device::disconnect(cm::ConnId id) {
  Conn* c = impl_ ? impl_->find(id) : nullptr;
  if (!c || !c->qp || (c->st != Conn::St::established && c->st != Conn::St::rtr_wait))
    return make_error(Errc::not_found, "disconnect: no established connection " + std::to_string(id));
  Qp& qp = *c->qp;
  if (qp.stream) (void)flush_tx(qp);
  qp.terminate_sent = true;  // an orderly close: FIN, not RST
  fail_qp(qp, "disconnected here", false);
  return {};
}

Result<void> Device::destroy_qp(Qp* qp) {
  if (!qp || qp->qpn >= qps_.size() || qps_[qp->qpn].get() != qp) return make_error(Errc::not_found, "no such QP");
  if (qp->stream) qp->stream->abort();
  memory_.invalidate_windows_of(qp->qpn);  // type 2 windows die with their QP
  if (qp->conn) {
    qp->conn->qp = nullptr;
    qp->conn->st = Conn::St::closed;
  }
  qps_[qp->qpn].reset();
  return {};
}

void Device::submit(std::function<void(Device&)> op) { control_.submit(std::move(op)); }

std::uint64_t Device::next_deadline() const {
  const bool qps = std::any_of(qps_.begin(), qps_.end(), [](const auto& q) { return q != nullptr; });
  if (impl_->conns.empty() && impl_->events.empty() && !qps) return UINT64_MAX;
  return clock_.now_ns() + 1'000'000;
}

std::size_t Device::poll() {
  Impl& m = *impl_;
  control_.run(*this);
  std::size_t work = transport_.poll();
  const std::uint64_t now = clock_.now_ns();

  for (auto& l : m.listeners) {
    std::size_t pending = 0;
    for (const auto& c : m.conns)
      pending += c->listener == l.id && !c->active &&
                 (c->st == Conn::St::awaiting_request || c->st == Conn::St::owner_decides);
    while (auto s = l.listener->accept()) {
      ++work;
      if (pending >= config_.accept_backlog) {
        s->abort();  // the backlog is full: this connection costs nothing more
        add(IwarpCounter::accept_backlog_drops);
        continue;
      }
      ++pending;
      auto c = std::make_unique<Conn>();
      c->id = m.next_id++;
      c->st = Conn::St::awaiting_request;
      c->stream = std::move(s);
      c->handler = l.handler;
      c->listener = l.id;
      c->deadline = now + kMpaTimeoutNs;
      m.conns.push_back(std::move(c));
    }
  }

  for (auto& cp : m.conns) {
    Conn& c = *cp;
    const auto give_up = [&](cm::CmEvent::Type t, cm::CmEvent::Cause cause, const std::string& why) {
      add(IwarpCounter::connections_failed);
      cm::CmEvent e = event(c, t);
      e.cause = cause;
      e.message = why;
      if (c.stream) c.stream->abort();
      if (c.qp && c.active) {
        c.qp->conn = nullptr;
        c.qp->state = QpState::reset;
      }
      emit(c, std::move(e));
      c.st = Conn::St::closed;
    };
    switch (c.st) {
      case Conn::St::tcp_connecting: {
        const auto s = c.stream->state();
        if (s == Stream::State::failed) {
          give_up(cm::CmEvent::Type::connect_error, cause_of(c.stream->failure()), c.stream->error());
        } else if (s == Stream::State::open) {
          wire::MpaFrame req;
          req.kind = wire::MpaKind::request;
          req.crc = config_.request_crc;
          wire::MpaIrdOrd io;
          io.ird = c.ird;
          io.ord = c.ord;
          io.p2p = true;  // RFC 6581: ask for an RTR so that either side may speak first after it
          io.rtr_write = true;
          io.rtr_read = true;
          req.ird_ord = io;
          req.private_data = c.private_data;
          write_frame(c, req);
          c.st = Conn::St::awaiting_reply;
          ++work;
        } else if (now > c.deadline) {
          give_up(cm::CmEvent::Type::connect_error, Cause::timed_out, "TCP connect timed out");
        }
        break;
      }
      case Conn::St::awaiting_reply: {
        if (!push_out(c)) break;
        auto f = read_frame(c);
        if (!f) {
          if (c.stream->state() == Stream::State::failed || c.stream->state() == Stream::State::peer_closed) {
            give_up(cm::CmEvent::Type::connect_error, Cause::aborted,
                    "the peer closed the connection before its MPA Reply");
          } else if (now > c.deadline) {
            give_up(cm::CmEvent::Type::connect_error, Cause::timed_out,
                    "no MPA Reply within " + std::to_string(kMpaTimeoutNs / 1'000'000'000) + " s");
          }
          break;
        }
        ++work;
        if (!*f) {
          give_up(cm::CmEvent::Type::connect_error, Cause::aborted,
                  "bad MPA Reply: " + std::string(wire::iwarp_error_name(f->error())));
          break;
        }
        const wire::MpaFrame& rep = **f;
        if (rep.kind != wire::MpaKind::reply) {
          give_up(cm::CmEvent::Type::connect_error, Cause::aborted, "the peer answered with an MPA Request");
          break;
        }
        if (rep.reject) {
          add(IwarpCounter::mpa_rejects_rx);
          cm::CmEvent e = event(c, cm::CmEvent::Type::rejected);
          e.cause = Cause::rejected;
          e.reject_reason = static_cast<std::uint16_t>(wire::cm::RejectReason::consumer_reject);
          e.private_data.assign(rep.private_data.begin(), rep.private_data.end());
          e.message = "rejected by " + to_string(c.stream->peer()) + " (MPA Reply with R set)";
          c.stream->close();
          c.qp->conn = nullptr;
          c.qp->state = QpState::reset;
          emit(c, std::move(e));
          c.st = Conn::St::closed;
          break;
        }
        if (rep.markers) {
          give_up(cm::CmEvent::Type::connect_error, Cause::aborted,
                  "the peer wants MPA markers, which are not supported");
          break;
        }
        Qp& qp = *c.qp;
        bool rtr_write = false, rtr_read = false;
        if (rep.ird_ord) {
          c.ord = static_cast<std::uint8_t>(std::min<std::uint32_t>(c.ord, rep.ird_ord->ird));
          c.ird = static_cast<std::uint8_t>(std::min<std::uint32_t>(c.ird, rep.ird_ord->ord));
          rtr_write = rep.ird_ord->p2p && rep.ird_ord->rtr_write;
          rtr_read = rep.ird_ord->p2p && !rtr_write && rep.ird_ord->rtr_read;
        }
        qp.ird = c.ird;
        qp.ord = c.ord;
        cm::CmEvent e = event(c, cm::CmEvent::Type::established);
        e.private_data.assign(rep.private_data.begin(), rep.private_data.end());
        const std::uint32_t mss = c.stream->mss();
        qp.stream = std::move(c.stream);
        start_fpdus(qp, rep.crc, mss);
        if (rtr_write || rtr_read) {
          // The RTR: one zero-length RDMA Write (STag 1, TO 0 as siw sends it) or Read Request.
          wire::UlpduSpec u;
          if (rtr_write) {
            u.ddp.ctrl.tagged = true;
            u.ddp.ctrl.opcode = static_cast<std::uint8_t>(wire::RdmapOp::rdma_write);
            u.ddp.tagged.stag = Stag{1};
            if (config_.rtr_settle_ns != 0) qp.tx_hold_until_ns = now + config_.rtr_settle_ns;
          } else {
            u.ddp.ctrl.tagged = false;
            u.ddp.ctrl.opcode = static_cast<std::uint8_t>(wire::RdmapOp::rdma_read_request);
            u.ddp.untagged.qn = wire::ddp_queue::kReadRequest;
            u.ddp.untagged.msn = DdpMsn{qp.read_msn++};
            u.read_request.source_stag = Stag{1};  // siw's: some RNICs treat STag 0 specially
            qp.rtr_read_pending = true;  // nothing else leaves before its empty Read Response
          }
          auto n = wire::build_fpdu(u, qp.crc, qp.tx_buf);
          if (n) {
            qp.tx_off = 0;
            qp.tx_len = *n;
          }
        }
        c.st = Conn::St::established;
        add(IwarpCounter::connections_established);
        emit(c, std::move(e));
        break;
      }
      case Conn::St::awaiting_request: {
        auto f = read_frame(c);
        if (!f) {
          if (c.stream->state() != Stream::State::open || now > c.deadline) {
            if (now > c.deadline) add(IwarpCounter::mpa_request_timeouts);
            c.stream->abort();
            c.st = Conn::St::closed;
            add(IwarpCounter::connections_failed);
          }
          break;
        }
        ++work;
        if (!*f || (*f)->kind != wire::MpaKind::request) {
          c.stream->abort();  // not MPA: nothing to say to it (RFC 5044 7.1.2)
          c.st = Conn::St::closed;
          add(IwarpCounter::connections_failed);
          break;
        }
        c.peer = **f;
        if (c.peer.markers) {
          wire::MpaFrame rep;
          rep.kind = wire::MpaKind::reply;
          rep.reject = true;
          rep.revision = c.peer.revision;
          rep.enhanced = c.peer.has_ird_ord_block();
          if (!rep.enhanced) rep.ird_ord.reset();
          write_frame(c, rep);
          (void)push_out(c);
          c.stream->close();
          c.st = Conn::St::closed;
          add(IwarpCounter::mpa_rejects_tx);
          break;
        }
        c.st = Conn::St::owner_decides;
        c.deadline = now + config_.owner_decision_ns;
        cm::CmEvent e = event(c, cm::CmEvent::Type::connect_request);
        e.private_data.assign(c.peer.private_data.begin(), c.peer.private_data.end());
        if (c.peer.ird_ord) {
          e.responder_resources = static_cast<std::uint8_t>(std::min<std::uint16_t>(c.peer.ird_ord->ird, 255));
          e.initiator_depth = static_cast<std::uint8_t>(std::min<std::uint16_t>(c.peer.ird_ord->ord, 255));
        }
        emit(c, std::move(e));
        break;
      }
      case Conn::St::owner_decides:
        if (now > c.deadline) {
          // Nobody answered: the peer is let go and the owner told its connect_request is gone.
          add(IwarpCounter::owner_decision_timeouts);
          give_up(cm::CmEvent::Type::connect_error, Cause::timed_out,
                  "not accepted or rejected within " + std::to_string(config_.owner_decision_ns / 1'000'000'000) + " s");
        }
        break;
      case Conn::St::rtr_wait:
        if (c.qp && !c.qp->hold_tx) {
          c.st = Conn::St::established;
          add(IwarpCounter::connections_established);
          emit(c, event(c, cm::CmEvent::Type::established));
        }
        [[fallthrough]];
      case Conn::St::established:
        if (c.qp && !c.out.empty()) (void)push_out(c);  // the rest of our Reply
        break;
      default: break;
    }
  }
  std::erase_if(m.conns, [](const auto& c) { return c->st == Conn::St::closed && !c->qp; });

  for (auto& q : qps_) {
    if (!q) continue;
    Conn* c = q->conn;
    if (c && !c->out.empty()) continue;  // the MPA Reply goes first
    run_qp(*q);
  }
  if (!overflowed_cqs_.empty()) {
    const auto full = std::move(overflowed_cqs_);
    overflowed_cqs_.clear();
    for (verbs::Cq* cq : full)
      for (auto& q : qps_)
        if (q && (q->init.send_cq == cq || q->init.recv_cq == cq) && q->state != QpState::err)
          fail_qp(*q, "completion queue overflow", false);
  }
  for (auto& cq : cqs_) cq->service();
  auto events = std::move(m.events);
  m.events.clear();
  for (auto& [h, e] : events) h(e);
  return work + events.size();
}

}  // namespace softrnic::iwarp
