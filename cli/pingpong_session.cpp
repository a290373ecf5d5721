#include "pingpong_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "interrupt.hpp"
#include "roce/connect.hpp"
#include "socket_util.hpp"

namespace softrnic::cli {
namespace {

using Clk = std::chrono::steady_clock;
constexpr std::uint64_t kRecvWrid = 1;  // the wr_id values of the rdma-core tools
constexpr std::uint64_t kSendWrid = 2;
constexpr std::byte kFill{0x7b};
// After the last completion the engine keeps running this long, so the final ACKs (RC) reach the
// peer before the device goes away.
constexpr auto kLinger = std::chrono::milliseconds(200);

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

}  // namespace

struct PingpongSession::State {
  HostedDevices& hosted;
  roce::Device& dev;
  PingpongConfig cfg;
  std::size_t page = 4096;
  std::uint32_t offset = 0;  // where the message starts in the buffer (UD: after the GRH room)
  std::size_t buf_len = 0;
  std::unique_ptr<std::byte, FreeDeleter> buf;
  verbs::PdHandle pd = 0;
  verbs::MemKeyRaw lkey = 0;
  verbs::Cq* cq = nullptr;
  roce::Qp* qp = nullptr;
  roce::AddressHandle ah;  // UD
  std::uint32_t peer_qpn = 0;
  std::uint32_t posted_recvs = 0;
  bool notified = false;

  State(HostedDevices& h, roce::Device& d, const PingpongConfig& c) : hosted(h), dev(d), cfg(c) {}

  std::uint64_t addr(std::uint32_t off) const {
    return reinterpret_cast<std::uintptr_t>(buf.get()) + off;
  }

  std::uint32_t post_recvs(std::uint32_t n) {
    roce::RecvWr w;
    w.wr_id = kRecvWrid;
    w.num_sge = 1;
    w.sg[0] = {addr(0), cfg.size + offset, lkey};
    std::uint32_t i = 0;
    while (i < n && dev.post_recv(*qp, w)) ++i;
    return i;
  }

  Result<void> post_send() {
    roce::SendWr w;
    w.wr_id = kSendWrid;
    w.opcode = verbs::WrOpcode::send;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {addr(offset), cfg.size, lkey};
    if (cfg.ud) {
      w.ah = &ah;
      w.remote_qpn = peer_qpn;
      w.remote_qkey = kUdQkey;
    }
    return dev.post_send(*qp, w);
  }

