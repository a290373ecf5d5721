// Which EAL arguments a device spec may carry: none that makes DPDK load a library (-d) or read
// or write files its arguments name, however getopt_long would read them, whether the spec comes
// from the command line, a config file or eal::init's caller; ordinary arguments still pass.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "dpdk/eal.hpp"
#include "dpdk/eal_args.hpp"
#include "factory/device_config.hpp"
#include "factory/device_spec.hpp"
#include "hardening_support.hpp"

namespace softrnic::hardening_test {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string w;
  for (const char c : s) {
    if (c == ' ') {
      if (!w.empty()) out.push_back(std::exchange(w, {}));
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

const std::vector<std::string> kRefused = {
    "-d /tmp/evil.so",
    "-d/tmp/evil.so",
    "-vd /tmp/evil.so",
    "-l 0 -d /tmp/plugins",
    "--driver-path=/tmp/evil.so",
    "--trace=.*",
    "--trace-dir=/tmp/traces",
    "--trace-d /tmp/traces",
    "--file-prefix=../../etc/x",
    "--file-prefix /tmp/x",
    "--vdev=net_pcap0,tx_pcap=/tmp/x.pcap",
    "--vd net_pcap0,rx_pcap=/etc/shadow",
    "--vdev net_memif0,socket=/tmp/m.sock",
    "--vdev=net_af_xdp0,iface=eth0,xdp_prog=/tmp/prog.o",
    "--tr /tmp/x",
};

const std::vector<std::string> kAccepted = {
    "--no-huge -m 512 --no-shconf --no-pci --no-telemetry --file-prefix=softrnic-1 -l 0 "
    "--log-level=*:warning",
    "--vdev=net_null0,size=64",
    "--vdev net_af_packet0,iface=veth0",
    "-l 0 -n 4 --huge-dir /dev/hugepages -a 0000:03:00.0",
    "--trace-bufsz=2M --in-memory",
    "--file-prefix -dsomething",  // a value, not the -d option
    "-l -d",
};

TEST(EalArguments, ThoseThatLoadCodeOrNameFilesAreRefused) {
  for (const auto& a : kRefused) {
    const auto r = transport::eal::check_args(words(a));
    ASSERT_FALSE(r) << a;
    EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
  }
}

TEST(EalArguments, OrdinaryOnesPass) {
  for (const auto& a : kAccepted) {
    const auto r = transport::eal::check_args(words(a));
    EXPECT_TRUE(r) << a << ": " << r.error().message;
  }
  EXPECT_TRUE(transport::eal::check_args(transport::eal::default_args()));
}

TEST(EalArguments, ASpecCannotCarryThem) {
  for (const auto& a : kRefused) {
    if (a.find(',') != std::string::npos) continue;  // spec text cannot hold it: config files can
    const auto s = transport::parse_device_spec("name=a,port=pci:0000:03:00.0,eal=" + a);
    ASSERT_FALSE(s) << a;
    EXPECT_TRUE(s.error().message.starts_with("eal: '")) << s.error().message;
  }
  EXPECT_TRUE(transport::parse_device_spec("name=a,port=ring:peer=b,eal=" + kAccepted[0]));
}

TEST(EalArguments, NorAConfigFileWhoseItemsTheGrammarDoesNotSee) {
  const auto r = transport::parse_device_config(
      "[[device]]\nname = \"a\"\nport = \"ring:peer=b\"\neal = [\"--no-huge\",\n  \"-d\", "
      "\"/tmp/evil.so\"]\n",
      "devices.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("devices.toml:5: device a: eal: '-d' refused"),
            std::string::npos)
      << r.error().message;
  // Array items may hold commas, which spec text cannot.
  const auto pcap = transport::parse_device_config(
      "[[device]]\nname = \"a\"\nport = \"ring:peer=b\"\n"
      "eal = [\"--vdev=net_pcap0,tx_pcap=/tmp/x.pcap\"]\n",
      "devices.toml");
  ASSERT_FALSE(pcap);
  EXPECT_NE(pcap.error().message.find("devices.toml:4: device a: eal: '--vdev=net_pcap0"),
            std::string::npos)
      << pcap.error().message;
}

TEST(EalArguments, EalInitRefusesThemBeforeDpdkLoadsAnything) {
  const char* plugin = std::getenv("HARDENING_EAL_PLUGIN");
  ASSERT_NE(plugin, nullptr) << "HARDENING_EAL_PLUGIN (set by tests/hardening/meson.build)";
  TempDir dir;
  const std::string marker = dir.file("plugin-was-loaded");
  setenv("HARDENING_EAL_MARKER", marker.c_str(), 1);
  std::vector<std::string> args = transport::eal::default_args();
  args.insert(args.end(), {"-d", plugin});
  const auto r = transport::eal::init(args);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'-d' refused"), std::string::npos) << r.error().message;
  struct stat st {};
  EXPECT_NE(lstat(marker.c_str(), &st), 0) << "DPDK loaded " << plugin;
  EXPECT_FALSE(transport::eal::running());
}

}  // namespace
}  // namespace softrnic::hardening_test
