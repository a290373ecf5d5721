// Device config files (TOML): [[device]] tables become the same DeviceSpec the grammar parses,
// and every kind of mistake is reported with FILE:LINE, the device and the grammar's own words.
#include "factory/device_config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace softrnic::transport {
namespace {

constexpr const char* kTwoDevices = R"(# two devices on a ring pair
[[device]]
name = "srn0"
port = "ring"
peer = "srn1"
ip4 = "198.18.0.1/24"
ip6 = ["fd00:5052::1/64", "fd00:5052::11/64"]
mtu = 4200
vlan = 7
mac = "02:00:00:00:00:01"
eal = ["--no-huge", "-m", "512", "--vdev=net_null0,size=64"]

[[device]]
name = "srn1"
proto = "roce"
port = "ring:peer=srn0"
ip4 = "198.18.0.2/24"
mtu = "4200"
)";

std::string error_of(std::string_view text) {
  auto r = parse_device_config(text, "devices.toml");
  return r ? std::string("<no error>") : r.error().message;
}

TEST(DeviceConfig, TwoDevicesBecomeTheSpecsTheGrammarGives) {
  auto r = parse_device_config(kTwoDevices, "devices.toml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  DeviceSpec a = *parse_device_spec(
      "name=srn0,port=ring:peer=srn1,ip4=198.18.0.1/24,ip6=fd00:5052::1/64,ip6=fd00:5052::11/64,"
      "mtu=4200,vlan=7,mac=02:00:00:00:00:01");
  a.eal = {"--no-huge", "-m", "512", "--vdev=net_null0,size=64"};  // commas survive in arrays
  EXPECT_EQ((*r)[0], a) << format_device_spec((*r)[0]);
  EXPECT_EQ((*r)[1], *parse_device_spec(
                         "name=srn1,proto=roce,port=ring:peer=srn0,ip4=198.18.0.2/24,mtu=4200"))
      << format_device_spec((*r)[1]);
}

TEST(DeviceConfig, LoadsFromAFileAndNamesAMissingOne) {
  char path[] = "/tmp/srncfg-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << kTwoDevices;
  auto r = load_device_config(path);
  std::remove(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
  auto missing = load_device_config("/nonexistent/devices.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("/nonexistent/devices.toml: cannot open"),
            std::string::npos);
}

TEST(DeviceConfig, AValueTheGrammarRefusesIsReportedAtItsLineInTheGrammarsWords) {
  const std::string grammar = parse_device_spec("name=a,port=uring,mtu=99999").error().message;
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\nmtu = 99999\n"),
            "devices.toml:4: device a: " + grammar);
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nproto = \"rdma\"\nport = \"uring\"\n"),
            "devices.toml:3: device a: proto: unknown protocol 'rdma' (accepted: roce, iwarp)");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\n\nport = \"wifi\"\n"),
            "devices.toml:4: device a: port: unknown kind 'wifi' (accepted: loopback, ring, memif, "
            "af_packet, af_xdp, tap, uring, pci)");
}

TEST(DeviceConfig, AnAddressInAnArrayIsReportedAtItsOwnLine) {
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\nip6 = [\n  \"fd00:5052::1/64\",\n"
                     "  \"fd00:zz::2/64\",\n]\n"),
            "devices.toml:6: device a: ip6: 'fd00:zz::2' is not an address");
}

TEST(DeviceConfig, OptionsOfAnotherPortAndCrossFieldRulesPointAtTheField) {
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"memif\"\nsocket = \"/run/x.sock\"\n"
                     "peer = \"b\"\n"),
            "devices.toml:5: device a: port: option 'peer' does not apply to memif");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\nrole = \"client\"\n"),
            "devices.toml:4: device a: role: applies only to port=memif");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\npeer = \"b\"\n"),
            "devices.toml:3: device a: peer: a port option; it needs port too (accepted: loopback, "
            "ring, memif, af_packet, af_xdp, tap, uring, pci)");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\neal = \"--no-huge\"\n"),
            "devices.toml:4: device a: eal: applies only to DPDK ports");
}

