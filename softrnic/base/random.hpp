// Identifiers a peer must not guess (QPNs, initial PSNs, CM comm IDs, memory key bytes) come from
// the kernel's cryptographic generator, getrandom(2). Draws are buffered per thread, so one
// identifier costs a copy; the buffer is refilled by one system call every 256 bytes. Never used
// per packet.
#pragma once

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <type_traits>

namespace softrnic {

namespace detail {
struct RandomPool {
  std::array<std::byte, 256> buf{};
  std::size_t used = buf.size();

  void take(void* out, std::size_t n) {
    if (used + n > buf.size()) refill();
    std::memcpy(out, buf.data() + used, n);
    std::memset(buf.data() + used, 0, n);  // a drawn value is not kept around
    used += n;
  }

  void refill() {
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t r = ::getrandom(buf.data() + got, buf.size() - got, 0);
      if (r > 0) got += static_cast<std::size_t>(r);
      else if (r < 0 && errno != EINTR) __builtin_trap();  // no entropy source: never fall back silently
    }
    used = 0;
  }
};
inline thread_local RandomPool random_pool;
}  // namespace detail

template <class T>
  requires std::is_trivially_copyable_v<T>
T secure_random() {
  T v;
  detail::random_pool.take(&v, sizeof v);
  return v;
}

}  // namespace softrnic
