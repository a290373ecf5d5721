// `softrnic decode` on iWARP: the siw captures decode FPDU by FPDU in agreement with tshark's
// DDP/RDMAP dissector, CRC verdicts follow the MPA negotiation, and a damaged CRC fails the run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crafted_captures.hpp"
#include "test_support.hpp"
#include "wire/rdmap_opcode.hpp"

namespace softrnic {
namespace {

std::string softrnic_exe() { return test::required_env("SOFTRNIC_BUILD_ROOT") + "/cli/softrnic"; }

struct Run {
  int status;
  std::vector<nlohmann::json> records;
  std::string err;
};

Run decode(const std::string& pcap, const test::TempDir& dir) {
  const std::string err_file = dir.file("stderr.txt");
  const auto r = test::run_command(test::shell_quote(softrnic_exe()) + " decode --json " +
                                   test::shell_quote(pcap) + " 2>" + test::shell_quote(err_file));
  Run out{r.exit_status, {}, {}};
  for (const auto& line : test::split(r.output, '\n')) {
    if (!line.empty()) out.records.push_back(nlohmann::json::parse(line));
  }
  std::ifstream in(err_file);
  out.err = std::string(std::istreambuf_iterator<char>(in), {});
  return out;
}

TEST(SoftrnicDecodeIwarp, EverySiwCaptureDecodesFpduByFpduLikeTshark) {
  ASSERT_TRUE(test::tool_installed("tshark")) << "tshark is not installed (Debian package tshark)";
  test::TempDir dir;
  const std::string pcaps = test::golden_pcaps_dir();
  std::size_t captures = 0;
  for (const auto& name : test::golden_capture_names(test::golden_pcaps_readme())) {
    if (!name.starts_with("iwarp_")) continue;
    ++captures;
    SCOPED_TRACE(name);
    const std::string path = pcaps + "/" + name;
    const auto run = decode(path, dir);
    EXPECT_EQ(run.status, 0) << run.err;
    std::vector<std::string> ours;  // RDMAP opcode per FPDU, and its MSN when untagged
    std::size_t mpa = 0;
    for (const auto& j : run.records) {
      if (j.at("proto") != "iWARP") continue;
      const std::string op = j.at("opcode");
      if (op.starts_with("MPA_")) {
        ++mpa;
        continue;
      }
      EXPECT_EQ(j.at("crc"), name.find("crc") != std::string::npos ? "ok" : "off") << op;
      ours.push_back(op + (j.contains("msn") ? "/" + std::to_string(j.at("msn").get<unsigned>()) : ""));
    }
    EXPECT_EQ(mpa % 2, 0u) << "requests and replies come in pairs";
    EXPECT_GT(mpa, 0u);
    // tshark: one row per frame, several FPDUs of a frame comma-separated.
    const auto t = test::run_command(test::tshark_command(path) +
                                     " -Y iwarp_rdma -T fields -E separator=';' -e iwarp_rdma.opcode "
                                     "-e iwarp_ddp.msn 2>/dev/null");
    ASSERT_EQ(t.exit_status, 0);
    std::vector<std::string> theirs;
    for (const auto& row : test::split(t.output, '\n')) {
      if (row.empty()) continue;
      const auto cols = test::split(row, ';');
      const auto opcodes = test::split(cols[0], ',');
      const auto msns = cols.size() > 1 ? test::split(cols[1], ',') : std::vector<std::string>{};
      std::size_t m = 0;
      for (const auto& code : opcodes) {
        const auto& info = wire::rdmap_opcode_info(static_cast<std::uint8_t>(std::stoul(code, nullptr, 16)));
        std::string entry(info.name);
        if (!info.tagged && m < msns.size() && !msns[m].empty()) entry += "/" + msns[m++];
        theirs.push_back(entry);
      }
    }
    EXPECT_EQ(ours, theirs);
  }
  EXPECT_GE(captures, 4u);
}

// Rewrites one byte of frame `frame` (1-based) of a classic pcap file, `from_end` bytes before
// the frame's end.
void flip_byte(const std::string& path, std::size_t frame, std::size_t from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f);
  std::size_t off = 24;
  for (std::size_t n = 1;; ++n) {
    f.seekg(static_cast<std::streamoff>(off + 8));
    std::uint32_t caplen = 0;
    f.read(reinterpret_cast<char*>(&caplen), 4);
    ASSERT_TRUE(f) << "frame " << frame << " not in the file";
    if (n == frame) {
      const auto at = static_cast<std::streamoff>(off + 16 + caplen - 1 - from_end);
      f.seekg(at);
      char c = 0;
      f.read(&c, 1);
      c = static_cast<char>(c ^ 0x5a);
      f.seekp(at);
      f.write(&c, 1);
      return;
    }
    off += 16 + caplen;
  }
}

TEST(SoftrnicDecodeIwarp, ADamagedMpaCrcFailsTheRunAndNamesItsFpdu) {
  test::TempDir dir;
  const std::string pcap = dir.file("iwarp_v2crc.pcap");
  ASSERT_TRUE(test::write_crafted_iwarp(pcap, 2, true));
  const auto clean = decode(pcap, dir);
  EXPECT_EQ(clean.status, 0) << clean.err;
  flip_byte(pcap, 7, 0);  // the last CRC byte of the RDMA Write FPDU
  const auto run = decode(pcap, dir);
  EXPECT_EQ(run.status, 1) << run.err;
  std::vector<std::uint64_t> bad;
  for (const auto& j : run.records) {
    if (j.contains("crc") && j.at("crc") == "bad") bad.push_back(j.at("frame").get<std::uint64_t>());
  }
  EXPECT_EQ(bad, std::vector<std::uint64_t>{7});
}

TEST(SoftrnicDecodeIwarp, RevisionOneWithoutCrcReportsCrcOff) {
  test::TempDir dir;
  ASSERT_TRUE(test::write_crafted_iwarp(dir.file("iwarp_v1.pcap"), 1, false));
  const auto run = decode(dir.file("iwarp_v1.pcap"), dir);
  EXPECT_EQ(run.status, 0) << run.err;
  std::size_t fpdus = 0;
  for (const auto& j : run.records) {
    if (j.at("proto") != "iWARP" || std::string(j.at("opcode")).starts_with("MPA_")) continue;
    ++fpdus;
    EXPECT_EQ(j.at("crc"), "off");
  }
  EXPECT_EQ(fpdus, 7u);
}

}  // namespace
}  // namespace softrnic
