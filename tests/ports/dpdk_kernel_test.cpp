// DpdkPort on kernel interfaces, inside a network namespace each test makes and removes itself:
// net_af_packet on the two ends of a veth pair, and net_tap. The frames are raw Ethernet with a
// local-experimental EtherType; the namespace has IPv6 turned off and no addresses, so nothing
// else travels there. Skipped (saying why) where namespaces cannot be made (not root, no `ip`).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "dpdk/dpdk_port.hpp"
#include "dpdk_fixture.hpp"
#include "test_frames.hpp"

namespace softrnic::transport {
namespace {

using softrnic::test::frame_is_intact;
using softrnic::test::kLocalExperimentalEthertype;
using softrnic::test::make_frame;
using softrnic::test::seq_of;
using test::DpdkTest;

bool run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// A network namespace of this test, removed (with everything in it) on destruction.
class TestNamespace {
 public:
  explicit TestNamespace(const std::string& tag)
      : name_("softrnic-dpdk-" + std::to_string(getpid()) + "-" + tag) {
    if (geteuid() != 0) {
      error_ = "network namespaces need root";
      return;
    }
    if (!run("ip netns add " + name_)) {
      error_ = "`ip netns add " + name_ + "` failed";
      return;
    }
    created_ = true;
    // Before any interface exists, so none gets an IPv6 link-local address and talks.
    if (!sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1") ||
        !sh("sysctl -qw net.ipv6.conf.default.disable_ipv6=1")) {
      error_ = "could not turn IPv6 off in " + name_;
    }
  }
  ~TestNamespace() {
    if (created_) (void)run("ip netns del " + name_);
  }
  TestNamespace(const TestNamespace&) = delete;
  TestNamespace& operator=(const TestNamespace&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

  // Runs a shell command inside the namespace.
  bool sh(const std::string& command) const {
    return run("ip netns exec " + name_ + " " + command);
  }

  // Runs f with this thread inside the namespace: the PMDs open their sockets and tap devices
  // there, and keep using them from anywhere afterwards.
  bool inside(const std::function<void()>& f) const {
    const int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int ns = ::open(("/var/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    bool entered = self >= 0 && ns >= 0 && ::setns(ns, CLONE_NEWNET) == 0;
    if (entered) {
      f();
      entered = ::setns(self, CLONE_NEWNET) == 0;
    }
    if (self >= 0) ::close(self);
    if (ns >= 0) ::close(ns);
    return entered;
  }

 private:
  std::string name_;
  std::string error_;
  bool created_ = false;
};

// Receives until `count` test frames arrived (other frames are freed unseen) or 2 s passed.
std::uint32_t receive_test_frames(DpdkPort& port, std::uint32_t first, std::uint32_t count,
                                  std::uint32_t len) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::uint32_t next = first;
  std::array<Packet*, kBurst> burst{};
  while (next < first + count && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = port.rx_burst(burst);
    if (n == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    for (std::size_t i = 0; i < n; ++i) {
      Packet& p = *burst[i];
      if (p.len >= 18 && load_be16(p.bytes(), 12) == kLocalExperimentalEthertype) {
        EXPECT_EQ(seq_of(p), next);
        EXPECT_TRUE(frame_is_intact(p, next, len)) << "frame " << next;
        ++next;
      }
      port.free(&p);
    }
  }
  return next - first;
}

// by_reference: each frame's middle is given by reference (Packet::ext), as zero copy does.
void send_test_frames(DpdkPort& port, std::uint32_t first, std::uint32_t count, std::uint32_t len,
                      bool by_reference = false) {
  for (std::uint32_t done = 0; done < count; done += kBurst) {
    std::array<Packet*, kBurst> burst{};
    std::array<std::vector<std::byte>, kBurst> backing;
    const std::uint32_t n = std::min<std::uint32_t>(kBurst, count - done);
    for (std::uint32_t i = 0; i < n; ++i) {
      burst[i] = by_reference
                     ? softrnic::test::make_frame_by_reference(port, first + done + i, len, backing[i])
                     : make_frame(port, first + done + i, len);
    }
    std::size_t sent = 0;
    // A kernel socket's ring can be momentarily full: offer the rest again.
    for (int tries = 0; sent < n && tries < 1000; ++tries) {
      sent += port.tx_burst(std::span<Packet*>(burst.data() + sent, n - sent));
      if (sent < n) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    for (std::size_t i = sent; i < n; ++i) port.free(burst[i]);
    ASSERT_EQ(sent, n);
    // The port promised not to read the payloads after tx_burst: make any late read visible.
    for (auto& b : backing) std::fill(b.begin(), b.end(), std::byte{0xee});
  }
}

bool wait_link_up(const DpdkPort& port) {
  for (int i = 0; i < 2000 && !port.link_up(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return port.link_up();
}

// net_af_packet<first> and <first + 1> on the ends va and vb of a veth pair the caller made in ns.
struct AfPacketPorts {
  Result<std::unique_ptr<DpdkPort>> a = make_error(Errc::not_found, "not created");
  Result<std::unique_ptr<DpdkPort>> b = make_error(Errc::not_found, "not created");
};
AfPacketPorts af_packet_ports(const TestNamespace& ns, int first) {
  AfPacketPorts p;
  if (!ns.inside([&] {
        p.a = DpdkPort::create_vdev("net_af_packet" + std::to_string(first) + ",iface=va");
        p.b = DpdkPort::create_vdev("net_af_packet" + std::to_string(first + 1) + ",iface=vb");
      })) {
    p.a = make_error(Errc::io_error, "could not enter or leave namespace " + ns.name());
    p.b = make_error(Errc::io_error, "could not enter or leave namespace " + ns.name());
  }
  return p;
}

TEST_F(DpdkTest, AfPacketPortsOnAVethPairMoveFramesBothWays) {
  TestNamespace ns("afp");
  if (!ns.ok()) GTEST_SKIP() << "SKIPPED: " << ns.error();
  ASSERT_TRUE(
      ns.sh("ip link add va address 02:00:00:00:00:0a type veth peer name vb address "
            "02:00:00:00:00:0b"));
  ASSERT_TRUE(ns.sh("ip link set va up"));
  ASSERT_TRUE(ns.sh("ip link set vb up"));

  auto [a, b] = af_packet_ports(ns, 10);
  ASSERT_TRUE(a) << a.error().to_string();
  ASSERT_TRUE(b) << b.error().to_string();
  DpdkPort& pa = **a;
  DpdkPort& pb = **b;
  EXPECT_EQ(pa.mac(), (wire::MacAddr{0x02, 0, 0, 0, 0, 0x0a}));  // the interface's own
  EXPECT_EQ(pb.mac(), (wire::MacAddr{0x02, 0, 0, 0, 0, 0x0b}));
  EXPECT_EQ(pa.mtu(), 1500u);
  ASSERT_TRUE(wait_link_up(pa) && wait_link_up(pb));

  for (std::uint32_t round = 0; round < 4; ++round) {
    send_test_frames(pa, 100 * round, 32, 60 + 400 * round);
    EXPECT_EQ(receive_test_frames(pb, 100 * round, 32, 60 + 400 * round), 32u);
    send_test_frames(pb, 100 * round, 32, 1514);
    EXPECT_EQ(receive_test_frames(pa, 100 * round, 32, 1514), 32u);
  }
  EXPECT_EQ(pa.counters().get(DpdkCounter::tx_packets), 128u);

  // Zero copy: af_packet copies a chain into its ring inside tx_burst.
  EXPECT_EQ(pa.zero_copy_min(), DpdkPortConfig{}.zero_copy_min);
  for (std::uint32_t len : {46u, 1025u, 1514u}) {
    send_test_frames(pa, 1000 + len, 32, len, true);
    EXPECT_EQ(receive_test_frames(pb, 1000 + len, 32, len), 32u) << len;
  }
  EXPECT_EQ(pa.counters().get(DpdkCounter::tx_zero_copy), 96u);
  EXPECT_EQ(pa.counters().get(DpdkCounter::tx_ext_held), 0u);
  EXPECT_EQ(pa.zero_copy_min(), DpdkPortConfig{}.zero_copy_min) << "still on";
  a->reset();
  b->reset();
}

// ethdev holds af_packet at MTU 1500, but the port follows a larger MTU of its interface: a
// 4200-byte veth carries whole 4214-byte untagged frames (RoCE's 4096-byte path MTU).
TEST_F(DpdkTest, AfPacketFollowsTheInterfacesMtuAbove1500) {
  TestNamespace ns("afpj");
  if (!ns.ok()) GTEST_SKIP() << "SKIPPED: " << ns.error();
  ASSERT_TRUE(ns.sh("ip link add va mtu 4200 type veth peer name vb mtu 4200"));
  ASSERT_TRUE(ns.sh("ip link set va up"));
  ASSERT_TRUE(ns.sh("ip link set vb up"));
  auto [a, b] = af_packet_ports(ns, 30);
  Result<std::unique_ptr<DpdkPort>> pinned = make_error(Errc::not_found, "not created");
  ASSERT_TRUE(a) << a.error().to_string();
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ((*a)->mtu(), 4200u);
  EXPECT_EQ((*b)->max_frame(), 4218u);
  ASSERT_TRUE(wait_link_up(**a) && wait_link_up(**b));
  for (std::uint32_t len : {60u, 1514u, 3000u, 4214u}) {
    send_test_frames(**a, len, 32, len);
    EXPECT_EQ(receive_test_frames(**b, len, 32, len), 32u) << len;
    send_test_frames(**b, len, 32, len);
    EXPECT_EQ(receive_test_frames(**a, len, 32, len), 32u) << len;
  }
  a->reset();
  b->reset();
  // Mbufs smaller than the interface's frames: the port's MTU is what they hold.
  DpdkPortConfig small;
  small.frame_room = 2048;
  ASSERT_TRUE(ns.inside([&] { pinned = DpdkPort::create_vdev("net_af_packet32,iface=va", small); }));
  ASSERT_TRUE(pinned) << pinned.error().to_string();
  EXPECT_LE((*pinned)->max_frame(), 2048u);
  EXPECT_GT((*pinned)->mtu(), 1500u);
  pinned->reset();
}

TEST_F(DpdkTest, TapPortComesUpInATestNamespaceAndTheKernelReceivesItsFrames) {
  TestNamespace ns("tap");
  if (!ns.ok()) GTEST_SKIP() << "SKIPPED: " << ns.error();
  Result<std::unique_ptr<DpdkPort>> tap = make_error(Errc::not_found, "not created");
  DpdkPortConfig config;
  config.mac = wire::MacAddr{0x02, 0, 0, 0, 0, 0x0a};
  ASSERT_TRUE(ns.inside([&] { tap = DpdkPort::create_vdev("net_tap20,iface=srtap0", config); }));
  ASSERT_TRUE(tap) << tap.error().to_string();
  DpdkPort& port = **tap;
  EXPECT_EQ(port.mac(), (wire::MacAddr{0x02, 0, 0, 0, 0, 0x0a}));
  ASSERT_TRUE(wait_link_up(port));
  EXPECT_TRUE(ns.sh("ip link show srtap0"));
  // The tap PMD sets the kernel interface's MTU, up to its 1522-byte frame limit.
  ASSERT_TRUE(port.set_mtu(1400).has_value());
  EXPECT_EQ(port.mtu(), 1400u);
  EXPECT_TRUE(ns.sh("sh -c 'ip link show srtap0 | grep -q \"mtu 1400\"'"));
  auto too_big = port.set_mtu(2000);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_NE(too_big.error().message.find("MTU 2000"), std::string::npos) << too_big.error().message;
  EXPECT_EQ(port.mtu(), 1400u);
  send_test_frames(port, 0, 64, 200);
  EXPECT_EQ(port.counters().get(DpdkCounter::tx_packets), 64u);
  EXPECT_TRUE(ns.sh("sh -c 'test $(cat /sys/class/net/srtap0/statistics/rx_packets) -ge 64'"));
  // Zero copy: tap writes a chain with writev inside tx_burst.
  EXPECT_EQ(port.zero_copy_min(), DpdkPortConfig{}.zero_copy_min);
  send_test_frames(port, 64, 64, 1200, true);
  EXPECT_EQ(port.counters().get(DpdkCounter::tx_zero_copy), 64u);
  EXPECT_EQ(port.counters().get(DpdkCounter::tx_ext_held), 0u);
  EXPECT_TRUE(ns.sh("sh -c 'test $(cat /sys/class/net/srtap0/statistics/rx_packets) -ge 128'"));
  EXPECT_TRUE(ns.sh("sh -c 'test $(cat /sys/class/net/srtap0/statistics/rx_bytes) -ge " +
                    std::to_string(64 * 200 + 64 * 1200) + "'"));
  tap->reset();
  EXPECT_FALSE(ns.sh("ip link show srtap0"));  // gone with the port
}

}  // namespace
}  // namespace softrnic::transport
