#include "address.hpp"

#include <cstring>

#include "engine/gid_table.hpp"
#include "wire/ip.hpp"

namespace softrnic::ndk {

NTSTATUS from_sockaddr(const SOCKADDR* a, ULONG length, cm::Address& out) {
  if (a == nullptr || length < sizeof(ADDRESS_FAMILY)) return STATUS_INVALID_PARAMETER;
  const ADDRESS_FAMILY family = a->sa_family;
  if (family == AF_INET) {
    if (length < sizeof(SOCKADDR_IN)) return STATUS_INVALID_PARAMETER;
    SOCKADDR_IN in;
    std::memcpy(&in, a, sizeof in);
    wire::Ipv4Addr v4;
    std::memcpy(v4.data(), &in.sin_addr, 4);
    out.ip = wire::ipv4_mapped(v4);
    // 0.0.0.0 is "any address", which the engine spells as all zeros.
    if (in.sin_addr.s_addr == 0) out.ip = {};
    out.port = ntohs(in.sin_port);
    return STATUS_SUCCESS;
  }
  if (family == AF_INET6 || family == SOFTRNIC_AF_INET6_WINDOWS) {
    if (length < sizeof(SOCKADDR_IN6)) return STATUS_INVALID_PARAMETER;
    SOCKADDR_IN6 in6;
    std::memcpy(&in6, a, sizeof in6);
    std::memcpy(out.ip.data(), &in6.sin6_addr, 16);
    out.port = ntohs(in6.sin6_port);
    return STATUS_SUCCESS;
  }
  return STATUS_INVALID_PARAMETER;
}

NTSTATUS to_sockaddr(const cm::Address& a, SOCKADDR* out, ULONG* length) {
  if (length == nullptr) return STATUS_INVALID_PARAMETER;
  const bool v4 = engine::is_ipv4_mapped(a.ip);
  const ULONG need = v4 ? sizeof(SOCKADDR_IN) : sizeof(SOCKADDR_IN6);
  if (out == nullptr || *length < need) {
    *length = need;
    return STATUS_BUFFER_TOO_SMALL;
  }
  if (v4) {
    SOCKADDR_IN in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(a.port);
    std::memcpy(&in.sin_addr, a.ip.data() + 12, 4);
    std::memcpy(out, &in, sizeof in);
  } else {
    SOCKADDR_IN6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(a.port);
    std::memcpy(&in6.sin6_addr, a.ip.data(), 16);
    std::memcpy(out, &in6, sizeof in6);
  }
  *length = need;
  return STATUS_SUCCESS;
}

}  // namespace softrnic::ndk
