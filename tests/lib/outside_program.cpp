// An outside program built only from the installed headers and `pkg-config softrnic`: two soft
// RoCE devices over the in-memory wire, one RC SEND.
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/clock.hpp"
#include "loopback/loopback_port.hpp"
#include "roce/connect.hpp"
#include "roce/device.hpp"

using namespace softrnic;

int main() {
  auto wire = *transport::LoopbackWire::create({});
  SteadyClock clock;
  roce::DeviceConfig ca, cb;
  ca.mac = wire->a().mac();
  ca.gids = {wire::ipv4_mapped({198, 18, 0, 1})};
  cb.mac = wire->b().mac();
  cb.gids = {wire::ipv4_mapped({198, 18, 0, 2})};
  roce::Device a(wire->a(), clock, ca), b(wire->b(), clock, cb);
  roce::Qp* qp[2];
  verbs::Cq* cq[2];
  verbs::PdHandle pd[2];
  roce::Device* dev[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    pd[i] = *dev[i]->memory().alloc_pd();
    cq[i] = *dev[i]->create_cq(16);
    roce::QpInit init;
    init.pd = pd[i];
    init.send_cq = init.recv_cq = cq[i];
    qp[i] = *dev[i]->create_qp(init);
  }
  for (int i = 0; i < 2; ++i) {
    const roce::QpPeer peer{qp[1 - i]->qpn, Psn{}, dev[1 - i]->config().gids[0], dev[1 - i]->config().mac};
    if (!roce::connect_qp(*dev[i], *qp[i], dev[i]->config().gids[0], peer)) return 1;
  }
  std::vector<std::byte> src(32, std::byte{'x'}), dst(32);
  const auto lk = *a.memory().register_mr(pd[0], src.data(), 32, 0, verbs::kZeroBased);
  const auto rk = *b.memory().register_mr(pd[1], dst.data(), 32, 0, verbs::kLocalWrite | verbs::kZeroBased);
  roce::RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {0, 32, rk};
  if (!b.post_recv(*qp[1], r)) return 1;
  roce::SendWr s;
  s.opcode = verbs::WrOpcode::send;
  s.flags = verbs::kSignaled;
  s.num_sge = 1;
  s.sg[0] = {0, 32, lk};
  if (!a.post_send(*qp[0], s)) return 1;
  std::array<verbs::Cqe, 4> c;
  for (int i = 0; i < 100000 && cq[1]->size() == 0; ++i) {
    a.poll();
    b.poll();
  }
  if (cq[1]->poll(c) != 1 || c[0].status != verbs::WcStatus::success || dst != src) {
    std::puts("outside program: the SEND did not arrive");
    return 1;
  }
  std::puts("outside program: SEND arrived through the installed library");
  return 0;
}
