// Verbs vocabulary shared by the objects, the protocol machines and the shims above them.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/ids.hpp"

namespace softrnic::verbs {

// Memory access rights (IBA 10.6.3.2).
enum Access : std::uint32_t {
  kLocalWrite = 1u << 0,
  kRemoteWrite = 1u << 1,
  kRemoteRead = 1u << 2,
  kRemoteAtomic = 1u << 3,
  kMwBind = 1u << 4,
  kZeroBased = 1u << 5,  // addresses inside the region count from 0, not from its VA
};

enum class QpType : std::uint8_t { rc, uc, ud };

// Work completion status (IBA 11.4.2.1), one per distinct cause a consumer must be able to tell.
enum class WcStatus : std::uint8_t {
  success,
  local_length_error,
  local_qp_operation_error,
  local_protection_error,
  wr_flush_error,
  mw_bind_error,
  bad_response_error,
  local_access_error,
  remote_invalid_request_error,
  remote_access_error,
  remote_operation_error,
  retry_exceeded_error,
  rnr_retry_exceeded_error,
  fatal_error,
  general_error,
};

std::string_view to_string(WcStatus s);

enum class WrOpcode : std::uint8_t {
  send,
  send_with_imm,
  send_with_inv,
  rdma_write,
  rdma_write_with_imm,
  rdma_read,
  atomic_cmp_swap,
  atomic_fetch_add,
  local_inv,
  fast_reg_mr,
  bind_mw,
};

enum class WcOpcode : std::uint8_t {
  send,
  rdma_write,
  rdma_read,
  atomic_cmp_swap,
  atomic_fetch_add,
  local_inv,
  fast_reg_mr,
  bind_mw,
  recv,
  recv_rdma_with_imm,
};

enum SendFlags : std::uint32_t {
  kSignaled = 1u << 0,
  kSolicited = 1u << 1,
  kFence = 1u << 2,
  kInline = 1u << 3,
};

}  // namespace softrnic::verbs
