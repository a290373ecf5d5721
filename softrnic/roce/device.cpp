#include "roce/device.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "base/random.hpp"
#include "roce/sge.hpp"

namespace softrnic::roce {

using verbs::QpState;
using verbs::QpType;
using verbs::WcStatus;
using verbs::WrOpcode;

std::string_view counter_name(DeviceCounter c) {
  switch (c) {
#define SOFTRNIC_X(n) \
  case DeviceCounter::n: return #n;
    SOFTRNIC_DEVICE_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case DeviceCounter::count_: break;
  }
  return "unknown";
}

namespace {

engine::GidTable make_gid_table(const DeviceConfig& c, const Port& port) {
  engine::GidTableConfig gc;
  gc.mac = c.mac;
  gc.vlan = c.vlan;
  gc.allow_loopback = !port.has_link_layer();  // a socket port: the kernel's lo may carry it
  gc.ipv6_enabled = std::any_of(c.gids.begin(), c.gids.end(),
                                [](const auto& g) { return !engine::is_ipv4_mapped(g); });
  engine::GidTable t(gc);
  for (const auto& g : c.gids) {
    // Invalid or duplicate entries in the configuration are left out; the table says why.
    if (engine::is_ipv4_mapped(g)) {
      (void)t.add_ipv4({g[12], g[13], g[14], g[15]}, c.ipv4_prefix);
    } else {
      (void)t.add_ipv6(g, c.ipv6_prefix);
    }
  }
  return t;
}
}  // namespace

Device::Device(Port& port, Clock& clock, DeviceConfig config)
    : port_(port),
      clock_(clock),
      config_(std::move(config)),
      memory_(config_.limits),
      gids_(make_gid_table(config_, port)),
      neighbours_(gids_, config_.neighbours),
      zero_copy_min_(port.zero_copy_min() == 0 ? ~std::uint32_t{0} : port.zero_copy_min()),
      now_(clock.now_ns()) {
  qps_.resize(2);  // QPN 0 is invalid on RoCE, 1 is the GSI QP
  qpn_slot_mask_ = verbs::qpn_slot_mask(config_.limits);
  qpn_slot_bits_ = static_cast<std::uint32_t>(std::popcount(qpn_slot_mask_));
}

Device::~Device() {
  for (std::size_t i = 0; i < tx_count_; ++i) port_.free(tx_[i]);
}

Result<verbs::Cq*> Device::create_cq(std::uint32_t depth) {
  if (auto ok = verbs::check_new_cq(config_.limits, depth, cqs_.size()); !ok) return std::unexpected(ok.error());
  cqs_.push_back(std::make_unique<verbs::Cq>(depth));
  return cqs_.back().get();
}

Result<Srq*> Device::create_srq(std::uint32_t depth, std::uint32_t max_sge) {
  if (depth == 0 || depth > config_.limits.max_srq_wr)
    return make_error(Errc::invalid_argument, "SRQ depth out of range");
  if (max_sge == 0 || max_sge > std::min<std::uint32_t>(config_.limits.max_sge, kMaxSge))
    return make_error(Errc::invalid_argument, "SRQ max_sge out of range");
  srqs_.push_back(std::make_unique<Srq>(depth, max_sge));
  return srqs_.back().get();
}

Result<Qp*> Device::create_qp(const QpInit& init) {
  const auto& L = config_.limits;
  if (!init.send_cq || !init.recv_cq) return make_error(Errc::invalid_argument, "a QP needs a send and a receive CQ");
  if (auto ok = verbs::check_new_qp(L, shape_of(init), kMaxSge, kMaxInline, live_qps_.size()); !ok)
    return std::unexpected(ok.error());
  // A QPN is a slot of qps_ in its low bits and random bits above (IBA leaves QPNs to the CA), so
  // a peer cannot guess the numbers of other connections from its own.
  std::uint32_t slot = 2, qpn = 0;
  if (init.gsi) {
    // QP1, the general services QP (IBA 13.4.1): a UD QP at the well-known number.
    if (init.type != QpType::ud) return make_error(Errc::invalid_argument, "the GSI QP (QP1) is a UD QP");
    if (qps_[1]) return make_error(Errc::busy, "this device already has its QP1");
    slot = qpn = 1;
  } else {
    while (slot < qps_.size() && qps_[slot]) ++slot;
    if (slot > qpn_slot_mask_) return make_error(Errc::busy, "too many QPs");
    do {
      qpn = (secure_random<std::uint32_t>() << qpn_slot_bits_ | slot) & 0xffffff;
    } while (qpn == 0xffffff || qpn == 1);  // 0xffffff is the multicast QPN
  }
  if (slot >= qps_.size()) qps_.resize(slot + 1);
  qps_[slot] = std::make_unique<Qp>(qpn, init);
  live_qps_.push_back(qps_[slot].get());
  return qps_[slot].get();
}

Result<void> Device::destroy_qp(Qp* qp) {
  if (tx_ext_queued_) flush_tx();  // frames reading the QP's WQE memory leave first
  if (!qp || find_qp(qp->qpn) != qp) return make_error(Errc::not_found, "no such QP");
  memory_.invalidate_windows_of(qp->qpn);  // type 2 windows die with their QP
  std::erase(live_qps_, qp);
  qps_[qp->qpn & qpn_slot_mask_].reset();
  return {};
}

std::uint32_t roce_overhead(wire::IpVersion v) {
  // IP + UDP + the largest transport headers a packet with payload carries (BTH, RETH and ImmDt
  // of RDMA WRITE ONLY with immediate) + ICRC.
  return (v == wire::IpVersion::v4 ? 20u : 40u) + 8u + 12u + 16u + 4u + 4u;
}

std::uint32_t Device::active_mtu(wire::IpVersion v) const {
  const std::uint32_t link = port_.mtu();
  for (std::uint32_t m = 4096; m >= 256; m /= 2) {
    if (m + roce_overhead(v) <= link && m + roce_overhead(v) + 18 <= port_.max_frame()) return m;
  }
  return 0;
}

engine::Resolution Device::resolve_neighbour(const wire::Ipv6Addr& dst, const wire::Ipv6Addr& src) {
  if (!port_.has_link_layer()) {
    engine::Resolution r;
    r.status = engine::Resolution::Status::resolved;
    return r;
  }
  return neighbours_.resolve(dst, src, clock_.now_ns());
}

void Device::add_counter_group(std::string name, CounterGroup group) {
  std::lock_guard lock(counter_groups_mutex_);
  std::erase_if(counter_groups_, [&](const auto& g) { return g.first == name; });
  counter_groups_.emplace_back(std::move(name), std::move(group));
}

void Device::remove_counter_group(std::string_view name) {
  std::lock_guard lock(counter_groups_mutex_);
  std::erase_if(counter_groups_, [&](const auto& g) { return g.first == name; });
}

void Device::for_each_counter_group(const std::function<void(std::string_view, const CounterGroup&)>& f) const {
  f("neighbours", [this](const CounterVisitor& v) { neighbours_.counters().for_each(v); });
  std::lock_guard lock(counter_groups_mutex_);
  for (const auto& [name, group] : counter_groups_) f(name, group);
}

Qp* Device::find_qp(std::uint32_t qpn) {
  const std::uint32_t slot = qpn & qpn_slot_mask_;
  if (slot >= qps_.size()) return nullptr;
  Qp* qp = qps_[slot].get();
  return qp && qp->qpn == qpn ? qp : nullptr;
}

void Device::prepare_tx_spec(Qp& qp) {
  auto& s = qp.tx_spec;
  const auto& av = qp.attr.av;
  s.eth.src = config_.mac;
  s.eth.dst = av.dst_mac;
  s.eth.vlan_tci = av.vlan_tci;
  s.ip.version = av.version;
  s.ip.src = av.src_gid;
  s.ip.dst = av.dst_gid;
  s.ip.tos = static_cast<std::uint8_t>((av.traffic_class & 0xfc) | 0x02);  // ECT(0)
  s.ip.ttl = av.hop_limit;
  s.ip.flow_label = av.flow_label;
  // A fixed source port per QP (ECMP entropy, per-QP ordering) in 49152..65535.
  s.src_port = static_cast<std::uint16_t>(0xc000 | ((qp.qpn * 2654435761u) >> 18 & 0x3fff));
  s.udp_checksum = config_.udp_checksum;
  s.payload = {};
  s.trailer = {};
  // No MAC in the address vector: ARP / IPv6 ND finds it before the first packet (resolve_peer).
  // A UD QP has no peer: each WR's address handle names its destination and MAC.
  qp.peer_unresolved =
      qp.type != QpType::ud && port_.has_link_layer() && av.dst_mac == wire::MacAddr{};
}

bool Device::resolve_peer(Qp& qp) {
  const auto r = neighbours_.resolve(qp.attr.av.dst_gid, qp.attr.av.src_gid, now_);
  if (r.pending()) return false;
  if (r.failed()) {
    // Like a transport retry that ran out: the first WR fails, the QP goes to ERR, and the
    // event says which peer did not answer.
    const std::uint64_t first = qp.sq_una;
    if (first < qp.sq_head) {
      auto& w = qp.wqe(first);
      w.done = true;
      w.status = WcStatus::retry_exceeded_error;
    }
    enter_error(qp, AsyncEvent::Type::qp_fatal, true);
    events_.back().message = engine::resolution_error(qp.attr.av.dst_gid, r).message;
    return false;
  }
  qp.attr.av.dst_mac = r.mac;
  qp.tx_spec.eth.dst = r.mac;
  qp.tx_spec.eth.vlan_tci = r.vlan_tci;
  qp.peer_unresolved = false;
  return true;
}

void Device::answer_neighbour_frame(const wire::ParsedFrame& p) {
  Packet* reply = port_.alloc();
  if (!reply) {
    add(DeviceCounter::tx_drop_no_buffer);
    return;
  }
  const auto r = neighbours_.handle(p, now_, reply->room());
  if (r.reply_len == 0) {
    port_.free(reply);
    return;
  }
  reply->len = static_cast<std::uint32_t>(r.reply_len);
  tx_acks_only_ = false;
  tx_[tx_count_++] = reply;
  if (tx_count_ == kBurst) flush_tx();
}

void Device::send_neighbour_requests() {
  const std::uint64_t now = now_;
  if (!neighbours_.due(now)) return;
  constexpr std::size_t kMax = 8;
  std::array<Packet*, kMax> pkts{};
  std::array<engine::TxBuffer, kMax> bufs{};
  std::size_t have = 0;
  for (; have < kMax; ++have) {
    pkts[have] = port_.alloc();
    if (!pkts[have]) break;
    bufs[have].room = pkts[have]->room();
  }
  const std::size_t n = neighbours_.poll(now, std::span<engine::TxBuffer>(bufs.data(), have));
  for (std::size_t i = 0; i < have; ++i) {
    if (i >= n) {
      port_.free(pkts[i]);
      continue;
    }
    pkts[i]->len = static_cast<std::uint32_t>(bufs[i].len);
    tx_acks_only_ = false;
    tx_[tx_count_++] = pkts[i];
    if (tx_count_ == kBurst) flush_tx();
  }
}

Result<void> Device::modify_qp(Qp& qp, const QpAttrs& a, std::uint32_t mask) {
  if (tx_ext_queued_) flush_tx();  // RESET drops WQEs without completions: send what reads them
  using namespace verbs;
  const QpState to = (mask & kAttrState) ? a.state : qp.attr.state;
  if (auto r = validate_modify(qp.type, qp.attr.state, to, mask); !r) return r;
  if (mask & kAttrPathMtu) {
    if (a.pmtu != 256 && a.pmtu != 512 && a.pmtu != 1024 && a.pmtu != 2048 && a.pmtu != 4096)
      return make_error(Errc::invalid_argument, "path MTU must be 256, 512, 1024, 2048 or 4096");
    const bool v4 = engine::is_ipv4_mapped((mask & kAttrAv) ? a.av.dst_gid : qp.attr.av.dst_gid);
    const auto ver = v4 ? wire::IpVersion::v4 : wire::IpVersion::v6;
    if (a.pmtu > active_mtu(ver))
      return make_error(Errc::invalid_argument,
                        "path MTU " + std::to_string(a.pmtu) + " exceeds the active MTU " +
                            std::to_string(active_mtu(ver)) + " of this port over " + (v4 ? "IPv4" : "IPv6") +
                            ": the link MTU is " + std::to_string(port_.mtu()) + " and " +
                            std::to_string(a.pmtu) + " needs at least " +
                            std::to_string(a.pmtu + roce_overhead(ver)));
  }
  if ((mask & kAttrMaxRdAtomic) && a.max_rd_atomic > config_.limits.max_ord)
    return make_error(Errc::invalid_argument, "max_rd_atomic above the device's ORD limit");
  if ((mask & kAttrMaxDestRdAtomic) && a.max_dest_rd_atomic > config_.limits.max_ird)
    return make_error(Errc::invalid_argument, "max_dest_rd_atomic above the device's IRD limit");
  if ((mask & (kAttrRetryCnt)) && a.retry_cnt > 7) return make_error(Errc::invalid_argument, "retry_cnt is 0..7");
  if ((mask & (kAttrRnrRetry)) && a.rnr_retry > 7) return make_error(Errc::invalid_argument, "rnr_retry is 0..7");
  if ((mask & kAttrMinRnrTimer) && a.min_rnr_timer > 31) return make_error(Errc::invalid_argument, "min_rnr_timer is 0..31");
  if ((mask & kAttrTimeout) && a.timeout > 31) return make_error(Errc::invalid_argument, "timeout is 0..31");
  if ((mask & kAttrDestQpn) && (a.dest_qpn == 0 || a.dest_qpn > 0xffffff))
    return make_error(Errc::invalid_argument, "destination QPN must be 1..0xffffff");

  auto& A = qp.attr;
  if (mask & kAttrAccessFlags) A.access_flags = a.access_flags;
  if (mask & kAttrQkey) A.qkey = a.qkey;
  if (mask & kAttrAv) {
    // The GIDs say the IP version: IPv4-mapped (::ffff:a.b.c.d) is RoCEv2 over IPv4.
    const bool v4 = engine::is_ipv4_mapped(a.av.dst_gid);
    if (v4 != engine::is_ipv4_mapped(a.av.src_gid))
      return make_error(Errc::invalid_argument,
                        "address vector: source and destination GIDs must both be IPv4 or both IPv6");
    A.av = a.av;
    A.av.version = v4 ? wire::IpVersion::v4 : wire::IpVersion::v6;
  }
  if (mask & kAttrPathMtu) A.pmtu = a.pmtu;
  if (mask & kAttrDestQpn) A.dest_qpn = a.dest_qpn;
  if (mask & kAttrRqPsn) A.rq_psn = a.rq_psn;
  if (mask & kAttrSqPsn) A.sq_psn = a.sq_psn;
  if (mask & kAttrMaxRdAtomic) A.max_rd_atomic = std::max<std::uint8_t>(1, a.max_rd_atomic);
  if (mask & kAttrMaxDestRdAtomic) A.max_dest_rd_atomic = std::max<std::uint8_t>(1, a.max_dest_rd_atomic);
  if (mask & kAttrMinRnrTimer) A.min_rnr_timer = a.min_rnr_timer;
  if (mask & kAttrTimeout) A.timeout = a.timeout;
  if (mask & kAttrRetryCnt) A.retry_cnt = a.retry_cnt;
  if (mask & kAttrRnrRetry) A.rnr_retry = a.rnr_retry;

  const QpState from = A.state;
  A.state = to;
  if (to == QpState::sqd) qp.sq_drained_reported = false;
  if (to == QpState::rtr && from == QpState::init) {
    qp.epsn = A.rq_psn;
    qp.msn = 0;
    qp.nak_sent = false;
    qp.in_msg = Qp::InMsg::none;
    if (qp.type == QpType::ud) A.pmtu = A.pmtu ? A.pmtu : 1024;
    prepare_tx_spec(qp);
  }
  if (to == QpState::rts && from == QpState::rtr) {
    qp.next_psn = A.sq_psn;
    qp.retry_left = A.retry_cnt;
    qp.rnr_left = A.rnr_retry;
  }
  if ((mask & kAttrAv) && to != QpState::reset) prepare_tx_spec(qp);
  if (to == QpState::reset) {
    // Back to a fresh QP: everything queued is dropped without completions (IBA 10.3.1.1).
    std::uint64_t dropped = qp.sq_head - qp.sq_una;
    while (qp.sq_ring.try_pop()) ++dropped;
    while (qp.rq_ring.try_pop()) {
    }
    qp.note_retired(dropped);
    qp.sq_head = qp.sq_req = qp.sq_una = 0;
    qp.rd_atomic_outstanding = 0;
    qp.ack_deadline = qp.rnr_deadline = 0;
    qp.have_recv = false;
    qp.resp_head = qp.resp_tail = 0;
    for (auto& r : qp.resources) r = {};
  }
  qp.posted_state.store(to, std::memory_order_release);
  return {};
}

namespace {
bool opcode_allowed(QpType t, WrOpcode op) {
  switch (op) {
    case WrOpcode::send:
    case WrOpcode::send_with_imm: return true;
    case WrOpcode::send_with_inv:
    case WrOpcode::rdma_read:
    case WrOpcode::atomic_cmp_swap:
    case WrOpcode::atomic_fetch_add: return t == QpType::rc;
    case WrOpcode::rdma_write:
    case WrOpcode::rdma_write_with_imm: return t != QpType::ud;
    case WrOpcode::local_inv:
    case WrOpcode::fast_reg_mr:
    case WrOpcode::bind_mw: return t != QpType::ud;
  }
  return false;
}
}  // namespace

Result<void> Device::post_send(Qp& qp, const SendWr& wr) {
  const QpState st = qp.posted_state.load(std::memory_order_acquire);
  if (st == QpState::reset || st == QpState::init || st == QpState::rtr)
    return make_error(Errc::invalid_argument, "QP " + std::to_string(qp.qpn) + " is not ready to send (" +
                                                  std::string(verbs::to_string(st)) + ")");
  if (!opcode_allowed(qp.type, wr.opcode))
    return make_error(Errc::unsupported, "operation not supported on this QP type");
  if (wr.num_sge > qp.init.max_send_sge)
    return make_error(Errc::invalid_argument, "too many SGEs (max " + std::to_string(qp.init.max_send_sge) + ")");
  if (wr.flags & verbs::kInline) {
    if (wr.inline_len > qp.init.max_inline)
      return make_error(Errc::invalid_argument, "inline data larger than the QP's max inline");
  }
  const std::uint64_t len = (wr.flags & verbs::kInline) ? wr.inline_len : sge_total({wr.sg.data(), wr.num_sge});
  if (len > config_.limits.max_msg_size) return make_error(Errc::invalid_argument, "message too long");
  if (wr.opcode == WrOpcode::atomic_cmp_swap || wr.opcode == WrOpcode::atomic_fetch_add) {
    if (wr.num_sge != 1 || wr.sg[0].length != 8)
      return make_error(Errc::invalid_argument, "atomics take exactly one 8-byte SGE");
  }
  if (qp.type == QpType::ud) {
    if (!wr.ah) return make_error(Errc::invalid_argument, "UD sends need an address handle");
    if (len > qp.attr.pmtu) return make_error(Errc::invalid_argument, "UD message larger than the path MTU");
  }
  // Every WR not yet retired counts, wherever it is (posting ring or the engine's queue).
  const std::uint64_t posted = qp.sq_posted.load(std::memory_order_relaxed);
  if (posted - qp.sq_retired.load(std::memory_order_acquire) >= qp.init.sq_depth ||
      !qp.sq_ring.try_push(wr))
    return make_error(Errc::busy, "send queue full");
  qp.sq_posted.store(posted + 1, std::memory_order_release);
  return {};
}

Result<void> Device::post_recv(Qp& qp, const RecvWr& wr) {
  if (qp.srq) return make_error(Errc::invalid_argument, "QP uses a shared receive queue");
  if (qp.posted_state.load(std::memory_order_acquire) == QpState::reset)
    return make_error(Errc::invalid_argument, "QP is in RESET");
  if (wr.num_sge > qp.init.max_recv_sge)
    return make_error(Errc::invalid_argument, "too many SGEs (max " + std::to_string(qp.init.max_recv_sge) + ")");
  if (qp.rq_ring.size() >= qp.init.rq_depth || !qp.rq_ring.try_push(wr))
    return make_error(Errc::busy, "receive queue full");
  return {};
}

Result<void> Device::post_srq_recv(Srq& srq, const RecvWr& wr) {
  if (wr.num_sge > srq.max_sge) return make_error(Errc::invalid_argument, "too many SGEs");
  if (!srq.ring.try_push(wr)) return make_error(Errc::busy, "shared receive queue full");
  return {};
}

bool Device::send_packet(Qp& qp, const wire::Bth& bth, const wire::ExtHeaders& ext,
                         const TxPayload& pl, const AddressHandle* ud_dest) {
  Packet* p = port_.alloc();
  if (!p) {
    add(DeviceCounter::tx_drop_no_buffer);
    return false;
  }
  wire::RoceSpec local;
  wire::RoceSpec* s = &qp.tx_spec;
  if (ud_dest) {
    local = qp.tx_spec;
    local.eth.dst = ud_dest->dst_mac;
    local.eth.vlan_tci = ud_dest->vlan_tci;
    local.ip.version = ud_dest->version;
    local.ip.src = ud_dest->src_gid;
    local.ip.dst = ud_dest->dst_gid;
    local.ip.tos = static_cast<std::uint8_t>((ud_dest->traffic_class & 0xfc) | 0x02);
    local.ip.ttl = ud_dest->hop_limit;
    local.ip.flow_label = ud_dest->flow_label;
    s = &local;
  }
  s->bth = bth;
  s->ext = ext;
  if (bth.opcode != wire::kRcAcknowledge) tx_acks_only_ = false;
  // IPv4 identification 0 with DF (IP_PMTUDISC_DO): what a kernel UDP socket sends too, so a
  // socket port's peer computes the same ICRC (the ICRC covers the ID).
  s->ip.id = 0;
  auto l = wire::build_roce_headers(*s, pl.len, p->room());
  if (!l) {
    port_.free(p);
    add(DeviceCounter::tx_drop_no_buffer);
    return false;
  }
  ByteSpan room = p->room();
  if (pl.len >= zero_copy_min_ && pl.wqe && !(pl.wqe->wr.flags & verbs::kInline)) {
    // Zero-copy: the port reads the payload from registered memory inside tx_burst, which runs
    // before the WQE can complete (complete() flushes first), so the memory is still the WQE's.
    const std::byte* src = contiguous({pl.wqe->refs.data(), pl.wqe->wr.num_sge},
                                      {pl.wqe->wr.sg.data(), pl.wqe->wr.num_sge}, pl.offset, pl.len);
    if (src) {
      const std::size_t tail = wire::finish_roce_external(*s, *l, room, ConstByteSpan(src, pl.len),
                                                          std::span<std::byte, 8>(p->tail));
      if (tail != 0) {
        p->len = static_cast<std::uint32_t>(l->payload_off);
        p->ext = src;
        p->ext_len = pl.len;
        p->tail_len = static_cast<std::uint8_t>(tail);
        tx_ext_queued_ = true;
        add(DeviceCounter::tx_zero_copy);
        return queue_tx(qp, p);
      }
    }
  }
  if (pl.len) {
    ByteSpan dst = room.subspan(l->payload_off, pl.len);
    bool copied = true;
    if (pl.ref) {
      copied = verbs::MemoryTable::copy_out(*pl.ref, pl.offset, dst);
    } else if (pl.wqe->wr.flags & verbs::kInline) {
      std::memcpy(dst.data(), pl.wqe->wr.inline_data.data() + pl.offset, pl.len);
    } else {
      copied = gather({pl.wqe->refs.data(), pl.wqe->wr.num_sge}, {pl.wqe->wr.sg.data(), pl.wqe->wr.num_sge},
                      pl.offset, dst);
    }
    if (!copied) {
      // The memory went away since the callers' re-check (which ends the message with the error
      // it calls for): nothing of it leaves.
      port_.free(p);
      add(DeviceCounter::access_revoked);
      return false;
    }
  }
  wire::finish_roce(*s, *l, room);
  p->len = static_cast<std::uint32_t>(l->size);
  return queue_tx(qp, p);
}

bool Device::queue_tx(Qp& qp, Packet* p) {
  qp.counters.tx_packets++;
  qp.counters.tx_bytes += p->frame_len();
  add(DeviceCounter::tx_packets);
  add(DeviceCounter::tx_bytes, p->frame_len());
  tx_[tx_count_++] = p;
  if (tx_count_ == kBurst) flush_tx();
  return true;
}

void Device::flush_tx() {
  tx_ext_queued_ = false;
  if (tx_acks_held_ && !tx_acks_only_) {
    // The held ACKs go last: what this turn made (the reply) need not wait behind them.
    std::rotate(tx_.begin(), tx_.begin() + static_cast<std::ptrdiff_t>(tx_acks_held_count_),
                tx_.begin() + static_cast<std::ptrdiff_t>(tx_count_));
    add(DeviceCounter::tx_acks_coalesced);
  }
  tx_acks_only_ = true;
  tx_acks_held_ = false;
  if (tx_count_ == 0) return;
  const std::size_t sent = port_.tx_burst(std::span<Packet*>(tx_.data(), tx_count_));
  for (std::size_t i = sent; i < tx_count_; ++i) {
    port_.free(tx_[i]);  // the protocol recovers (RC retransmits; UC/UD lose the message)
    add(DeviceCounter::tx_drop_port_full);
  }
  tx_count_ = 0;
}

void Device::complete(verbs::Cq* cq, const verbs::Cqe& e, Qp& qp) {
  // A consumer that sees a completion may reuse or free the WQE's memory: frames still waiting
  // here that read it by reference go to the port first.
  if (tx_ext_queued_) flush_tx();
  if (cq->in_error()) return;
  if (!cq->push(e)) {
    // IBA 11.4.2.1: CQ overflow is an error of the CQ and of every QP that uses it.
    events_.push_back({AsyncEvent::Type::cq_error, 0, cq});
    add(DeviceCounter::async_events);
    for (Qp* q : live_qps_) {
      if (q->send_cq == cq || q->recv_cq == cq) enter_error(*q, AsyncEvent::Type::qp_fatal, q != &qp || true);
    }
  }
}

void Device::enter_error(Qp& qp, AsyncEvent::Type why, bool raise_event) {
  if (qp.attr.state == QpState::err) return;
  qp.attr.state = QpState::err;
  qp.posted_state.store(QpState::err, std::memory_order_release);
  qp.ack_deadline = qp.rnr_deadline = 0;
  if (raise_event) {
    events_.push_back({why, qp.qpn, &qp});
    add(DeviceCounter::async_events);
  }
}

void Device::flush_qp(Qp& qp) {
  // IBA 10.3.1.9 / 11.4.2.1: in ERR every outstanding and newly posted WR completes, in order,
  // with a flush status (the WR that caused the error keeps its own status).
  while (auto wr = qp.sq_ring.try_pop()) {
    if (qp.sq_head - qp.sq_una >= qp.sq.size()) {
      // No room to keep order: complete the oldest first.
      auto& w = qp.wqe(qp.sq_una++);
      qp.note_retired();
      verbs::Cqe e{w.wr.wr_id, w.done ? w.status : WcStatus::wr_flush_error, verbs::WcOpcode::send};
      e.qp_num = qp.qpn;
      complete(qp.send_cq, e, qp);
    }
    auto& w = qp.wqe(qp.sq_head++);
    w = SendWqe{};
    w.wr = *wr;
  }
  while (qp.sq_una < qp.sq_head) {
    auto& w = qp.wqe(qp.sq_una++);
    qp.note_retired();
    verbs::Cqe e{};
    e.wr_id = w.wr.wr_id;
    e.status = (w.done && w.status != WcStatus::success) ? w.status : WcStatus::wr_flush_error;
    if (w.done && w.status == WcStatus::success && !(w.wr.flags & verbs::kSignaled)) continue;
    if (w.done && w.status == WcStatus::success) e.status = WcStatus::success;
    e.qp_num = qp.qpn;
    complete(qp.send_cq, e, qp);
  }
  qp.sq_req = qp.sq_una;
  qp.rd_atomic_outstanding = 0;
  if (qp.have_recv) {
    qp.have_recv = false;
    verbs::Cqe e{qp.cur_recv.wr_id, WcStatus::wr_flush_error, verbs::WcOpcode::recv};
    e.qp_num = qp.qpn;
    complete(qp.recv_cq, e, qp);
  }
  if (!qp.srq) {
    while (auto wr = qp.rq_ring.try_pop()) {
      verbs::Cqe e{wr->wr_id, WcStatus::wr_flush_error, verbs::WcOpcode::recv};
      e.qp_num = qp.qpn;
      complete(qp.recv_cq, e, qp);
    }
  }
}

void Device::drain_posts(Qp& qp) {
  const QpState st = qp.attr.state;
  if (st != QpState::rts && st != QpState::sqd && st != QpState::sqe) return;
  while (qp.sq_head - qp.sq_una < qp.sq.size()) {
    auto& w = qp.wqe(qp.sq_head);
    if (!qp.sq_ring.try_pop_into(w.wr)) break;
    qp.sq_head++;
    w.reset_progress();
    const SendWr* wr = &w.wr;
    const bool inl = (wr->flags & verbs::kInline) != 0;
    w.length = inl ? wr->inline_len
                   : static_cast<std::uint32_t>(sge_total({wr->sg.data(), wr->num_sge}));
    const bool into_local = wr->opcode == WrOpcode::rdma_read ||
                            wr->opcode == WrOpcode::atomic_cmp_swap ||
                            wr->opcode == WrOpcode::atomic_fetch_add;
    if (!inl) {
      for (std::uint8_t i = 0; i < wr->num_sge; ++i) {
        auto r = memory_.check(wr->sg[i].lkey, qp.pd, wr->sg[i].addr, wr->sg[i].length,
                               into_local ? std::uint32_t{verbs::kLocalWrite} : 0u, qp.qpn);
        if (!r) {
          // IBA 10.8.3.3: a bad local key completes the WR in error and the QP goes to ERR.
          w.done = true;
          w.status = WcStatus::local_protection_error;
          break;
        }
        w.refs[i] = *r;
      }
    }
    const std::uint32_t pmtu = qp.attr.pmtu;
    switch (wr->opcode) {
      case WrOpcode::rdma_read: w.npkts = read_packets(w.length, pmtu); break;
      case WrOpcode::atomic_cmp_swap:
      case WrOpcode::atomic_fetch_add: w.npkts = 1; break;
      case WrOpcode::local_inv:
      case WrOpcode::fast_reg_mr:
      case WrOpcode::bind_mw: w.npkts = 0; break;
      default: w.npkts = read_packets(w.length, pmtu); break;
    }
  }
}

void Device::run_qp(Qp& qp) {
  if (qp.attr.state == QpState::err) {
    responder_transmit(*this, qp);  // the NAK that reports the error still goes out
    flush_qp(qp);
    return;
  }
  // An idle QP (nothing posted, nothing in flight, no response or timer pending) costs a few loads:
  // a device with hundreds of connected QPs polls them all every round.
  if (qp.sq_ring.empty() && qp.sq_una == qp.sq_head && qp.resp_count() == 0 && qp.ack_deadline == 0 &&
      qp.rnr_deadline == 0 && !qp.peer_unresolved && qp.attr.state != QpState::sqd)
    return;
  drain_posts(qp);
  if (qp.peer_unresolved && !resolve_peer(qp)) return;  // work waits; no timer runs meanwhile
  if (qp.type == QpType::rc) completer_timers(*this, qp);
  // SQD (IBA 10.3.1.4): WRs already started finish (retransmissions included), no new one starts.
  if (qp.attr.state == QpState::rts || qp.attr.state == QpState::sqd) requester_step(*this, qp);
  responder_transmit(*this, qp);
  completer_retire(*this, qp);
  if (qp.attr.state == QpState::sqd && !qp.sq_drained_reported) {
    bool started = false;
    for (std::uint64_t i = qp.sq_una; i < qp.sq_head && !started; ++i) started = qp.wqe(i).psn_assigned;
    if (!started) {
      qp.sq_drained_reported = true;
      events_.push_back({AsyncEvent::Type::sq_drained, qp.qpn, &qp});
      add(DeviceCounter::async_events);
    }
  }
}

void Device::receive(Packet* pkt) {
  add(DeviceCounter::rx_packets);
  add(DeviceCounter::rx_bytes, pkt->len);
  const bool unverifiable = (pkt->flags & Packet::kIcrcUnverifiable) != 0;
  auto r = wire::parse_owned_frame(pkt->bytes(), wire::ParseOptions{.drop_bad_icrc = !unverifiable});
  if (!r) {
    drops_.add(r.error());
    return;
  }
  if (unverifiable && !r->roce.icrc_ok) add(DeviceCounter::rx_icrc_unverified);
  const auto& p = *r;
  if (p.proto == wire::Proto::arp || p.proto == wire::Proto::nd) {
    answer_neighbour_frame(p);
    return;
  }
  if (p.proto != wire::Proto::roce_v4 && p.proto != wire::Proto::roce_v6) {
    add(DeviceCounter::rx_drop_not_roce);
    return;
  }
  const wire::Ipv6Addr dst = p.ip_version == 4 ? wire::ipv4_mapped(p.ipv4().dst()) : p.ipv6().dst();
  const wire::Ipv6Addr src = p.ip_version == 4 ? wire::ipv4_mapped(p.ipv4().src()) : p.ipv6().src();
  if (!gids_.is_ours(dst)) {
    add(DeviceCounter::rx_drop_not_our_address);
    return;
  }
  const auto bth = p.bth();
  const auto& op = p.op();
  Qp* qp = find_qp(bth.dest_qp().raw());
  if (op.op == wire::Op::cnp) {
    add(DeviceCounter::cnp_received);
    if (qp) qp->counters.cnps_rx++;
    return;
  }
  if (!qp) {
    add(DeviceCounter::rx_drop_unknown_qp);
    return;
  }
  const auto want = qp->type == QpType::rc ? wire::Transport::rc
                    : qp->type == QpType::uc ? wire::Transport::uc
                                             : wire::Transport::ud;
  if (op.transport != want) {
    add(DeviceCounter::rx_drop_wrong_transport);
    return;
  }
  const std::uint16_t pk = bth.pkey().raw, mine = qp->attr.pkey;
  if ((pk & 0x7fff) != (mine & 0x7fff) || !((pk | mine) & 0x8000)) {
    add(DeviceCounter::rx_drop_pkey);
    return;
  }
  const QpState st = qp->attr.state;
  if (st != QpState::rtr && st != QpState::rts && st != QpState::sqd && st != QpState::sqe) {
    add(DeviceCounter::rx_drop_qp_state);
    return;
  }
  if (qp->type != QpType::ud && src != qp->attr.av.dst_gid) {
    add(DeviceCounter::rx_drop_wrong_peer);  // rxe does the same: RC/UC peers are fixed
    return;
  }
  qp->counters.rx_packets++;
  qp->counters.rx_bytes += pkt->len;
  const std::uint8_t ecn = p.ip_version == 4 ? p.ipv4().ecn() : (p.ipv6().traffic_class() & 3);
  if (ecn == 3) {
    // RoCEv2 A17.9.3: a CE-marked packet makes the notification point send a CNP to the
    // sender's QP, at most one per QP per interval.
    const std::uint64_t now = now_;
    if (!qp->cnp_sent_once || now - qp->last_cnp_ns >= config_.cnp_interval_ns) {
      qp->cnp_sent_once = true;
      qp->last_cnp_ns = now;
      wire::Bth cnp{};
      cnp.opcode = wire::kCnpOpcode;
      cnp.resv8a = 0x40;  // BECN
      cnp.dest_qp = Qpn{qp->type == QpType::ud ? wire::deth_of(p).src_qp.raw() : qp->attr.dest_qpn};
      if (send_packet(*qp, cnp, {}, {})) {
        add(DeviceCounter::cnp_sent);
        qp->counters.cnps_tx++;
      }
    }
  }
  if (op.dir == wire::Dir::response) {
    if (st == QpState::rtr) {
      add(DeviceCounter::rx_drop_qp_state);
      return;
    }
    completer_receive(*this, *qp, p);
  } else {
    responder_receive(*this, *qp, p);
  }
}

void Device::submit(std::function<void(Device&)> op) { control_.submit(std::move(op)); }

std::uint64_t Device::next_deadline() const {
  constexpr std::uint64_t kRecheckNs = 1'000'000;
  std::uint64_t at = neighbours_.next_due();
  if (tx_count_ != 0) return now_;  // held acknowledgements: poll() reports them as work anyway
  for (const Qp* q : live_qps_) {
    const Qp& qp = *q;
    const bool timers_only = qp.sq_ring.empty() && qp.resp_count() == 0 && !qp.peer_unresolved &&
                             qp.attr.state != QpState::sqd && qp.attr.state != QpState::err;
    if (timers_only && qp.sq_una == qp.sq_head && qp.ack_deadline == 0 && qp.rnr_deadline == 0)
      continue;  // idle (run_qp's test)
    if (qp.ack_deadline != 0) at = std::min(at, qp.ack_deadline);
    if (qp.rnr_deadline != 0) at = std::min(at, qp.rnr_deadline);
    if (!timers_only || (qp.ack_deadline == 0 && qp.rnr_deadline == 0)) at = std::min(at, now_ + kRecheckNs);
  }
  return at;
}

std::size_t Device::poll() {
  now_ = clock_.now_ns();
  control_.run(*this);
  std::array<Packet*, kBurst> rx;
  const std::size_t n = port_.rx_burst(rx);
  for (std::size_t i = 0; i < n; ++i) {
    receive(rx[i]);
    port_.free(rx[i]);
  }
  const std::uint64_t before = counters_.get(DeviceCounter::tx_packets);
  for (std::size_t i = 0; i < live_qps_.size(); ++i) run_qp(*live_qps_[i]);
  send_neighbour_requests();
  std::size_t held = 0;
  if (config_.coalesce_acks && tx_count_ != 0 && tx_acks_only_ && !tx_acks_held_) {
    tx_acks_held_ = true;
    tx_acks_held_count_ = held = tx_count_;
  } else {
    flush_tx();
  }
  for (auto& cq : cqs_) cq->service();
  return n + held + (counters_.get(DeviceCounter::tx_packets) - before);
}

}  // namespace softrnic::roce
