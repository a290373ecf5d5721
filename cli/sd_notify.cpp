#include "sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace softrnic::cli {

bool notify_service_manager(std::string_view state) {
  const char* path = secure_getenv("NOTIFY_SOCKET");
  if (path == nullptr) return false;
  const std::size_t len = std::strlen(path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (len < 2 || len >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) return false;
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: no terminating NUL counted
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), addr_len);
  ::close(fd);
  return n == static_cast<ssize_t>(state.size());
}

std::string monotonic_usec_field() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto us = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ull +
                  static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  return "MONOTONIC_USEC=" + std::to_string(us);
}

}  // namespace softrnic::cli
