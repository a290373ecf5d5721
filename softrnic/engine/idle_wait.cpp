#include "engine/idle_wait.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

namespace softrnic {

Result<std::unique_ptr<IdleWaiter>> IdleWaiter::create() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return make_error(Errc::io_error, std::string("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<IdleWaiter>(new IdleWaiter(fd));
}

IdleWaiter::~IdleWaiter() { ::close(efd_); }

void IdleWaiter::wake() noexcept {
  const int saved = errno;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(efd_, &one, sizeof one);  // EAGAIN: already awake
  errno = saved;
}

bool IdleWaiter::wait(std::span<const int> fds, std::int64_t timeout_ns) {
  pfds_.resize(fds.size() + 1);
  pfds_[0] = {efd_, POLLIN, 0};
  for (std::size_t i = 0; i < fds.size(); ++i) pfds_[i + 1] = {fds[i], POLLIN, 0};
  timespec ts{};
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
  }
  ++waits_;
  const int n = ::ppoll(pfds_.data(), pfds_.size(), timeout_ns >= 0 ? &ts : nullptr, nullptr);
  if (n == 0) {
    ++timeouts_;
    return false;
  }
  if (n > 0 && (pfds_[0].revents & POLLIN) != 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto r = ::read(efd_, &count, sizeof count);  // re-arms it
  }
  return true;  // ready, or EINTR (a signal: the caller looks at its flags)
}

}  // namespace softrnic
