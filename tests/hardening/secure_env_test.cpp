// A set-user-ID program does not let its caller's environment choose where its files go: the
// control socket folder ignores SOFTRNIC_CONTROL_DIR and XDG_RUNTIME_DIR there (secure_getenv),
// while an ordinary run still follows them. The probe (env_probe.cpp) is copied and made
// set-user-ID root, then run by uid 65534 with those variables set.
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "hardening_support.hpp"

namespace softrnic::hardening_test {
namespace {

constexpr const char* kCallerEnv[] = {"SOFTRNIC_CONTROL_DIR=/tmp/chosen-by-the-caller",
                                      "XDG_RUNTIME_DIR=/tmp/xdg-of-the-caller", nullptr};

// Runs `probe` with kCallerEnv, as uid 65534 when as_nobody; its first output line.
std::string run_probe(const std::string& probe, bool as_nobody) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  const char* path = probe.c_str();
  char* const argv[] = {const_cast<char*>(path), nullptr};
  const auto exec = [&] {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    execve(path, argv, const_cast<char* const*>(kCallerEnv));
    return 101;
  };
  int status = 0;
  if (as_nobody) {
    status = run_as_nobody(exec);
  } else {
    const pid_t pid = fork();
    if (pid == 0) _exit(exec());
    int st = 0;
    waitpid(pid, &st, 0);
    status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  close(out[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  if (status != 0) return "probe exit status " + std::to_string(status);
  return text.substr(0, text.find('\n'));
}

TEST(SecureEnvironment, ASetUserIdProgramIgnoresTheCallersControlDir) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root, to make a set-user-ID probe";
  const char* built = std::getenv("HARDENING_ENV_PROBE");
  ASSERT_NE(built, nullptr) << "HARDENING_ENV_PROBE (set by tests/hardening/meson.build)";
  TempDir dir;
  struct statvfs fs {};
  ASSERT_EQ(statvfs(dir.path().c_str(), &fs), 0);
  if ((fs.f_flag & ST_NOSUID) != 0) GTEST_SKIP() << "SKIPPED: " << dir.path() << " is nosuid";
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string probe = dir.file("env_probe");
  std::filesystem::copy_file(built, probe);
  ASSERT_EQ(chown(probe.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(probe.c_str(), 04755), 0);

  EXPECT_EQ(run_probe(probe, false), "/tmp/chosen-by-the-caller") << "an ordinary run follows it";
  EXPECT_EQ(run_probe(probe, true), "/run/softrnic") << "set-user-ID root, run by uid 65534";
}

}  // namespace
}  // namespace softrnic::hardening_test
