// The QP state machine (IBA 10.3.1, table 91 of modify-QP attributes) as one transition table:
// for each (from, to) pair and QP type, which attributes are required and which are allowed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "verbs/types.hpp"

namespace softrnic::verbs {

enum class QpState : std::uint8_t { reset, init, rtr, rts, sqd, sqe, err };
inline constexpr int kQpStateCount = 7;
std::string_view to_string(QpState s);

// Modify-QP attribute bits.
enum QpAttr : std::uint32_t {
  kAttrState = 1u << 0,
  kAttrCurState = 1u << 1,
  kAttrAccessFlags = 1u << 2,
  kAttrPkeyIndex = 1u << 3,
  kAttrPort = 1u << 4,
  kAttrQkey = 1u << 5,
  kAttrAv = 1u << 6,  // address vector / path
  kAttrPathMtu = 1u << 7,
  kAttrTimeout = 1u << 8,
  kAttrRetryCnt = 1u << 9,
  kAttrRnrRetry = 1u << 10,
  kAttrRqPsn = 1u << 11,
  kAttrMaxRdAtomic = 1u << 12,  // ORD
  kAttrMinRnrTimer = 1u << 13,
  kAttrSqPsn = 1u << 14,
  kAttrMaxDestRdAtomic = 1u << 15,  // IRD
  kAttrDestQpn = 1u << 16,
  kAttrEnSqdAsyncNotify = 1u << 17,
};
std::string attr_names(std::uint32_t mask);

struct QpTransition {
  bool allowed = false;
  std::uint32_t required = 0;
  std::uint32_t optional = 0;
};

// The table entry for a transition of a QP of type t; allowed == false when IBA forbids it.
QpTransition qp_transition(QpType t, QpState from, QpState to);

// Checks a modify-QP request: the transition exists, required attributes are all present and no
// attribute outside required | optional is given. The message names what is wrong.
[[nodiscard]] Result<void> validate_modify(QpType t, QpState from, QpState to, std::uint32_t mask);

}  // namespace softrnic::verbs
