#include <gtest/gtest.h>

#include "base/seqnum.hpp"
#include "wire/opcode.hpp"

namespace softrnic {
namespace {

TEST(Psn, ComparesModulo24Bits) {
  EXPECT_LT(Psn(0xffffff), Psn(0));
  EXPECT_GT(Psn(0), Psn(0xffffff));
  EXPECT_EQ((Psn(0xffffff) + 1).raw(), 0u);
  EXPECT_EQ(Psn(5).distance_from(Psn(0xfffffe)), 7);
  EXPECT_EQ(Psn(0xfffffe).distance_from(Psn(5)), -7);
}

TEST(DdpMsn, ComparesModulo32Bits) {
  EXPECT_LT(DdpMsn(0xffffffff), DdpMsn(1));
  EXPECT_EQ((DdpMsn(0xffffffff) + 2).raw(), 1u);
}

TEST(OpcodeTable, KnowsEveryRcUcUdOpcodeAndNothingElse) {
  int valid = 0;
  for (int i = 0; i < 256; ++i) valid += wire::opcode_info(static_cast<std::uint8_t>(i)).valid();
  // RC 23, UC 12 (sends and writes), UD 2, CNP 1.
  EXPECT_EQ(valid, 23 + 12 + 2 + 1);
  EXPECT_EQ(wire::opcode_info(0x64).headers, wire::kDeth);
  EXPECT_EQ(wire::opcode_info(0x65).headers, wire::kDeth | wire::kImmDt);
  EXPECT_EQ(wire::opcode_info(0x0b).headers, wire::kReth | wire::kImmDt);
  EXPECT_EQ(wire::ext_header_offset(wire::kReth | wire::kImmDt, wire::kImmDt), 16u);
  EXPECT_EQ(wire::ext_header_offset(wire::kAeth | wire::kAtomicAckEth, wire::kAtomicAckEth), 4u);
  EXPECT_FALSE(wire::opcode_info(0x2c).valid());  // UC has no READ
  EXPECT_FALSE(wire::opcode_info(0x15).valid());  // RESYNC (RD only)
}

}  // namespace
}  // namespace softrnic
