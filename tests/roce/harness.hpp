// Two soft RoCE devices joined by a wire, with the QP plumbing every RoCE test needs.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "base/clock.hpp"
#include "roce/device.hpp"

namespace softrnic::roce::test {

// The simplest possible wire: two FIFOs and a buffer pool. A hook can drop or alter frames.
class PipeWire {
 public:
  class End final : public Port {
   public:
    End(PipeWire& w, int side) : w_(w), side_(side) {}
    std::size_t rx_burst(std::span<Packet*> out) override {
      auto& q = w_.q_[side_];
      std::size_t n = 0;
      while (n < out.size() && !q.empty()) {
        out[n++] = q.front();
        q.pop_front();
      }
      return n;
    }
    std::size_t tx_burst(std::span<Packet*> pkts) override {
      for (Packet* p : pkts) {
        if (p->has_ext()) {
          // The payload by reference is read here and never later (Port's promise).
          if (w_.on_ext_tx) w_.on_ext_tx(side_, *p);
          flatten(*p);
        }
        if (w_.filter && !w_.filter(side_, *p)) {
          free(p);
          continue;
        }
        w_.q_[1 - side_].push_back(p);
      }
      return pkts.size();
    }
    Packet* alloc() override {
      if (w_.free_.empty()) return nullptr;
      Packet* p = w_.free_.back();
      w_.free_.pop_back();
      p->len = 0;
      p->clear_ext();
      return p;
    }
    std::uint32_t zero_copy_min() const override { return w_.zero_copy_min; }
    void free(Packet* p) override { w_.free_.push_back(p); }
    std::uint32_t mtu() const override { return w_.mtu[side_]; }
    wire::MacAddr mac() const override { return {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(side_ + 1)}; }

   private:
    PipeWire& w_;
    int side_;
  };

  explicit PipeWire(std::size_t buffers = 4096, std::uint32_t zero_copy = 0)
      : zero_copy_min(zero_copy) {
    storage_.resize(buffers);
    for (auto& s : storage_) {
      s.bytes.resize(4352);
      s.pkt.data = s.bytes.data();
      s.pkt.capacity = static_cast<std::uint32_t>(s.bytes.size());
      free_.push_back(&s.pkt);
    }
  }
  End a{*this, 0};
  End b{*this, 1};
  // Puts a frame on the wire as if `side` had sent it (for hand-made packets).
  void inject(int side, ConstByteSpan frame) {
    Packet* p = free_.back();
    free_.pop_back();
    std::memcpy(p->data, frame.data(), frame.size());
    p->len = static_cast<std::uint32_t>(frame.size());
    q_[1 - side].push_back(p);
  }
  // Return false to drop the frame (side = sender).
  std::function<bool(int side, Packet& p)> filter;
  std::uint32_t mtu[2] = {4200, 4200};  // link MTU of each end
  // Set before the devices are made: payloads of at least this many bytes come by reference
  // (0: never), and on_ext_tx sees each such frame as tx_burst takes it.
  std::uint32_t zero_copy_min = 0;
  std::function<void(int side, const Packet& p)> on_ext_tx;
  std::size_t free_buffers() const { return free_.size(); }

