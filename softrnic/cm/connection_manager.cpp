#include "cm/connection_manager.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>

#include "base/random.hpp"
#include "cm/deadline_heap.hpp"
#include "engine/gid_table.hpp"
#include "roce/connect.hpp"

namespace softrnic::cm {
namespace mad = wire::cm;
using verbs::QpState;
using verbs::QpType;

namespace {

constexpr std::uint32_t kGrh = 40;
constexpr std::uint32_t kRecvSlot = kGrh + mad::kMadSize;

// IBA 12.6 timeouts: 4.096 us * 2^t.
std::uint64_t cm_timeout_ns(std::uint8_t t) { return std::uint64_t{4096} << std::min<std::uint8_t>(t, 31); }

bool is_zero(const wire::Ipv6Addr& a) { return a == wire::Ipv6Addr{}; }

std::string ip_string(const wire::Ipv6Addr& a) {
  if (engine::is_ipv4_mapped(a)) {
    return wire::to_string(wire::Ipv4Addr{a[12], a[13], a[14], a[15]});
  }
  return wire::to_string(a);
}

template <std::size_t N>
void copy_pd(std::array<std::byte, N>& dst, std::size_t off, std::span<const std::byte> src) {
  if (!src.empty()) std::memcpy(dst.data() + off, src.data(), src.size());  // an empty span may be null
}

}  // namespace

std::string to_string(const Address& a) {
  const std::string ip = is_zero(a.ip) ? "*" : ip_string(a.ip);
  return (engine::is_ipv4_mapped(a.ip) || is_zero(a.ip) ? ip : "[" + ip + "]") + ":" + std::to_string(a.port);
}

std::string_view event_name(CmEvent::Type t) {
  switch (t) {
    case CmEvent::Type::connect_request: return "connect_request";
    case CmEvent::Type::established: return "established";
    case CmEvent::Type::rejected: return "rejected";
    case CmEvent::Type::connect_error: return "connect_error";
    case CmEvent::Type::disconnected: return "disconnected";
  }
  return "?";
}

std::string_view counter_name(CmCounter c) {
  switch (c) {
#define SOFTRNIC_X(n) \
  case CmCounter::n: return #n;
    SOFTRNIC_CM_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case CmCounter::count_: break;
  }
  return "?";
}

enum class State : std::uint8_t {
  resolving,    // active: the REQ waits for the peer's MAC
  req_sent,     // active: waiting for REP (an MRA extends the wait)
  req_rcvd,     // passive: the owner decides
  mra_sent,     // passive: the owner still decides; the peer was told to wait
  rep_sent,     // passive: waiting for RTU
  established,
  dreq_sent,
  timewait,     // finished; answers duplicates until it expires
};

struct Conn {
  ConnId id = 0;
  bool active = false;
  State state = State::resolving;
  std::uint32_t remote_id = 0;
  std::uint64_t remote_guid = 0;
  std::uint32_t remote_qpn = 0;
  Address local, remote;
  wire::Ipv6Addr local_gid{}, remote_gid{};
  roce::Qp* qp = nullptr;
  Handler handler;
  ListenerId listener = 0;
  std::uint64_t tid = 0;
  mad::Req req;  // active: the REQ sent; passive: the REQ received
  std::uint32_t psn = 0;
  std::uint32_t pmtu = 0;
  std::uint8_t ird = 0, ord = 0;
  std::uint8_t retry_count = 7;
  std::array<std::byte, mad::kMadSize> last{};  // the last MAD sent: resent on timeouts/duplicates
  bool have_last = false;
  std::uint64_t deadline = 0;  // 0: no timer; set through Impl::set_deadline only
  std::size_t heap_pos = kNotInHeap;
  bool in_backlog = false;    // passive, the owner has not answered yet: counts in the listener's
  bool mra_extended = false;  // an MRA already extended the wait for the message last sent
  std::uint64_t interval = 0;
  std::uint32_t retries_left = 0;
  std::uint32_t sends = 0;
};

struct ConnectionManager::Impl {
  Impl(roce::Device& d, CmConfig c, Counters<CmCounter>& k) : dev(d), cfg(c), ctr(k) {}

  roce::Device& dev;
  CmConfig cfg;
  Counters<CmCounter>& ctr;
  verbs::PdHandle pd = 0;
  verbs::Cq* scq = nullptr;
  verbs::Cq* rcq = nullptr;
  roce::Qp* qp1 = nullptr;
  std::vector<std::byte> rx_mem, tx_mem;
  verbs::MemKeyRaw rx_key = 0, tx_key = 0;
  std::vector<roce::AddressHandle> slot_ah;
  std::vector<std::uint32_t> free_slots;
  struct Pending {
    wire::Ipv6Addr src{}, dst{};
    std::array<std::byte, mad::kMadSize> bytes{};
    ConnId conn = 0;
    bool unbound_unresolved = false;  // counted in unbound_unresolved below
  };
  std::deque<Pending> pending;
  std::size_t unbound_unresolved = 0;  // answers to no connection waiting for a MAC
  // A long queue (answers to a flood of sources that do not resolve) is walked at most once per
  // kPendingWalkNsPerMad times its length, not on every poll: each walk asks the neighbour table
  // about every entry, and a flood would otherwise take the engine's time from the data path.
  static constexpr std::size_t kPendingWalkEveryPoll = 64;
  static constexpr std::uint64_t kPendingWalkNsPerMad = 1000;
  std::uint64_t next_pending_walk = 0;
  std::unordered_map<ConnId, std::unique_ptr<Conn>> conns;
  std::map<std::pair<std::uint64_t, std::uint32_t>, ConnId> by_remote;  // (peer GUID, peer comm ID)
  std::multimap<std::pair<std::uint64_t, std::uint32_t>, ConnId> by_peer_qp;  // (peer GUID, QPN)
  DeadlineHeap<Conn> timers;
  struct Listener {
    ListenerId id;
    Address addr;
    Handler handler;
    std::uint32_t backlog = 0;
    std::uint32_t waiting = 0;  // records in req_rcvd / mra_sent
  };
  std::vector<Listener> listeners;
  ListenerId next_listener = 1;
  std::vector<std::pair<Handler, CmEvent>> events;
  // Identifiers a peer must not predict (communication IDs, which REJ and REP reveal, transaction
  // IDs, PSNs): getrandom(2). A Mersenne Twister only when CmConfig::seed asks for a replay.
  std::optional<std::mt19937_64> replay;
  std::uint32_t draw() {
    return replay ? static_cast<std::uint32_t>((*replay)()) : secure_random<std::uint32_t>();
  }
  std::uint16_t next_port = 0;
  std::uint64_t guid = 0;

