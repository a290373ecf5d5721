#include "control/control_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "control/control_paths.hpp"

namespace softrnic::control {

namespace {

constexpr int kBacklog = 16;
constexpr std::size_t kMaxClients = 64;  // more connections are accepted and closed at once
constexpr int kSendTimeoutMs = 1000;     // a client that does not read its answers is dropped
constexpr mode_t kSocketMode = 0600;     // the server's user (and root) only

// The caller's uid, from the credentials the kernel recorded at connect(); nothing when unknown.
std::optional<uid_t> peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
    return std::nullopt;
  return cred.uid;
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);  // control_socket_path checked the size
  return a;
}

// Writes all of s, waiting for room up to kSendTimeoutMs at a time.
bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n > 0) {
      s.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, kSendTimeoutMs) > 0) continue;
    }
    return false;
  }
  return true;
}

// What nlohmann's parse_error says, without its "[json.exception.parse_error.101] " tag.
std::string parse_error_text(const char* what) {
  std::string_view w(what);
  if (const auto at = w.find("] "); w.starts_with("[json.exception") && at != w.npos)
    w.remove_prefix(at + 2);
  return std::string(w);
}

}  // namespace

Json control_error(std::string message) {
  return Json{{"ok", false}, {"error", std::move(message)}};
}

std::string to_line(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

struct ControlServer::Endpoint {
  std::string name;
  std::string path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  ControlHandler handler;
  std::atomic<bool> removed{false};

  // Removes the socket file unless another process has put its own there since.
  void unlink_if_ours() {
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino)
      ::unlink(path.c_str());
    ino = 0;
  }
  ~Endpoint() {
    if (ino != 0) unlink_if_ours();
    if (fd >= 0) ::close(fd);
  }
};

struct ControlServer::Client {
  int fd = -1;
  std::shared_ptr<Endpoint> endpoint;
  std::string buffer;  // bytes of the line being received
  bool closed = false;
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
};

Result<std::unique_ptr<ControlServer>> ControlServer::create() {
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd_ < 0)
    return make_error(Errc::io_error,
                      std::string("control server: eventfd: ") + std::strerror(errno));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

ControlServer::~ControlServer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  endpoints_.clear();  // closes and removes the sockets
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ControlServer::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

Result<std::string> ControlServer::listen(const std::string& dir, std::string_view name,
                                          ControlHandler handler) {
  const std::string who = "device " + std::string(name) + ": ";
  auto path = control_socket_path(dir, name);
  if (!path) return make_error(path.error().code, who + path.error().message);
  {
    std::lock_guard lock(mu_);
    for (const auto& e : endpoints_)
      if (e->path == *path)
        return make_error(Errc::busy,
                          who + "control socket " + *path + " is already served by this process");
  }
  if (auto r = ensure_control_dir(dir); !r)
    return make_error(r.error().code, who + r.error().message);

  const sockaddr_un addr = unix_address(*path);
  struct stat st {};
  if (lstat(path->c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(Errc::busy,
                        who + *path + " exists and is not a socket (left alone; remove it)");
    // Someone accepting there means a live device of that name; a refusal means its process died.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return make_error(Errc::io_error, who + "socket: " + std::strerror(errno));
    const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int err = errno;
    ::close(probe);
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
      return make_error(Errc::busy,
                        who + "control socket " + *path +
                            " is in use by a live process (a device of that name runs)");
    if (err == ECONNREFUSED) {
      spdlog::info("{}replacing stale control socket {}", who, *path);
      ::unlink(path->c_str());
    } else if (err != ENOENT) {
      return make_error(Errc::io_error, who + "cannot check " + *path + ": " + std::strerror(err));
    }
  }

  auto ep = std::make_shared<Endpoint>();
  ep->name = std::string(name);
  ep->path = *path;
  ep->handler = std::move(handler);
  ep->fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ep->fd < 0) return make_error(Errc::io_error, who + "socket: " + std::strerror(errno));
  // Linux creates the socket file with the mode of the socket's inode (less the umask), so the
  // file is 0600 from the moment bind() makes it: there is no window in which it is wider.
  if (::fchmod(ep->fd, kSocketMode) != 0)
    return make_error(Errc::io_error, who + "cannot restrict the control socket's mode: " +
                                          std::strerror(errno));
  if (::bind(ep->fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == EADDRINUSE)
      return make_error(Errc::busy,
                        who + "control socket " + *path + " was just taken by another process");
    return make_error(Errc::io_error, who + "cannot bind " + *path + ": " + std::strerror(err));
  }
  if (lstat(path->c_str(), &st) == 0) {
    ep->dev = st.st_dev;
    ep->ino = st.st_ino;
    // A kernel that ignored the inode's mode at bind: narrow it before anyone is accepted.
    if ((st.st_mode & 07777) != kSocketMode && ::chmod(path->c_str(), kSocketMode) != 0)
      return make_error(Errc::io_error, who + "cannot make " + *path + " mode 0600: " +
                                            std::strerror(errno));
  }
  if (::listen(ep->fd, kBacklog) != 0)
    return make_error(Errc::io_error,
                      who + "cannot listen on " + *path + ": " + std::strerror(errno));
  {
    std::lock_guard lock(mu_);
    endpoints_.push_back(ep);
  }
  wake();
  return *path;
}

