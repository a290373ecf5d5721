// The byte formats the pingpong and rping commands share with rdma-core's tools: the pingpong
// address message, the lines they print, and rping's buffer advertisement and ping data.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "pingpong_format.hpp"
#include "rping_format.hpp"

namespace softrnic::cli {
namespace {

TEST(PingpongFormat, MessageIsFiftyTwoBytesOfLidQpnPsnAndGidHexWithItsNul) {
  PingpongDest d{0, 0x11, 0xabcdef, wire::ipv4_mapped({198, 18, 0, 1})};
  const PingpongMsg m = format_pingpong_dest(d);
  ASSERT_EQ(m.size(), 52u);
  EXPECT_EQ(std::string(m.data()), "0000:000011:abcdef:00000000000000000000ffffc6120001");
  EXPECT_EQ(m[51], '\0');
}

TEST(PingpongFormat, ParsesWhatItWritesAndWhatSscanfWouldAccept) {
  PingpongDest d{
      0x12, 0x345678, 0x9abcde, {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}};
  auto back = parse_pingpong_dest(format_pingpong_dest(d));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, d);
  const char loose[] = "0:11:2:FD005052000000000000000000000002";
  auto l = parse_pingpong_dest(std::span<const char>(loose, sizeof loose));
  ASSERT_TRUE(l.has_value()) << l.error().message;
  EXPECT_EQ(l->qpn, 0x11u);
  EXPECT_EQ(l->psn, 2u);
  EXPECT_EQ(l->gid, d.gid);
}

TEST(PingpongFormat, RefusesAMessageWithoutAWholeGid) {
  const char bad[] = "0000:000011:abcdef:00000000";
  EXPECT_FALSE(parse_pingpong_dest(std::span<const char>(bad, sizeof bad)).has_value());
  const char junk[] = "hello";
  EXPECT_FALSE(parse_pingpong_dest(std::span<const char>(junk, sizeof junk)).has_value());
}

TEST(PingpongFormat, PrintsTheToolsLinesByteForByte) {
  PingpongDest d{0, 0x11, 0xabcdef, wire::ipv4_mapped({198, 18, 0, 1})};
  EXPECT_EQ(address_line(true, d),
            "  local address:  LID 0x0000, QPN 0x000011, PSN 0xabcdef, GID ::ffff:198.18.0.1\n");
  EXPECT_EQ(address_line(true, d, true),
            "  local address:  LID 0x0000, QPN 0x000011, PSN 0xabcdef: GID ::ffff:198.18.0.1\n");
  EXPECT_EQ(address_line(false, d, true),
            "  remote address: LID 0x0000, QPN 0x000011, PSN 0xabcdef, GID ::ffff:198.18.0.1\n");
  EXPECT_EQ(result_lines(4096, 1000, 2000000.0),
            "8192000 bytes in 2.00 seconds = 32.77 Mbit/sec\n"
            "1000 iters in 2.00 seconds = 2000.00 usec/iter\n");
}

TEST(RpingFormat, InfoIsSixteenBigEndianBytesOfAddressKeyAndSize) {
  const auto b = encode_rping_info({0x0102030405060708ull, 0x0a0b0c0d, 64});
  const unsigned char want[16] = {1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 64};
  EXPECT_EQ(std::memcmp(b.data(), want, 16), 0);
  EXPECT_EQ(decode_rping_info(b), (RpingInfo{0x0102030405060708ull, 0x0a0b0c0d, 64}));
}

TEST(RpingFormat, PingDataStartsAtTheLetterOfItsNumberAndWrapsAfterLowercaseZ) {
  std::string b(64, '?');
  fill_rping_data(b, 0);
  EXPECT_EQ(std::string(b.c_str()),
            "rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr");
  EXPECT_EQ(b.back(), '\0');
  fill_rping_data(b, 57);
  EXPECT_EQ(std::string(b.c_str()).substr(0, 18), "rdma-ping-57: zABC");
  EXPECT_EQ(kRpingMinSize, 26);
}

}  // namespace
}  // namespace softrnic::cli