  std::uint64_t now() const { return dev.clock().now_ns(); }

  Result<void> setup();
  void post_recv(std::uint32_t slot);
  void queue(Conn* c, const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, const mad::CmMad& m);
  void flush_pending();
  void receive(ConstByteSpan slot, std::uint32_t len);
  void handle(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, const mad::CmMad& m);
  void on_req(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, const mad::MadHeader& h, const mad::Req& r);
  void on_rep(Conn& c, const mad::Rep& r);
  void on_rtu(Conn& c);
  void on_rej(Conn& c, const mad::Rej& r);
  void on_mra(Conn& c, const mad::Mra& m);
  void on_dreq(Conn* c, const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, const mad::MadHeader& h,
               const mad::Dreq& d);
  void on_drep(Conn& c);
  void run_timers();
  void timer_fired(Conn& c);
  void send_rej(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, std::uint64_t tid, std::uint32_t local_id,
                std::uint32_t remote_id, mad::MsgKind what, mad::RejectReason why,
                std::span<const std::byte> pd = {});
  void send_conn(Conn& c, const mad::CmMessage& msg, bool remember = true);
  void arm(Conn& c, std::uint64_t interval, std::uint32_t retries);
  void set_deadline(Conn& c, std::uint64_t t) { timers.set(c, t); }
  // One try's wait for an answer the peer said it takes 4.096 us * 2^t to give (IBA 12.7.27 adds
  // the packet lifetime both ways: twice that), within kMaxPeerResponseWaitNs.
  std::uint64_t peer_wait(std::uint8_t t) {
    const std::uint64_t asked = 2 * cm_timeout_ns(t);
    if (asked <= kMaxPeerResponseWaitNs) return asked;
    ctr.add(CmCounter::timeout_clamped);
    return kMaxPeerResponseWaitNs;
  }
  void leave_backlog(Conn& c);
  Listener* listener(ListenerId id);
  void erase(Conn& c);
  void finish(Conn& c);
  void emit(Conn& c, CmEvent e);
  CmEvent event_of(const Conn& c, CmEvent::Type t) const;
  // Anyone can name our communication ID; only the connection's peer speaks for it: the address
  // the connection runs to and, once known, the peer's own communication ID.
  bool from_peer(const Conn& c, const wire::Ipv6Addr& src, std::uint32_t their_id) {
    if (src == c.remote_gid && (c.remote_id == 0 || their_id == c.remote_id)) return true;
    ctr.add(CmCounter::rx_wrong_peer);
    return false;
  }
  Conn* find(ConnId id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second.get();
  }
  ConnId new_id() {
    for (;;) {
      const ConnId id = draw();
      if (id != 0 && !conns.contains(id)) return id;
    }
  }
};

ConnectionManager::ConnectionManager(roce::Device& dev) : dev_(dev) {}

ConnectionManager::~ConnectionManager() {
  dev_.remove_counter_group("cm");
  if (!impl_) return;
  if (impl_->qp1) (void)dev_.destroy_qp(impl_->qp1);
  if (impl_->rx_key) (void)dev_.memory().deregister(impl_->rx_key);
  if (impl_->tx_key) (void)dev_.memory().deregister(impl_->tx_key);
}

Result<std::unique_ptr<ConnectionManager>> ConnectionManager::create(roce::Device& dev, CmConfig config) {
  if (config.recv_buffers == 0 || config.send_slots == 0)
    return make_error(Errc::invalid_argument, "CM: recv_buffers and send_slots must be at least 1");
  if (config.max_retries > 15) return make_error(Errc::invalid_argument, "CM: max_retries is 0..15 (4 bits)");
  if (config.response_timeout > 31 || config.mra_service_timeout > 31)
    return make_error(Errc::invalid_argument, "CM: timeouts are 0..31 (4.096 us * 2^t)");
  std::unique_ptr<ConnectionManager> cm(new ConnectionManager(dev));
  cm->impl_ = std::make_unique<Impl>(dev, config, cm->counters_);
  if (auto r = cm->impl_->setup(); !r) return std::unexpected(r.error());
  // Its drops (forged sources, full backlogs, clamped timeouts) show beside the device's own.
  dev.add_counter_group("cm", [c = cm.get()](const roce::Device::CounterVisitor& v) { c->counters().for_each(v); });
  return cm;
}

Result<void> ConnectionManager::Impl::setup() {
  if (cfg.seed) replay.emplace(cfg.seed);
  next_port = static_cast<std::uint16_t>(49152 + draw() % 16384);
  guid = mad::guid_from_mac(dev.config().mac);
  auto p = dev.memory().alloc_pd();
  if (!p) return std::unexpected(p.error());
  pd = *p;
  auto s = dev.create_cq(cfg.send_slots);
  if (!s) return std::unexpected(s.error());
  scq = *s;
  auto r = dev.create_cq(cfg.recv_buffers);
  if (!r) return std::unexpected(r.error());
  rcq = *r;
  roce::QpInit init;
  init.type = QpType::ud;
  init.gsi = true;
  init.pd = pd;
  init.send_cq = scq;
  init.recv_cq = rcq;
  init.sq_depth = cfg.send_slots;
  init.rq_depth = cfg.recv_buffers;
  init.max_send_sge = 1;
  init.max_recv_sge = 1;
  auto q = dev.create_qp(init);
  if (!q) return std::unexpected(q.error());
  qp1 = *q;
  roce::QpAttrs a;
  a.state = QpState::init;
  a.qkey = mad::kGsiQkey;
  using namespace verbs;
  if (auto m = dev.modify_qp(*qp1, a, kAttrState | kAttrPkeyIndex | kAttrPort | kAttrQkey); !m) return m;
  a.state = QpState::rtr;
  if (auto m = dev.modify_qp(*qp1, a, kAttrState); !m) return m;
  a.state = QpState::rts;
  if (auto m = dev.modify_qp(*qp1, a, kAttrState | kAttrSqPsn); !m) return m;

  rx_mem.resize(std::size_t{cfg.recv_buffers} * kRecvSlot);
  tx_mem.resize(std::size_t{cfg.send_slots} * mad::kMadSize);
  auto rk = dev.memory().register_mr(pd, rx_mem.data(), rx_mem.size(), 0, kLocalWrite | kZeroBased);
  if (!rk) return std::unexpected(rk.error());
  rx_key = *rk;
  auto tk = dev.memory().register_mr(pd, tx_mem.data(), tx_mem.size(), 0, kZeroBased);
  if (!tk) return std::unexpected(tk.error());
  tx_key = *tk;
  slot_ah.resize(cfg.send_slots);
  for (std::uint32_t i = cfg.send_slots; i-- > 0;) free_slots.push_back(i);
  for (std::uint32_t i = 0; i < cfg.recv_buffers; ++i) post_recv(i);
  return {};
}

void ConnectionManager::Impl::post_recv(std::uint32_t slot) {
  roce::RecvWr w;
  w.wr_id = slot;
  w.num_sge = 1;
  w.sg[0] = {std::uint64_t{slot} * kRecvSlot, kRecvSlot, rx_key};
  (void)dev.post_recv(*qp1, w);  // the RQ has room for every buffer by construction
}

// --- transmit -------------------------------------------------------------------------------

void ConnectionManager::Impl::queue(Conn* c, const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst,
                                    const mad::CmMad& m) {
  if (pending.size() >= cfg.max_pending) {
    ctr.add(CmCounter::tx_dropped);
    if (c && c->state == State::resolving) {  // its REQ never left: say so rather than hang
      CmEvent e = event_of(*c, CmEvent::Type::connect_error);
      e.cause = CmEvent::Cause::aborted;
      e.message = "the CM's send queue is full (" + std::to_string(cfg.max_pending) + " MADs)";
      emit(*c, std::move(e));
      finish(*c);
    }
    return;
  }
  Pending p;
  p.src = src;
  p.dst = dst;
  p.conn = c ? c->id : 0;
  if (!c) {
    // An answer bound to no connection goes where the packet said it came from, which anyone can
    // forge: only a few may wait for a MAC that may never come.
    if (dev.resolve_neighbour(dst, src).pending()) {
      if (unbound_unresolved >= cfg.max_unbound_unresolved) {
        ctr.add(CmCounter::tx_unbound_dropped);
        return;
      }
      p.unbound_unresolved = true;
      ++unbound_unresolved;
    }
  }
  p.bytes = mad::encode_cm_mad(m);
  pending.push_back(p);
}

void ConnectionManager::Impl::flush_pending() {
  std::size_t n = pending.size();
  bool backlog_counted = false;
  while (n-- > 0) {
    Pending p = pending.front();
    pending.pop_front();
    const auto res = dev.resolve_neighbour(p.dst, p.src);
    if (res.pending()) {
      pending.push_back(p);
      continue;
    }
    if (p.unbound_unresolved) {
      p.unbound_unresolved = false;
      --unbound_unresolved;
    }
    if (res.failed()) {
      ctr.add(CmCounter::resolve_failed);
      Conn* c = find(p.conn);
      if (c && c->state != State::timewait) {
        CmEvent e = event_of(*c, CmEvent::Type::connect_error);
        e.cause = CmEvent::Cause::unreachable;
        if (c->state == State::established || c->state == State::dreq_sent)
          e.type = CmEvent::Type::disconnected;
        e.message = engine::resolution_error(p.dst, res).message;
        emit(*c, std::move(e));
        finish(*c);
      }
      continue;
    }
    if (free_slots.empty()) {
      if (!backlog_counted) ctr.add(CmCounter::tx_backlog);
      backlog_counted = true;
      pending.push_back(p);
      continue;
    }
    const std::uint32_t slot = free_slots.back();
    free_slots.pop_back();
    std::memcpy(tx_mem.data() + std::size_t{slot} * mad::kMadSize, p.bytes.data(), mad::kMadSize);
    auto& ah = slot_ah[slot];
    ah = roce::AddressHandle{};
    ah.version = engine::is_ipv4_mapped(p.dst) ? wire::IpVersion::v4 : wire::IpVersion::v6;
    ah.src_gid = p.src;
    ah.dst_gid = p.dst;
    ah.dst_mac = res.mac;
    ah.vlan_tci = res.vlan_tci;
    roce::SendWr w;
    w.wr_id = slot;
    w.opcode = verbs::WrOpcode::send;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {std::uint64_t{slot} * mad::kMadSize, static_cast<std::uint32_t>(mad::kMadSize), tx_key};
    w.ah = &ah;
    w.remote_qpn = mad::kGsiQpn;
    w.remote_qkey = mad::kGsiQkey;
    if (!dev.post_send(*qp1, w)) {
      free_slots.push_back(slot);
      pending.push_back(p);
      continue;
    }
    if (Conn* c = find(p.conn); c && c->state == State::resolving) {
      c->state = State::req_sent;
      arm(*c, c->interval, cfg.max_retries);
    }
    ctr.add(CmCounter::tx_mads);
  }
}

void ConnectionManager::Impl::send_conn(Conn& c, const mad::CmMessage& msg, bool remember) {
  mad::CmMad m{mad::MadHeader{}, msg};
  m.hdr.tid = c.tid;
  m.hdr.attr_id = static_cast<std::uint16_t>(mad::attr_of(msg));
  if (remember) {
    c.last = mad::encode_cm_mad(m);
    c.have_last = true;
  }
  queue(&c, c.local_gid, c.remote_gid, m);
}

void ConnectionManager::Impl::send_rej(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, std::uint64_t tid,
                                       std::uint32_t local_id, std::uint32_t remote_id, mad::MsgKind what,
                                       mad::RejectReason why, std::span<const std::byte> pd) {
  mad::Rej rej;
  rej.local_comm_id = local_id;
  rej.remote_comm_id = remote_id;
  rej.message_rejected = what;
  rej.reason = static_cast<std::uint16_t>(why);
  copy_pd(rej.private_data, 0, pd);
  mad::CmMad m{mad::MadHeader{}, rej};
  m.hdr.tid = tid;
  queue(nullptr, src, dst, m);
  ctr.add(CmCounter::rej_sent);
}

void ConnectionManager::Impl::arm(Conn& c, std::uint64_t interval, std::uint32_t retries) {
  c.interval = interval;
  c.retries_left = retries;
  c.sends = 1;
  c.mra_extended = false;
  set_deadline(c, now() + interval);
}

ConnectionManager::Impl::Listener* ConnectionManager::Impl::listener(ListenerId id) {
  for (auto& l : listeners) {
    if (l.id == id) return &l;
  }
  return nullptr;
}

void ConnectionManager::Impl::leave_backlog(Conn& c) {
  if (!c.in_backlog) return;
  c.in_backlog = false;
  if (Listener* l = listener(c.listener)) l->waiting--;
}

void ConnectionManager::Impl::finish(Conn& c) {
  leave_backlog(c);
  c.state = State::timewait;
  set_deadline(c, now() + cfg.timewait_ns);
}

void ConnectionManager::Impl::erase(Conn& c) {
  leave_backlog(c);
  timers.cancel(c);
  const auto it = by_remote.find({c.remote_guid, c.remote_id});
  if (it != by_remote.end() && it->second == c.id) by_remote.erase(it);
  for (auto [it, end] = by_peer_qp.equal_range({c.remote_guid, c.remote_qpn}); it != end; ++it) {
    if (it->second == c.id) {
      by_peer_qp.erase(it);
      break;
    }
  }
  conns.erase(c.id);
}

CmEvent ConnectionManager::Impl::event_of(const Conn& c, CmEvent::Type t) const {
  CmEvent e;
  e.type = t;
  e.conn = c.id;
  e.listener = c.listener;
  e.local = c.local;
  e.remote = c.remote;
  e.responder_resources = c.ird;
  e.initiator_depth = c.ord;
  e.path_mtu = c.pmtu;
  return e;
}

void ConnectionManager::Impl::emit(Conn& c, CmEvent e) {
  if (c.handler) events.emplace_back(c.handler, std::move(e));
}

// --- receive --------------------------------------------------------------------------------

void ConnectionManager::Impl::receive(ConstByteSpan slot, std::uint32_t len) {
  ctr.add(CmCounter::rx_mads);
  if (len < kRecvSlot) {
    ctr.add(CmCounter::rx_malformed);
    return;
  }
  // RoCEv2 GRH space: an IPv6 header, or 20 bytes then the IPv4 header (IBA A17.4.5.2).
  wire::Ipv6Addr src{}, dst{};
  if ((load_u8(slot, 0) >> 4) == 6) {
    src = wire::load_array<16>(slot, 8);
    dst = wire::load_array<16>(slot, 24);
  } else {
    src = wire::ipv4_mapped(wire::load_array<4>(slot, 20 + 12));
    dst = wire::ipv4_mapped(wire::load_array<4>(slot, 20 + 16));
  }
  auto m = mad::decode_cm_mad(slot.subspan(kGrh, mad::kMadSize));
  if (!m) {
    ctr.add(m.error().code == Errc::unsupported && load_u8(slot, kGrh + 1) == mad::kMgmtClassCm &&
                    load_u8(slot, kGrh + 2) == mad::kCmClassVersion
                ? CmCounter::rx_unsupported
                : CmCounter::rx_malformed);
    return;
  }
  handle(src, dst, *m);
}

void ConnectionManager::Impl::handle(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, const mad::CmMad& m) {
  if (const auto* req = std::get_if<mad::Req>(&m.msg)) return on_req(src, dst, m.hdr, *req);
  if (const auto* dreq = std::get_if<mad::Dreq>(&m.msg)) return on_dreq(find(dreq->remote_comm_id), src, dst, m.hdr, *dreq);
  // Every other message names our communication ID as its remote one, and its sender's as its own.
  const auto [ours, theirs] = std::visit(
      [](const auto& x) -> std::pair<std::uint32_t, std::uint32_t> {
        using M = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<M, mad::Req>) return {0, 0};
        else return {x.remote_comm_id, x.local_comm_id};
      },
      m.msg);
  Conn* c = find(ours);
  if (!c) {
    ctr.add(CmCounter::rx_stray);
    return;
  }
  if (!from_peer(*c, src, theirs)) return;
  if (const auto* rep = std::get_if<mad::Rep>(&m.msg)) on_rep(*c, *rep);
  else if (std::holds_alternative<mad::Rtu>(m.msg)) on_rtu(*c);
  else if (const auto* rej = std::get_if<mad::Rej>(&m.msg)) on_rej(*c, *rej);
  else if (const auto* mra = std::get_if<mad::Mra>(&m.msg)) on_mra(*c, *mra);
  else if (std::holds_alternative<mad::Drep>(m.msg)) on_drep(*c);
}

