// The GID table: link-local derivation, named refusals, stable indices, VLANs, source selection.
#include <gtest/gtest.h>

#include "engine/gid_table.hpp"

namespace softrnic::engine {
namespace {

using wire::Ipv4Addr;
using wire::Ipv6Addr;
using wire::MacAddr;

constexpr MacAddr kMac{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
constexpr Ipv6Addr kGlobal{0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr Ipv6Addr kOtherSubnet{0xfd, 0x00, 0x50, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};

Ipv6Addr v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return wire::ipv4_mapped(Ipv4Addr{a, b, c, d});
}

void expect_named(const Result<std::size_t>& r, GidError e) {
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().message.starts_with(std::string(gid_error_name(e)) + ": "))
      << r.error().to_string();
}

TEST(LinkLocal, DerivedFromTheMacByModifiedEui64AsInRfc2464) {
  // RFC 2464 section 4: MAC 34-56-78-9A-BC-DE gives interface identifier 3656:78FF:FE9A:BCDE.
  const Ipv6Addr want{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x36, 0x56, 0x78, 0xff, 0xfe, 0x9a, 0xbc, 0xde};
  EXPECT_EQ(link_local_from_mac({0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde}), want);
  EXPECT_EQ(wire::to_string(link_local_from_mac({0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde})),
            "fe80::3656:78ff:fe9a:bcde");
}

TEST(LinkLocal, LocallyAdministeredMacClearsTheUniversalBit) {
  // 02:.. (locally administered) flips to 00:.. in the identifier (RFC 4291 appendix A).
  EXPECT_EQ(wire::to_string(link_local_from_mac(kMac)), "fe80::5eff:fe10:1");
}

TEST(GidTable, Ipv6DeviceHasItsLinkLocalAddressAtIndexZero) {
  GidTable t({.mac = kMac});
  ASSERT_EQ(t.size(), 1u);
  const GidEntry* e = t.at(0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->gid, link_local_from_mac(kMac));
  EXPECT_EQ(e->kind, GidKind::ipv6);
  EXPECT_EQ(e->prefix_len, 64);
  EXPECT_TRUE(t.is_ours(link_local_from_mac(kMac)));
}

TEST(GidTable, Ipv4OnlyDeviceHasNoLinkLocalAddress) {
  GidTable t({.mac = kMac, .ipv6_enabled = false});
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.is_ours(link_local_from_mac(kMac)));
}

TEST(GidTable, IndicesStayPutWhenAnEarlierEntryIsRemoved) {
  GidTable t({.mac = kMac});
  const auto a = t.add_ipv4({198, 18, 0, 1}, 24);
  const auto b = t.add_ipv6(kGlobal, 64);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 1u);
  EXPECT_EQ(*b, 2u);
  ASSERT_TRUE(t.remove(v4(198, 18, 0, 1)));
  EXPECT_EQ(t.find(kGlobal), 2u);
  EXPECT_FALSE(t.is_ours(Ipv4Addr{198, 18, 0, 1}));
  // The freed slot is reused.
  EXPECT_EQ(t.add_ipv4({198, 18, 0, 9}, 24).value(), 1u);
}

TEST(GidTable, IsOursAnswersForIpv4AndIpv6Addresses) {
  GidTable t({.mac = kMac});
  ASSERT_TRUE(t.add_ipv4({198, 18, 0, 1}, 24));
  ASSERT_TRUE(t.add_ipv6(kGlobal, 64));
  EXPECT_TRUE(t.is_ours(Ipv4Addr{198, 18, 0, 1}));
  EXPECT_TRUE(t.is_ours(v4(198, 18, 0, 1)));
  EXPECT_TRUE(t.is_ours(kGlobal));
  EXPECT_FALSE(t.is_ours(Ipv4Addr{198, 18, 0, 2}));
  EXPECT_FALSE(t.is_ours(kOtherSubnet));
}

TEST(GidTable, RefusesADuplicateByName) {
  GidTable t({.mac = kMac});
  ASSERT_TRUE(t.add_ipv4({198, 18, 0, 1}, 24));
  expect_named(t.add_ipv4({198, 18, 0, 1}, 16), GidError::duplicate_gid);
  expect_named(t.add_ipv6(link_local_from_mac(kMac), 64), GidError::duplicate_gid);
}

