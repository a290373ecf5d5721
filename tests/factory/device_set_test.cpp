// Devices built from specs: a loopback pair and a DPDK net_ring pair carry an RC WRITE; specs that
// cannot be built say which device and why.
#include "factory/device_set.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "roce/connect.hpp"

namespace softrnic::transport {
namespace {

bool write_between(roce::Device& a, roce::Device& b, std::size_t size = 3000) {
  using namespace verbs;
  roce::Qp* qp[2];
  Cq* cq[2];
  PdHandle pd[2];
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
    // No MAC in the peer: ARP / ND finds it.
    roce::QpConnectOptions o;
    o.access = kRemoteWrite;
    if (auto r = roce::connect_qp(*dev[i], *qp[i], dev[i]->config().gids[0],
                                  {qp[1 - i]->qpn, Psn{}, dev[1 - i]->config().gids[0], {}}, o);
        !r) {
      ADD_FAILURE() << r.error().message;
      return false;
    }
  }
  std::vector<std::byte> src(size), dst(size);
  for (std::size_t i = 0; i < size; ++i) src[i] = std::byte(i * 7 + 1);
  const auto lk = *a.memory().register_mr(pd[0], src.data(), src.size(), 0, kZeroBased);
  const auto rk = *b.memory().register_mr(pd[1], dst.data(), dst.size(), 0, kLocalWrite | kRemoteWrite | kZeroBased);
  roce::SendWr w;
  w.opcode = WrOpcode::rdma_write;
  w.flags = kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, static_cast<std::uint32_t>(size), lk};
  w.rkey = rk;
  if (auto r = a.post_send(*qp[0], w); !r) {
    ADD_FAILURE() << r.error().message;
    return false;
  }
  std::array<Cqe, 1> c;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (cq[0]->poll(c) == 0 && std::chrono::steady_clock::now() < deadline) {
    a.poll();
    b.poll();
  }
  EXPECT_EQ(c[0].status, WcStatus::success) << to_string(c[0].status);
  return c[0].status == WcStatus::success && dst == src;
}

std::vector<DeviceSpec> specs(std::initializer_list<const char*> texts) {
  std::vector<DeviceSpec> out;
  for (const char* t : texts) out.push_back(*parse_device_spec(t));
  return out;
}

TEST(DeviceSet, LoopbackPairFromSpecsCarriesAWrite) {
  SteadyClock clock;
  DeviceSet set;
  auto r = set.build(specs({"name=srn0,port=loopback:peer=srn1,ip6=fd00:5052::1/64",
                            "name=srn1,port=loopback:peer=srn0,ip6=fd00:5052::2/64"}),
                     clock);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_NE(set.device("srn0"), nullptr);
  ASSERT_NE(set.device("srn1"), nullptr);
  EXPECT_TRUE(write_between(*set.device("srn0"), *set.device("srn1")));
}

TEST(DeviceSet, DpdkRingPairFromSpecsCarriesAWrite) {
  SteadyClock clock;
  DeviceSet set;
  auto r = set.build(specs({"name=r0,port=ring:peer=r1,ip4=198.18.0.1/24",
                            "name=r1,port=ring:peer=r0,ip4=198.18.0.2/24"}),
                     clock);
  if (!r && r.error().message.find("EAL") != std::string::npos) GTEST_SKIP() << "SKIPPED: " << r.error().message;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(write_between(*set.device("r0"), *set.device("r1")));
}

// A socket port's MTU follows the interface holding its address, except on loopback (whose 64 KiB
// says nothing about a link): there it keeps 1500. mtu= overrides both. (The link case runs in
// tests/ports/twoproc_veth_test.sh on a 4200-byte veth.)
TEST(DeviceSet, SocketPortOnLoopbackKeepsTheDefaultMtuUnlessTheSpecNamesOne) {
  SteadyClock clock;
  const int port = 40000 + static_cast<int>(getpid() % 20000);
  DeviceSet plain;
  auto r = plain.build(specs({("name=u,port=uring,ip4=127.0.0.1/8,udp_port=" + std::to_string(port)).c_str()}),
                       clock);
  if (!r && r.error().message.find("io_uring") != std::string::npos) GTEST_SKIP() << "SKIPPED: " << r.error().message;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(plain.port("u")->mtu(), 1500u);
  DeviceSet named;
  r = named.build(
      specs({("name=v,port=uring,ip4=127.0.0.1/8,mtu=4000,udp_port=" + std::to_string(port + 1)).c_str()}),
      clock);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(named.port("v")->mtu(), 4000u);
}

// faults= puts seeded loss on both directions of srn0's port: the write still arrives intact,
// through retransmissions, and the losses are counted on the control path's port counters.
TEST(DeviceSet, FaultsInTheSpecLoseFramesAndTheTransportRecovers) {
  SteadyClock clock;
  DeviceSet set;
  auto r = set.build(specs({"name=srn0,port=loopback:peer=srn1,ip4=198.18.0.1/24,faults=loss=0.05:dir=both:seed=5",
                            "name=srn1,port=loopback:peer=srn0,ip4=198.18.0.2/24"}),
                     clock);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(write_between(*set.device("srn0"), *set.device("srn1"), 256 * 1024));
  EXPECT_GT(set.device("srn0")->counters().get(roce::DeviceCounter::retransmits), 0u)
      << "loss on the wire shows as retransmissions";
}