void ConnectionManager::Impl::on_req(const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst, const mad::MadHeader& h,
                                     const mad::Req& r) {
  // A REQ we already hold: answer from the saved state, never a second connection (IBA 12.9.8.2).
  if (auto it = by_remote.find({r.local_ca_guid, r.local_comm_id}); it != by_remote.end()) {
    Conn& c = *conns.at(it->second);
    if (!from_peer(c, src, r.local_comm_id)) return;
    ctr.add(CmCounter::rx_duplicate);
    switch (c.state) {
      case State::req_rcvd:
      case State::mra_sent: {
        mad::Mra mra;
        mra.local_comm_id = c.id;
        mra.remote_comm_id = c.remote_id;
        mra.message_mraed = mad::MsgKind::req;
        mra.service_timeout = cfg.mra_service_timeout;
        send_conn(c, mra, false);
        c.state = State::mra_sent;
        ctr.add(CmCounter::mra_sent);
        break;
      }
      case State::rep_sent:
      case State::timewait:
        if (c.have_last) {
          mad::CmMad again = *mad::decode_cm_mad(c.last);
          queue(&c, c.local_gid, c.remote_gid, again);
        }
        break;
      default: break;
    }
    return;
  }
  const auto reject = [&](mad::RejectReason why, CmCounter k) {
    ctr.add(k);
    send_rej(dst, src, h.tid, 0, r.local_comm_id, mad::MsgKind::req, why);
  };
  if (r.transport_type > 1) return reject(mad::RejectReason::invalid_transport_type, CmCounter::rx_stray);
  // Stale connection (IBA 12.9.8.3.1): the peer's QP is still in one of our live connections.
  for (auto [it, end] = by_peer_qp.equal_range({r.local_ca_guid, r.local_qpn}); it != end; ++it) {
    const Conn& c = *conns.at(it->second);
    if (c.state == State::established || c.state == State::rep_sent || c.state == State::dreq_sent)
      return reject(mad::RejectReason::stale_connection, CmCounter::stale_rejected);
  }
  if (!mad::is_ip_service_id(r.service_id) || mad::service_port_space(r.service_id) != mad::kPortSpaceTcp)
    return reject(mad::RejectReason::invalid_service_id, CmCounter::no_listener);
  auto ip = mad::read_ip_cm_header(std::span<const std::byte, mad::kReqPrivateData>(r.private_data));
  if (!ip) return reject(mad::RejectReason::unsupported_request, CmCounter::rx_malformed);
  // The addresses that choose the listener and name the peer to the owner are the packet's: a
  // private-data header that says otherwise is refused (IBA 12.6.7 table 112: reason 12).
  const bool v4 = engine::is_ipv4_mapped(src);
  if (ip->src != src || ip->dst != dst || (ip->ip_version == wire::IpVersion::v4) != v4)
    return reject(mad::RejectReason::invalid_gid, CmCounter::ip_header_mismatch);
  const std::uint16_t port = mad::service_port(r.service_id);
  Listener* best = nullptr;
  for (auto& l : listeners) {
    if (l.addr.port != port) continue;
    if (l.addr.ip == dst) {
      best = &l;
      break;
    }
    if (is_zero(l.addr.ip) && !best) best = &l;
  }
  if (!best) return reject(mad::RejectReason::invalid_service_id, CmCounter::no_listener);
  const auto ver = v4 ? wire::IpVersion::v4 : wire::IpVersion::v6;
  const std::uint32_t mtu = mad::mtu_bytes(r.path_mtu);
  if (mtu == 0 || mtu > dev.active_mtu(ver)) return reject(mad::RejectReason::invalid_path_mtu, CmCounter::mtu_rejected);
  // A REQ makes a record only within the listener's backlog and the device's record budget, as a
  // SYN flood must not grow a listen queue (IBA 12.6.7 table 112: reason 3, no resources).
  if (best->waiting >= best->backlog)
    return reject(mad::RejectReason::no_resources, CmCounter::backlog_full);
  if (conns.size() >= cfg.max_connections)
    return reject(mad::RejectReason::no_resources, CmCounter::records_full);

  auto c = std::make_unique<Conn>();
  c->id = new_id();
  c->active = false;
  c->state = State::req_rcvd;
  c->remote_id = r.local_comm_id;
  c->remote_guid = r.local_ca_guid;
  c->remote_qpn = r.local_qpn;
  c->local = {dst, port};
  c->remote = {src, ip->src_port};
  // The path is the one the REQ came by (IBA A17.4.5.2 on RoCEv2: the GRH is the IP header).
  c->local_gid = dst;
  c->remote_gid = src;
  c->handler = best->handler;
  c->listener = best->id;
  c->tid = h.tid;
  c->req = r;
  c->pmtu = mtu;
  c->ird = r.initiator_depth;
  c->ord = r.responder_resources;
  c->in_backlog = true;
  best->waiting++;
  // If the peer gives up it sends REJ; if that is lost too, the record still goes away, and never
  // later than kMaxReqLifetimeNs whatever the REQ's timeouts say.
  const std::uint64_t asked = cm_timeout_ns(r.remote_cm_response_timeout) * (r.max_cm_retries + 2u);
  if (asked > kMaxReqLifetimeNs) ctr.add(CmCounter::timeout_clamped);
  set_deadline(*c, now() + std::min(asked, kMaxReqLifetimeNs));
  CmEvent e = event_of(*c, CmEvent::Type::connect_request);
  e.private_data.assign(r.private_data.begin() + mad::kIpCmHeaderSize, r.private_data.end());
  e.responder_resources = r.responder_resources;
  e.initiator_depth = r.initiator_depth;
  by_remote[{c->remote_guid, c->remote_id}] = c->id;
  by_peer_qp.emplace(std::pair{c->remote_guid, c->remote_qpn}, c->id);
  Conn& ref = *c;
  conns.emplace(c->id, std::move(c));
  emit(ref, std::move(e));
}

