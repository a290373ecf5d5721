// tshark as an independent judge of our CM MADs: the REQ/REP/RTU/DREQ/DREP (and REJ, MRA) we send
// decode with the management class, class version, method and attribute IDs of the rdma_cm MADs
// in roce_cm_rping.pcap, the same service-ID form (0x0000000001 | TCP | port) and a valid IP
// addressing header, and nothing is flagged malformed.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "../capture/test_support.hpp"
#include "capture/pcap_file.hpp"
#include "cm_fixture.hpp"

namespace softrnic::cm::test {
namespace {

using Type = CmEvent::Type;
namespace st = softrnic::test;

std::vector<std::vector<std::string>> tshark_rows(const std::string& pcap, const std::string& fields) {
  const auto r = st::run_command(st::tshark_command(pcap) + " -Y infiniband.mad -T fields -E separator=/t " + fields +
                                 " 2>/dev/null");
  EXPECT_EQ(r.exit_status, 0) << r.output;
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cols;
    std::string col;
    std::istringstream ls(line);
    while (std::getline(ls, col, '\t')) cols.push_back(col);
    rows.push_back(cols);
  }
  return rows;
}

const std::string kHeaderFields =
    "-e infiniband.mad.mgmtclass -e infiniband.mad.classversion -e infiniband.mad.method "
    "-e infiniband.mad.attributeid";

class CmTshark : public ::testing::TestWithParam<wire::IpVersion> {};

TEST_P(CmTshark, OurMadsDecodeLikeRdmaCmMads) {
  if (!st::tool_installed("tshark")) GTEST_SKIP() << "SKIPPED: tshark is not installed";
  st::TempDir dir;
  const std::string pcap = dir.file("cm.pcap");
  auto w = capture::PcapWriter::create(pcap);
  ASSERT_TRUE(w) << w.error().message;
  CmPair t(GetParam());
  std::uint32_t usec = 0;
  t.wire_.filter = [&](int, Packet& p) {
    EXPECT_TRUE(w->write(ConstByteSpan(p.data, p.len), capture::Timestamp{0, 1000 * ++usec}));
    return true;
  };
  // Owner slow to decide (MRA), accept, disconnect; then a consumer reject.
  ConnId pending = 0;
  ASSERT_TRUE(t.b.cm->listen({{}, 7174}, [&](const CmEvent& e) {
    t.b.events.push_back(e);
    if (e.type == Type::connect_request) pending = e.conn;
  }));
  const auto hello = bytes_of("hello");
  ConnectParams p;
  p.remote = {t.ip_b(), 7174};
  p.private_data = hello;
  roce::Qp* qa = t.a.new_qp();
  auto id = t.a.cm->connect(*qa, p, t.a.log());
  ASSERT_TRUE(id);
  t.run_for(1'500'000'000);
  ASSERT_NE(pending, 0u);
  ASSERT_TRUE(t.b.cm->accept(pending, *t.b.new_qp(), {}, t.b.log()));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::established) > 0; }));
  ASSERT_TRUE(t.a.cm->disconnect(*id));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::disconnected) > 0; }));
  pending = 0;
  ASSERT_TRUE(t.a.cm->connect(*t.a.new_qp(), p, t.a.log()));
  ASSERT_TRUE(t.run_until([&] { return pending != 0; }));
  ASSERT_TRUE(t.b.cm->reject(pending));
  ASSERT_TRUE(t.run_until([&] { return t.a.count(Type::rejected) > 0; }));
  ASSERT_TRUE(w->close());

  const auto golden = tshark_rows(st::golden_pcaps_dir() + "/roce_cm_rping.pcap", kHeaderFields);
  ASSERT_EQ(golden.size(), 5u);
  const auto ours = tshark_rows(pcap, kHeaderFields);
  std::set<std::string> attrs;
  for (const auto& row : ours) {
    ASSERT_EQ(row.size(), 4u);
    EXPECT_EQ(row[0], golden[0][0]) << "management class";
    EXPECT_EQ(row[1], golden[0][1]) << "class version";
    EXPECT_EQ(row[2], golden[0][2]) << "method";
    attrs.insert(row[3]);
  }
  std::set<std::string> want;
  for (const auto& row : golden) want.insert(row[3]);
  want.insert({"0x0011", "0x0012"});  // MRA, REJ
  EXPECT_EQ(attrs, want);

  const bool v4 = GetParam() == wire::IpVersion::v4;
  const auto reqs = tshark_rows(pcap, std::string("-e infiniband.cm.req.serviceid.prefix -e infiniband.cm.req.serviceid.protocol "
                                                  "-e infiniband.cm.req.serviceid.dport -e infiniband.cm.req.ip_cm.ipv ") +
                                          (v4 ? "-e infiniband.cm.req.ip_cm.sip4 -e infiniband.cm.req.ip_cm.dip4"
                                              : "-e infiniband.cm.req.ip_cm.sip6 -e infiniband.cm.req.ip_cm.dip6") +
                                          " -Y infiniband.cm.req.serviceid");
  const auto golden_req = tshark_rows(st::golden_pcaps_dir() + "/roce_cm_rping.pcap",
                                      "-e infiniband.cm.req.serviceid.prefix -e infiniband.cm.req.serviceid.protocol "
                                      "-Y infiniband.cm.req.serviceid");
  ASSERT_GE(reqs.size(), 2u);
  ASSERT_EQ(golden_req.size(), 1u);
  for (const auto& r : reqs) {
    ASSERT_EQ(r.size(), 6u);
    EXPECT_EQ(r[0], golden_req[0][0]) << "service ID prefix";
    EXPECT_EQ(r[1], golden_req[0][1]) << "port space";
    EXPECT_EQ(r[2], "0x1c06") << "port 7174";
    EXPECT_EQ(r[3], v4 ? "0x04" : "0x06");
    EXPECT_EQ(r[4], v4 ? "198.18.0.1" : "fd00:5052::1");
    EXPECT_EQ(r[5], v4 ? "198.18.0.2" : "fd00:5052::2");
  }
  const auto malformed = st::run_command(st::tshark_command(pcap) + " -Y _ws.malformed 2>/dev/null | wc -l");
  EXPECT_EQ(malformed.output, "0\n");
}

INSTANTIATE_TEST_SUITE_P(IpVersions, CmTshark, ::testing::Values(wire::IpVersion::v4, wire::IpVersion::v6),
                         [](const auto& i) { return i.param == wire::IpVersion::v4 ? "IPv4" : "IPv6"; });

}  // namespace
}  // namespace softrnic::cm::test
