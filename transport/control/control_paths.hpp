// Where a device's control socket lives. The folder, first match wins:
//   1. the directory given by the caller (DeviceSetOptions::control_dir, tests);
//   2. $SOFTRNIC_CONTROL_DIR;
//   3. $XDG_RUNTIME_DIR/softrnic (a per-user runtime folder, cleared at logout);
//      (2 and 3 are read with secure_getenv: ignored in set-user-ID and file-capability programs)
//   4. /run/softrnic when running as root;
//   5. /tmp/softrnic-UID otherwise.
// The socket is FOLDER/NAME.sock. Servers and clients resolve the folder the same way, so
// `softrnic devinfo srn0` finds a device started by the same user without options.
#pragma once

#include <string>
#include <string_view>

#include "base/result.hpp"

namespace softrnic::control {

// The folder by the rules above (an empty override means "none").
std::string control_dir(std::string_view override_dir = {});

// FOLDER/NAME.sock; fails when the name could escape the folder or the path is too long for a
// Unix socket address (108 bytes on Linux).
[[nodiscard]] Result<std::string> control_socket_path(std::string_view dir, std::string_view name);

// Creates the folder (mode 0700, parents included) when missing. It may not be a symbolic link,
// and in a world-writable parent (/tmp) it must belong to this user, else the error says whose it
// is.
[[nodiscard]] Result<void> ensure_control_dir(const std::string& dir);

}  // namespace softrnic::control