TEST(GidTable, RefusesAPrefixLongerThanTheFamily) {
  GidTable t({.mac = kMac});
  expect_named(t.add_ipv4({198, 18, 0, 1}, 33), GidError::bad_prefix);
  expect_named(t.add_ipv6(kGlobal, 129), GidError::bad_prefix);
  EXPECT_TRUE(t.add_ipv4({198, 18, 0, 1}, 32));
  EXPECT_TRUE(t.add_ipv6(kGlobal, 128));
}

TEST(GidTable, RefusesAddressesADeviceCannotOwn) {
  GidTable t({.mac = kMac});
  expect_named(t.add_ipv4({0, 0, 0, 0}, 24), GidError::bad_address);
  expect_named(t.add_ipv4({224, 0, 0, 1}, 24), GidError::bad_address);
  expect_named(t.add_ipv4({255, 255, 255, 255}, 24), GidError::bad_address);
  expect_named(t.add_ipv4({127, 0, 0, 1}, 8), GidError::bad_address);
  expect_named(t.add_ipv6(Ipv6Addr{}, 64), GidError::bad_address);
  expect_named(t.add_ipv6({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 64),
               GidError::bad_address);
  // Kind and address family must agree.
  expect_named(t.add(GidEntry{v4(198, 18, 0, 1), GidKind::ipv6, 64, {}}), GidError::bad_address);
  expect_named(t.add(GidEntry{kGlobal, GidKind::ipv4, 24, {}}), GidError::bad_address);
  EXPECT_EQ(t.size(), 1u);
}

TEST(GidTable, LoopbackAddressesOnlyWhereTheTableAllowsThem) {
  Ipv6Addr lo6{};
  lo6[15] = 1;
  GidTable eth({.mac = kMac});
  expect_named(eth.add_ipv6(lo6, 128), GidError::bad_address);
  // A socket port's table (the kernel's lo carries the traffic): 127.0.0.0/8 and ::1 are
  // addresses like others, and the rest of the refusals stay.
  GidTable sock({.mac = kMac, .allow_loopback = true});
  ASSERT_TRUE(sock.add_ipv4({127, 0, 0, 2}, 8));
  ASSERT_TRUE(sock.add_ipv6(lo6, 128));
  EXPECT_TRUE(sock.is_ours(v4(127, 0, 0, 2)));
  EXPECT_TRUE(sock.is_ours(lo6));
  EXPECT_FALSE(sock.is_ours(v4(127, 0, 0, 1)));
  expect_named(sock.add_ipv4({224, 0, 0, 1}, 24), GidError::bad_address);
  expect_named(sock.add_ipv6(Ipv6Addr{}, 64), GidError::bad_address);
}

TEST(GidTable, RefusesReservedVlanIds) {
  GidTable t({.mac = kMac});
  expect_named(t.add_ipv4({198, 18, 0, 1}, 24, 0), GidError::bad_vlan);
  expect_named(t.add_ipv4({198, 18, 0, 1}, 24, 4095), GidError::bad_vlan);
  EXPECT_TRUE(t.add_ipv4({198, 18, 0, 1}, 24, 4094));
}

TEST(GidTable, RefusesAnEntryWhenFull) {
  GidTable t({.mac = kMac, .ipv6_enabled = false});
  for (std::size_t i = 0; i < GidTable::kCapacity; ++i) {
    ASSERT_TRUE(t.add_ipv4({198, 18, 1, static_cast<std::uint8_t>(i + 1)}, 24));
  }
  expect_named(t.add_ipv4({198, 18, 2, 1}, 24), GidError::table_full);
}

TEST(GidTable, RemovingAnUnknownAddressIsNotFound) {
  GidTable t({.mac = kMac});
  const auto r = t.remove(v4(198, 18, 0, 7));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_TRUE(r.error().message.starts_with("not_found: 198.18.0.7")) << r.error().message;
}

TEST(GidTable, EntriesWithoutAVlanTakeTheDeviceVlan) {
  GidTable t({.mac = kMac, .vlan = 100});
  EXPECT_EQ(t.at(0)->vlan, std::optional<std::uint16_t>(100));
  const auto a = t.add_ipv4({198, 18, 0, 1}, 24);
  const auto b = t.add_ipv4({198, 19, 0, 1}, 24, 200);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(t.at(*a)->vlan, std::optional<std::uint16_t>(100));
  EXPECT_EQ(t.at(*b)->vlan, std::optional<std::uint16_t>(200));
  EXPECT_NE(t.find_on(v4(198, 18, 0, 1), 100), nullptr);
  EXPECT_EQ(t.find_on(v4(198, 18, 0, 1), 0), nullptr);
  EXPECT_EQ(t.find_on(v4(198, 18, 0, 1), 200), nullptr);
  EXPECT_TRUE(t.serves_vlan(100));
  EXPECT_TRUE(t.serves_vlan(200));
  EXPECT_FALSE(t.serves_vlan(0));
}

TEST(SourceSelection, PrefersTheAddressWhoseSubnetHoldsTheDestination) {
  GidTable t({.mac = kMac});
  ASSERT_TRUE(t.add_ipv4({198, 18, 0, 1}, 24));
  ASSERT_TRUE(t.add_ipv4({198, 19, 5, 1}, 24));
  const auto s = t.source_for(v4(198, 19, 5, 77));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ((*s)->gid, v4(198, 19, 5, 1));
}

TEST(SourceSelection, LongestMatchingPrefixWins) {
  GidTable t({.mac = kMac});
  ASSERT_TRUE(t.add_ipv4({198, 18, 0, 1}, 15));
  ASSERT_TRUE(t.add_ipv4({198, 18, 7, 1}, 24));
  EXPECT_EQ(t.source_for(v4(198, 18, 7, 9)).value()->gid, v4(198, 18, 7, 1));
  EXPECT_EQ(t.source_for(v4(198, 19, 0, 9)).value()->gid, v4(198, 18, 0, 1));
}

TEST(SourceSelection, FallsBackToTheFirstAddressOfTheFamily) {
  GidTable t({.mac = kMac});
  ASSERT_TRUE(t.add_ipv6(kGlobal, 64));
  ASSERT_TRUE(t.add_ipv4({198, 18, 0, 1}, 24));
  ASSERT_TRUE(t.add_ipv4({198, 19, 0, 1}, 24));
  EXPECT_EQ(t.source_for(v4(203, 0, 113, 5)).value()->gid, v4(198, 18, 0, 1));
  // A global IPv6 destination off our subnet: the global address, never the link-local one.
  EXPECT_EQ(t.source_for(kOtherSubnet).value()->gid, kGlobal);
}

TEST(SourceSelection, LinkLocalDestinationUsesTheLinkLocalAddress) {
  GidTable t({.mac = kMac});
  ASSERT_TRUE(t.add_ipv6(kGlobal, 64));
  const Ipv6Addr peer = link_local_from_mac({0x02, 0, 0, 0, 0, 0x99});
  EXPECT_EQ(t.source_for(peer).value()->gid, link_local_from_mac(kMac));
}

TEST(SourceSelection, NoAddressOfTheFamilyIsANamedError) {
  GidTable t({.mac = kMac});
  const auto r = t.source_for(v4(198, 18, 0, 2));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::not_found);
  EXPECT_EQ(r.error().message,
            "no_source_address: no IPv4 address in the GID table to reach 198.18.0.2 from");
  // Only a link-local IPv6 address: a global destination has no source.
  EXPECT_FALSE(t.source_for(kGlobal).has_value());
  GidTable v4only({.mac = kMac, .ipv6_enabled = false});
  EXPECT_FALSE(v4only.source_for(link_local_from_mac({0x02, 0, 0, 0, 0, 0x99})).has_value());
}

TEST(SamePrefix, ComparesPartialBytes) {
  EXPECT_TRUE(same_prefix(v4(198, 18, 0, 1), v4(198, 19, 255, 255), 96 + 15));
  EXPECT_FALSE(same_prefix(v4(198, 18, 0, 1), v4(198, 20, 0, 1), 96 + 15));
  EXPECT_TRUE(same_prefix(kGlobal, kOtherSubnet, 0));
  EXPECT_FALSE(same_prefix(kGlobal, kOtherSubnet, 128));
}

}  // namespace
}  // namespace softrnic::engine
