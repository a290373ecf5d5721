#include "verbs/types.hpp"

namespace softrnic::verbs {

std::string_view to_string(WcStatus s) {
  switch (s) {
    case WcStatus::success: return "success";
    case WcStatus::local_length_error: return "local length error";
    case WcStatus::local_qp_operation_error: return "local QP operation error";
    case WcStatus::local_protection_error: return "local protection error";
    case WcStatus::wr_flush_error: return "work request flushed";
    case WcStatus::mw_bind_error: return "memory window bind error";
    case WcStatus::bad_response_error: return "bad response";
    case WcStatus::local_access_error: return "local access error";
    case WcStatus::remote_invalid_request_error: return "remote invalid request";
    case WcStatus::remote_access_error: return "remote access error";
    case WcStatus::remote_operation_error: return "remote operation error";
    case WcStatus::retry_exceeded_error: return "transport retry counter exceeded";
    case WcStatus::rnr_retry_exceeded_error: return "RNR retry counter exceeded";
    case WcStatus::fatal_error: return "fatal error";
    case WcStatus::general_error: return "general error";
  }
  return "unknown";
}

}  // namespace softrnic::verbs