void ConnectionManager::Impl::on_rep(Conn& c, const mad::Rep& r) {
  if (c.state == State::established && c.remote_id == r.local_comm_id) {
    // Our RTU was lost: say it again (IBA 12.9.8.4).
    ctr.add(CmCounter::rx_duplicate);
    if (c.have_last) queue(&c, c.local_gid, c.remote_gid, *mad::decode_cm_mad(c.last));
    return;
  }
  if (!c.active || c.state != State::req_sent) {
    ctr.add(CmCounter::rx_stray);
    return;
  }
  c.remote_id = r.local_comm_id;
  c.remote_guid = r.local_ca_guid;
  c.remote_qpn = r.local_qpn;
  by_remote[{c.remote_guid, c.remote_id}] = c.id;
  by_peer_qp.emplace(std::pair{c.remote_guid, c.remote_qpn}, c.id);
  c.ord = std::min(c.ord, r.responder_resources);
  c.ird = std::min(c.ird, r.initiator_depth);
  roce::QpConnectOptions o;
  o.pmtu = c.pmtu;
  // PSNs as Linux's ib_cm uses them (seen on the wire with rdma_rxe): each side transmits from
  // the Starting PSN the peer's message carried and receives from the one it sent itself.
  o.sq_psn = Psn{r.starting_psn};
  o.ord = std::max<std::uint8_t>(1, c.ord);
  o.ird = std::max<std::uint8_t>(1, c.ird);
  o.retry_cnt = c.retry_count;
  o.rnr_retry = r.rnr_retry_count;
  const auto up = roce::connect_qp(dev, *c.qp, c.local_gid, roce::QpPeer{r.local_qpn, Psn{c.psn}, c.remote_gid, {}}, o);
  if (!up) {
    send_rej(c.local_gid, c.remote_gid, c.tid, c.id, c.remote_id, mad::MsgKind::rep, mad::RejectReason::no_qp);
    CmEvent e = event_of(c, CmEvent::Type::connect_error);
    e.cause = CmEvent::Cause::aborted;
    e.message = "QP " + std::to_string(c.qp->qpn) + " could not be connected: " + up.error().message;
    emit(c, std::move(e));
    finish(c);
    return;
  }
  mad::Rtu rtu;
  rtu.local_comm_id = c.id;
  rtu.remote_comm_id = c.remote_id;
  send_conn(c, rtu);
  c.state = State::established;
  set_deadline(c, 0);
  ctr.add(CmCounter::established);
  CmEvent e = event_of(c, CmEvent::Type::established);
  e.private_data.assign(r.private_data.begin(), r.private_data.end());
  emit(c, std::move(e));
}

