#include "verbs/qp_state.hpp"

#include <gtest/gtest.h>

namespace softrnic::verbs {
namespace {

TEST(QpStateTable, RcInitToRtrNeedsThePathAndResponderAttributes) {
  auto r = validate_modify(QpType::rc, QpState::init, QpState::rtr, kAttrState | kAttrAv);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("path_mtu"), std::string::npos);
  EXPECT_NE(r.error().message.find("max_dest_rd_atomic"), std::string::npos);
  EXPECT_TRUE(validate_modify(QpType::rc, QpState::init, QpState::rtr,
                              kAttrState | kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn |
                                  kAttrMaxDestRdAtomic | kAttrMinRnrTimer));
}

TEST(QpStateTable, UnexpectedAttributesAreRejectedByName) {
  auto r = validate_modify(QpType::ud, QpState::rtr, QpState::rts, kAttrSqPsn | kAttrTimeout);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timeout"), std::string::npos);
}

TEST(QpStateTable, ForbiddenTransitionsAreNamed) {
  auto r = validate_modify(QpType::rc, QpState::reset, QpState::rts, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("RESET to RTS"), std::string::npos);
  EXPECT_FALSE(validate_modify(QpType::rc, QpState::sqe, QpState::rts, 0));  // RC never in SQE
  EXPECT_TRUE(validate_modify(QpType::uc, QpState::sqe, QpState::rts, 0));
}

TEST(QpStateTable, AnyStateCanGoToResetOrError) {
  for (int s = 0; s < kQpStateCount; ++s) {
    EXPECT_TRUE(validate_modify(QpType::rc, QpState(s), QpState::err, kAttrState));
    EXPECT_TRUE(validate_modify(QpType::rc, QpState(s), QpState::reset, kAttrState));
  }
}

TEST(QpStateTable, UdNeedsQkeyAtInit) {
  EXPECT_FALSE(validate_modify(QpType::ud, QpState::reset, QpState::init, kAttrPkeyIndex | kAttrPort));
  EXPECT_TRUE(validate_modify(QpType::ud, QpState::reset, QpState::init,
                              kAttrPkeyIndex | kAttrPort | kAttrQkey));
}

}  // namespace
}  // namespace softrnic::verbs
