// tshark as an independent oracle for the builders: frames we build are written to a pcap, decoded
// by tshark and compared field by field with what was built; tshark must find no malformed frame and
// no expert error, and tests/tools/pcap_verify.sh (tshark plus icrc_check.py, an independent ICRC
// implementation) must pass. Without tshark the test fails: it is installed in CI.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "capture/pcap_file.hpp"
#include "crafted_captures.hpp"
#include "frame_matrix.hpp"
#include "sample_traffic.hpp"
#include "test_support.hpp"
#include "wire/build.hpp"
#include "wire/crc.hpp"

namespace softrnic {
namespace {

constexpr const char* kNoTshark =
    "tshark is not installed (Debian package `tshark`): the tshark oracle cannot run, and it "
    "must not pass silently";

struct Built {
  test::MatrixCase c;
  std::vector<std::byte> frame;
  std::size_t udp_len = 0;
  std::uint8_t pad = 0;
  wire::RoceSpec spec;  // its payload span is not used after building
};

std::vector<Built> build_matrix() {
  std::vector<Built> out;
  for (const auto& c : test::frame_matrix()) {
    const auto payload = test::matrix_payload(c);
    Built b{c, {}, 0, 0, test::matrix_spec(c, payload)};
    b.frame.resize(wire::roce_frame_size(b.spec));
    const auto n = wire::build_roce(b.spec, b.frame);
    EXPECT_TRUE(n.has_value()) << c.name();
    b.pad = static_cast<std::uint8_t>((4 - payload.size() % 4) % 4);
    b.udp_len = wire::UdpView::kSize + wire::BthView::kSize +
                wire::ext_headers_size(wire::opcode_info(c.opcode).headers) + payload.size() +
                b.pad + wire::kIcrcSize;
    b.spec.payload = {};
    out.push_back(std::move(b));
  }
  return out;
}

void write_pcap(const std::string& path, const std::vector<std::vector<std::byte>>& frames) {
  auto w = capture::PcapWriter::create(path);
  ASSERT_TRUE(w.has_value()) << w.error().to_string();
  for (const auto& f : frames) ASSERT_TRUE(w->write(f, {}).has_value());
  ASSERT_TRUE(w->close().has_value());
}

// tshark must flag nothing: no dissector exception, no expert item of severity error.
void expect_tshark_finds_nothing_wrong(const std::string& pcap) {
  const auto r = test::run_command(
      test::tshark_command(pcap) +
      " -Y '_ws.malformed || _ws.expert.severity >= error' -T fields -e frame.number "
      "-e _ws.col.Info 2>/dev/null");
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_EQ(r.output, "") << "tshark reports malformed frames or expert errors";
}

void expect_pcap_verify_passes(const std::string& pcap, const std::string& expected_opcodes) {
  const std::string tool = test::test_tools_dir() + "/pcap_verify.sh";
  const auto r = test::run_command(test::shell_quote(tool) + " " + test::shell_quote(pcap) + " " +
                                   expected_opcodes + " 2>&1");
  EXPECT_EQ(r.exit_status, 0) << r.output;
  EXPECT_NE(r.output.find("PASS " + pcap), std::string::npos) << r.output;
}

std::uint64_t number(const std::string& field) {
  if (field.empty()) return 0;
  return std::stoull(field, nullptr, field.starts_with("0x") ? 16 : 10);
}

TEST(TsharkOracle, TsharkIsInstalled) { ASSERT_TRUE(test::tool_installed("tshark")) << kNoTshark; }

TEST(TsharkOracle, EveryBuiltOpcodeIpVersionVlanAndLengthDecodesAsBuilt) {
  ASSERT_TRUE(test::tool_installed("tshark")) << kNoTshark;
  test::TempDir dir;
  const std::string pcap = dir.file("matrix.pcap");
  const auto built = build_matrix();
  std::vector<std::vector<std::byte>> frames;
  std::string expected_opcodes;
  for (const auto& b : built) {
    frames.push_back(b.frame);
    expected_opcodes += (expected_opcodes.empty() ? "" : ",") + std::to_string(b.c.opcode);
  }
  write_pcap(pcap, frames);

  const auto r = test::run_command(
      test::tshark_command(pcap) +
      " -T fields -E separator=';' -E occurrence=f -e frame.number -e infiniband.bth.opcode "
      "-e infiniband.bth.destqp -e infiniband.bth.psn -e infiniband.bth.padcnt -e data.len "
      "-e udp.length -e frame.len -e vlan.id -e infiniband.reth.dmalen -e infiniband.aeth.msn "
      "-e infiniband.deth.srcqp 2>/dev/null");
  ASSERT_EQ(r.exit_status, 0);
  const auto lines = test::split(r.output, '\n');
  ASSERT_GE(lines.size(), built.size());
  for (std::size_t i = 0; i < built.size(); ++i) {
    const auto& b = built[i];
    SCOPED_TRACE(b.c.name() + " (frame " + std::to_string(i + 1) + "): " + lines[i]);
    const auto f = test::split(lines[i], ';');
    ASSERT_EQ(f.size(), 12u);
    const auto& op = wire::opcode_info(b.c.opcode);
    EXPECT_EQ(number(f[0]), i + 1);
    EXPECT_EQ(number(f[1]), b.c.opcode);
    EXPECT_EQ(number(f[2]), b.spec.bth.dest_qp.raw());
    EXPECT_EQ(number(f[3]), b.spec.bth.psn.raw());
    EXPECT_EQ(number(f[4]), b.pad);
    // tshark counts the pad bytes as data.
    EXPECT_EQ(number(f[5]), b.c.payload_len + (b.c.payload_len == 0 ? 0 : b.pad));
    EXPECT_EQ(number(f[6]), b.udp_len);
    EXPECT_EQ(number(f[7]), b.frame.size());
    EXPECT_EQ(number(f[8]), b.c.vlan ? (*b.spec.eth.vlan_tci & 0x0fff) : 0u);
    if (op.has(wire::kReth)) {
      EXPECT_EQ(number(f[9]), b.spec.ext.reth.dma_length);
    }
    if (op.has(wire::kAeth)) {
      EXPECT_EQ(number(f[10]), b.spec.ext.aeth.msn.raw());
    }
    if (op.has(wire::kDeth)) {
      EXPECT_EQ(number(f[11]), b.spec.ext.deth.src_qp.raw());
    }
  }
  expect_tshark_finds_nothing_wrong(pcap);
  expect_pcap_verify_passes(pcap, expected_opcodes);
}

TEST(TsharkOracle, DemoTrafficWithArpAndNdPassesPcapVerify) {
  ASSERT_TRUE(test::tool_installed("tshark")) << kNoTshark;
  test::TempDir dir;
  const std::string pcap = dir.file("demo.pcap");
  const auto sample = cli::make_sample_traffic();
  ASSERT_TRUE(sample.has_value()) << sample.error().to_string();
  std::vector<std::vector<std::byte>> frames;
  std::string expected_opcodes;
  for (const auto& s : *sample) {
    frames.push_back(s.bytes);
    if (s.expected.qpn) {
      expected_opcodes += (expected_opcodes.empty() ? "" : ",") + std::to_string(s.bth_opcode);
    }
  }
  write_pcap(pcap, frames);
  expect_tshark_finds_nothing_wrong(pcap);
  expect_pcap_verify_passes(pcap, expected_opcodes);

  // tshark sees the ARP and ND messages as built.
  const auto r = test::run_command(test::tshark_command(pcap) +
                                   " -Y 'arp || icmpv6' -T fields -e arp.opcode -e icmpv6.type "
                                   "2>/dev/null");
  EXPECT_EQ(r.output, "1\t\n2\t\n\t135\n\t136\n");
}

// The crafted captures the CLI tests damage on purpose (crafted_captures.hpp) are, undamaged, what
// tshark and the independent checkers take them for; damaged, pcap_verify.sh finds the damage.
TEST(TsharkOracle, CraftedCapturesPassPcapVerifyUntilDamaged) {
  ASSERT_TRUE(test::tool_installed("tshark")) << kNoTshark;
  test::TempDir dir;
  ASSERT_TRUE(test::write_crafted_roce(dir.file("roce.pcap")));
  expect_pcap_verify_passes(dir.file("roce.pcap"), "4,17,6,7,8,17,12,13,15,20,18,100,129");
  ASSERT_TRUE(test::write_crafted_iwarp(dir.file("iwarp_v2.pcap"), 2, true));
  expect_pcap_verify_passes(dir.file("iwarp_v2.pcap"), "3,0,1,2,4,5,7");
  ASSERT_TRUE(test::write_crafted_iwarp(dir.file("iwarp_v1.pcap"), 1, false));
  expect_pcap_verify_passes(dir.file("iwarp_v1.pcap"), "3,0,1,2,4,5,7");

  ASSERT_TRUE(test::write_crafted_roce(dir.file("roce_bad.pcap"), 5));
  const auto r = test::run_command(test::shell_quote(test::test_tools_dir() + "/pcap_verify.sh") +
                                   " " + test::shell_quote(dir.file("roce_bad.pcap")) + " 2>&1");
  EXPECT_EQ(r.exit_status, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL: ICRC"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\n5\tipv4\t0x08\t"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace softrnic