// remove() takes a device and its control socket away and leaves the others as they were; one end
// of a loopback pair takes the other with it. A name freed so can be built again.
TEST(DeviceSet, RemoveStopsOnlyTheNamedDevicesAndAPairAsAWhole) {
  SteadyClock clock;
  char tmpl[] = "/tmp/softrnic-set.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  DeviceSetOptions o;
  o.control_sockets = true;
  o.control_dir = dir;
  DeviceSet set(o);
  auto r = set.build(specs({"name=p0,port=loopback:peer=p1,ip4=198.18.0.1/24",
                            "name=p1,port=loopback:peer=p0,ip4=198.18.0.2/24",
                            "name=s0,port=loopback:peer=s1,ip4=198.18.1.1/24",
                            "name=s1,port=loopback:peer=s0,ip4=198.18.1.2/24"}),
                     clock);
  ASSERT_TRUE(r) << r.error().message;
  roce::Device* kept = set.device("s0");
  const std::string kept_socket = set.control_socket("s0");
  ASSERT_EQ(access((dir + "/p0.sock").c_str(), F_OK), 0);

  EXPECT_EQ(set.remove({"p0", "nosuch"}), (std::vector<std::string>{"p0", "p1"}));
  EXPECT_EQ(set.device("p0"), nullptr);
  EXPECT_EQ(set.device("p1"), nullptr);
  EXPECT_NE(access((dir + "/p0.sock").c_str(), F_OK), 0) << "the socket file goes with the device";
  EXPECT_NE(access((dir + "/p1.sock").c_str(), F_OK), 0);
  EXPECT_EQ(set.control_socket("p0"), "");
  EXPECT_EQ(set.device("s0"), kept) << "the others are untouched";
  EXPECT_EQ(set.control_socket("s0"), kept_socket);
  EXPECT_TRUE(write_between(*set.device("s0"), *set.device("s1")));

  r = set.build(specs({"name=p0,port=loopback:peer=p1,ip4=198.18.0.1/24",
                       "name=p1,port=loopback:peer=p0,ip4=198.18.0.2/24"}),
                clock);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(access((dir + "/p1.sock").c_str(), F_OK), 0);
  EXPECT_TRUE(write_between(*set.device("p0"), *set.device("p1")));
  EXPECT_EQ(set.names(), (std::vector<std::string>{"s0", "s1", "p0", "p1"}));
  set.remove({"s1", "p1"});
  EXPECT_TRUE(set.names().empty());
  rmdir(dir.c_str());
}

// What an idle engine thread waits on: a uring port has an fd, a loopback port none (short sleeps);
// a set with nothing pending has no deadline.
TEST(DeviceSet, WaitFdsAndDeadlinesForAnEngineThreadThatSleeps) {
  SteadyClock clock;
  const int port = 40000 + static_cast<int>((getpid() + 7) % 20000);
  DeviceSet udp;
  auto r = udp.build(specs({("name=u,port=uring,ip4=127.0.0.1/8,udp_port=" + std::to_string(port)).c_str()}), clock);
  if (!r && r.error().message.find("io_uring") != std::string::npos) GTEST_SKIP() << "SKIPPED: " << r.error().message;
  ASSERT_TRUE(r) << r.error().message;
  std::vector<int> fds;
  EXPECT_TRUE(udp.wait_fds(fds));
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_GE(fds[0], 0);
  udp.device("u")->poll();
  EXPECT_EQ(udp.next_deadline(), UINT64_MAX) << "nothing pending on an idle device";

  DeviceSet loop;
  r = loop.build(specs({"name=l0,port=loopback:peer=l1,ip4=198.18.0.1/24",
                        "name=l1,port=loopback:peer=l0,ip4=198.18.0.2/24"}),
                 clock);
  ASSERT_TRUE(r) << r.error().message;
  fds.clear();
  EXPECT_FALSE(loop.wait_fds(fds)) << "a loopback port has nothing to wait on";
  EXPECT_TRUE(fds.empty());
  loop.device("l0")->poll();
  loop.device("l1")->poll();
  EXPECT_EQ(loop.next_deadline(), UINT64_MAX);
}

TEST(DeviceSet, SpecsThatCannotBeBuiltNameTheDeviceAndTheReason) {
  SteadyClock clock;
  DeviceSet set;
  auto r = set.build(specs({"name=lonely,port=loopback:peer=ghost,ip4=198.18.0.1/24"}), clock);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("device lonely: peer ghost must be given too"), std::string::npos)
      << r.error().message;
  r = set.build(specs({"name=u,port=uring"}), clock);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("port=uring needs ip4= or ip6="), std::string::npos) << r.error().message;
  r = set.build(specs({"name=p,port=pci:0000:03:00.0"}), clock);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unsupported);
  EXPECT_TRUE(set.names().empty()) << "nothing of a failed build is kept";
}

}  // namespace
}  // namespace softrnic::transport