void ConnectionManager::Impl::on_rtu(Conn& c) {
  if (c.state != State::rep_sent) {
    ctr.add(c.state == State::established ? CmCounter::rx_duplicate : CmCounter::rx_stray);
    return;
  }
  c.state = State::established;
  set_deadline(c, 0);
  ctr.add(CmCounter::established);
  emit(c, event_of(c, CmEvent::Type::established));
}

void ConnectionManager::Impl::on_rej(Conn& c, const mad::Rej& r) {
  ctr.add(CmCounter::rej_received);
  if (c.state != State::req_sent && c.state != State::resolving && c.state != State::req_rcvd &&
      c.state != State::mra_sent && c.state != State::rep_sent) {
    ctr.add(CmCounter::rx_stray);
    return;
  }
  CmEvent e = event_of(c, CmEvent::Type::rejected);
  e.cause = CmEvent::Cause::rejected;
  e.reject_reason = r.reason;
  e.private_data.assign(r.private_data.begin(), r.private_data.end());
  e.message = "rejected by " + to_string(c.remote) + ": " + std::string(mad::reject_reason_name(r.reason)) +
              " (" + std::to_string(r.reason) + ")";
  emit(c, std::move(e));
  finish(c);
}

void ConnectionManager::Impl::on_mra(Conn& c, const mad::Mra& m) {
  ctr.add(CmCounter::mra_received);
  const bool ours = (c.state == State::req_sent && m.message_mraed == mad::MsgKind::req) ||
                    (c.state == State::rep_sent && m.message_mraed == mad::MsgKind::rep);
  if (!ours) {
    ctr.add(CmCounter::rx_stray);
    return;
  }
  // The peer needs longer: wait its service timeout on top of our own, retries untouched. Once per
  // message sent, and for kMaxMraWaitNs at most: MRAs alone cannot hold a handshake open.
  if (c.mra_extended) {
    ctr.add(CmCounter::rx_duplicate);
    return;
  }
  c.mra_extended = true;
  const std::uint64_t asked = cm_timeout_ns(m.service_timeout);
  if (asked > kMaxMraWaitNs) ctr.add(CmCounter::timeout_clamped);
  set_deadline(c, now() + std::min(asked, kMaxMraWaitNs) + c.interval);
}

