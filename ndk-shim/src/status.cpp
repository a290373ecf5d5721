#include "status.hpp"

namespace softrnic::ndk {

namespace {
bool is_receive(verbs::WcOpcode op) {
  return op == verbs::WcOpcode::recv || op == verbs::WcOpcode::recv_rdma_with_imm;
}
}  // namespace

NTSTATUS completion_status(const verbs::Cqe& e) {
  using verbs::WcStatus;
  switch (e.status) {
    case WcStatus::success: return STATUS_SUCCESS;
    case WcStatus::wr_flush_error: return STATUS_CANCELLED;
    // A receive too small for the incoming message; on the sending side a bad local length.
    case WcStatus::local_length_error:
      return is_receive(e.opcode) ? STATUS_BUFFER_OVERFLOW : STATUS_INVALID_BUFFER_SIZE;
    case WcStatus::local_protection_error:
    case WcStatus::local_access_error:
    case WcStatus::mw_bind_error: return STATUS_ACCESS_VIOLATION;
    case WcStatus::remote_invalid_request_error:
    case WcStatus::remote_access_error:
    case WcStatus::remote_operation_error: return STATUS_REMOTE_RESOURCES;
    case WcStatus::retry_exceeded_error:
    case WcStatus::rnr_retry_exceeded_error: return STATUS_IO_TIMEOUT;
    case WcStatus::bad_response_error: return STATUS_CONNECTION_ABORTED;
    case WcStatus::local_qp_operation_error:
    case WcStatus::fatal_error: return STATUS_INTERNAL_ERROR;
    case WcStatus::general_error: return STATUS_UNSUCCESSFUL;
  }
  return STATUS_UNSUCCESSFUL;
}

NDK_OPERATION_TYPE operation_type(const verbs::Cqe& e) {
  using verbs::WcOpcode;
  switch (e.opcode) {
    case WcOpcode::send: return NdkOperationTypeSend;
    case WcOpcode::rdma_write: return NdkOperationTypeWrite;
    case WcOpcode::rdma_read: return NdkOperationTypeRead;
    case WcOpcode::local_inv: return NdkOperationTypeInvalidate;
    case WcOpcode::fast_reg_mr: return NdkOperationTypeFastRegister;
    case WcOpcode::bind_mw: return NdkOperationTypeBind;
    case WcOpcode::recv:
    case WcOpcode::recv_rdma_with_imm:
      return (e.flags & verbs::Cqe::kWithInv) ? NdkOperationTypeReceiveAndInvalidate
                                              : NdkOperationTypeReceive;
    case WcOpcode::atomic_cmp_swap:
    case WcOpcode::atomic_fetch_add: break;
  }
  return NdkOperationTypeSend;
}

const char* operation_name(const verbs::Cqe& e) {
  switch (operation_type(e)) {
    case NdkOperationTypeSend: return "send";
    case NdkOperationTypeWrite: return "write";
    case NdkOperationTypeRead: return "read";
    case NdkOperationTypeInvalidate: return "invalidate";
    case NdkOperationTypeFastRegister: return "fast_register";
    case NdkOperationTypeBind: return "bind";
    case NdkOperationTypeReceive: return "receive";
    case NdkOperationTypeReceiveAndInvalidate: return "receive_and_invalidate";
    default: break;
  }
  return "other";
}

NTSTATUS error_status(const Error& e) {
  switch (e.code) {
    case Errc::busy: return STATUS_INSUFFICIENT_RESOURCES;
    case Errc::unsupported: return STATUS_NOT_SUPPORTED;
    case Errc::not_found: return STATUS_INVALID_PARAMETER;
    case Errc::buffer_too_small: return STATUS_BUFFER_TOO_SMALL;
    default: return STATUS_INVALID_PARAMETER;
  }
}

}  // namespace softrnic::ndk
