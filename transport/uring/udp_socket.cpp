#include "uring/udp_socket.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "netdev/interface_mtu.hpp"

namespace softrnic::transport::udp_socket {

namespace {
std::string errno_text(int e) { return std::string(std::strerror(e)); }

// setsockopt with an int value; returns errno (0 on success).
int set_int_option(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : errno;
}

// Control messages are walked with memcpy over the bytes: no cast of the buffer to cmsghdr.
template <class F>
void for_each_cmsg(const std::byte* control, std::size_t len, F&& f) {
  std::size_t off = 0;
  while (len - off >= sizeof(cmsghdr)) {
    cmsghdr h;
    std::memcpy(&h, control + off, sizeof h);
    if (h.cmsg_len < sizeof(cmsghdr) || h.cmsg_len > len - off) return;
    const std::size_t data_off = CMSG_LEN(0);
    f(h.cmsg_level, h.cmsg_type, control + off + data_off, h.cmsg_len - data_off);
    off += CMSG_ALIGN(h.cmsg_len);
  }
}
}  // namespace

Result<Opened> open(const wire::Ipv6Addr& local, std::uint16_t port, int buffer_bytes) {
  const bool ipv6 = !is_ipv4_mapped(local);
  Opened s;
  s.fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return make_error(Errc::io_error, "socket(): " + errno_text(errno));
  auto fail = [&](std::string what, int e) {
    ::close(s.fd);
    return make_error(Errc::io_error, what + ": " + errno_text(e));
  };
  // Bigger socket buffers ride out bursts; FORCE works with CAP_NET_ADMIN, else the capped request.
  if (set_int_option(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, buffer_bytes) != 0)
    (void)set_int_option(s.fd, SOL_SOCKET, SO_RCVBUF, buffer_bytes);
  if (set_int_option(s.fd, SOL_SOCKET, SO_SNDBUFFORCE, buffer_bytes) != 0)
    (void)set_int_option(s.fd, SOL_SOCKET, SO_SNDBUF, buffer_bytes);
  int err = 0;
  if (ipv6) {
    err = set_int_option(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (err == 0) err = set_int_option(s.fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    if (err == 0) err = set_int_option(s.fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
    if (err == 0) err = set_int_option(s.fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO);
    // RFC 6935/6936 zero-checksum UDP over IPv6, which rxe sends; optional (Linux 3.16+).
    s.zero_checksum6_rx = err == 0 && set_int_option(s.fd, SOL_UDP, UDP_NO_CHECK6_RX, 1) == 0;
  } else {
    err = set_int_option(s.fd, IPPROTO_IP, IP_PKTINFO, 1);
    if (err == 0) err = set_int_option(s.fd, IPPROTO_IP, IP_RECVTOS, 1);
    // DF and, for an unconnected socket, IP ID 0: what the engine's ICRC assumes.
    if (err == 0) err = set_int_option(s.fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
  }
  if (err != 0) return fail("setsockopt()", err);
  int bound;
  if (ipv6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    std::memcpy(&a.sin6_addr, local.data(), 16);
    bound = ::bind(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    std::memcpy(&a.sin_addr, local.data() + 12, 4);
    bound = ::bind(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  }
  if (bound != 0)
    return fail("bind(" + wire::to_string(local) + " port " + std::to_string(port) + ")", errno);
  return s;
}

std::uint32_t name_size(bool ipv6) { return ipv6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }

std::uint32_t control_size(bool ipv6) {
  return ipv6 ? CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int))
              : CMSG_SPACE(sizeof(in_pktinfo)) + CMSG_SPACE(sizeof(int));
}

bool read_meta(bool ipv6, const std::byte* name, std::size_t name_len, const std::byte* control,
               std::size_t control_len, udp_frame::DatagramMeta& m) {
  if (name_len < name_size(ipv6)) return false;
  m.version = ipv6 ? wire::IpVersion::v6 : wire::IpVersion::v4;
  if (ipv6) {
    sockaddr_in6 a;
    std::memcpy(&a, name, sizeof a);
    std::memcpy(m.src.data(), &a.sin6_addr, 16);
    m.src_port = ntohs(a.sin6_port);
  } else {
    sockaddr_in a;
    std::memcpy(&a, name, sizeof a);
    m.src = wire::ipv4_mapped({0, 0, 0, 0});
    std::memcpy(m.src.data() + 12, &a.sin_addr, 4);
    m.src_port = ntohs(a.sin_port);
  }
  for_each_cmsg(
      control, control_len, [&](int level, int type, const std::byte* data, std::size_t len) {
        if (level == IPPROTO_IP && type == IP_PKTINFO && len >= sizeof(in_pktinfo)) {
          in_pktinfo pi;
          std::memcpy(&pi, data, sizeof pi);
          std::memcpy(m.dst.data() + 12, &pi.ipi_addr, 4);  // the header's destination
        } else if (level == IPPROTO_IP && type == IP_TOS && len >= 1) {
          m.tclass = static_cast<std::uint8_t>(data[0]);
        } else if (level == IPPROTO_IPV6 && type == IPV6_PKTINFO && len >= sizeof(in6_pktinfo)) {
          in6_pktinfo pi;
          std::memcpy(&pi, data, sizeof pi);
          std::memcpy(m.dst.data(), &pi.ipi6_addr, 16);
        } else if (level == IPPROTO_IPV6 && type == IPV6_TCLASS && len >= sizeof(int)) {
          int tc;
          std::memcpy(&tc, data, sizeof tc);
          m.tclass = static_cast<std::uint8_t>(tc);
        }
      });
  return true;
}

std::uint32_t link_mtu_of(const wire::Ipv6Addr& local) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return 0;
  std::string name;
  for (const ifaddrs* a = list; a != nullptr && name.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    if (a->ifa_addr->sa_family == AF_INET && is_ipv4_mapped(local)) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      if (std::memcmp(&in->sin_addr, local.data() + 12, 4) == 0) name = a->ifa_name;
    } else if (a->ifa_addr->sa_family == AF_INET6 && !is_ipv4_mapped(local)) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      if (std::memcmp(&in6->sin6_addr, local.data(), 16) == 0) name = a->ifa_name;
    }
  }
  ::freeifaddrs(list);
  return netdev::interface_mtu(name);
}

}  // namespace softrnic::transport::udp_socket