TEST(DeviceConfig, MissingFieldsPointAtTheTable) {
  EXPECT_EQ(
      error_of("[[device]]\nname = \"a\"\nport = \"uring\"\n\n[[device]]\nport = \"uring\"\n"),
      "devices.toml:5: [[device]] #2: name: every device needs a name");
  EXPECT_EQ(error_of("\n[[device]]\nname = \"a\"\n"),
            "devices.toml:2: device a: port: missing (accepted: loopback, ring, memif, af_packet, "
            "af_xdp, tap, uring, pci)");
}

TEST(DeviceConfig, FaultsAndMpaCrcAreFieldsOfATable) {
  auto specs = parse_device_config(
      "[[device]]\nname = \"a\"\nport = \"uring\"\nip4 = \"127.0.0.1/8\"\nfaults = \"loss=0.1:seed=4\"\n"
      "[[device]]\nname = \"b\"\nproto = \"iwarp\"\nport = \"uring\"\nip4 = \"127.0.0.2/8\"\nmpa_crc = \"off\"\n",
      "devices.toml");
  ASSERT_TRUE(specs) << specs.error().message;
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].faults, "loss=0.1:seed=4");
  EXPECT_EQ((*specs)[1].mpa_crc, false);
}

TEST(DeviceConfig, UnknownKeysWrongTypesAndSeparatorsAreNamed) {
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\nspeed = 100\n"),
            "devices.toml:4: device a: unknown field 'speed' (accepted: name, proto, port, peer, "
            "socket, iface, role, mac, ip4, ip6, mtu, vlan, udp_port, peer_udp_port, mpa_crc, faults, eal, zero_copy)");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\nmtu = 1500.5\n"),
            "devices.toml:4: device a: mtu: expected an integer or a string, got a floating-point "
            "number");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = true\n"),
            "devices.toml:3: device a: port: expected a string, got a boolean");
  EXPECT_EQ(
      error_of("[[device]]\nname = \"a\"\nport = [\"uring\"]\n"),
      "devices.toml:3: device a: port: expected a string, got an array (only ip4, ip6 and eal "
      "take arrays)");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\nip4 = [\"198.18.0.1/24\", 5]\n"),
            "devices.toml:4: device a: ip4: array items must be strings, got an integer");
  EXPECT_EQ(
      error_of("[[device]]\nname = \"a,b\"\nport = \"uring\"\n"),
      "devices.toml:2: device a,b: name: 'a,b' may not contain ',' (it separates spec fields)");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"memif\"\nsocket = \"/run/a:b\"\n"),
            "devices.toml:4: device a: socket: '/run/a:b' may not contain ':' (it separates port "
            "options)");
}

TEST(DeviceConfig, TheFileHoldsDeviceTablesOnlyWithUniqueNames) {
  EXPECT_EQ(error_of("speed = 1\n"),
            "devices.toml:1: unknown key 'speed' (a device config holds [[device]] tables only)");
  EXPECT_EQ(
      error_of("[device]\nname = \"a\"\n"),
      "devices.toml:1: device: write [[device]] (an array of tables, one per device), not a table");
  EXPECT_EQ(error_of("# nothing\n"), "devices.toml: no [[device]] tables");
  EXPECT_EQ(error_of("[[device]]\nname = \"a\"\nport = \"uring\"\n[[device]]\nname = \"a\"\n"
                     "port = \"uring\"\n"),
            "devices.toml:4: device a: name: already used by the device at line 1");
}

TEST(DeviceConfig, TomlSyntaxErrorsGiveLineAndColumn) {
  const std::string e = error_of("[[device]]\nname = \"a\"\nport = uring\n");
  EXPECT_EQ(e.rfind("devices.toml:3:", 0), 0u) << e;
  const std::string dup = error_of("[[device]]\nname = \"a\"\nname = \"b\"\n");
  EXPECT_EQ(dup.rfind("devices.toml:3:", 0), 0u) << dup;
}

}  // namespace
}  // namespace softrnic::transport
