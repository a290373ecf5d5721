// Control sockets of devices built by a DeviceSet: a loopback pair driven by a poll thread answers
// info, counters and capture requests through ControlClient; bad requests get a named error; a
// device whose engine does not poll answers with a timeout error; socket files are replaced when
// stale, refused when live, and removed at shutdown.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "capture/decoder.hpp"
#include "capture/pcap_file.hpp"
#include "cm/connection_manager.hpp"
#include "control/control_client.hpp"
#include "control/control_paths.hpp"
#include "factory/device_set.hpp"
#include "roce/connect.hpp"

namespace softrnic::transport {
namespace {

using control::ControlClient;
using nlohmann::json;
using namespace std::chrono_literals;

// A short private folder (Unix socket paths are limited to 108 bytes).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/srnctl-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool exists(const std::string& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0;
}

std::vector<DeviceSpec> pair_specs() {
  return {*parse_device_spec("name=srn0,port=loopback:peer=srn1,ip4=198.18.0.1/24"),
          *parse_device_spec("name=srn1,port=loopback:peer=srn0,ip4=198.18.0.2/24")};
}

DeviceSetOptions options(const TempDir& dir, std::chrono::milliseconds timeout = 2000ms) {
  DeviceSetOptions o;
  o.control_sockets = true;
  o.control_dir = dir.path();
  o.control_timeout = timeout;
  return o;
}

// Two devices with a connected RC QP pair and registered buffers; poll() starts the engine thread.
class ControlledPair {
 public:
  explicit ControlledPair(const TempDir& dir, std::chrono::milliseconds timeout = 2000ms)
      : set_(options(dir, timeout)) {
    auto r = set_.build(pair_specs(), clock_);
    built_ = r.has_value();
    if (!built_) {
      error_ = r.error().message;
      return;
    }
    using namespace verbs;
    roce::Device* dev[2] = {set_.device("srn0"), set_.device("srn1")};
    for (int i = 0; i < 2; ++i) {
      pd_[i] = *dev[i]->memory().alloc_pd();
      cq_[i] = *dev[i]->create_cq(64);
      roce::QpInit init;
      init.pd = pd_[i];
      init.send_cq = init.recv_cq = cq_[i];
      qp_[i] = *dev[i]->create_qp(init);
    }
    for (int i = 0; i < 2; ++i) {
      roce::QpConnectOptions o;
      o.access = kRemoteWrite;
      auto c = roce::connect_qp(*dev[i], *qp_[i], dev[i]->config().gids[0],
                                {qp_[1 - i]->qpn, Psn{}, dev[1 - i]->config().gids[0], {}}, o);
      if (!c) {
        built_ = false;
        error_ = c.error().message;
      }
    }
    src_.assign(3000, std::byte{0x5a});
    dst_.assign(3000, std::byte{0});
    lkey_ = *dev[0]->memory().register_mr(pd_[0], src_.data(), src_.size(), 0, kZeroBased);
    rkey_ = *dev[1]->memory().register_mr(pd_[1], dst_.data(), dst_.size(), 0,
                                          kLocalWrite | kRemoteWrite | kZeroBased);
  }
  ~ControlledPair() { stop(); }

  bool built() const { return built_; }
  const std::string& error() const { return error_; }
  DeviceSet& set() { return set_; }

  void poll() {
    running_ = true;
    thread_ = std::thread([this] {
      while (running_.load(std::memory_order_relaxed)) {
        set_.device("srn0")->poll();
        set_.device("srn1")->poll();
      }
    });
  }
  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  // An RC WRITE of 3000 bytes (three packets at a 1024-byte path MTU) from srn0 to srn1, posted
  // and completed from this thread while the engine thread polls.
  bool write() {
    roce::SendWr w;
    w.opcode = verbs::WrOpcode::rdma_write;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {0, 3000, lkey_};
    w.rkey = rkey_;
    if (auto r = set_.device("srn0")->post_send(*qp_[0], w); !r) {
      ADD_FAILURE() << r.error().message;
      return false;
    }
    std::array<verbs::Cqe, 1> c;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (cq_[0]->poll(c) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the WRITE did not complete";
        return false;
      }
      std::this_thread::yield();
    }
    return c[0].status == verbs::WcStatus::success && dst_ == src_;
  }

