#include "engine/stream.hpp"

namespace softrnic {

// IPv4-mapped addresses print as IPv4 ("198.18.0.2:4791"), IPv6 ones in brackets ("[::1]:4791"),
// the way users type them.
std::string to_string(const StreamEndpoint& e) {
  const wire::Ipv6Addr& a = e.ip;
  bool mapped = a[10] == 0xff && a[11] == 0xff;
  for (int i = 0; i < 10 && mapped; ++i) mapped = a[i] == 0;
  if (mapped)
    return wire::to_string(wire::Ipv4Addr{a[12], a[13], a[14], a[15]}) + ":" +
           std::to_string(e.port);
  return "[" + wire::to_string(a) + "]:" + std::to_string(e.port);
}

}  // namespace softrnic