void ControlServer::remove(std::string_view name) {
  std::shared_ptr<Endpoint> ep;
  {
    std::lock_guard lock(mu_);
    const auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                                 [&](const auto& e) { return e->name == name; });
    if (it == endpoints_.end()) return;
    ep = *it;
    endpoints_.erase(it);
  }
  {
    std::lock_guard serving(serve_mu_);  // a request being answered finishes first
    ep->removed = true;
    ep->unlink_if_ours();
  }
  // The listening socket stays open until the server thread lets go of it: closing an fd that
  // another thread polls could close a reused number.
  ::shutdown(ep->fd, SHUT_RDWR);
  wake();
}

std::string ControlServer::path_of(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& e : endpoints_)
    if (e->name == name) return e->path;
  return {};
}

void ControlServer::run() {
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<pollfd> fds;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
      endpoints = endpoints_;
    }
    std::erase_if(clients, [](const auto& c) { return c->closed || c->endpoint->removed; });
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    for (const auto& e : endpoints) fds.push_back({e->fd, POLLIN, 0});
    for (const auto& c : clients) fds.push_back({c->fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control server: poll: {}", std::strerror(errno));
      break;
    }
    if (fds[0].revents != 0) {
      std::uint64_t drained = 0;
      [[maybe_unused]] const auto n = ::read(wake_fd_, &drained, sizeof drained);
    }
    const std::size_t polled_clients = clients.size();
    for (std::size_t i = 0; i < polled_clients; ++i)
      if (fds[1 + endpoints.size() + i].revents != 0) serve(*clients[i]);
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      if ((fds[1 + i].revents & POLLIN) == 0 || endpoints[i]->removed) continue;
      const int fd = ::accept4(endpoints[i]->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) continue;
      auto c = std::make_unique<Client>();
      c->fd = fd;
      c->endpoint = endpoints[i];
      const auto uid = peer_uid(fd);
      if (!uid || (*uid != 0 && *uid != geteuid())) {
        refused_peers_.fetch_add(1, std::memory_order_relaxed);
        const std::string who = uid ? "uid " + std::to_string(*uid) : "a caller of unknown uid";
        spdlog::warn("control socket {}: refused {} (only uid {} and root may use it)",
                     endpoints[i]->path, who, geteuid());
        send_all(fd, to_line(control_error("permission denied: " + who +
                                           " may not use this control socket")));
        continue;  // c closes it
      }
      if (clients.size() >= kMaxClients) {
        send_all(fd, to_line(control_error("too many control connections; try again later")));
        continue;  // c closes it
      }
      clients.push_back(std::move(c));
    }
  }
}

void ControlServer::serve(Client& c) {
  char chunk[4096];
  bool eof = false;
  while (true) {
    const ssize_t n = ::recv(c.fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      c.buffer.append(chunk, static_cast<std::size_t>(n));
      if (c.buffer.size() > 2 * kMaxLine) break;  // answer what is complete, then refuse
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    break;
  }
  std::size_t start = 0;
  while (!c.closed) {
    const std::size_t nl = c.buffer.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(c.buffer.data() + start, nl - start);
    start = nl + 1;
    if (line.size() > kMaxLine) {
      send_all(c.fd, to_line(control_error("request line longer than " + std::to_string(kMaxLine) +
                                           " bytes")));
      c.closed = true;
      break;
    }
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    Json reply;
    Json request;
    std::string malformed;
    try {
      request = Json::parse(line);
    } catch (const Json::parse_error& e) {
      malformed = parse_error_text(e.what());
    }
    if (!malformed.empty()) {
      reply = control_error("malformed JSON (" + malformed +
                            "); a request is one JSON object per line, e.g. {\"cmd\":\"info\"}");
    } else if (!request.is_object()) {
      reply = control_error("a request is a JSON object, e.g. {\"cmd\":\"info\"}; got " +
                            std::string(request.type_name()));
    } else {
      std::lock_guard serving(serve_mu_);
      if (c.endpoint->removed) {
        c.closed = true;
        break;
      }
      try {
        reply = c.endpoint->handler(request);
      } catch (const std::exception& e) {
        reply = control_error(std::string("internal error: ") + e.what());
      }
    }
    if (!send_all(c.fd, to_line(reply))) c.closed = true;
  }
  c.buffer.erase(0, start);
  if (!c.closed && c.buffer.size() > kMaxLine) {
    send_all(c.fd, to_line(control_error("request line longer than " + std::to_string(kMaxLine) +
                                         " bytes")));
    c.closed = true;
  }
  if (eof) c.closed = true;
}

}  // namespace softrnic::control
