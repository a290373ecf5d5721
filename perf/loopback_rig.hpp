// Two RoCEv2 devices on one in-process loopback wire, connected RC at PMTU 4096, polled by the
// calling thread: the rig of the engine benchmarks (roce_bench, revalidation_bench).
#pragma once

#include <memory>

#include "base/clock.hpp"
#include "fault/link_faults.hpp"
#include "loopback/loopback_port.hpp"
#include "roce/connect.hpp"
#include "roce/device.hpp"

namespace softrnic::perf {

using roce::Device;
using roce::Qp;

struct Rig {
  // fault_stage: each device sends through an idle fault stage (what consumer test mode puts on
  // every device), to measure what it costs when nothing is armed.
  explicit Rig(bool fault_stage = false) {
    transport::LoopbackConfig lc;
    lc.pool_packets = 4096;
    lc.rx_ring_packets = 2048;
    wire = *transport::LoopbackWire::create(lc);
    roce::DeviceConfig ca, cb;
    ca.mac = wire->a().mac();
    ca.gids = {wire::ipv4_mapped({198, 18, 0, 1})};
    cb.mac = wire->b().mac();
    cb.gids = {wire::ipv4_mapped({198, 18, 0, 2})};
    Port* port_a = &wire->a();
    Port* port_b = &wire->b();
    if (fault_stage) {
      stage_a = std::move(*transport::LinkFaultPort::create(wire->a(), {}, clock, true));
      stage_b = std::move(*transport::LinkFaultPort::create(wire->b(), {}, clock, true));
      port_a = stage_a.get();
      port_b = stage_b.get();
    }
    a = std::make_unique<Device>(*port_a, clock, ca);
    b = std::make_unique<Device>(*port_b, clock, cb);
    pa = *a->memory().alloc_pd();
    pb = *b->memory().alloc_pd();
    for (auto* d : {a.get(), b.get()}) {
      auto* s = *d->create_cq(65536);
      auto* r = *d->create_cq(65536);
      roce::QpInit init;
      init.pd = d == a.get() ? pa : pb;
      init.send_cq = s;
      init.recv_cq = r;
      init.sq_depth = 4096;
      init.rq_depth = 4096;
      (d == a.get() ? qa : qb) = *d->create_qp(init);
      (d == a.get() ? scq_a : scq_b) = s;
      (d == a.get() ? rcq_a : rcq_b) = r;
    }
    up(*a, *qa, *b, *qb);
    up(*b, *qb, *a, *qa);
  }

  void up(Device& d, Qp& q, Device& peer, Qp& pq) {
    roce::QpConnectOptions o;
    o.pmtu = 4096;
    o.access = verbs::kRemoteWrite | verbs::kRemoteRead;
    (void)roce::connect_qp(d, q, d.config().gids[0],
                           {pq.qpn, Psn{}, peer.config().gids[0], peer.config().mac}, o);
  }

  void poll() {
    a->poll();
    b->poll();
  }

  SteadyClock clock;
  std::unique_ptr<transport::LoopbackWire> wire;
  std::unique_ptr<transport::LinkFaultPort> stage_a, stage_b;
  std::unique_ptr<Device> a, b;
  verbs::PdHandle pa = 0, pb = 0;
  Qp* qa = nullptr;
  Qp* qb = nullptr;
  verbs::Cq *scq_a = nullptr, *scq_b = nullptr, *rcq_a = nullptr, *rcq_b = nullptr;
};

}  // namespace softrnic::perf
