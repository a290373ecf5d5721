#include "control/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "control/control_paths.hpp"

namespace softrnic::control {

Result<ControlClient> ControlClient::connect(std::string_view name, std::string_view dir) {
  const std::string folder = control_dir(dir);
  auto path = control_socket_path(folder, name);
  if (!path) return std::unexpected(path.error());
  auto c = connect_path(*path);
  if (!c && c.error().code == Errc::not_found)
    return make_error(Errc::not_found, "no device " + std::string(name) +
                                           " runs with a control socket in " + folder + " (" +
                                           c.error().message + ")");
  return c;
}

Result<ControlClient> ControlClient::connect_path(const std::string& path) {
  sockaddr_un a{};
  if (path.size() >= sizeof a.sun_path)
    return make_error(Errc::invalid_argument, path + ": too long for a Unix socket address");
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io_error, std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == ENOENT) return make_error(Errc::not_found, path + ": no such socket");
    if (err == ECONNREFUSED)
      return make_error(Errc::not_found, path + ": stale socket, its process is gone");
    return make_error(Errc::io_error, path + ": cannot connect (" + std::strerror(err) + ")");
  }
  return ControlClient(fd, path);
}

ControlClient::ControlClient(ControlClient&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), pending_(std::move(o.pending_)) {}

ControlClient& ControlClient::operator=(ControlClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
    pending_ = std::move(o.pending_);
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<nlohmann::json> ControlClient::request(const nlohmann::json& req,
                                              std::chrono::milliseconds timeout) {
  return request_line(req.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), timeout);
}

Result<nlohmann::json> ControlClient::request_line(std::string_view line,
                                                   std::chrono::milliseconds timeout) {
  if (fd_ < 0) return make_error(Errc::io_error, "control connection is closed");
  std::string out(line);
  out += '\n';
  std::string_view rest(out);
  while (!rest.empty()) {
    const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return make_error(Errc::io_error, path_ + ": send failed (" + std::strerror(errno) + ")");
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pending_.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int r = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r == 0)
      return make_error(Errc::io_error,
                        path_ + ": no answer within " + std::to_string(timeout.count()) + " ms");
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(Errc::io_error, path_ + ": the device closed the connection");
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  const auto nl = pending_.find('\n');
  const std::string answer = pending_.substr(0, nl);
  pending_.erase(0, nl + 1);
  auto j = nlohmann::json::parse(answer, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::malformed, path_ + ": the answer is not a JSON object: " + answer);
  return j;
}

}  // namespace softrnic::control
