// IdleWaiter: what wakes an engine thread that sleeps while its devices are idle.
#include "engine/idle_wait.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace softrnic {
namespace {

using Clk = std::chrono::steady_clock;

TEST(IdleWaiter, TimesOutWhenNothingHappens) {
  auto w = IdleWaiter::create();
  ASSERT_TRUE(w) << w.error().message;
  const auto t = Clk::now();
  EXPECT_FALSE((*w)->wait({}, 20'000'000));
  EXPECT_GE(Clk::now() - t, std::chrono::milliseconds(19));
  EXPECT_EQ((*w)->timeouts(), 1u);
}

TEST(IdleWaiter, AWakeBeforeTheWaitIsNotLostAndIsTakenOnce) {
  auto w = IdleWaiter::create();
  ASSERT_TRUE(w);
  (*w)->wake();
  (*w)->wake();
  EXPECT_TRUE((*w)->wait({}, -1)) << "returns at once, though it has no timeout";
  EXPECT_FALSE((*w)->wait({}, 0)) << "both wakes were taken by the first wait";
}

TEST(IdleWaiter, AnotherThreadWakesIt) {
  auto w = IdleWaiter::create();
  ASSERT_TRUE(w);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (*w)->wake();
  });
  EXPECT_TRUE((*w)->wait({}, 10'000'000'000)) << "woken, not timed out";
  t.join();
}

TEST(IdleWaiter, AReadableFdEndsTheWaitAndStaysReadable) {
  auto w = IdleWaiter::create();
  ASSERT_TRUE(w);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const int fds[] = {p[0]};
  EXPECT_FALSE((*w)->wait(fds, 0));
  ASSERT_EQ(write(p[1], "x", 1), 1);
  EXPECT_TRUE((*w)->wait(fds, -1));
  EXPECT_TRUE((*w)->wait(fds, -1)) << "level-triggered: the waiter never reads a port's fd";
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace softrnic
