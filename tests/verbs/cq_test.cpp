#include "verbs/cq.hpp"

#include <gtest/gtest.h>

#include <array>

namespace softrnic::verbs {
namespace {

struct Counter {
  int fired = 0;
  static void on(void* ctx, Cq&) { ++static_cast<Counter*>(ctx)->fired; }
};

Cqe ok_entry(std::uint64_t id, bool solicited = false) {
  Cqe e;
  e.wr_id = id;
  if (solicited) e.flags |= Cqe::kSolicited;
  return e;
}
Cqe error_entry(std::uint64_t id) {
  Cqe e;
  e.wr_id = id;
  e.status = WcStatus::remote_access_error;
  return e;
}

TEST(Cq, OverflowFailsThePushAndNeverOverwrites) {
  Cq cq(3);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  ASSERT_TRUE(cq.push(ok_entry(2)));
  ASSERT_TRUE(cq.push(ok_entry(3)));
  EXPECT_FALSE(cq.push(ok_entry(4)));
  EXPECT_TRUE(cq.in_error());
  std::array<Cqe, 8> out;
  ASSERT_EQ(cq.poll(out), 3u);
  EXPECT_EQ(out[0].wr_id, 1u);
  EXPECT_EQ(out[2].wr_id, 3u);
  EXPECT_FALSE(cq.push(ok_entry(5)));  // stays in error
}

TEST(Cq, ArmingIsOneShot) {
  Cq cq(16);
  Counter c;
  cq.set_handler(&Counter::on, &c);
  cq.arm(ArmType::any);
  cq.service();
  EXPECT_EQ(c.fired, 0);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  cq.service();
  EXPECT_EQ(c.fired, 1);
  ASSERT_TRUE(cq.push(ok_entry(2)));
  cq.service();
  EXPECT_EQ(c.fired, 1);  // not re-armed
}

TEST(Cq, ArmingFiresAtOnceWhenEntriesArrivedSinceTheLastNotification) {
  Cq cq(16);
  Counter c;
  cq.set_handler(&Counter::on, &c);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  cq.service();
  EXPECT_EQ(c.fired, 0);
  cq.arm(ArmType::any);
  cq.service();
  EXPECT_EQ(c.fired, 1);
}

TEST(Cq, ErrorsOnlyIgnoresSuccessfulEntries) {
  Cq cq(16);
  Counter c;
  cq.set_handler(&Counter::on, &c);
  cq.arm(ArmType::errors);
  ASSERT_TRUE(cq.push(ok_entry(1, true)));
  cq.service();
  EXPECT_EQ(c.fired, 0);
  ASSERT_TRUE(cq.push(error_entry(2)));
  cq.service();
  EXPECT_EQ(c.fired, 1);
}

TEST(Cq, SolicitedFiresOnSolicitedOrErrorOnly) {
  Cq cq(16);
  Counter c;
  cq.set_handler(&Counter::on, &c);
  cq.arm(ArmType::solicited);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  cq.service();
  EXPECT_EQ(c.fired, 0);
  ASSERT_TRUE(cq.push(ok_entry(2, true)));
  cq.service();
  EXPECT_EQ(c.fired, 1);
}

TEST(Cq, RearmingCombinesToTheBroadestType) {
  Cq cq(16);
  cq.arm(ArmType::errors);
  cq.arm(ArmType::any);
  cq.arm(ArmType::solicited);
  EXPECT_EQ(cq.armed(), ArmType::any);
  Counter c;
  cq.set_handler(&Counter::on, &c);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  cq.service();
  EXPECT_EQ(c.fired, 1);
}

TEST(Cq, ModerationDelaysAnyButNotErrors) {
  Cq cq(16);
  Counter c;
  cq.set_handler(&Counter::on, &c);
  cq.set_moderation(3);
  cq.arm(ArmType::any);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  ASSERT_TRUE(cq.push(ok_entry(2)));
  cq.service();
  EXPECT_EQ(c.fired, 0);
  ASSERT_TRUE(cq.push(ok_entry(3)));
  cq.service();
  EXPECT_EQ(c.fired, 1);
  cq.arm(ArmType::any);
  ASSERT_TRUE(cq.push(error_entry(4)));
  cq.service();
  EXPECT_EQ(c.fired, 2);
}

TEST(Cq, HandlerThatRearmsIsNotCalledAgainForTheSameEntries) {
  Cq cq(16);
  struct Rearm {
    int fired = 0;
    static void on(void* ctx, Cq& cq) {
      ++static_cast<Rearm*>(ctx)->fired;
      cq.arm(ArmType::any);
    }
  } r;
  cq.set_handler(&Rearm::on, &r);
  cq.arm(ArmType::any);
  ASSERT_TRUE(cq.push(ok_entry(1)));
  cq.service();
  cq.service();
  EXPECT_EQ(r.fired, 1);
  ASSERT_TRUE(cq.push(ok_entry(2)));
  cq.service();
  EXPECT_EQ(r.fired, 2);
}

}  // namespace
}  // namespace softrnic::verbs
