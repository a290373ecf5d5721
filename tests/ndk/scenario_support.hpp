// Consumer test mode tests: an in-process RoCEv2 pair (and an iWARP pair), a scenario loaded
// through the extension, an SMB-Direct-like session under it, and the log and summary it wrote.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "smbd/session.hpp"
#include "softrnic_ndk_ext.h"

namespace softrnic::ndk::scenario_test {

inline constexpr const char* kDevices =
    "name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;"
    "name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64;"
    "name=c,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128;"
    "name=d,proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128";
inline constexpr NET_IFINDEX kA = 0x40000000, kB = 0x40000001, kC = 0x40000002, kD = 0x40000003;

inline void use_devices() { setenv("SOFTRNIC_DEVICES", kDevices, 0); }

inline std::string temp_log(const char* what) {
  return "/tmp/softrnic-scenario-" + std::to_string(getpid()) + "-" + what + ".jsonl";
}

// Loads `text`; the message names what went wrong.
inline NTSTATUS load(const std::string& text, const std::string& log,
                     std::string* error = nullptr) {
  char buf[512] = {};
  const NTSTATUS st = SoftrnicNdkLoadScenarioText(text.c_str(), log.empty() ? nullptr : log.c_str(),
                                                  buf, sizeof buf);
  if (error) *error = buf;
  return st;
}

inline nlohmann::json end() {
  ULONG len = 0;
  (void)SoftrnicNdkEndScenario(nullptr, &len);
  std::string s(len, '\0');
  if (SoftrnicNdkEndScenario(s.data(), &len) != STATUS_SUCCESS) return {};
  s.resize(len > 0 ? len - 1 : 0);
  return nlohmann::json::parse(s, nullptr, false);
}

inline std::vector<nlohmann::json> read_log(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    out.push_back(nlohmann::json::parse(line, nullptr, false));
  return out;
}

// The lines of one type, without their times (what the same seed must reproduce).
inline std::vector<std::string> lines_of(const std::vector<nlohmann::json>& log, const char* type) {
  std::vector<std::string> v;
  for (auto j : log) {
    if (!j.is_object() || j.value("type", "") != type) continue;
    j.erase("t_ms");
    v.push_back(j.dump());
  }
  return v;
}

inline std::uint64_t device_counter(const nlohmann::json& summary, const char* dev,
                                    const char* name) {
  return summary["devices"][dev].value(name, std::uint64_t{0});
}

// A small session (RoCEv2 over IPv4 unless iwarp) between b (server) and a (client).
inline smbd::SessionOptions small_session(bool iwarp = false) {
  smbd::SessionOptions so;
  so.server_if = iwarp ? kD : kB;
  so.client_if = iwarp ? kC : kA;
  so.server_ip = iwarp ? "127.0.0.2" : "198.18.0.2";
  static int n = 0;
  if (iwarp) so.port = static_cast<std::uint16_t>(46000 + (getpid() % 500) * 4 + (n++ % 4));
  so.payload_size = std::size_t{1} << 20;
  so.latency_rounds = 40;
  so.inline_rounds = 4;
  so.accept_timeout = std::chrono::milliseconds(8000);
  for (smbd::Config* c : {&so.server_config, &so.client_config}) {
    c->negotiate_timeout = std::chrono::milliseconds(5000);
    c->request_timeout = std::chrono::milliseconds(8000);
    c->control_timeout = std::chrono::milliseconds(8000);
  }
  return so;
}

inline std::string hex(NTSTATUS s) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", static_cast<unsigned>(s));
  return b;
}

}  // namespace softrnic::ndk::scenario_test
