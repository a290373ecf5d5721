// The MTU of a kernel network interface, for ports that follow their link's MTU (af_packet on
// its interface, a UDP socket port on the interface holding its address).
#pragma once

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace softrnic::transport::netdev {

// The MTU of interface `name` in this thread's network namespace; 0 when there is no such
// interface (or the name cannot be one).
inline std::uint32_t interface_mtu(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return 0;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  const bool ok = ::ioctl(fd, SIOCGIFMTU, &ifr) == 0;
  ::close(fd);
  return ok && ifr.ifr_mtu > 0 ? static_cast<std::uint32_t>(ifr.ifr_mtu) : 0;
}

}  // namespace softrnic::transport::netdev
