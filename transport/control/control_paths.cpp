#include "control/control_paths.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace softrnic::control {

std::string control_dir(std::string_view override_dir) {
  if (!override_dir.empty()) return std::string(override_dir);
  // secure_getenv: a set-user-ID or file-capability program ignores its caller's environment
  // here, so the caller cannot choose where it puts (or looks for) its sockets.
  if (const char* d = secure_getenv("SOFTRNIC_CONTROL_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* d = secure_getenv("XDG_RUNTIME_DIR"); d != nullptr && *d != '\0')
    return std::string(d) + "/softrnic";
  if (geteuid() == 0) return "/run/softrnic";
  return "/tmp/softrnic-" + std::to_string(geteuid());
}

Result<std::string> control_socket_path(std::string_view dir, std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    return make_error(Errc::invalid_argument,
                      "device name '" + std::string(name) + "' cannot name a control socket");
  std::string path = std::string(dir) + "/" + std::string(name) + ".sock";
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return make_error(Errc::invalid_argument,
                      "control socket path " + path +
                          " is longer than a Unix socket address allows (" +
                          std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
  return path;
}

Result<void> ensure_control_dir(const std::string& dir) {
  if (dir.empty()) return make_error(Errc::invalid_argument, "empty control socket folder");
  // mkdir -p, each missing level with mode 0700.
  for (std::size_t at = 1; at <= dir.size(); ++at) {
    if (at != dir.size() && dir[at] != '/') continue;
    const std::string part = dir.substr(0, at);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return make_error(Errc::io_error, "cannot create control socket folder " + part + " (" +
                                            std::strerror(errno) + ")");
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0)
    return make_error(Errc::io_error, "control socket folder " + dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return make_error(Errc::invalid_argument, "control socket folder " + dir +
                                                  " is not a directory (or is a symbolic link)");
  // In a world-writable parent (/tmp) anyone could have made the folder first and swap sockets
  // in it: there it must be ours.
  const auto slash = dir.find_last_of('/');
  const std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  struct stat pst {};
  const bool shared_parent = stat(parent.c_str(), &pst) == 0 && (pst.st_mode & S_IWOTH) != 0;
  if (shared_parent && st.st_uid != geteuid())
    return make_error(Errc::invalid_argument, "control socket folder " + dir + " belongs to uid " +
                                                  std::to_string(st.st_uid) + ", not to uid " +
                                                  std::to_string(geteuid()));
  return {};
}

}  // namespace softrnic::control