  // The client's -c pattern: 0 at the start of each page of the message, 0x7b elsewhere.
  std::byte expected(std::size_t i) const { return i % page == 0 ? std::byte{0} : kFill; }
};

namespace {

void on_cq_event(void* context, verbs::Cq&) {
  static_cast<PingpongSession::State*>(context)->notified = true;
}

}  // namespace

PingpongSession::PingpongSession(std::unique_ptr<State> s) : s_(std::move(s)) {}
PingpongSession::~PingpongSession() = default;

Result<std::unique_ptr<PingpongSession>> PingpongSession::create(HostedDevices& h,
                                                                 const PingpongConfig& c) {
  roce::Device* dev = h.roce();
  if (dev == nullptr) return make_error(Errc::unsupported, "the device is not a RoCEv2 device");
  auto s = std::make_unique<State>(h, *dev, c);
  const long page = ::sysconf(_SC_PAGESIZE);
  s->page = page > 0 ? static_cast<std::size_t>(page) : 4096;
  s->offset = c.ud ? kUdGrhRoom : 0;
  s->buf_len = c.size + s->offset;
  const std::size_t alloc = (s->buf_len + s->page - 1) / s->page * s->page;
  s->buf.reset(static_cast<std::byte*>(std::aligned_alloc(s->page, alloc)));
  if (!s->buf) return make_error(Errc::out_of_range, "cannot allocate the work buffer");
  std::memset(s->buf.get(), 0x7b, s->buf_len);

  auto pd = dev->memory().alloc_pd();
  if (!pd) return std::unexpected(pd.error());
  s->pd = *pd;
  auto mr =
      dev->memory().register_mr(s->pd, s->buf.get(), s->buf_len, s->addr(0), verbs::kLocalWrite);
  if (!mr) return make_error(mr.error().code, "cannot register the buffer: " + mr.error().message);
  s->lkey = *mr;
  auto cq = dev->create_cq(c.rx_depth + 1);
  if (!cq) return make_error(cq.error().code, "cannot create the CQ: " + cq.error().message);
  s->cq = *cq;
  roce::QpInit init;
  init.type = c.ud ? verbs::QpType::ud : verbs::QpType::rc;
  init.pd = s->pd;
  init.send_cq = init.recv_cq = s->cq;
  init.sq_depth = 1;
  init.rq_depth = c.rx_depth;
  init.max_send_sge = init.max_recv_sge = 1;
  auto qp = dev->create_qp(init);
  if (!qp) return make_error(qp.error().code, "cannot create the QP: " + qp.error().message);
  s->qp = *qp;
  if (c.events) {
    s->cq->set_handler(&on_cq_event, s.get());
    s->cq->arm(verbs::ArmType::any);
  }
  return std::unique_ptr<PingpongSession>(new PingpongSession(std::move(s)));
}

std::uint32_t PingpongSession::qpn() const { return s_->qp->qpn; }

Result<void> PingpongSession::connect(const wire::Ipv6Addr& local_gid, std::uint32_t my_psn,
                                      const PingpongDest& peer) {
  State& s = *s_;
  using namespace verbs;
  if (!s.cfg.ud) {
    roce::QpConnectOptions o;
    o.pmtu = s.cfg.mtu;
    o.access = 0;
    o.sq_psn = Psn{my_psn};
    o.rd_atomic = 1;
    o.min_rnr_timer = 12;
    o.timeout = 14;
    o.retry_cnt = 7;
    o.rnr_retry = 7;
    if (auto r =
            roce::connect_qp(s.dev, *s.qp, local_gid, {peer.qpn, Psn{peer.psn}, peer.gid, {}}, o);
        !r)
      return make_error(r.error().code, "cannot bring the QP to RTS: " + r.error().message);
  } else {
    roce::QpAttrs x;
    x.state = QpState::init;
    x.qkey = kUdQkey;
    if (auto r = s.dev.modify_qp(*s.qp, x, kAttrState | kAttrPkeyIndex | kAttrPort | kAttrQkey); !r)
      return make_error(r.error().code, "Failed to modify QP to INIT: " + r.error().message);
    x.state = QpState::rtr;
    if (auto r = s.dev.modify_qp(*s.qp, x, kAttrState); !r)
      return make_error(r.error().code, "Failed to modify QP to RTR: " + r.error().message);
    x.state = QpState::rts;
    x.sq_psn = Psn{my_psn};
    if (auto r = s.dev.modify_qp(*s.qp, x, kAttrState | kAttrSqPsn); !r)
      return make_error(r.error().code, "Failed to modify QP to RTS: " + r.error().message);
    s.ah.version = wire::is_ipv4_mapped(peer.gid) ? wire::IpVersion::v4 : wire::IpVersion::v6;
    s.ah.src_gid = local_gid;
    s.ah.dst_gid = peer.gid;
    s.ah.hop_limit = 64;
    s.peer_qpn = peer.qpn;
    // An address handle names the peer's MAC: ask ARP / ND for it (socket ports answer at once).
    const auto deadline = Clk::now() + s.cfg.timeout;
    for (;;) {
      const auto res = s.dev.resolve_neighbour(peer.gid, local_gid);
      if (res.resolved()) {
        s.ah.dst_mac = res.mac;
        s.ah.vlan_tci = res.vlan_tci;
        break;
      }
      if (res.failed() || Clk::now() >= deadline || interrupted())
        return make_error(Errc::not_found, "timeout: " + gid_text(peer.gid) +
                                               " did not answer ARP / neighbour discovery");
      s.hosted.poll();
    }
  }
  s.posted_recvs = s.post_recvs(s.cfg.rx_depth);
  if (s.posted_recvs < s.cfg.rx_depth)
    return make_error(Errc::busy, "Couldn't post receive (" + std::to_string(s.posted_recvs) + ")");
  return {};
}

PingpongOutcome PingpongSession::run(bool client) {
  State& s = *s_;
  PingpongOutcome out;
  std::uint64_t pending = kRecvWrid;
  if (client) {
    if (s.cfg.validate)
      for (std::size_t i = 0; i < s.cfg.size; i += s.page) s.buf.get()[s.offset + i] = std::byte{0};
    if (auto r = s.post_send(); !r) {
      out.error = "Couldn't post send: " + r.error().message;
      return out;
    }
    pending |= kSendWrid;
  }
  const auto start = Clk::now();
  auto last_progress = start;
  std::array<verbs::Cqe, 2> wc;
  while (out.received < s.cfg.iters || out.sent < s.cfg.iters) {
    if (interrupted()) {
      out.interrupted = true;
      break;
    }
    s.hosted.poll();
    const auto now = Clk::now();
    if (now - last_progress > s.cfg.timeout) {
      char text[96];
      std::snprintf(text, sizeof text,
                    "timeout: no completion for %.1f s; the peer stopped answering",
                    static_cast<double>(s.cfg.timeout.count()) / 1000.0);
      out.error = text;
      break;
    }
    if (s.cfg.events) {
      if (!s.notified) continue;
      s.notified = false;
      ++out.cq_events;
      s.cq->arm(verbs::ArmType::any);
    }
    const std::size_t n = s.cq->poll(wc);
    if (n > 0) last_progress = now;
    for (std::size_t i = 0; i < n && out.error.empty(); ++i) {
      const auto& c = wc[i];
      if (c.status != verbs::WcStatus::success) {
        out.error = "Failed status " + std::string(verbs::to_string(c.status)) + " (" +
                    std::to_string(static_cast<int>(c.status)) + ") for wr_id " +
                    std::to_string(c.wr_id);
        break;
      }
      if (c.wr_id == kSendWrid) {
        ++out.sent;
      } else if (c.wr_id == kRecvWrid) {
        if (--s.posted_recvs <= 1) {
          s.posted_recvs += s.post_recvs(s.cfg.rx_depth - s.posted_recvs);
          if (s.posted_recvs < s.cfg.rx_depth) {
            out.error = "Couldn't post receive (" + std::to_string(s.posted_recvs) + ")";
            break;
          }
        }
        ++out.received;
      } else {
        out.error = "Completion for unknown wr_id " + std::to_string(c.wr_id);
        break;
      }
      pending &= ~c.wr_id;
      if (out.sent < s.cfg.iters && pending == 0) {
        if (auto r = s.post_send(); !r) {
          out.error = "Couldn't post send: " + r.error().message;
          break;
        }
        pending = kRecvWrid | kSendWrid;
      }
    }
    if (!out.error.empty()) break;
  }
  out.usec = std::chrono::duration<double, std::micro>(Clk::now() - start).count();
  if (out.error.empty() && !out.interrupted) {
    const auto until = Clk::now() + kLinger;
    while (Clk::now() < until) s.hosted.poll();
  }
  if (s.cfg.validate && out.error.empty() && !out.interrupted) {
    const std::byte* m = s.buf.get() + s.offset;
    for (std::size_t p = 0; p * s.page < s.cfg.size; ++p) {
      const std::size_t end = std::min<std::size_t>((p + 1) * s.page, s.cfg.size);
      for (std::size_t i = p * s.page; i < end; ++i)
        if (m[i] != s.expected(i)) {
          out.bad_pages.push_back(p);
          break;
        }
    }
  }
  return out;
}

}  // namespace softrnic::cli
