#include "verbs/memory.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

namespace softrnic::verbs {
namespace {

class MemoryTableTest : public ::testing::Test {
 protected:
  MemoryTable t;
  PdHandle pd = *t.alloc_pd();
  std::array<std::byte, 4096> buf{};
};

TEST_F(MemoryTableTest, RemoteWriteWithinBoundsAndRightsIsGranted) {
  const auto key = t.register_mr(pd, buf.data(), buf.size(), 0x10000, kLocalWrite | kRemoteWrite);
  ASSERT_TRUE(key);
  auto r = t.check(*key, pd, 0x10000 + 100, 50, kRemoteWrite);
  ASSERT_TRUE(r);
  const std::array<std::byte, 3> data{std::byte{1}, std::byte{2}, std::byte{3}};
  MemoryTable::copy_in(*r, 10, data);
  EXPECT_EQ(buf[110], std::byte{1});
  EXPECT_EQ(buf[112], std::byte{3});
}

TEST_F(MemoryTableTest, EveryKindOfViolationHasItsOwnError) {
  const auto key = *t.register_mr(pd, buf.data(), buf.size(), 0x10000, kLocalWrite | kRemoteRead);
  EXPECT_EQ(t.check(key, pd, 0x10000, 1, kRemoteWrite).error(), AccessError::rights);
  EXPECT_EQ(t.check(key, pd, 0x10000 + 4095, 2, kRemoteRead).error(), AccessError::bounds);
  EXPECT_EQ(t.check(key, pd, 0xffff, 1, kRemoteRead).error(), AccessError::bounds);
  EXPECT_EQ(t.check(key, pd, ~0ull, 2, kRemoteRead).error(), AccessError::bounds);  // wraps
  EXPECT_EQ(t.check(key ^ 0x100, pd, 0x10000, 1, kRemoteRead).error(), AccessError::invalid_key);
  const auto pd2 = *t.alloc_pd();
  EXPECT_EQ(t.check(key, pd2, 0x10000, 1, kRemoteRead).error(), AccessError::pd_mismatch);
  EXPECT_TRUE(t.check(key, pd, 0x10000 + 4096, 0, kRemoteRead));  // zero length at the end
}

TEST_F(MemoryTableTest, ReregistrationChangesTheKeyByteSoTheOldKeyIsRefused) {
  const auto k1 = *t.register_mr(pd, buf.data(), buf.size(), 0, kLocalWrite | kRemoteRead | kZeroBased);
  const auto k2 = *t.reregister_mr(k1, buf.data(), 100, 0, kLocalWrite | kRemoteRead | kZeroBased);
  EXPECT_EQ(k1 >> 8, k2 >> 8);
  EXPECT_NE(k1 & 0xff, k2 & 0xff);
  EXPECT_EQ(t.check(k1, pd, 0, 1, kRemoteRead).error(), AccessError::invalid_key);
  EXPECT_TRUE(t.check(k2, pd, 0, 100, kRemoteRead));
  EXPECT_EQ(t.check(k2, pd, 0, 101, kRemoteRead).error(), AccessError::bounds);
}

TEST_F(MemoryTableTest, DeregisteredSlotIsReusedWithADifferentKey) {
  const auto k1 = *t.register_mr(pd, buf.data(), 8, 0, 0);
  ASSERT_TRUE(t.deregister(k1));
  const auto k2 = *t.register_mr(pd, buf.data(), 8, 0, 0);
  EXPECT_EQ(k1 >> 8, k2 >> 8);
  EXPECT_NE(k1, k2);
  EXPECT_FALSE(t.check(k1, pd, 0, 1, 0));
}

TEST_F(MemoryTableTest, RemoteWriteWithoutLocalWriteIsRejectedAtRegistration) {
  EXPECT_FALSE(t.register_mr(pd, buf.data(), 8, 0, kRemoteWrite));
  EXPECT_FALSE(t.register_mr(pd, buf.data(), 8, 0, kRemoteAtomic));
}

TEST_F(MemoryTableTest, PdWithRegistrationsCannotBeFreed) {
  const auto k = *t.register_mr(pd, buf.data(), 8, 0, 0);
  EXPECT_FALSE(t.free_pd(pd));
  ASSERT_TRUE(t.deregister(k));
  EXPECT_TRUE(t.free_pd(pd));
}

TEST_F(MemoryTableTest, FastRegisterMapsAPageListAndInvalidateRevokesIt) {
  std::vector<std::byte> p0(4096), p1(4096);
  std::array<std::byte*, 2> pages{p0.data(), p1.data()};
  const auto frmr = *t.alloc_frmr(pd, 4);
  EXPECT_EQ(t.check(frmr, pd, 0, 1, 0).error(), AccessError::invalid_state);
  const auto key = t.fast_register(frmr, 0x42, pages, 4096, 0x7000, 100, 5000,
                                   kLocalWrite | kRemoteWrite | kRemoteRead);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key & 0xff, 0x42u);
  auto r = t.check(*key, pd, 0x7000 + 3990, 10, kRemoteWrite);  // straddles the page boundary
  ASSERT_TRUE(r);
  std::array<std::byte, 10> data;
  for (int i = 0; i < 10; ++i) data[i] = std::byte(i + 1);
  MemoryTable::copy_in(*r, 0, data);
  EXPECT_EQ(p0[100 + 3990], std::byte{1});
  EXPECT_EQ(p0[4095], std::byte{6});
  EXPECT_EQ(p1[0], std::byte{7});
  EXPECT_EQ(p1[3], std::byte{10});
  std::array<std::byte, 10> back{};
  MemoryTable::copy_out(*r, 0, back);
  EXPECT_EQ(back, data);
  EXPECT_FALSE(t.fast_register(*key, 0x43, pages, 4096, 0, 0, 10, 0));  // still valid
  ASSERT_TRUE(t.invalidate(*key, pd, 0));
  EXPECT_EQ(t.check(*key, pd, 0x7000, 1, kRemoteRead).error(), AccessError::invalid_state);
  EXPECT_EQ(t.invalidate(*key, pd, 0).error(), AccessError::invalid_state);
}

TEST_F(MemoryTableTest, RegularRegionsCannotBeInvalidatedRemotely) {
  const auto k = *t.register_mr(pd, buf.data(), 8, 0, kLocalWrite | kRemoteWrite);
  EXPECT_EQ(t.invalidate(k, pd, 0).error(), AccessError::rights);
}

TEST_F(MemoryTableTest, MemoryWindowHasItsOwnKeyBoundsAndQp) {
  const auto mr = *t.register_mr(pd, buf.data(), buf.size(), 0x1000, kLocalWrite | kMwBind);
  EXPECT_EQ(t.check(mr, pd, 0x1000, 1, kRemoteWrite).error(), AccessError::rights);
  const auto mw = *t.alloc_mw(pd);
  const auto wkey = t.bind_mw(mw, 7, mr, 0x1100, 0x100, kRemoteWrite, /*qp=*/5);
  ASSERT_TRUE(wkey);
  auto r = t.check(*wkey, pd, 0x1100, 0x100, kRemoteWrite, 5);
  ASSERT_TRUE(r);
  std::array<std::byte, 1> one{std::byte{0x5a}};
  MemoryTable::copy_in(*r, 0x10, one);
  EXPECT_EQ(buf[0x110], std::byte{0x5a});
  EXPECT_EQ(t.check(*wkey, pd, 0x1100, 0x101, kRemoteWrite, 5).error(), AccessError::bounds);
  EXPECT_EQ(t.check(*wkey, pd, 0x1100, 1, kRemoteRead, 5).error(), AccessError::rights);
  EXPECT_EQ(t.check(*wkey, pd, 0x1100, 1, kRemoteWrite, 6).error(), AccessError::qp_mismatch);
  EXPECT_FALSE(t.deregister(mr));  // a window is bound to it
  ASSERT_TRUE(t.invalidate(*wkey, pd, 5));
  EXPECT_EQ(t.check(*wkey, pd, 0x1100, 1, kRemoteWrite, 5).error(), AccessError::invalid_state);
  EXPECT_TRUE(t.deregister(mr));
}

TEST_F(MemoryTableTest, WindowBindNeedsTheRegionsBindRight) {
  const auto mr = *t.register_mr(pd, buf.data(), buf.size(), 0, kLocalWrite);
  const auto mw = *t.alloc_mw(pd);
  EXPECT_FALSE(t.bind_mw(mw, 1, mr, 0, 16, kRemoteRead, 1));
}

}  // namespace
}  // namespace softrnic::verbs
