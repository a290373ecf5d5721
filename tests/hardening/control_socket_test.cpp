// A control socket against the other users of its host: its file is mode 0600 whatever the
// umask, a folder it makes is 0700, and a caller of another uid is refused (and counted) even
// when the file's mode has been widened, while the server's own uid and root are served.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <memory>

#include "control/control_client.hpp"
#include "control/control_server.hpp"
#include "hardening_support.hpp"

namespace softrnic::hardening_test {
namespace {

using control::ControlServer;
using control::Json;

Json served(const Json&) { return Json{{"ok", true}, {"served", true}}; }

std::unique_ptr<ControlServer> make_server() {
  auto s = ControlServer::create();
  if (!s) ADD_FAILURE() << s.error().message;
  return s ? std::move(*s) : nullptr;
}

TEST(ControlSocketFile, IsMode0600WhateverTheUmask) {
  TempDir dir;
  const ScopedUmask open_umask(0);
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  const auto path = server->listen(dir.path(), "srn0", served);
  ASSERT_TRUE(path) << path.error().message;
  struct stat st {};
  ASSERT_EQ(lstat(path->c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
}

TEST(ControlSocketFolder, MadeByTheServerIsMode0700WhateverTheUmask) {
  TempDir dir;
  const ScopedUmask open_umask(0);
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  const std::string folder = dir.path() + "/run/softrnic";
  ASSERT_TRUE(server->listen(folder, "srn0", served));
  EXPECT_EQ(mode_of(dir.path() + "/run"), 0700u);
  EXPECT_EQ(mode_of(folder), 0700u);
}

// What the child (uid nobody) saw: the codes run_as_nobody returns.
constexpr int kRefused = 0, kServed = 2, kNoConnection = 3, kOther = 4;

// System calls only (it runs in the forked child): connects, asks for info, reads to EOF.
int ask_info(const char* path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path, sizeof a.sun_path - 1);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
    return kNoConnection;
  const timeval limit{10, 0};  // a guard against hanging, not a measurement
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  // The server may already have refused and closed: no SIGPIPE, and the answer is still read.
  const char request[] = "{\"cmd\":\"info\"}\n";
  (void)send(fd, request, sizeof request - 1, MSG_NOSIGNAL);
  char buf[1024] = {};
  std::size_t have = 0;
  while (have < sizeof buf - 1) {
    const ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
    if (std::strstr(buf, "\"served\":true") != nullptr) return kServed;
  }
  return std::strstr(buf, "permission denied") != nullptr ? kRefused : kOther;
}

TEST(ControlSocketPeer, AnotherUidIsRefusedAndCountedWhileRootIsServed) {
  if (geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root, to run a client as uid 65534";
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  auto server = make_server();
  ASSERT_NE(server, nullptr);
  const auto path = server->listen(dir.path(), "srn0", served);
  ASSERT_TRUE(path) << path.error().message;
  // As if the file's mode had been widened: the check of the caller's uid must hold on its own.
  ASSERT_EQ(chmod(path->c_str(), 0666), 0);
  const char* p = path->c_str();
  EXPECT_EQ(run_as_nobody([p] { return ask_info(p); }), kRefused)
      << "0: refused, 2: served, 3: could not connect, 4: something else, 100: no uid change";
  EXPECT_EQ(server->refused_peers(), 1u);

  auto root = control::ControlClient::connect_path(*path);
  ASSERT_TRUE(root) << root.error().message;
  const auto answer = root->request({{"cmd", "info"}});
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ((*answer)["served"], true) << answer->dump();
  EXPECT_EQ(server->refused_peers(), 1u);
}

}  // namespace
}  // namespace softrnic::hardening_test
