// Golden frames: real RoCEv2 (rxe) and iWARP (siw) captures listed in tests/data/pcaps/README.md. Every
// frame must parse without a drop, every ICRC must verify, and re-emitting each frame from the spec
// its parse yields must give back the captured bytes exactly (Ethernet padding included).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "wire/build.hpp"
#include "wire/parse.hpp"

namespace softrnic {
namespace {

std::vector<std::string> listed_captures() {
  const char* data = std::getenv("SOFTRNIC_TEST_DATA");
  if (data == nullptr) return {};
  return test::golden_capture_names(std::string(data) + "/pcaps/README.md");
}

std::string hex_dump(ConstByteSpan b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const auto v = static_cast<std::uint8_t>(b[i]);
    s += kDigits[v >> 4];
    s += kDigits[v & 15];
    if (i % 32 == 31) s += '\n';
  }
  return s;
}

// The frame that the builder makes from the parsed frame's spec, or an error text.
Result<std::vector<std::byte>> rebuild(const wire::ParsedFrame& p) {
  std::vector<std::byte> out(wire::kMaxFrameSize + p.frame.size());
  Result<std::size_t> n = make_error(Errc::unsupported, "no builder for this protocol");
  switch (p.proto) {
    case wire::Proto::roce_v4:
    case wire::Proto::roce_v6:
      n = wire::build_roce(wire::roce_spec_of(p), out);
      break;
    case wire::Proto::tcp_v4:
    case wire::Proto::tcp_v6:
      n = wire::build_tcp(wire::tcp_spec_of(p), out);
      break;
    case wire::Proto::arp:
      n = wire::build_arp(wire::arp_spec_of(p), out);
      break;
    case wire::Proto::nd:
      n = wire::build_nd(wire::nd_spec_of(p), out);
      break;
    case wire::Proto::other:
      break;
  }
  if (!n) return std::unexpected(n.error());
  out.resize(*n);
  return out;
}

TEST(GoldenCaptures, IndexListsCapturesAndEveryOneIsInTheFolder) {
  const std::string dir = test::golden_pcaps_dir();
  const auto names = test::golden_capture_names(test::golden_pcaps_readme());
  ASSERT_FALSE(names.empty()) << "no '## name.pcap' heading in " << test::golden_pcaps_readme();
  for (const auto& name : names) {
    EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/" + name))
        << name << " is listed in README.md but missing from " << dir;
  }
}

class GoldenCapture : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenCapture, EveryFrameParsesVerifiesItsIcrcAndRebuildsByteForByte) {
  const std::string path = test::golden_pcaps_dir() + "/" + GetParam();
  ASSERT_TRUE(std::filesystem::is_regular_file(path)) << path << " is listed but missing";
  const auto frames = test::read_all_frames(path);
  ASSERT_FALSE(frames.empty()) << path << " holds no frame";

  std::size_t rebuilt = 0;
  for (const auto& f : frames) {
    SCOPED_TRACE(GetParam() + " frame " + std::to_string(f.number));
    // Default options: a bad ICRC is a drop, so parsing at all proves the ICRC.
    const auto p = wire::parse_frame(f.bytes);
    ASSERT_TRUE(p.has_value()) << "dropped: " << wire::drop_reason_name(p.error());
    ASSERT_NE(p->proto, wire::Proto::other) << "a golden frame we do not speak";
    if (p->proto == wire::Proto::roce_v4 || p->proto == wire::Proto::roce_v6) {
      EXPECT_TRUE(p->roce.icrc_ok);
    }
    const auto again = rebuild(*p);
    ASSERT_TRUE(again.has_value()) << again.error().to_string();
    EXPECT_EQ(again->size(), f.bytes.size());
    if (*again != f.bytes) {
      ADD_FAILURE() << "rebuilt frame differs\ncaptured:\n"
                    << hex_dump(f.bytes) << "\nrebuilt:\n"
                    << hex_dump(*again);
    } else {
      ++rebuilt;
    }
  }
  EXPECT_EQ(rebuilt, frames.size());
}

INSTANTIATE_TEST_SUITE_P(GoldenPcaps, GoldenCapture, ::testing::ValuesIn(listed_captures()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace softrnic
