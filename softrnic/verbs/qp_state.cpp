#include "verbs/qp_state.hpp"

#include <array>

namespace softrnic::verbs {

std::string_view to_string(QpState s) {
  switch (s) {
    case QpState::reset: return "RESET";
    case QpState::init: return "INIT";
    case QpState::rtr: return "RTR";
    case QpState::rts: return "RTS";
    case QpState::sqd: return "SQD";
    case QpState::sqe: return "SQE";
    case QpState::err: return "ERR";
  }
  return "?";
}

std::string attr_names(std::uint32_t mask) {
  static constexpr std::array<std::string_view, 18> kNames = {
      "state",   "cur_state",   "access_flags", "pkey_index", "port",       "qkey",
      "av",      "path_mtu",    "timeout",      "retry_cnt",  "rnr_retry",  "rq_psn",
      "max_rd_atomic", "min_rnr_timer", "sq_psn", "max_dest_rd_atomic", "dest_qpn",
      "en_sqd_async_notify"};
  std::string out;
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (mask & (1u << i)) {
      if (!out.empty()) out += ", ";
      out += kNames[i];
    }
  }
  return out;
}

namespace {
using S = QpState;
constexpr std::uint32_t kRcSqdTunables = kAttrAv | kAttrTimeout | kAttrRetryCnt | kAttrRnrRetry |
                                         kAttrMaxRdAtomic | kAttrMaxDestRdAtomic |
                                         kAttrMinRnrTimer | kAttrAccessFlags | kAttrPkeyIndex |
                                         kAttrPathMtu | kAttrCurState;

// IBA 11.2.4.2 table 91, for the attributes RoCE uses (no alternate paths, no APM).
QpTransition lookup(QpType t, S from, S to) {
  const bool rc = t == QpType::rc, uc = t == QpType::uc, ud = t == QpType::ud;
  if (to == S::reset) return {true, 0, 0};
  if (to == S::err) return {true, 0, 0};
  switch (from) {
    case S::reset:
      if (to == S::init)
        return {true, kAttrPkeyIndex | kAttrPort | (ud ? kAttrQkey : kAttrAccessFlags), 0};
      break;
    case S::init:
      if (to == S::init) return {true, 0, kAttrPkeyIndex | kAttrPort | (ud ? kAttrQkey : kAttrAccessFlags)};
      if (to == S::rtr) {
        if (rc)
          return {true,
                  kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn | kAttrMaxDestRdAtomic |
                      kAttrMinRnrTimer,
                  kAttrPkeyIndex | kAttrAccessFlags};
        if (uc) return {true, kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn, kAttrPkeyIndex | kAttrAccessFlags};
        return {true, 0, kAttrPkeyIndex | kAttrQkey};
      }
      break;
    case S::rtr:
      if (to == S::rts) {
        if (rc)
          return {true, kAttrSqPsn | kAttrTimeout | kAttrRetryCnt | kAttrRnrRetry | kAttrMaxRdAtomic,
                  kAttrCurState | kAttrAccessFlags | kAttrMinRnrTimer};
        if (uc) return {true, kAttrSqPsn, kAttrCurState | kAttrAccessFlags};
        return {true, kAttrSqPsn, kAttrCurState | kAttrQkey};
      }
      break;
    case S::rts:
      if (to == S::rts) {
        if (rc) return {true, 0, kAttrCurState | kAttrAccessFlags | kAttrMinRnrTimer};
        if (uc) return {true, 0, kAttrCurState | kAttrAccessFlags};
        return {true, 0, kAttrCurState | kAttrQkey};
      }
      if (to == S::sqd) return {true, 0, kAttrEnSqdAsyncNotify};
      break;
    case S::sqd:
      if (to == S::sqd) {
        if (rc) return {true, 0, kRcSqdTunables};
        if (uc) return {true, 0, kAttrAv | kAttrAccessFlags | kAttrPkeyIndex | kAttrPathMtu | kAttrCurState};
        return {true, 0, kAttrPkeyIndex | kAttrQkey | kAttrCurState};
      }
      if (to == S::rts) {
        if (rc) return {true, 0, kAttrCurState | kAttrAccessFlags | kAttrMinRnrTimer};
        if (uc) return {true, 0, kAttrCurState | kAttrAccessFlags};
        return {true, 0, kAttrCurState | kAttrQkey};
      }
      break;
    case S::sqe:
      // Only UC and UD QPs enter SQE (IBA 10.3.1.6); RC send errors go straight to ERR.
      if (to == S::rts && !rc) return {true, 0, kAttrCurState | (uc ? kAttrAccessFlags : kAttrQkey)};
      break;
    case S::err:
      break;
  }
  return {};
}
}  // namespace

QpTransition qp_transition(QpType t, QpState from, QpState to) { return lookup(t, from, to); }

Result<void> validate_modify(QpType t, QpState from, QpState to, std::uint32_t mask) {
  const auto tr = lookup(t, from, to);
  if (!tr.allowed)
    return make_error(Errc::invalid_argument, "QP cannot go from " + std::string(to_string(from)) +
                                                  " to " + std::string(to_string(to)));
  mask &= ~kAttrState;
  if (const auto missing = tr.required & ~mask)
    return make_error(Errc::invalid_argument,
                      std::string(to_string(from)) + "->" + std::string(to_string(to)) +
                          " requires: " + attr_names(missing));
  if (const auto extra = mask & ~(tr.required | tr.optional))
    return make_error(Errc::invalid_argument,
                      std::string(to_string(from)) + "->" + std::string(to_string(to)) +
                          " does not accept: " + attr_names(extra));
  return {};
}

}  // namespace softrnic::verbs
