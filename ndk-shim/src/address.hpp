// Windows SOCKADDR_IN / SOCKADDR_IN6 <-> the engine's addresses (NDKPI reference 3.6). Both the
// Windows (23) and the Linux (10) IPv6 family numbers are accepted; addresses handed back use
// AF_INET6 as the consumer's headers define it (ndk_windows_types.h).
#pragma once

#include "cm/connection_manager.hpp"
#include "ndk_windows_types.h"

namespace softrnic::ndk {

// STATUS_SUCCESS, or STATUS_INVALID_PARAMETER (NULL, too short, unknown family).
NTSTATUS from_sockaddr(const SOCKADDR* a, ULONG length, cm::Address& out);
// In/out length convention: STATUS_BUFFER_TOO_SMALL with the size needed in *length.
NTSTATUS to_sockaddr(const cm::Address& a, SOCKADDR* out, ULONG* length);

}  // namespace softrnic::ndk
