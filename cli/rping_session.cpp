#include "rping_session.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <ostream>
#include <vector>

#include "interrupt.hpp"
#include "rping_format.hpp"

namespace softrnic::cli {
namespace {

using Clk = std::chrono::steady_clock;
constexpr std::uint32_t kSqDepth = 16;  // RPING_SQ_DEPTH
constexpr std::uint32_t kRqDepth = 2;
constexpr std::uint32_t kCqDepth = kSqDepth * 2;
constexpr auto kDisconnectWait = std::chrono::seconds(1);
constexpr auto kLinger = std::chrono::milliseconds(200);

std::string_view rdma_cm_event_name(cm::CmEvent::Type t) {
  switch (t) {
    case cm::CmEvent::Type::connect_request:
      return "RDMA_CM_EVENT_CONNECT_REQUEST";
    case cm::CmEvent::Type::established:
      return "RDMA_CM_EVENT_ESTABLISHED";
    case cm::CmEvent::Type::rejected:
      return "RDMA_CM_EVENT_REJECTED";
    case cm::CmEvent::Type::connect_error:
      return "RDMA_CM_EVENT_CONNECT_ERROR";
    case cm::CmEvent::Type::disconnected:
      return "RDMA_CM_EVENT_DISCONNECTED";
  }
  return "RDMA_CM_EVENT_UNKNOWN";
}

std::string seconds_text(std::chrono::milliseconds d) {
  char t[32];
  std::snprintf(t, sizeof t, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return t;
}

std::uint64_t address_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// One connection's verbs objects, buffers and progress, for either role.
template <class Side>
struct Endpoint {
  using Qp = typename Side::Qp;
  enum class Server : std::uint8_t { wait_source, reading, wait_sink, writing };

  Side& side;
  const RpingConfig& cfg;
  std::ostream& out;
  std::ostream& err;
  const bool server;
  verbs::PdHandle pd = 0;
  verbs::Cq* cq = nullptr;
  Qp* qp = nullptr;
  std::array<std::byte, kRpingInfoSize> recv_buf{}, send_buf{};
  std::vector<char> rdma_buf, start_buf;  // sink (and the server's read target); client source
  verbs::MemKeyRaw recv_key = 0, send_key = 0, rdma_key = 0, start_key = 0;
  cm::ConnId id = 0;
  bool established = false, disconnected = false, finished = false, recv_posted = false;
  std::string error;
  std::uint64_t recvs = 0, pings = 0;
  RpingInfo info;  // the peer's last message
  bool have_info = false, read_done = false, write_done = false;
  Server state = Server::wait_source;
  Clk::time_point last_activity = Clk::now();

  Endpoint(Side& s, const RpingConfig& c, std::ostream& o, std::ostream& e, bool is_server)
      : side(s), cfg(c), out(o), err(e), server(is_server) {}

  // The buffers go with the endpoint, so their regions go first. The QP stays with the device:
  // the connection calls may still hold it (time-wait) and the device releases it at the end.
  ~Endpoint() {
    for (auto k : {recv_key, send_key, rdma_key, start_key})
      if (k != 0) (void)side.dev.memory().deregister(k);
  }

  void debug(const std::string& line) {
    if (cfg.debug) out << line << "\n" << std::flush;
  }

  Result<verbs::MemKeyRaw> reg(void* p, std::size_t len, std::uint32_t access) {
    return side.dev.memory().register_mr(pd, p, len, address_of(p), access);
  }

  Result<void> setup() {
    using namespace verbs;
    auto p = side.dev.memory().alloc_pd();
    if (!p) return std::unexpected(p.error());
    pd = *p;
    auto c = side.dev.create_cq(kCqDepth);
    if (!c) return std::unexpected(c.error());
    cq = *c;
    roce::QpInit init;
    init.pd = pd;
    init.send_cq = init.recv_cq = cq;
    init.sq_depth = kSqDepth;
    init.rq_depth = kRqDepth;
    init.max_send_sge = init.max_recv_sge = 1;
    auto q = side.dev.create_qp(init);
    if (!q) return std::unexpected(q.error());
    qp = *q;
    const auto rdma_access = kLocalWrite | kRemoteRead | kRemoteWrite;
    rdma_buf.assign(static_cast<std::size_t>(cfg.size), '\0');
    auto k = reg(recv_buf.data(), recv_buf.size(), kLocalWrite);
    if (!k) return std::unexpected(k.error());
    recv_key = *k;
    if (!(k = reg(send_buf.data(), send_buf.size(), 0))) return std::unexpected(k.error());
    send_key = *k;
    if (!(k = reg(rdma_buf.data(), rdma_buf.size(), rdma_access)))
      return std::unexpected(k.error());
    rdma_key = *k;
    if (!server) {
      start_buf.assign(static_cast<std::size_t>(cfg.size), '\0');
      if (!(k = reg(start_buf.data(), start_buf.size(), rdma_access)))
        return std::unexpected(k.error());
      start_key = *k;
    }
    debug("allocated & registered buffers...");
    return {};
  }

  // The one receive is posted once the connection calls have taken the QP out of RESET (after
  // accept() on the server, at ESTABLISHED on the client): still before the peer's first Send.
  void arm_receive() {
    if (recv_posted) return;
    if (auto r = post_recv(); !r) {
      error = "ibv_post_recv failed: " + r.error().message;
      return;
    }
    recv_posted = true;
  }

  Result<void> post_recv() {
    roce::RecvWr w;
    w.num_sge = 1;
    w.sg[0] = {address_of(recv_buf.data()), static_cast<std::uint32_t>(recv_buf.size()), recv_key};
    return side.dev.post_recv(*qp, w);
  }

  Result<void> post_send(const RpingInfo* i) {
    if (i != nullptr) {
      send_buf = encode_rping_info(*i);
      char line[96];
      std::snprintf(line, sizeof line, "RDMA addr %llx rkey %x len %u",
                    static_cast<unsigned long long>(i->buf), i->rkey, i->size);
      debug(line);
    }
    roce::SendWr w;
    w.opcode = verbs::WrOpcode::send;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {address_of(send_buf.data()), static_cast<std::uint32_t>(send_buf.size()), send_key};
    return side.dev.post_send(*qp, w);
  }

  Result<void> post_rdma(verbs::WrOpcode op, std::uint32_t len) {
    roce::SendWr w;
    w.opcode = op;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {address_of(rdma_buf.data()), len, rdma_key};
    w.remote_addr = info.buf;
    w.rkey = info.rkey;
    return side.dev.post_send(*qp, w);
  }

  void on_cm(const cm::CmEvent& e) {
    debug("cma_event type " + std::string(rdma_cm_event_name(e.type)) + " (" +
          (server ? "child" : "parent") + ")");
    switch (e.type) {
      case cm::CmEvent::Type::established:
        established = true;
        last_activity = Clk::now();
        arm_receive();
        break;
      case cm::CmEvent::Type::rejected:
        err << "cma event RDMA_CM_EVENT_REJECTED, error " << e.reject_reason << "\n";
        error = "the server rejected the connection (IB CM reason " +
                std::to_string(e.reject_reason) +
                (e.reject_reason == 8 ? ": nobody listens on that port)" : ")");
        break;
      case cm::CmEvent::Type::connect_error:
        err << "cma event RDMA_CM_EVENT_CONNECT_ERROR: " << e.message << "\n";
        error = "cannot connect: " + e.message;
        break;
      case cm::CmEvent::Type::disconnected:
        err << (server ? "server" : "client") << " DISCONNECT EVENT...\n";
        disconnected = true;
        break;
      case cm::CmEvent::Type::connect_request:
        break;
    }
  }

  // Takes every completion of the CQ.
  void drain() {
    std::array<verbs::Cqe, 8> wc;
    for (std::size_t n; error.empty() && (n = cq->poll(wc)) > 0;) {
      last_activity = Clk::now();
      for (std::size_t i = 0; i < n && error.empty(); ++i) handle(wc[i]);
    }
  }

  void handle(const verbs::Cqe& c) {
    if (c.status != verbs::WcStatus::success) {
      if (c.status == verbs::WcStatus::wr_flush_error && disconnected) return;
      error = "cq completion failed status " + std::string(verbs::to_string(c.status));
      return;
    }
    switch (c.opcode) {
      case verbs::WcOpcode::send:
        debug("send completion");
        break;
      case verbs::WcOpcode::rdma_write:
        debug("rdma write completion");
        write_done = true;
        break;
      case verbs::WcOpcode::rdma_read:
        debug("rdma read completion");
        read_done = true;
        break;
      case verbs::WcOpcode::recv: {
        debug("recv completion");
        if (c.byte_len != kRpingInfoSize) {
          error = "Received bogus data, size " + std::to_string(c.byte_len);
          return;
        }
        info = decode_rping_info(std::span<const std::byte, kRpingInfoSize>(recv_buf));
        if (server) {
          char line[112];
          std::snprintf(line, sizeof line, "Received rkey %x addr %llx len %u from peer", info.rkey,
                        static_cast<unsigned long long>(info.buf), info.size);
          debug(line);
        }
        have_info = true;
        ++recvs;
        if (auto r = post_recv(); !r) error = "post recv error: " + r.error().message;
        break;
      }
      default:
        error = "unexpected completion";
        break;
    }
  }

  // The server's side of one ping, driven by what completed.
  void server_step() {
    if (!error.empty()) return;
    if (have_info) {
      have_info = false;
      if (state == Server::wait_source) {
        if (info.size > rdma_buf.size()) {
          error = "the client's buffer is " + std::to_string(info.size) +
                  " bytes, larger than this server's " + std::to_string(rdma_buf.size()) + " (-S)";
          return;
        }
        if (auto r = post_rdma(verbs::WrOpcode::rdma_read, info.size); !r) {
          error = "post send error: " + r.error().message;
          return;
        }
        debug("server posted rdma read req ");
        state = Server::reading;
      } else if (state == Server::wait_sink) {
        const std::size_t text = strnlen(rdma_buf.data(), rdma_buf.size());
        const auto len = static_cast<std::uint32_t>(
            std::min<std::size_t>({text + 1, rdma_buf.size(), info.size}));
        if (auto r = post_rdma(verbs::WrOpcode::rdma_write, len); !r) {
          error = "post send error: " + r.error().message;
          return;
        }
        state = Server::writing;
      } else {
        error = "a message from the client while an RDMA operation was in flight";
        return;
      }
    }
    if (read_done) {
      read_done = false;
      if (cfg.verbose)
        out << "server ping data: "
            << std::string(rdma_buf.data(), strnlen(rdma_buf.data(), rdma_buf.size())) << "\n"
            << std::flush;
      if (auto r = post_send(nullptr); !r) error = "post send error: " + r.error().message;
      debug("server posted go ahead");
      state = Server::wait_sink;
    }
    if (write_done) {
      write_done = false;
      debug("server rdma write complete ");
      if (auto r = post_send(nullptr); !r) error = "post send error: " + r.error().message;
      debug("server posted go ahead");
      state = Server::wait_source;
      ++pings;
    }
  }

  // Polls until done() holds; the error names `what` when the peer fails to answer in time.
  template <class Done>
  bool wait(Done&& done, const std::string& what, RpingResult& res) {
    const auto deadline = Clk::now() + cfg.timeout;
    for (;;) {
      side.poll();
      drain();
      if (!error.empty()) {
        res.error = error;
        return false;
      }
      if (done()) return true;
      if (disconnected) {
        res.error = "the server disconnected while waiting for " + what;
        return false;
      }
      if (interrupted()) {
        res.interrupted = true;
        return false;
      }
      if (Clk::now() >= deadline) {
        res.error =
            "timeout: no answer within " + seconds_text(cfg.timeout) + " while waiting for " + what;
        return false;
      }
    }
  }

  void disconnect_and_wait() {
    if (disconnected || id == 0) return;
    (void)side.cm.disconnect(id);
    const auto until = Clk::now() + kDisconnectWait;
    while (!disconnected && Clk::now() < until) side.poll();
  }
};

}  // namespace

template <class Side>
RpingResult run_rping_client(Side& side, const RpingConfig& cfg, const cm::ConnectParams& p,
                             std::ostream& out, std::ostream& err) {
  RpingResult res;
  Endpoint<Side> ep(side, cfg, out, err, false);
  if (auto r = ep.setup(); !r) {
    res.error = "setup_qp failed: " + r.error().message;
    return res;
  }
  cm::ConnectParams cp = p;
  cp.responder_resources = 1;
  cp.initiator_depth = 1;
  cp.retry_count = 7;
  cp.rnr_retry = 7;
  auto id = side.cm.connect(*ep.qp, cp, [&ep](const cm::CmEvent& e) { ep.on_cm(e); });
  if (!id) {
    res.error = "rdma_connect: " + id.error().message;
    return res;
  }
  ep.id = *id;
  if (!ep.wait([&] { return ep.established; },
               "the server at " + cm::to_string(p.remote) + " to accept", res))
    return res;
  ep.debug("rdma_connect successful");
  for (int ping = 0; cfg.count == 0 || ping < cfg.count; ++ping) {
    fill_rping_data(ep.start_buf, ping);
    RpingInfo src{address_of(ep.start_buf.data()), ep.start_key,
                  static_cast<std::uint32_t>(cfg.size)};
    if (auto r = ep.post_send(&src); !r) {
      res.error = "post send error: " + r.error().message;
      break;
    }
    const std::uint64_t first = ep.recvs + 1;
    if (!ep.wait([&] { return ep.recvs >= first; },
                 "the server's RDMA Read of ping " + std::to_string(ping), res))
      break;
    RpingInfo sink{address_of(ep.rdma_buf.data()), ep.rdma_key,
                   static_cast<std::uint32_t>(cfg.size)};
    if (auto r = ep.post_send(&sink); !r) {
      res.error = "post send error: " + r.error().message;
      break;
    }
    if (!ep.wait([&] { return ep.recvs >= first + 1; },
                 "the server's RDMA Write of ping " + std::to_string(ping), res))
      break;
    if (cfg.validate &&
        std::memcmp(ep.start_buf.data(), ep.rdma_buf.data(), ep.start_buf.size()) != 0) {
      err << "data mismatch!\n";
      res.error =
          "ping " + std::to_string(ping) + ": the data that came back differs from what was sent";
      break;
    }
    if (cfg.verbose)
      out << "ping data: "
          << std::string(ep.rdma_buf.data(), strnlen(ep.rdma_buf.data(), ep.rdma_buf.size()))
          << "\n"
          << std::flush;
    ++res.pings;
  }
  ep.disconnect_and_wait();
  return res;
}

template <class Side>
RpingResult run_rping_server(Side& side, const RpingConfig& cfg, const cm::Address& at,
                             std::ostream& out, std::ostream& err) {
  RpingResult res;
  // Kept until the end: the connection calls may still deliver events to finished connections.
  std::vector<std::unique_ptr<Endpoint<Side>>> conns;
  std::string listen_error;
  auto on_request = [&](const cm::CmEvent& e) {
    if (e.type != cm::CmEvent::Type::connect_request) return;
    if (cfg.debug) out << "cma_event type RDMA_CM_EVENT_CONNECT_REQUEST (parent)\n";
    if (!cfg.persistent && res.connections > 0) {
      (void)side.cm.reject(e.conn);  // rping serves one client unless -P
      return;
    }
    auto ep = std::make_unique<Endpoint<Side>>(side, cfg, out, err, true);
    if (auto r = ep->setup(); !r) {
      err << "setup_qp failed: " << r.error().message << "\n";
      (void)side.cm.reject(e.conn);
      return;
    }
    cm::AcceptParams ap;
    ap.responder_resources = e.initiator_depth;  // answer the reads the client may issue
    ap.initiator_depth = e.responder_resources;  // issue no more reads than the client answers
    ap.retry_count = 7;
    ap.rnr_retry = 7;
    Endpoint<Side>* raw = ep.get();
    if (auto r =
            side.cm.accept(e.conn, *ep->qp, ap, [raw](const cm::CmEvent& ev) { raw->on_cm(ev); });
        !r) {
      err << "rdma_accept: " << r.error().message << "\n";
      return;
    }
    raw->id = e.conn;
    if (raw->qp->posted_state.load() != verbs::QpState::reset) raw->arm_receive();
    raw->debug("accepting client connection request");
    ++res.connections;
    conns.push_back(std::move(ep));
  };
  auto l = side.cm.listen(at, on_request);
  if (!l) {
    res.error = "rdma_listen on " + cm::to_string(at) + ": " + l.error().message;
    return res;
  }
  for (;;) {
    side.poll();
    std::size_t live = 0;
    for (auto& c : conns) {
      if (c->finished) continue;
      c->drain();
      c->server_step();
      if (c->error.empty() && !c->disconnected && Clk::now() - c->last_activity > cfg.timeout)
        c->error = "timeout: the client sent nothing for " + seconds_text(cfg.timeout);
      if (!c->error.empty()) {
        err << "rping server failed: " << c->error << "\n";
        if (res.error.empty()) res.error = c->error;
        c->disconnect_and_wait();
        c->finished = true;
      } else if (c->disconnected) {
        c->finished = true;
      }
      if (c->finished) {
        res.pings += c->pings;
      } else {
        ++live;
      }
    }
    if (interrupted()) {
      res.interrupted = true;
      for (auto& c : conns)
        if (!c->finished) {
          res.pings += c->pings;
          c->disconnect_and_wait();
          c->finished = true;
        }
      break;
    }
    if (!cfg.persistent && res.connections > 0 && live == 0) break;
  }
  (void)side.cm.stop_listening(*l);
  // Answers still owed to the last client (the DREP to its DREQ) leave before the device goes.
  const auto until = Clk::now() + kLinger;
  while (Clk::now() < until) side.poll();
  return res;
}

template RpingResult run_rping_client<RoceSide>(RoceSide&, const RpingConfig&,
                                                const cm::ConnectParams&, std::ostream&,
                                                std::ostream&);
template RpingResult run_rping_client<IwarpSide>(IwarpSide&, const RpingConfig&,
                                                 const cm::ConnectParams&, std::ostream&,
                                                 std::ostream&);
template RpingResult run_rping_server<RoceSide>(RoceSide&, const RpingConfig&, const cm::Address&,
                                                std::ostream&, std::ostream&);
template RpingResult run_rping_server<IwarpSide>(IwarpSide&, const RpingConfig&, const cm::Address&,
                                                 std::ostream&, std::ostream&);

}  // namespace softrnic::cli
