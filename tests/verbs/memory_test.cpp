#include "verbs/memory.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <set>
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
  EXPECT_TRUE(MemoryTable::copy_in(*r, 10, data));
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
  EXPECT_TRUE(MemoryTable::copy_in(*r, 0, data));
  EXPECT_EQ(p0[100 + 3990], std::byte{1});
  EXPECT_EQ(p0[4095], std::byte{6});
  EXPECT_EQ(p1[0], std::byte{7});
  EXPECT_EQ(p1[3], std::byte{10});
  std::array<std::byte, 10> back{};
  EXPECT_TRUE(MemoryTable::copy_out(*r, 0, back));
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
  EXPECT_TRUE(MemoryTable::copy_in(*r, 0x10, one));
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

// Finding 2: a re-used slot used to start again at generation 0 with key byte + 1, so a window
// checked against the slot's previous registration looked current again.
TEST_F(MemoryTableTest, AWindowCheckedBeforeDeregistrationNeverBecomesCurrentAgain) {
  const auto k1 = *t.register_mr(pd, buf.data(), buf.size(), 0, kLocalWrite | kRemoteRead | kZeroBased);
  const auto r = t.check(k1, pd, 0, 16, kRemoteRead);
  ASSERT_TRUE(r);
  ASSERT_TRUE(t.deregister(k1));
  std::array<std::byte, 64> other{};
  for (int i = 0; i < 300; ++i) {  // every key byte comes round again
    const auto k = *t.register_mr(pd, other.data(), other.size(), 0, kLocalWrite | kRemoteRead | kZeroBased);
    EXPECT_FALSE(MemoryTable::current(*r)) << "after " << i << " re-registrations";
    std::array<std::byte, 16> out{};
    EXPECT_FALSE(MemoryTable::copy_out(*r, 0, out));
    ASSERT_TRUE(t.deregister(k));
  }
}

// Finding 3: the table's storage grew by reallocation, leaving every checked window dangling.
TEST_F(MemoryTableTest, CheckedWindowsStayValidWhileTheTableGrows) {
  const auto k = *t.register_mr(pd, buf.data(), buf.size(), 0, kLocalWrite | kRemoteWrite | kZeroBased);
  const auto r = t.check(k, pd, 0, 16, kRemoteWrite);
  ASSERT_TRUE(r);
  const MemoryObject* before = t.find(k);
  std::array<std::byte, 8> small{};
  for (int i = 0; i < 5000; ++i)
    ASSERT_TRUE(t.register_mr(pd, small.data(), small.size(), 0, kZeroBased));
  EXPECT_EQ(t.find(k), before) << "the object moved";
  EXPECT_EQ(r->obj, t.find(k));
  EXPECT_TRUE(MemoryTable::current(*r));
  const std::array<std::byte, 1> one{std::byte{9}};
  EXPECT_TRUE(MemoryTable::copy_in(*r, 3, one));
  EXPECT_EQ(buf[3], std::byte{9});
}

TEST_F(MemoryTableTest, TheTableRefusesRegistrationsBeyondItsLimitsWithoutMoving) {
  DeviceLimits small_limits;
  small_limits.max_mr = 3000;
  small_limits.max_mw = 0;
  MemoryTable s(small_limits);
  const auto p = *s.alloc_pd();
  std::array<std::byte, 8> b{};
  int ok = 0;
  while (s.register_mr(p, b.data(), b.size(), 0, kZeroBased)) ++ok;
  EXPECT_EQ(ok, 3000);
}

// A window reached through a memory window carries the window's own generation too.
TEST_F(MemoryTableTest, AnInvalidatedWindowsCheckedReferenceIsNoLongerCurrent) {
  const auto mr = *t.register_mr(pd, buf.data(), buf.size(), 0, kLocalWrite | kMwBind | kZeroBased);
  const auto mw = *t.alloc_mw(pd);
  const auto w1 = *t.bind_mw(mw, 7, mr, 0, 0x100, kRemoteWrite | kZeroBased, 5);
  const auto r = t.check(w1, pd, 0, 16, kRemoteWrite, 5);
  ASSERT_TRUE(r);
  ASSERT_TRUE(t.invalidate(w1, pd, 5));
  EXPECT_FALSE(MemoryTable::current(*r));
  // Bound again with the same key byte: still not the window that was checked.
  ASSERT_TRUE(t.bind_mw(w1, 7, mr, 0, 0x100, kRemoteWrite | kZeroBased, 5));
  EXPECT_FALSE(MemoryTable::current(*r));
  const std::array<std::byte, 1> one{std::byte{1}};
  EXPECT_FALSE(MemoryTable::copy_in(*r, 0, one));
  t.invalidate_windows_of(5);
  EXPECT_EQ(t.check(w1, pd, 0, 1, kRemoteWrite, 5).error(), AccessError::invalid_state);
  EXPECT_TRUE(t.deregister(mr));
}

// Finding 8: fast_register's first_page_offset + length wrapped; reregister_mr skipped the size
// and overflow checks register_mr makes.
TEST_F(MemoryTableTest, FastRegisterAndReregisterRefuseLengthsThatWrap) {
  const auto f = *t.alloc_frmr(pd, 2);
  std::array<std::byte*, 2> pages{buf.data(), buf.data() + 2048};
  EXPECT_FALSE(t.fast_register(f, 1, pages, 2048, 0, 200, ~std::uint64_t{0} - 100, kLocalWrite | kZeroBased));
  EXPECT_FALSE(t.fast_register(f, 1, pages, 2048, ~std::uint64_t{0} - 10, 0, 100, kLocalWrite));
  // An empty page list with an offset into it (found by memory_ops_fuzz: 0 - offset wrapped).
  EXPECT_FALSE(t.fast_register(f, 1, {}, 2048, 0, 1, 1024, kLocalWrite | kRemoteWrite | kZeroBased));
  EXPECT_TRUE(t.fast_register(f, 1, pages, 2048, 0, 200, 4096 - 200, kLocalWrite | kZeroBased));
  const auto mr = *t.register_mr(pd, buf.data(), buf.size(), 0x1000, kLocalWrite);
  EXPECT_FALSE(t.reregister_mr(mr, buf.data(), kDefaultLimits.max_mr_size + 1, 0, kLocalWrite | kZeroBased));
  EXPECT_FALSE(t.reregister_mr(mr, buf.data(), 4096, ~std::uint64_t{0} - 10, kLocalWrite));
  EXPECT_FALSE(t.reregister_mr(mr, nullptr, 4096, 0, kLocalWrite | kZeroBased));
  EXPECT_TRUE(t.check(mr, pd, 0x1000, 16, 0)) << "a refused re-registration leaves the region as it was";
}

TEST_F(MemoryTableTest, KeyBytesAreNotASequence) {
  // Drawn at random: 64 fresh registrations in 64 slots do not all get the same key byte.
  std::array<std::byte, 8> b{};
  std::set<std::uint32_t> bytes;
  for (int i = 0; i < 64; ++i) bytes.insert(*t.register_mr(pd, b.data(), b.size(), 0, kZeroBased) & 0xff);
  EXPECT_GT(bytes.size(), 1u);
}

}  // namespace
}  // namespace softrnic::verbs