void ConnectionManager::Impl::on_dreq(Conn* c, const wire::Ipv6Addr& src, const wire::Ipv6Addr& dst,
                                      const mad::MadHeader& h, const mad::Dreq& d) {
  mad::Drep drep;
  drep.remote_comm_id = d.local_comm_id;
  if (c && !from_peer(*c, src, d.local_comm_id)) return;  // no DREP either: not its peer's to end
  if (!c || (c->qp && d.remote_qpn != c->qp->qpn)) {
    // No such connection (any more): a DREP still lets the peer finish (IBA 12.9.8.6).
    ctr.add(CmCounter::rx_stray);
    mad::CmMad m{mad::MadHeader{}, drep};
    m.hdr.tid = h.tid;
    queue(nullptr, dst, src, m);
    return;
  }
  drep.local_comm_id = c->id;
  c->tid = h.tid;
  if (c->state == State::timewait) {
    ctr.add(CmCounter::rx_duplicate);
    send_conn(*c, drep);
    return;
  }
  if (c->state != State::established && c->state != State::dreq_sent && c->state != State::rep_sent) {
    ctr.add(CmCounter::rx_stray);
    return;
  }
  send_conn(*c, drep);
  ctr.add(CmCounter::disconnected);
  CmEvent e = event_of(*c, CmEvent::Type::disconnected);
  e.cause = CmEvent::Cause::peer_disconnected;
  e.peer_initiated = true;
  e.private_data.assign(d.private_data.begin(), d.private_data.end());
  emit(*c, std::move(e));
  finish(*c);
}

void ConnectionManager::Impl::on_drep(Conn& c) {
  if (c.state != State::dreq_sent) {
    ctr.add(c.state == State::timewait ? CmCounter::rx_duplicate : CmCounter::rx_stray);
    return;
  }
  ctr.add(CmCounter::disconnected);
  emit(c, event_of(c, CmEvent::Type::disconnected));
  finish(c);
}

// --- timers ---------------------------------------------------------------------------------

void ConnectionManager::Impl::timer_fired(Conn& c) {
  const auto resend = [&] {
    c.retries_left--;
    c.sends++;
    c.mra_extended = false;
    set_deadline(c, now() + c.interval);
    ctr.add(CmCounter::retransmits);
    queue(&c, c.local_gid, c.remote_gid, *mad::decode_cm_mad(c.last));
  };
  const auto give_up = [&](CmEvent::Type t, const std::string& what) {
    ctr.add(CmCounter::timeouts);
    CmEvent e = event_of(c, t);
    e.cause = CmEvent::Cause::timed_out;
    e.message = what.empty() ? to_string(c.remote) + " gave up before the connection was accepted"
                             : "no " + what + " from " + to_string(c.remote) + " after " +
                                   std::to_string(c.sends) + " tries";
    emit(c, std::move(e));
    finish(c);
  };
  switch (c.state) {
    case State::req_sent:
      if (c.retries_left > 0) return resend();
      send_rej(c.local_gid, c.remote_gid, c.tid, c.id, 0, mad::MsgKind::req, mad::RejectReason::timeout);
      return give_up(CmEvent::Type::connect_error, "REP to our REQ");
    case State::rep_sent:
      if (c.retries_left > 0) return resend();
      send_rej(c.local_gid, c.remote_gid, c.tid, c.id, c.remote_id, mad::MsgKind::rep, mad::RejectReason::timeout);
      return give_up(CmEvent::Type::connect_error, "RTU to our REP");
    case State::dreq_sent:
      if (c.retries_left > 0) return resend();
      return give_up(CmEvent::Type::disconnected, "DREP to our DREQ");
    case State::req_rcvd:
    case State::mra_sent:
      return give_up(CmEvent::Type::connect_error, "");
    default: set_deadline(c, 0); return;
  }
}

void ConnectionManager::Impl::run_timers() {
  // Only the records whose deadline has passed: a poll's work does not grow with the record count.
  const std::uint64_t t = now();
  while (Conn* c = timers.due(t)) {
    if (c->state == State::timewait) {
      erase(*c);
      continue;
    }
    timer_fired(*c);
    if (c->deadline != 0 && c->deadline <= t) set_deadline(*c, t + 1);  // progress, whatever fired
  }
}

// --- the public face ------------------------------------------------------------------------

std::size_t ConnectionManager::poll() {
  Impl& m = *impl_;
  std::size_t work = 0;
  std::array<verbs::Cqe, 32> cqes;
  while (const std::size_t n = m.scq->poll(cqes)) {
    for (std::size_t i = 0; i < n; ++i) m.free_slots.push_back(static_cast<std::uint32_t>(cqes[i].wr_id));
    work += n;
  }
  while (const std::size_t n = m.rcq->poll(cqes)) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto slot = static_cast<std::uint32_t>(cqes[i].wr_id);
      if (cqes[i].status == verbs::WcStatus::success)
        m.receive(ConstByteSpan(m.rx_mem).subspan(std::size_t{slot} * kRecvSlot, kRecvSlot), cqes[i].byte_len);
      m.post_recv(slot);
    }
    work += n;
  }
  m.run_timers();
  if (!m.pending.empty()) {
    const std::uint64_t t = m.now();
    if (m.pending.size() <= Impl::kPendingWalkEveryPoll || t >= m.next_pending_walk) {
      m.flush_pending();
      m.next_pending_walk = t + m.pending.size() * Impl::kPendingWalkNsPerMad;
    }
  }
  auto events = std::move(m.events);
  m.events.clear();
  for (auto& [h, e] : events) h(e);
  return work + events.size();
}

