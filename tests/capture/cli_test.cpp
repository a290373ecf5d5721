// The `softrnic` executable as a user runs it: decode of the golden RoCEv2 captures agrees with
// tshark, a corrupted ICRC and a non-capture file make decode fail with the right words; the demo
// runs two soft RNICs (RoCEv2 and iWARP) and verifies every byte, also under loss, and its codec
// round trip still works.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crafted_captures.hpp"
#include "test_support.hpp"
#include "wire/opcode.hpp"

namespace softrnic {
namespace {

std::string softrnic_exe() { return test::required_env("SOFTRNIC_BUILD_ROOT") + "/cli/softrnic"; }

// Runs softrnic with arguments; stdout in output, stderr in *err when given.
test::CommandResult softrnic(const std::string& args, const test::TempDir& dir,
                             std::string* err = nullptr) {
  const std::string err_file = dir.file("stderr.txt");
  auto r = test::run_command(test::shell_quote(softrnic_exe()) + " " + args + " 2>" +
                             test::shell_quote(err_file));
  if (err != nullptr) {
    std::ifstream in(err_file);
    *err = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return r;
}

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  for (const auto& line : test::split(out, '\n')) {
    if (line.empty()) continue;
    v.push_back(nlohmann::json::parse(line));
  }
  return v;
}

// "RC_SEND_ONLY" -> 0x04, from the opcode table.
std::map<std::string, unsigned> opcode_codes() {
  std::map<std::string, unsigned> m;
  for (unsigned c = 0; c < wire::kOpcodeTable.size(); ++c) {
    const auto& op = wire::kOpcodeTable[c];
    if (op.valid()) m[std::string(wire::transport_prefix(op.transport)) + std::string(op.name)] = c;
  }
  return m;
}

TEST(SoftrnicCli, VersionNamesTheProgram) {
  test::TempDir dir;
  const auto r = softrnic("--version", dir);
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_TRUE(r.output.starts_with("softrnic ")) << r.output;
}

TEST(SoftrnicCli, DecodeOfEveryGoldenRoceCaptureExitsZeroAndAgreesWithTshark) {
  ASSERT_TRUE(test::tool_installed("tshark")) << "tshark is not installed (Debian package tshark)";
  test::TempDir dir;
  const std::string pcaps = test::golden_pcaps_dir();
  const auto codes = opcode_codes();
  std::size_t captures = 0;
  for (const auto& name : test::golden_capture_names(test::golden_pcaps_readme())) {
    if (!name.starts_with("roce_")) continue;
    ++captures;
    SCOPED_TRACE(name);
    const std::string path = pcaps + "/" + name;
    std::string err;
    const auto r = softrnic("decode --json " + test::shell_quote(path), dir, &err);
    EXPECT_EQ(r.exit_status, 0) << err;
    EXPECT_NE(err.find("malformed 0"), std::string::npos) << err;
    const auto records = json_lines(r.output);

    const auto t = test::run_command(
        test::tshark_command(path) +
        " -Y infiniband -T fields -E separator=';' -e frame.number -e infiniband.bth.opcode "
        "-e infiniband.bth.destqp -e infiniband.bth.psn 2>/dev/null");
    ASSERT_EQ(t.exit_status, 0);
    auto lines = test::split(t.output, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    ASSERT_EQ(records.size(), lines.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& j = records[i];
      const auto f = test::split(lines[i], ';');
      ASSERT_EQ(f.size(), 4u) << lines[i];
      SCOPED_TRACE(j.dump() + " vs tshark " + lines[i]);
      EXPECT_EQ(j.at("frame").get<std::uint64_t>(), std::stoull(f[0]));
      ASSERT_TRUE(codes.contains(j.at("opcode").get<std::string>()));
      EXPECT_EQ(codes.at(j.at("opcode").get<std::string>()), std::stoul(f[1]));
      EXPECT_EQ(j.at("qpn").get<std::uint32_t>(), std::stoul(f[2], nullptr, 16));
      EXPECT_EQ(j.at("psn").get<std::uint32_t>(), std::stoul(f[3]));
      EXPECT_EQ(j.at("icrc").get<std::string>(), "ok");
    }
  }
  EXPECT_GE(captures, 1u) << test::golden_pcaps_readme() << " lists no roce_* capture";
}

TEST(SoftrnicCli, DecodeOfACorruptedIcrcFailsAndNamesFrameFiveOnly) {
  test::TempDir dir;
  const std::string pcap = dir.file("roce_badicrc.pcap");
  ASSERT_TRUE(test::write_crafted_roce(pcap, 5));
  ASSERT_TRUE(test::write_crafted_roce(dir.file("roce_v4.pcap")));

  std::string err;
  const auto r = softrnic("decode --json " + test::shell_quote(pcap), dir, &err);
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_NE(err.find("bad 1"), std::string::npos) << err;
  std::vector<std::uint64_t> bad;
  std::size_t roce = 0;
  for (const auto& j : json_lines(r.output)) {
    if (!j.contains("icrc")) continue;
    ++roce;
    if (j.at("icrc") == "bad") bad.push_back(j.at("frame").get<std::uint64_t>());
  }
  EXPECT_EQ(bad, std::vector<std::uint64_t>{5});
  EXPECT_GT(roce, 5u);

  const auto text = softrnic("decode " + test::shell_quote(pcap), dir);
  EXPECT_EQ(text.exit_status, 1);
  for (const auto& line : test::split(text.output, '\n')) {
    if (line.find("icrc=bad") == std::string::npos) continue;
    EXPECT_TRUE(line.starts_with("     5  ")) << line;
  }
  EXPECT_NE(text.output.find("icrc=bad"), std::string::npos);

  // The same traffic with every ICRC intact decodes cleanly.
  EXPECT_EQ(softrnic("decode " + test::shell_quote(dir.file("roce_v4.pcap")), dir).exit_status, 0);
}

TEST(SoftrnicCli, DecodeOfAnOrdinaryHostsCaptureExitsZeroAndCountsWhatItHolds) {
  test::TempDir dir;
  const std::string pcap = dir.file("chatter.pcap");
  ASSERT_TRUE(test::write_host_chatter(pcap));
  std::string err;
  const auto r = softrnic("decode " + test::shell_quote(pcap), dir, &err);
  EXPECT_EQ(r.exit_status, 0) << r.output << err;
  EXPECT_NE(err.find("7 frames, 7 records: RoCEv2 2 (ICRC ok 2, bad 0), iWARP 0 (CRC bad 0), ARP 1, "
                     "ND 1, other 3, malformed 0"),
            std::string::npos)
      << err;
  EXPECT_EQ(r.output.find("malformed"), std::string::npos) << r.output;

  ASSERT_TRUE(test::write_host_chatter(pcap, true));
  EXPECT_EQ(softrnic("decode " + test::shell_quote(pcap), dir).exit_status, 1);
}

TEST(SoftrnicCli, DecodeOfAFileThatIsNotACaptureFailsWithAClearError) {
  test::TempDir dir;
  const std::string path = dir.file("readme.txt");
  std::ofstream(path) << "softrnic is a software RDMA NIC; this file is not a capture.\n";
  std::string err;
  const auto r = softrnic("decode " + test::shell_quote(path), dir, &err);
  EXPECT_NE(r.exit_status, 0);
  EXPECT_EQ(r.output, "");
  EXPECT_NE(err.find(path + ": not a pcap or pcapng capture"), std::string::npos) << err;
}

TEST(SoftrnicCli, DecodeOfAMissingFileFailsWithAClearError) {
  test::TempDir dir;
  std::string err;
  const auto r = softrnic("decode " + test::shell_quote(dir.file("absent.pcap")), dir, &err);
  EXPECT_NE(r.exit_status, 0);
  EXPECT_NE(err.find("absent.pcap: cannot open"), std::string::npos) << err;
}

TEST(SoftrnicCli, DemoCodecRoundTripsEveryFrameAndItsCaptureDecodesCleanly) {
  test::TempDir dir;
  const std::string pcap = dir.file("demo.pcap");
  std::string err;
  const auto r = softrnic("demo --codec --output " + test::shell_quote(pcap), dir, &err);
  EXPECT_EQ(r.exit_status, 0) << r.output << err;
  EXPECT_NE(r.output.find("round trip OK"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("MISMATCH"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("codec round trip"), std::string::npos);
  ASSERT_TRUE(std::filesystem::exists(pcap));
  EXPECT_EQ(softrnic("decode " + test::shell_quote(pcap), dir).exit_status, 0);
}

// The table row of a transport and operation: "RoCEv2/IPv4  rdma write ...", or "" when absent.
std::string table_row(const std::string& out, const std::string& transport, const std::string& op) {
  for (const auto& line : test::split(out, '\n')) {
    if (line.starts_with(transport + " ") && line.find(" " + op + " ") != std::string::npos)
      return line;
  }
  return {};
}

TEST(SoftrnicCliDemo, TwoSoftRnicsVerifyEveryByteOverRoceAndIwarp) {
  test::TempDir dir;
  std::string err;
  const auto r = softrnic("demo", dir, &err);
  ASSERT_EQ(r.exit_status, 0) << r.output << err;
  EXPECT_NE(r.output.find("demo OK: every byte verified"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("RoCEv2 wire: "), std::string::npos) << r.output;
  std::vector<std::string> transports = {"RoCEv2/IPv4", "RoCEv2/IPv6"};
  if (r.output.find("SKIPPED: iWARP rides on kernel TCP") == std::string::npos) {
    transports.push_back("iWARP/IPv4");
    transports.push_back("iWARP/IPv6");
  } else {
    std::cout << "iWARP part skipped by the demo: " << r.output << '\n';
  }
  for (const auto& t : transports) {
    for (const std::string op : {"send ping-pong", "rdma write", "rdma read"}) {
      const auto row = table_row(r.output, t, op);
      EXPECT_FALSE(row.empty()) << t << " " << op << " missing:\n" << r.output;
      EXPECT_TRUE(row.ends_with("verified")) << row;
    }
    EXPECT_NE(table_row(r.output, t, "rdma write").find("64 MiB"), std::string::npos) << r.output;
    // The SMB-Direct-like consumer through the NDK shim, on the same kind of wire.
    for (const std::string op : {"smbd write (RDMA Read)", "smbd read (RDMA Write)", "smbd echo"}) {
      const auto row = table_row(r.output, "NDK " + t, op);
      EXPECT_FALSE(row.empty()) << "NDK " << t << " " << op << " missing:\n" << r.output;
      EXPECT_TRUE(row.ends_with("verified")) << row;
    }
  }
  // The progress of every phase went to stderr, not into the table.
  EXPECT_NE(err.find("RoCEv2/IPv6 rdma read"), std::string::npos) << err;
}

TEST(SoftrnicCliDemo, LossIsRecoveredByRetransmissionAndTheDataStillVerifies) {
  test::TempDir dir;
  std::string err;
  const auto r = softrnic("demo --loss 2 --no-iwarp --json", dir, &err);
  ASSERT_EQ(r.exit_status, 0) << r.output << err;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_TRUE(j.at("ok").get<bool>());
  EXPECT_DOUBLE_EQ(j.at("loss_percent").get<double>(), 2.0);
  std::uint64_t retransmits = 0;
  std::size_t phases = 0;
  std::size_t ndk = 0;
  for (const auto& p : j.at("phases")) {
    ++phases;
    EXPECT_TRUE(p.at("verified").get<bool>()) << p.dump();
    if (p.at("transport").get<std::string>().starts_with("NDK ")) {
      ++ndk;  // the SMB-Direct-like consumer over the same lossy kind of wire
      continue;
    }
    retransmits += p.at("retransmits").get<std::uint64_t>();
  }
  EXPECT_EQ(phases, 12u) << r.output;
  EXPECT_EQ(ndk, 6u) << r.output;
  EXPECT_GT(retransmits, 0u) << r.output;
}

TEST(SoftrnicCliDemo, JsonHasEveryPhaseWithItsFigures) {
  test::TempDir dir;
  std::string err;
  const auto r = softrnic("demo --json --size 4 --pingpongs 100", dir, &err);
  ASSERT_EQ(r.exit_status, 0) << r.output << err;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_TRUE(j.at("ok").get<bool>());
  EXPECT_TRUE(j.at("roce_wire").is_string());
  EXPECT_TRUE(j.at("capture").is_null());
  EXPECT_TRUE(j.at("failures").empty());
  const auto& phases = j.at("phases");
  const std::size_t skipped = j.at("skipped").size();
  // The engine's three phases and the NDK consumer's three, per transport and IP family.
  EXPECT_EQ(phases.size(), skipped == 0 ? 24u : 12u) << r.output;
  std::size_t ndk = 0;
  for (const auto& p : phases) {
    SCOPED_TRACE(p.dump());
    const auto op = p.at("operation").get<std::string>();
    const auto transport = p.at("transport").get<std::string>();
    EXPECT_TRUE(p.at("verified").get<bool>());
    EXPECT_EQ(p.at("error").get<std::string>(), "");
    if (transport.starts_with("NDK ")) {
      ++ndk;
      EXPECT_TRUE(op == "smbd write (RDMA Read)" || op == "smbd read (RDMA Write)" || op == "smbd echo");
      if (op != "smbd echo") {
        EXPECT_GE(p.at("bytes").get<std::uint64_t>(), std::uint64_t{4} << 20) << "the payload at least";
        EXPECT_GT(p.at("messages").get<std::uint64_t>(), 0u) << "RDMA operations by the server";
        EXPECT_TRUE(p.at("latency_us").is_null()) << "the row measures no latency";
      } else {
        EXPECT_GT(p.at("latency_us").at("p50").get<double>(), 0.0);
      }
      continue;
    }
    EXPECT_TRUE(op == "send ping-pong" || op == "rdma write" || op == "rdma read");
    EXPECT_EQ(p.at("bytes").get<std::uint64_t>(),
              op == "send ping-pong" ? 200u * 64u : std::uint64_t{4} << 20);
    EXPECT_GT(p.at("throughput_mbps").get<double>(), 0.0);
    EXPECT_GT(p.at("latency_us").at("p50").get<double>(), 0.0);
    EXPECT_GE(p.at("latency_us").at("p99").get<double>(),
              p.at("latency_us").at("p50").get<double>());
    // RoCE counts its own retransmissions; iWARP leaves them to kernel TCP.
    EXPECT_EQ(p.at("retransmits").is_null(), transport.starts_with("iWARP"));
  }
  EXPECT_EQ(ndk, phases.size() / 2) << "the NDK consumer ran on every transport";
}

TEST(SoftrnicCliDemo, CaptureOfTheRoceWireDecodesCleanly) {
  test::TempDir dir;
  const std::string pcap = dir.file("wire.pcap");
  std::string err;
  const auto r = softrnic(
      "demo --no-iwarp --size 1 --pingpongs 20 --capture " + test::shell_quote(pcap), dir, &err);
  ASSERT_EQ(r.exit_status, 0) << r.output << err;
  EXPECT_NE(r.output.find("capture: " + pcap + ", "), std::string::npos) << r.output;
  const auto d = softrnic("decode --json " + test::shell_quote(pcap), dir, &err);
  EXPECT_EQ(d.exit_status, 0) << err;
  // The CM handshake, the ping-pong, 2 x 1 MiB of data and their ACKs: both families.
  EXPECT_GT(json_lines(d.output).size(), 2u * (2 * 20 + 2 * 256)) << err;
}

TEST(SoftrnicCliDemo, CaptureOfIwarpHasSynthesizedTcpThatTsharkDissectsAndMarks) {
  ASSERT_TRUE(test::tool_installed("tshark")) << "tshark is not installed (Debian package tshark)";
  test::TempDir dir;
  const std::string pcap = dir.file("iwarp.pcapng");
  std::string err;
  const auto r = softrnic("demo --no-roce --no-ndk --size 1 --pingpongs 20 --capture " + test::shell_quote(pcap),
                          dir, &err);
  ASSERT_EQ(r.exit_status, 0) << r.output << err;
  if (r.output.find("SKIPPED") != std::string::npos) GTEST_SKIP() << "iWARP did not run: " << r.output;
  const auto d = softrnic("decode --json " + test::shell_quote(pcap), dir, &err);
  ASSERT_EQ(d.exit_status, 0) << err;
  std::size_t mpa = 0, fpdus = 0;
  for (const auto& j : json_lines(d.output)) {
    if (j.value("proto", "") != "iWARP") continue;
    const std::string op = j.value("opcode", "");
    if (op == "MPA_REQUEST" || op == "MPA_REPLY") ++mpa;
    if (j.contains("crc")) {
      ++fpdus;
      EXPECT_EQ(j.at("crc"), "ok") << j.dump();
    }
  }
  EXPECT_EQ(mpa, 4u) << "a Request and a Reply per connection, IPv4 and IPv6";
  // 20 ping-pongs and 2 x 1 MiB each way in FPDUs of at most the MSS, on both families.
  EXPECT_GT(fpdus, 2u * (2 * 20 + 2 * 16)) << d.output.substr(0, 2000);
  // tshark finds MPA/DDP/RDMAP in the made-up TCP, and every TCP frame says it is made up.
  const auto count = [&](const std::string& filter) {
    const auto t = test::run_command(test::tshark_command(pcap) + " -Y " + test::shell_quote(filter) +
                                     " -T fields -e frame.number 2>/dev/null | wc -l");
    return std::stoul(t.output);
  };
  const auto tcp = count("tcp");
  EXPECT_GT(count("iwarp_ddp_rdmap"), 2u * (2 * 20)) << "tshark dissects the FPDUs";
  EXPECT_GT(tcp, 0u);
  EXPECT_EQ(count("tcp && frame.comment contains \"synthesized\""), tcp);
  EXPECT_EQ(count("_ws.malformed || _ws.expert.severity >= error"), 0u);
}

TEST(SoftrnicCliDemo, TheLoopbackWireRunsWithoutDpdkAndVerifies) {
  test::TempDir dir;
  std::string err;
  const auto r = softrnic("demo --wire loopback --no-iwarp --size 4 --pingpongs 100", dir, &err);
  ASSERT_EQ(r.exit_status, 0) << r.output << err;
  EXPECT_NE(r.output.find("RoCEv2 wire: loopback (in memory"), std::string::npos) << r.output;
  EXPECT_TRUE(table_row(r.output, "RoCEv2/IPv6", "rdma read").ends_with("verified")) << r.output;
  EXPECT_TRUE(table_row(r.output, "iWARP/IPv4", "rdma read").empty()) << r.output;
}

TEST(SoftrnicCliDemo, BadFlagsAreUsageErrorsThatNameTheFlag) {
  test::TempDir dir;
  std::string err;
  EXPECT_EQ(softrnic("demo --frobnicate", dir, &err).exit_status, 2);
  EXPECT_NE(err.find("--frobnicate"), std::string::npos) << err;
  EXPECT_EQ(softrnic("demo --loss 80", dir, &err).exit_status, 2);
  EXPECT_NE(err.find("--loss"), std::string::npos) << err;
  EXPECT_EQ(softrnic("demo --wire carrier-pigeon", dir, &err).exit_status, 2);
  EXPECT_NE(err.find("--wire"), std::string::npos) << err;
  EXPECT_EQ(softrnic("demo --output x.pcap", dir, &err).exit_status, 2);
  EXPECT_NE(err.find("--codec"), std::string::npos) << err;
}

TEST(SoftrnicCli, UnknownSubcommandIsAUsageError) {
  test::TempDir dir;
  EXPECT_NE(softrnic("frobnicate", dir).exit_status, 0);
  EXPECT_NE(softrnic("", dir).exit_status, 0);
}

}  // namespace
}  // namespace softrnic
