// Prints the control socket folder this process would use (control_paths.hpp), for
// secure_env_test: run set-user-ID by another user, it must not follow the caller's environment.
#include <cstdio>

#include "control/control_paths.hpp"

int main() {
  std::printf("%s\n", softrnic::control::control_dir().c_str());
  return 0;
}