std::size_t ConnectionManager::connection_count() const { return impl_->conns.size(); }
std::size_t ConnectionManager::queued_mads() const { return impl_->pending.size(); }

Result<ListenerId> ConnectionManager::listen(const Address& local, Handler handler,
                                             std::uint32_t backlog) {
  Impl& m = *impl_;
  if (!handler) return make_error(Errc::invalid_argument, "listen: a handler is required");
  if (local.port == 0) return make_error(Errc::invalid_argument, "listen: port 0 is not a port to listen on");
  if (!is_zero(local.ip) && !dev_.gid_table().find(local.ip))
    return make_error(Errc::invalid_argument, "listen: " + ip_string(local.ip) + " is not an address of this device");
  for (const auto& l : m.listeners) {
    if (l.addr == local) return make_error(Errc::busy, "listen: already listening on " + to_string(local));
  }
  const ListenerId id = m.next_listener++;
  m.listeners.push_back({id, local, std::move(handler), backlog ? backlog : m.cfg.listen_backlog});
  return id;
}

Result<void> ConnectionManager::stop_listening(ListenerId id) {
  auto& ls = impl_->listeners;
  const auto n = std::erase_if(ls, [&](const auto& l) { return l.id == id; });
  if (n == 0) return make_error(Errc::not_found, "stop_listening: no listener " + std::to_string(id));
  return {};
}

Result<ConnId> ConnectionManager::connect(roce::Qp& qp, const ConnectParams& p, Handler handler) {
  Impl& m = *impl_;
  if (qp.type == QpType::ud) return make_error(Errc::invalid_argument, "connect: UD QPs are not connected (use RC or UC)");
  if (qp.attr.state != QpState::reset)
    return make_error(Errc::invalid_argument, "connect: QP " + std::to_string(qp.qpn) + " must be in RESET");
  const auto& lim = dev_.config().limits;
  if (p.private_data.size() > std::min<std::size_t>(lim.max_connect_private_data, mad::kReqUserPrivateData))
    return make_error(Errc::invalid_argument, "connect: private data is at most " +
                                                  std::to_string(lim.max_connect_private_data) + " bytes, got " +
                                                  std::to_string(p.private_data.size()));
  if (is_zero(p.remote.ip) || p.remote.port == 0)
    return make_error(Errc::invalid_argument, "connect: the remote address and port are required");
  const bool v4 = engine::is_ipv4_mapped(p.remote.ip);
  wire::Ipv6Addr local{};
  if (p.local_ip) {
    if (engine::is_ipv4_mapped(*p.local_ip) != v4)
      return make_error(Errc::invalid_argument, "connect: local and remote addresses must both be IPv4 or IPv6");
    if (!dev_.gid_table().find(*p.local_ip))
      return make_error(Errc::invalid_argument, "connect: " + ip_string(*p.local_ip) + " is not an address of this device");
    local = *p.local_ip;
  } else {
    bool found = false;
    for (const auto& g : dev_.config().gids) {
      if (engine::is_ipv4_mapped(g) == v4) {
        local = g;
        found = true;
        break;
      }
    }
    if (!found) return make_error(Errc::invalid_argument, std::string("connect: this device has no ") +
                                                              (v4 ? "IPv4" : "IPv6") + " address");
  }
  const std::uint32_t active = dev_.active_mtu(v4 ? wire::IpVersion::v4 : wire::IpVersion::v6);
  const std::uint32_t pmtu = p.path_mtu ? p.path_mtu : active;
  if (mad::mtu_enum(pmtu) == 0 || pmtu > active)
    return make_error(Errc::invalid_argument, "connect: path MTU " + std::to_string(pmtu) +
                                                  " is not an IB MTU up to the active MTU " + std::to_string(active));
  if (m.conns.size() >= m.cfg.max_connections) {
    m.ctr.add(CmCounter::records_full);
    return make_error(Errc::busy, "connect: " + std::to_string(m.cfg.max_connections) +
                                      " connection records in use (CmConfig::max_connections)");
  }
  const auto& L = lim;
  auto c = std::make_unique<Conn>();
  c->id = m.new_id();
  c->active = true;
  c->state = State::resolving;
  c->local = {local, p.local_port ? p.local_port : m.next_port++};
  if (m.next_port < 49152) m.next_port = 49152;
  c->remote = p.remote;
  c->local_gid = local;
  c->remote_gid = p.remote.ip;
  c->qp = &qp;
  c->handler = std::move(handler);
  c->tid = (std::uint64_t{m.draw()} << 32) | c->id;
  c->psn = m.draw() & 0xffffff;
  c->pmtu = pmtu;
  c->ird = static_cast<std::uint8_t>(std::min<std::uint32_t>(p.responder_resources, L.max_ird));
  c->ord = static_cast<std::uint8_t>(std::min<std::uint32_t>(p.initiator_depth, L.max_ord));
  c->retry_count = p.retry_count;
  mad::Req& r = c->req;
  r.local_comm_id = c->id;
  r.service_id = mad::ip_service_id(mad::kPortSpaceTcp, p.remote.port);
  r.local_ca_guid = m.guid;
  r.local_qpn = qp.qpn;
  r.responder_resources = c->ird;
  r.initiator_depth = c->ord;
  r.remote_cm_response_timeout = m.cfg.response_timeout;
  r.transport_type = qp.type == QpType::uc ? 1 : 0;
  r.starting_psn = c->psn;
  r.local_cm_response_timeout = m.cfg.response_timeout;
  r.retry_count = std::min<std::uint8_t>(p.retry_count, 7);
  r.path_mtu = mad::mtu_enum(pmtu);
  r.rnr_retry_count = std::min<std::uint8_t>(p.rnr_retry, 7);
  r.max_cm_retries = m.cfg.max_retries;
  r.srq = qp.srq != nullptr;
  r.primary.local_gid = local;
  r.primary.remote_gid = p.remote.ip;
  r.primary.local_ack_timeout = 14;
  mad::IpCmHeader ip;
  ip.ip_version = v4 ? wire::IpVersion::v4 : wire::IpVersion::v6;
  ip.src_port = c->local.port;
  ip.src = local;
  ip.dst = p.remote.ip;
  mad::write_ip_cm_header(std::span<std::byte, mad::kReqPrivateData>(r.private_data), ip);
  copy_pd(r.private_data, mad::kIpCmHeaderSize, p.private_data);
  // The peer answers within its own response timeout, which we do not know yet: wait as long as
  // we would take ourselves, twice (IBA 12.7.27 adds the packet lifetime both ways).
  c->interval = 2 * cm_timeout_ns(m.cfg.response_timeout);
  const ConnId id = c->id;
  Conn& ref = *c;
  m.conns.emplace(id, std::move(c));
  m.send_conn(ref, ref.req);
  return id;
}

