// Moves the calling thread into a fresh, unnamed network namespace for the lifetime of the object,
// with lo up and the test addresses 198.18.0.1, 198.18.0.2, fd00:5052::1 and fd00:5052::2 on it,
// and back into the original namespace on destruction. The namespace has no name and no interface
// but lo: it disappears with its last socket, even when the test fails or crashes.
// Needs CAP_SYS_ADMIN (unshare) and iproute2's `ip`; ok() is false, with a reason, otherwise.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "wire/ip.hpp"
#include "wire/parse.hpp"

namespace softrnic::transport::test {

// 198.18.0.<last> (IPv4-mapped) or fd00:5052::<last>.
inline wire::Ipv6Addr netns_address(wire::IpVersion v, std::uint8_t last) {
  if (v == wire::IpVersion::v4) return wire::ipv4_mapped({198, 18, 0, last});
  return {0xfd, 0x00, 0x50, 0x52, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
}

class PrivateNetns {
 public:
  PrivateNetns() {
    saved_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved_ < 0) {
      reason_ = std::string("cannot open the current network namespace: ") + std::strerror(errno);
      return;
    }
    if (::unshare(CLONE_NEWNET) != 0) {
      reason_ = std::string("a private network namespace needs CAP_SYS_ADMIN: unshare: ") +
                std::strerror(errno);
      return;
    }
    entered_ = true;
    // `ip` runs in a child, which inherits this thread's namespace.
    const int rc = std::system(
        "ip link set lo up && ip addr add 198.18.0.1/32 dev lo && "
        "ip addr add 198.18.0.2/32 dev lo && ip -6 addr add fd00:5052::1/128 dev lo nodad && "
        "ip -6 addr add fd00:5052::2/128 dev lo nodad");
    if (rc != 0) reason_ = "could not set up lo in the private namespace (ip failed or missing)";
  }
  PrivateNetns(const PrivateNetns&) = delete;
  PrivateNetns& operator=(const PrivateNetns&) = delete;
  ~PrivateNetns() {
    if (entered_ && ::setns(saved_, CLONE_NEWNET) != 0) std::abort();  // would poison later tests
    if (saved_ >= 0) ::close(saved_);
  }

  bool ok() const { return reason_.empty(); }
  const std::string& reason() const { return reason_; }

 private:
  int saved_ = -1;
  bool entered_ = false;
  std::string reason_;
};

}  // namespace softrnic::transport::test