 private:
  SteadyClock clock_;
  DeviceSet set_;
  bool built_ = false;
  std::string error_;
  verbs::PdHandle pd_[2]{};
  verbs::Cq* cq_[2]{};
  roce::Qp* qp_[2]{};
  std::vector<std::byte> src_, dst_;
  std::uint32_t lkey_ = 0, rkey_ = 0;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

json ask(ControlClient& c, const json& req) {
  auto r = c.request(req);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : json{{"ok", false}, {"error", "transport: " + r.error().message}};
}

std::string error_of(const json& j) { return j.value("error", std::string("<no error field>")); }

std::uint64_t port_frames(const json& counters) {
  return counters["port"]["tx_packets"].get<std::uint64_t>() +
         counters["port"]["rx_packets"].get<std::uint64_t>();
}

TEST(ControlSocket, InfoDescribesTheDeviceItsPortAndLimits) {
  TempDir dir;
  ControlledPair pair(dir);
  ASSERT_TRUE(pair.built()) << pair.error();
  pair.poll();
  EXPECT_EQ(pair.set().control_socket("srn0"), dir.path() + "/srn0.sock");
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  const json info = ask(*c, {{"cmd", "info"}});
  ASSERT_TRUE(info["ok"].get<bool>()) << info.dump();
  EXPECT_EQ(info["name"], "srn0");
  EXPECT_EQ(info["spec"], "name=srn0,proto=roce,port=loopback:peer=srn1,ip4=198.18.0.1/24");
  EXPECT_EQ(info["proto"], "roce");
  EXPECT_EQ(info["port"], "loopback");
  EXPECT_EQ(info["mac"], "02:00:00:00:00:0a");
  EXPECT_EQ(info["link_mtu"], 4200);
  EXPECT_EQ(info["active_mtu"]["ipv4"], 4096);
  EXPECT_EQ(info["active_mtu"]["ipv6"], 4096);
  EXPECT_TRUE(info["link_up"].get<bool>());
  EXPECT_EQ(info["limits"]["max_qp"], verbs::kDefaultLimits.max_qp);
  EXPECT_EQ(info["capture"]["active"], false);
  bool found = false;
  for (const auto& g : info["gids"])
    found = found || (g["kind"] == "ipv4" && g["prefix"] == 24 &&
                      g["gid"].get<std::string>().find("198.18.0.1") != std::string::npos);
  EXPECT_TRUE(found) << info["gids"].dump();
}

TEST(ControlSocket, CountersFollowTheTrafficOfTheDeviceAndItsPort) {
  TempDir dir;
  ControlledPair pair(dir);
  ASSERT_TRUE(pair.built()) << pair.error();
  pair.poll();
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  const json before = ask(*c, {{"cmd", "counters"}});
  ASSERT_TRUE(before["ok"].get<bool>()) << before.dump();
  EXPECT_TRUE(before["drops"].contains("rx_drop_bad_icrc")) << before["drops"].dump();
  EXPECT_TRUE(before["capture"].contains("capture_tx_frames")) << before["capture"].dump();
  ASSERT_TRUE(pair.write());
  const json after = ask(*c, {{"cmd", "counters"}});
  ASSERT_TRUE(after["ok"].get<bool>()) << after.dump();
  // Three WRITE packets at least went out, and at least the ACK came back.
  EXPECT_GE(after["device"]["tx_packets"].get<std::uint64_t>(),
            before["device"]["tx_packets"].get<std::uint64_t>() + 3);
  EXPECT_GT(after["device"]["rx_packets"].get<std::uint64_t>(),
            before["device"]["rx_packets"].get<std::uint64_t>());
  EXPECT_GE(after["port"]["tx_packets"].get<std::uint64_t>(),
            before["port"]["tx_packets"].get<std::uint64_t>() + 3);
  EXPECT_GT(after["device"]["tx_bytes"].get<std::uint64_t>(), 3000u);
}

// The counters answer carries the groups of what runs beside the engine: the neighbour table's
// always, the connection manager's while one runs on the device (what `softrnic stats` shows of
// forged CM messages, full backlogs and clamped timeouts).
TEST(ControlSocket, CountersIncludeTheNeighbourTableAndARunningConnectionManager) {
  TempDir dir;
  ControlledPair pair(dir);
  ASSERT_TRUE(pair.built()) << pair.error();
  auto cm = cm::ConnectionManager::create(*pair.set().device("srn0"));
  ASSERT_TRUE(cm) << cm.error().message;
  pair.poll();
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  const json with = ask(*c, {{"cmd", "counters"}});
  ASSERT_TRUE(with["ok"].get<bool>()) << with.dump();
  EXPECT_TRUE(with["neighbours"].contains("unresolved_full")) << with.dump();
  ASSERT_TRUE(with.contains("cm")) << with.dump();
  EXPECT_TRUE(with["cm"].contains("rx_wrong_peer")) << with["cm"].dump();
  EXPECT_TRUE(with["cm"].contains("backlog_full")) << with["cm"].dump();
  pair.stop();
  cm->reset();
  pair.poll();
  const json without = ask(*c, {{"cmd", "counters"}});
  EXPECT_FALSE(without.contains("cm")) << "the group goes with its CM";
}

TEST(ControlSocket, CaptureRecordsEveryFrameCrossingThePortWithValidIcrcs) {
  TempDir dir;
  ControlledPair pair(dir);
  ASSERT_TRUE(pair.built()) << pair.error();
  pair.poll();
  ASSERT_TRUE(pair.write());  // neighbours resolved; the wire is idle afterwards
  std::this_thread::sleep_for(50ms);
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  const std::string file = dir.path() + "/srn0.pcap";
  const json before = ask(*c, {{"cmd", "counters"}});
  const json started = ask(*c, {{"cmd", "capture"}, {"action", "start"}, {"file", file}});
  ASSERT_TRUE(started["ok"].get<bool>()) << started.dump();
  EXPECT_EQ(started["file"], file);
  EXPECT_EQ(ask(*c, {{"cmd", "info"}})["capture"]["file"], file);
  const json again = ask(*c, {{"cmd", "capture"}, {"action", "start"}, {"file", file + "2"}});
  EXPECT_FALSE(again["ok"].get<bool>());
  EXPECT_NE(error_of(again).find("already running"), std::string::npos) << error_of(again);
  ASSERT_TRUE(pair.write());
  ASSERT_TRUE(pair.write());
  std::this_thread::sleep_for(50ms);  // the last ACK reaches srn0
  const json stopped = ask(*c, {{"cmd", "capture"}, {"action", "stop"}});
  ASSERT_TRUE(stopped["ok"].get<bool>()) << stopped.dump();
  const json after = ask(*c, {{"cmd", "counters"}});
  const std::uint64_t frames = stopped["frames"].get<std::uint64_t>();
  EXPECT_EQ(frames, port_frames(after) - port_frames(before));
  EXPECT_GE(frames, 8u);  // two WRITEs of three packets, and their ACKs

  auto reader = capture::PcapReader::open(file);
  ASSERT_TRUE(reader) << reader.error().message;
  std::uint64_t read = 0, roce = 0;
  auto summary = capture::decode_capture(*reader, nullptr, [&](const capture::DecodeRecord& r) {
    ++read;
    if (r.proto == capture::RecordProto::roce_v4) ++roce;
  });
  ASSERT_TRUE(summary) << summary.error().message;
  EXPECT_EQ(summary->frames, frames);
  EXPECT_EQ(read, frames);
  EXPECT_EQ(summary->icrc_ok, roce);
  EXPECT_TRUE(summary->clean());
  const json none = ask(*c, {{"cmd", "capture"}, {"action", "stop"}});
  EXPECT_NE(error_of(none).find("none running"), std::string::npos) << error_of(none);
}

TEST(ControlSocket, BadRequestsGetAnErrorNamingTheFieldAndTheAcceptedValues) {
  TempDir dir;
  ControlledPair pair(dir);
  ASSERT_TRUE(pair.built()) << pair.error();
  pair.poll();
  auto c = ControlClient::connect("srn1", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  const struct {
    const char* line;
    const char* says;
  } cases[] = {
      {"{\"cmd\": info}", "malformed JSON"},
      {"not json at all", "malformed JSON"},
      {"[\"info\"]", "a request is a JSON object"},
      {"{}", "cmd: missing (accepted: info, counters, capture)"},
      {"{\"cmd\": 7}", "cmd: must be a string"},
      {"{\"cmd\": \"reboot\"}", "cmd: unknown 'reboot' (accepted: info, counters, capture)"},
      {"{\"cmd\": \"info\", \"verbose\": true}", "verbose: not a field of info (accepted: cmd)"},
      {"{\"cmd\": \"capture\"}", "action: missing (accepted: start, stop)"},
      {"{\"cmd\": \"capture\", \"action\": \"pause\"}",
       "action: unknown 'pause' (accepted: start, stop)"},
      {"{\"cmd\": \"capture\", \"action\": \"start\"}", "file: missing"},
      {"{\"cmd\": \"capture\", \"action\": \"start\", \"file\": 3}",
       "file: must be a non-empty string"},
      {"{\"cmd\": \"capture\", \"action\": \"start\", \"file\": \"x.pcap\"}",
       "must be an absolute path"},
      {"{\"cmd\": \"capture\", \"action\": \"start\", \"file\": \"/nonexistent-dir/x.pcap\"}",
       "file: /nonexistent-dir/x.pcap: cannot create"},
      {"{\"cmd\": \"capture\", \"action\": \"stop\"}", "capture: none running on device srn1"},
  };
  for (const auto& k : cases) {
    auto r = c->request_line(k.line);
    ASSERT_TRUE(r) << k.line << ": " << r.error().message;  // the connection stays usable
    EXPECT_FALSE((*r)["ok"].get<bool>()) << k.line;
    EXPECT_NE(error_of(*r).find(k.says), std::string::npos)
        << k.line << " -> " << error_of(*r) << "\nexpected: " << k.says;
  }
  EXPECT_TRUE(ask(*c, {{"cmd", "info"}})["ok"].get<bool>());
}

TEST(ControlSocket, AnEngineThatDoesNotPollGivesATimeoutErrorNotAHang) {
  TempDir dir;
  ControlledPair pair(dir, 200ms);
  ASSERT_TRUE(pair.built()) << pair.error();
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  const auto t0 = std::chrono::steady_clock::now();
  const json info = ask(*c, {{"cmd", "info"}});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_FALSE(info["ok"].get<bool>());
  EXPECT_NE(error_of(info).find("engine not polling"), std::string::npos) << error_of(info);
  EXPECT_NE(error_of(info).find("srn0"), std::string::npos) << error_of(info);
  // A capture asked for meanwhile does not start later, and leaves no file behind.
  const std::string file = dir.path() + "/late.pcap";
  const json start = ask(*c, {{"cmd", "capture"}, {"action", "start"}, {"file", file}});
  EXPECT_FALSE(start["ok"].get<bool>());
  EXPECT_FALSE(exists(file));
  // Once the engine polls, the abandoned requests do nothing and new ones are answered.
  pair.poll();
  const json later = ask(*c, {{"cmd", "info"}});
  EXPECT_TRUE(later["ok"].get<bool>()) << later.dump();
  EXPECT_EQ(later["capture"]["active"], false);
}

TEST(ControlSocket, AStaleSocketFileOfADeadProcessIsReplaced) {
  TempDir dir;
  const std::string path = dir.path() + "/srn0.sock";
  {  // a socket bound and closed without unlinking: what a killed process leaves
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
  }
  ASSERT_TRUE(exists(path));
  ControlledPair pair(dir);
  ASSERT_TRUE(pair.built()) << pair.error();
  pair.poll();
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(ask(*c, {{"cmd", "info"}})["ok"].get<bool>());
}

TEST(ControlSocket, ALiveDeviceOfTheSameNameIsRefusedAndKeepsItsSocket) {
  TempDir dir;
  ControlledPair first(dir);
  ASSERT_TRUE(first.built()) << first.error();
  first.poll();
  SteadyClock clock;
  DeviceSet second(options(dir));
  auto r = second.build(pair_specs(), clock);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("device srn0"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("live process"), std::string::npos) << r.error().message;
  EXPECT_EQ(second.device("srn0"), nullptr);  // nothing of the failed build is kept
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(ask(*c, {{"cmd", "info"}})["ok"].get<bool>());
}

TEST(ControlSocket, APathThatIsNotASocketIsLeftAloneAndNamed) {
  TempDir dir;
  const std::string path = dir.path() + "/srn0.sock";
  std::ofstream(path) << "not a socket";
  ControlledPair pair(dir);
  ASSERT_FALSE(pair.built());
  EXPECT_NE(pair.error().find("is not a socket"), std::string::npos) << pair.error();
  EXPECT_TRUE(exists(path));
  EXPECT_FALSE(exists(dir.path() + "/srn1.sock"));
}

TEST(ControlSocket, SocketFilesAreRemovedAtShutdown) {
  TempDir dir;
  {
    ControlledPair pair(dir);
    ASSERT_TRUE(pair.built()) << pair.error();
    pair.poll();
    EXPECT_TRUE(exists(dir.path() + "/srn0.sock"));
    EXPECT_TRUE(exists(dir.path() + "/srn1.sock"));
  }
  EXPECT_FALSE(exists(dir.path() + "/srn0.sock"));
  EXPECT_FALSE(exists(dir.path() + "/srn1.sock"));
  auto c = ControlClient::connect("srn0", dir.path());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::not_found);
  EXPECT_NE(c.error().message.find("no device srn0"), std::string::npos) << c.error().message;
}

TEST(ControlSocket, WithoutTheOptionNoSocketIsMade) {
  TempDir dir;
  SteadyClock clock;
  DeviceSet set;
  ASSERT_TRUE(set.build(pair_specs(), clock));
  EXPECT_EQ(set.control_socket("srn0"), "");
  EXPECT_FALSE(exists(dir.path() + "/srn0.sock"));
}

TEST(ControlPaths, TheFolderFollowsOverrideThenEnvironmentThenRuntimeDirThenUser) {
  EXPECT_EQ(control::control_dir("/x/y"), "/x/y");
  const char* saved_ctl = std::getenv("SOFTRNIC_CONTROL_DIR");
  const char* saved_xdg = std::getenv("XDG_RUNTIME_DIR");
  const std::string keep_ctl = saved_ctl ? saved_ctl : "", keep_xdg = saved_xdg ? saved_xdg : "";
  setenv("SOFTRNIC_CONTROL_DIR", "/from/env", 1);
  EXPECT_EQ(control::control_dir(), "/from/env");
  unsetenv("SOFTRNIC_CONTROL_DIR");
  setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
  EXPECT_EQ(control::control_dir(), "/run/user/1000/softrnic");
  unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(control::control_dir(), geteuid() == 0 ? std::string("/run/softrnic")
                                                   : "/tmp/softrnic-" + std::to_string(geteuid()));
  if (saved_ctl) setenv("SOFTRNIC_CONTROL_DIR", keep_ctl.c_str(), 1);
  if (saved_xdg) setenv("XDG_RUNTIME_DIR", keep_xdg.c_str(), 1);
  auto long_path = control::control_socket_path(std::string(120, 'd'), "srn0");
  ASSERT_FALSE(long_path);
  EXPECT_NE(long_path.error().message.find("longer than a Unix socket address"), std::string::npos);
}

}  // namespace
}  // namespace softrnic::transport