Result<void> ConnectionManager::accept(ConnId id, roce::Qp& qp, const AcceptParams& p, Handler handler) {
  Impl& m = *impl_;
  Conn* c = m.find(id);
  if (!c || c->active) return make_error(Errc::not_found, "accept: no incoming connection " + std::to_string(id));
  if (c->state != State::req_rcvd && c->state != State::mra_sent)
    return make_error(Errc::invalid_argument, "accept: connection " + std::to_string(id) + " is not waiting for an answer");
  const auto& lim = dev_.config().limits;
  if (p.private_data.size() > std::min<std::size_t>(lim.max_accept_private_data, mad::kRepPrivateData))
    return make_error(Errc::invalid_argument, "accept: private data is at most " +
                                                  std::to_string(lim.max_accept_private_data) + " bytes, got " +
                                                  std::to_string(p.private_data.size()));
  const QpType want = c->req.transport_type == 1 ? QpType::uc : QpType::rc;
  if (qp.type != want)
    return make_error(Errc::invalid_argument, std::string("accept: the peer asked for a ") +
                                                  (want == QpType::rc ? "RC" : "UC") + " QP");
  if (qp.attr.state != QpState::reset)
    return make_error(Errc::invalid_argument, "accept: QP " + std::to_string(qp.qpn) + " must be in RESET");
  const auto& L = lim;
  c->ird = static_cast<std::uint8_t>(std::min<std::uint32_t>({p.responder_resources, c->req.initiator_depth, L.max_ird}));
  c->ord = static_cast<std::uint8_t>(std::min<std::uint32_t>({p.initiator_depth, c->req.responder_resources, L.max_ord}));
  c->psn = m.draw() & 0xffffff;
  roce::QpConnectOptions o;
  o.pmtu = c->pmtu;
  o.sq_psn = Psn{c->req.starting_psn};  // Linux's reading of the PSNs: see on_rep
  o.ord = std::max<std::uint8_t>(1, c->ord);
  o.ird = std::max<std::uint8_t>(1, c->ird);
  o.retry_cnt = c->req.retry_count;
  o.rnr_retry = c->req.rnr_retry_count;
  auto up = roce::connect_qp(dev_, qp, c->local_gid,
                             roce::QpPeer{c->req.local_qpn, Psn{c->psn}, c->remote_gid, {}}, o);
  if (!up) return make_error(up.error().code, "accept: QP " + std::to_string(qp.qpn) + ": " + up.error().message);
  c->qp = &qp;
  if (handler) c->handler = std::move(handler);
  mad::Rep rep;
  rep.local_comm_id = c->id;
  rep.remote_comm_id = c->remote_id;
  rep.local_qpn = qp.qpn;
  rep.starting_psn = c->psn;
  rep.responder_resources = c->ird;
  rep.initiator_depth = c->ord;
  rep.target_ack_delay = 15;
  rep.rnr_retry_count = std::min<std::uint8_t>(p.rnr_retry, 7);
  rep.srq = qp.srq != nullptr;
  rep.local_ca_guid = m.guid;
  copy_pd(rep.private_data, 0, p.private_data);
  m.send_conn(*c, rep);
  c->state = State::rep_sent;
  m.leave_backlog(*c);
  m.arm(*c, m.peer_wait(c->req.local_cm_response_timeout), c->req.max_cm_retries);
  return {};
}

Result<void> ConnectionManager::reject(ConnId id, std::span<const std::byte> private_data) {
  Impl& m = *impl_;
  Conn* c = m.find(id);
  if (!c || c->active) return make_error(Errc::not_found, "reject: no incoming connection " + std::to_string(id));
  if (c->state != State::req_rcvd && c->state != State::mra_sent)
    return make_error(Errc::invalid_argument, "reject: connection " + std::to_string(id) + " is not waiting for an answer");
  const auto& lim = dev_.config().limits;
  if (private_data.size() > std::min<std::size_t>(lim.max_reject_private_data, mad::kRejPrivateData))
    return make_error(Errc::invalid_argument, "reject: private data is at most " +
                                                  std::to_string(lim.max_reject_private_data) + " bytes, got " +
                                                  std::to_string(private_data.size()));
  mad::Rej rej;
  rej.local_comm_id = c->id;
  rej.remote_comm_id = c->remote_id;
  rej.message_rejected = mad::MsgKind::req;
  rej.reason = static_cast<std::uint16_t>(mad::RejectReason::consumer_reject);
  copy_pd(rej.private_data, 0, private_data);
  m.send_conn(*c, rej);  // remembered: a duplicate REQ gets the same REJ
  m.ctr.add(CmCounter::rej_sent);
  m.finish(*c);
  return {};
}

Result<void> ConnectionManager::disconnect(ConnId id, std::span<const std::byte> private_data) {
  Impl& m = *impl_;
  Conn* c = m.find(id);
  if (!c) return make_error(Errc::not_found, "disconnect: no connection " + std::to_string(id));
  if (c->state != State::established && c->state != State::rep_sent)
    return make_error(Errc::invalid_argument, "disconnect: connection " + std::to_string(id) + " is not established");
  const auto& lim = dev_.config().limits;
  if (private_data.size() > std::min<std::size_t>(lim.max_disconnect_private_data, mad::kDreqPrivateData))
    return make_error(Errc::invalid_argument, "disconnect: private data is at most " +
                                                  std::to_string(lim.max_disconnect_private_data) + " bytes, got " +
                                                  std::to_string(private_data.size()));
  mad::Dreq d;
  d.local_comm_id = c->id;
  d.remote_comm_id = c->remote_id;
  d.remote_qpn = c->remote_qpn;
  copy_pd(d.private_data, 0, private_data);
  c->tid = (std::uint64_t{m.draw()} << 32) | c->id;
  m.send_conn(*c, d);
  c->state = State::dreq_sent;
  const std::uint8_t peer_t = c->active ? m.cfg.response_timeout : c->req.local_cm_response_timeout;
  m.arm(*c, m.peer_wait(peer_t), m.cfg.max_retries);
  return {};
}

}  // namespace softrnic::cm
