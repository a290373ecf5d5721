#include "factory/device_spec.hpp"

#include <gtest/gtest.h>

namespace softrnic::transport {
namespace {

TEST(DeviceSpec, ParsesEveryPortKindAndRoundTripsThroughItsCanonicalText) {
  const char* specs[] = {
      "name=srn0,proto=roce,port=loopback:peer=srn1,ip4=198.18.0.1/24",
      "name=srn0,proto=roce,port=ring:peer=srn1,mac=02:00:00:00:00:01,ip4=198.18.0.1/24,ip6=fd00:5052::1/64",
      "name=a,proto=roce,port=memif:socket=/run/softrnic/a.sock,role=client,mtu=9000",
      "name=a,proto=roce,port=af_packet:iface=veth0,ip4=198.18.0.1/15,vlan=100",
      "name=a,proto=roce,port=af_xdp:iface=veth0,ip6=fd00:5052::2/64",
      "name=a,proto=roce,port=tap:iface=srntap0",
      "name=a,proto=roce,port=uring,ip4=127.0.0.1/8,udp_port=47910,peer_udp_port=47911",
      "name=a,proto=iwarp,port=uring,ip4=198.18.1.2/24",
      "name=a,proto=roce,port=pci:0000:03:00.0,eal=-l 1 --file-prefix x",
      "name=a,proto=roce,port=uring,ip4=127.0.0.1/8,faults=loss=0.01:ecn=0.1:dir=both:ops=send+write:seed=9",
      "name=a,proto=roce,port=af_packet:iface=veth0,zero_copy=off",
      "name=a,proto=roce,port=memif:socket=/x,zero_copy=2048",
  };
  for (const char* text : specs) {
    auto s = parse_device_spec(text);
    ASSERT_TRUE(s) << text << ": " << s.error().message;
    auto again = parse_device_spec(format_device_spec(*s));
    ASSERT_TRUE(again) << format_device_spec(*s) << ": " << again.error().message;
    EXPECT_TRUE(*again == *s) << text << " -> " << format_device_spec(*s);
  }
  auto s = *parse_device_spec(specs[1]);
  EXPECT_EQ(s.port, PortKind::ring);
  EXPECT_EQ(s.peer, "srn1");
  ASSERT_EQ(s.ip4.size(), 1u);
  EXPECT_EQ(s.ip4[0].prefix, 24);
  EXPECT_EQ(s.ip6[0].addr[15], 1);
  auto p = *parse_device_spec(specs[8]);
  EXPECT_EQ(p.pci_addr, "0000:03:00.0");
  EXPECT_EQ(p.eal.size(), 4u);
  EXPECT_EQ(parse_device_spec(specs[10])->zero_copy, 0u);
  EXPECT_EQ(parse_device_spec(specs[11])->zero_copy, 2048u);
  EXPECT_FALSE(parse_device_spec(specs[3])->zero_copy.has_value());
}

struct Bad {
  const char* spec;
  const char* says;  // the error must contain this
};

class DeviceSpecErrors : public ::testing::TestWithParam<Bad> {};

TEST_P(DeviceSpecErrors, NameTheFieldAndWhatIsAccepted) {
  const auto r = parse_device_spec(GetParam().spec);
  ASSERT_FALSE(r) << GetParam().spec;
  EXPECT_NE(r.error().message.find(GetParam().says), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DeviceSpecErrors,
    ::testing::Values(
        Bad{"proto=roce,port=tap", "name: every device needs a name"},
        Bad{"name=a,proto=roce", "port: missing (accepted: loopback, ring"},
        Bad{"name=a,port=nic", "port: unknown kind 'nic' (accepted: loopback, ring, memif"},
        Bad{"name=a,proto=ib,port=tap", "proto: unknown protocol 'ib' (accepted: roce, iwarp)"},
        Bad{"name=a,port=ring", "port: ring needs its peer"},
        Bad{"name=a,port=memif:iface=x", "option 'iface' does not apply to memif"},
        Bad{"name=a,port=af_packet", "af_packet needs an interface"},
        Bad{"name=a,port=tap,role=server", "role: applies only to port=memif"},
        Bad{"name=a,port=memif:socket=/x,role=boss", "role: unknown role 'boss' (accepted: server, client)"},
        Bad{"name=a,port=tap,mtu=70000", "mtu: '70000' is not a number in 68..9216"},
        Bad{"name=a,port=tap,faults=loss=1.5", "faults: loss=1.5: a probability within 0..1"},
        Bad{"name=a,port=tap,faults=drop=0.1", "faults: unknown key 'drop' (accepted: loss"},
        Bad{"name=a,proto=iwarp,port=uring,ip4=198.18.0.1/24,faults=loss=0.1", "faults: applies to frames"},
        Bad{"name=a,port=tap,vlan=0", "vlan: '0' is not a VLAN ID in 1..4094"},
        Bad{"name=a,port=tap,ip4=198.18.0.1", "ip4: '198.18.0.1' needs a prefix length"},
        Bad{"name=a,port=tap,ip4=198.18.0.300/24", "ip4: '198.18.0.300' is not an address"},
        Bad{"name=a,port=tap,ip6=fd00::1/129", "ip6: prefix length must be 0..128"},
        Bad{"name=a,port=tap,mac=02:00:00:00:00", "mac: '02:00:00:00:00' is not a MAC address"},
        Bad{"name=a,port=tap,udp_port=1000", "udp_port: applies only to port=uring"},
        Bad{"name=a,port=uring,eal=-l 0", "eal: applies only to DPDK ports"},
        Bad{"name=a,port=uring,zero_copy=off", "zero_copy: applies only to DPDK ports"},
        Bad{"name=a,port=tap,zero_copy=10", "zero_copy: '10' (accepted: off, or bytes in 64..9216)"},
        Bad{"name=a,proto=iwarp,port=tap", "proto: iwarp runs on the kernel's TCP"},
        Bad{"name=a,port=uring,vlan=5", "vlan: a socket port has no Ethernet header"},
        Bad{"name=a,port=tap,colour=red", "unknown field 'colour' (accepted: name, proto, port"},
        Bad{"name=a,,port=tap", "fields are FIELD=VALUE"},
        Bad{"name=a/b,port=tap", "name: 'a/b' may not contain"}));

}  // namespace
}  // namespace softrnic::transport