 private:
  struct Slot {
    std::vector<std::byte> bytes;
    Packet pkt;
  };
  std::vector<Slot> storage_;
  std::vector<Packet*> free_;
  std::deque<Packet*> q_[2];
};

inline wire::Ipv6Addr gid_v4(std::uint8_t last) { return wire::ipv4_mapped({198, 18, 0, last}); }
inline wire::Ipv6Addr gid_v6(std::uint8_t last) {
  return {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
}

struct Endpoint {
  std::unique_ptr<Device> dev;
  verbs::PdHandle pd = 0;
  verbs::Cq* scq = nullptr;
  verbs::Cq* rcq = nullptr;
  Qp* qp = nullptr;
};

class TwoDevices {
 public:
  explicit TwoDevices(Port& pa, Port& pb, VirtualClock& clock,
                      wire::IpVersion ip = wire::IpVersion::v4)
      : clock_(clock), ip_(ip) {
    DeviceConfig ca, cb;
    ca.mac = pa.mac();
    ca.gids = {ip == wire::IpVersion::v4 ? gid_v4(1) : gid_v6(1)};
    cb.mac = pb.mac();
    cb.gids = {ip == wire::IpVersion::v4 ? gid_v4(2) : gid_v6(2)};
    a.dev = std::make_unique<Device>(pa, clock, ca);
    b.dev = std::make_unique<Device>(pb, clock, cb);
    for (Endpoint* e : {&a, &b}) {
      e->pd = *e->dev->memory().alloc_pd();
      e->scq = *e->dev->create_cq(4096);
      e->rcq = *e->dev->create_cq(4096);
    }
  }

  // Creates QPs of type t on both sides and brings them to RTS, connected to each other.
  // srq_b, when given, becomes the shared receive queue of B's QP.
  void connect(verbs::QpType t, std::uint32_t pmtu, QpInit init = {}, QpAttrs extra = {},
               Srq* srq_b = nullptr) {
    for (Endpoint* e : {&a, &b}) {
      init.type = t;
      init.srq = e == &b ? srq_b : nullptr;
      init.pd = e->pd;
      init.send_cq = e->scq;
      init.recv_cq = e->rcq;
      e->qp = *e->dev->create_qp(init);
    }
    bring_up(a, b, t, pmtu, extra);
    bring_up(b, a, t, pmtu, extra);
  }

  // Runs both engines, advancing the virtual clock by step_ns per round, until pred() or max rounds.
  bool run_until(const std::function<bool()>& pred, int max_rounds = 200000, std::uint64_t step_ns = 1000) {
    for (int i = 0; i < max_rounds; ++i) {
      if (pred()) return true;
      const auto w = a.dev->poll() + b.dev->poll();
      if (w == 0) clock_.advance(step_ns);
    }
    return pred();
  }

  std::vector<verbs::Cqe> drain(verbs::Cq* cq) {
    std::vector<verbs::Cqe> out;
    std::array<verbs::Cqe, 64> buf;
    while (auto n = cq->poll(buf)) out.insert(out.end(), buf.begin(), buf.begin() + n);
    return out;
  }

  Endpoint a, b;
  bool resolve_macs = false;  // leave the peer's MAC out of the address vectors

 private:
  void bring_up(Endpoint& me, Endpoint& peer, verbs::QpType t, std::uint32_t pmtu, const QpAttrs& extra) {
    using namespace verbs;
    QpAttrs x = extra;
    x.state = QpState::init;
    x.access_flags = extra.access_flags ? extra.access_flags : (kRemoteWrite | kRemoteRead | kRemoteAtomic);
    x.qkey = 0x11111111;
    std::uint32_t m = kAttrState | kAttrPkeyIndex | kAttrPort |
                      (t == QpType::ud ? kAttrQkey : kAttrAccessFlags);
    ASSERT_TRUE(me.dev->modify_qp(*me.qp, x, m));
    x.state = QpState::rtr;
    x.pmtu = pmtu;
    x.av.version = ip_;
    x.av.src_gid = me.dev->config().gids[0];
    x.av.dst_gid = peer.dev->config().gids[0];
    if (!resolve_macs) x.av.dst_mac = peer.dev->config().mac;  // else ARP / ND finds it
    x.dest_qpn = peer.qp->qpn;
    x.rq_psn = Psn{0x100 * peer.qp->qpn + 7};
    if (t == QpType::rc) {
      m = kAttrState | kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn | kAttrMaxDestRdAtomic |
          kAttrMinRnrTimer;
      x.max_dest_rd_atomic = extra.max_dest_rd_atomic ? extra.max_dest_rd_atomic : 16;
    } else if (t == QpType::uc) {
      m = kAttrState | kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn;
    } else {
      m = kAttrState;
      me.qp->attr.pmtu = pmtu;
      me.qp->attr.av = x.av;
    }
    ASSERT_TRUE(me.dev->modify_qp(*me.qp, x, m));
    x.state = QpState::rts;
    x.sq_psn = Psn{0x100 * me.qp->qpn + 7};
    x.max_rd_atomic = extra.max_rd_atomic ? extra.max_rd_atomic : 16;
    m = t == QpType::rc ? kAttrState | kAttrSqPsn | kAttrTimeout | kAttrRetryCnt | kAttrRnrRetry | kAttrMaxRdAtomic
                        : kAttrState | kAttrSqPsn;
    ASSERT_TRUE(me.dev->modify_qp(*me.qp, x, m));
  }

  VirtualClock& clock_;
  wire::IpVersion ip_;
};

}  // namespace softrnic::roce::test
