// Engine outcomes as NTSTATUS: completion statuses (NDKPI reference 2.6) and control-path errors.
#pragma once

#include "base/result.hpp"
#include "ndkpi.h"
#include "verbs/cq.hpp"

namespace softrnic::ndk {

NTSTATUS completion_status(const verbs::Cqe& e);
NDK_OPERATION_TYPE operation_type(const verbs::Cqe& e);
// "send", "receive", "read", ... for logs.
const char* operation_name(const verbs::Cqe& e);
// A control call the engine refused.
NTSTATUS error_status(const Error& e);

}  // namespace softrnic::ndk
