#include "bootstrap/oob_exchange.hpp"

#include <gtest/gtest.h>

#include <future>

namespace softrnic::transport {
namespace {

OobEndpoint sample(std::uint32_t qpn) {
  OobEndpoint e;
  e.qpn = qpn;
  e.psn = 0xabcdef;
  e.rkey = 0x1234;
  e.addr = 0x7f0012340000;
  e.gid = wire::ipv4_mapped({198, 18, 0, static_cast<std::uint8_t>(qpn)});
  e.mac = {2, 0, 0, 0, 0, static_cast<std::uint8_t>(qpn)};
  e.mtu = 4096;
  return e;
}

TEST(OobExchange, LineRoundTrips) {
  const auto e = sample(17);
  const auto line = format_oob(e);
  ASSERT_EQ(line.back(), '\n');
  auto back = parse_oob(line.substr(0, line.size() - 1));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
}

TEST(OobExchange, UdQpnAndQkeyTravelWhenGivenAndAreOptional) {
  auto e = sample(17);
  const auto plain = format_oob(e);
  EXPECT_EQ(plain.find("udqp="), std::string::npos) << "no UD QP: the line is unchanged";
  e.ud_qpn = 0x12;
  e.qkey = 0x11110001;
  const auto line = format_oob(e);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_NE(line.find(" udqp=000012 qkey=11110001\n"), std::string::npos) << line;
  auto back = parse_oob(line.substr(0, line.size() - 1));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, e);
  auto old = parse_oob(plain.substr(0, plain.size() - 1));
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->ud_qpn, 0u);
  EXPECT_EQ(old->qkey, 0u);
  EXPECT_FALSE(parse_oob(plain.substr(0, plain.size() - 1) + " udqp=zz"));
  EXPECT_FALSE(parse_oob(plain.substr(0, plain.size() - 1) + " udqp=1000000"));
}

TEST(OobExchange, MalformedLinesAreNamedErrors) {
  EXPECT_FALSE(parse_oob("hello"));
  EXPECT_FALSE(parse_oob("softrnic-oob/1 qpn=zz"));
  EXPECT_FALSE(parse_oob("softrnic-oob/1 qpn=1000000 psn=0 rkey=0 addr=0 gid=00000000000000000000000000000000 mac=00:00:00:00:00:00 mtu=1"));
}

TEST(OobExchange, TwoSidesSwapTheirEndpointsOverLoopbackTcp) {
  for (const char* host : {"127.0.0.1", "::1"}) {
    const std::uint16_t port = static_cast<std::uint16_t>(40000 + (::getpid() % 20000));
    auto server = std::async(std::launch::async, [&] {
      return oob_serve(host, port, sample(1), std::chrono::seconds(10));
    });
    auto client = oob_connect(host, port, sample(2), std::chrono::seconds(10));
    auto got = server.get();
    ASSERT_TRUE(client) << client.error().message;
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*client, sample(1));
    EXPECT_EQ(*got, sample(2));
  }
}

TEST(OobExchange, APeerThatNeverAnswersTimesOutWithAClearError) {
  const std::uint16_t port = static_cast<std::uint16_t>(40000 + ((::getpid() + 7) % 20000));
  auto r = oob_serve("127.0.0.1", port, sample(1), std::chrono::milliseconds(100));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no answer before the deadline"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace softrnic::transport
