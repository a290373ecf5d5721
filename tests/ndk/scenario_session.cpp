// One SMB-Direct-like session (RoCEv2 over IPv4, in-process pair) under one scenario file, loaded
// before the first NDK call so that its wire faults apply, and a check of the outcome:
//
//   ndk_scenario_session FILE|- EXPECT [COUNTER>N ...]
//
// EXPECT is "success" (every byte verified) or NTSTATUS names separated by '|' (the session's
// failure must be one of them). Each COUNTER>N needs the summary's devices' sum of COUNTER (or
// closed_qps.COUNTER) above N. Always: no NDK object left open, no callback owed or paid twice,
// a summary written; a session that hangs is killed by the alarm (exit 1 via SIGALRM's default).
// "-" runs with an empty scenario (for SOFTRNIC_FAULTS alone). Exit 0 pass, 1 fail.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "scenario_support.hpp"

using namespace softrnic::ndk::scenario_test;

namespace {

std::string status_name(NTSTATUS s) {
  struct N {
    NTSTATUS s;
    const char* n;
  };
  for (const N& n : {N{STATUS_SUCCESS, "STATUS_SUCCESS"},
                     N{STATUS_INSUFFICIENT_RESOURCES, "STATUS_INSUFFICIENT_RESOURCES"},
                     N{STATUS_CONNECTION_REFUSED, "STATUS_CONNECTION_REFUSED"},
                     N{STATUS_CONNECTION_DISCONNECTED, "STATUS_CONNECTION_DISCONNECTED"},
                     N{STATUS_CONNECTION_ABORTED, "STATUS_CONNECTION_ABORTED"},
                     N{STATUS_CANCELLED, "STATUS_CANCELLED"},
                     N{STATUS_REMOTE_RESOURCES, "STATUS_REMOTE_RESOURCES"},
                     N{STATUS_IO_TIMEOUT, "STATUS_IO_TIMEOUT"},
                     N{STATUS_BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW"},
                     N{STATUS_CONNECTION_INVALID, "STATUS_CONNECTION_INVALID"},
                     N{STATUS_INTERNAL_ERROR, "STATUS_INTERNAL_ERROR"}})
    if (n.s == s) return n.n;
  return hex(s);
}

std::uint64_t total(const nlohmann::json& summary, const std::string& name) {
  std::uint64_t v = 0;
  if (summary.contains("devices"))
    for (const auto& [dev, counters] : summary["devices"].items())
      v += counters.value(name, std::uint64_t{0});
  if (summary.contains("closed_qps")) v += summary["closed_qps"].value(name, std::uint64_t{0});
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FILE|- EXPECT [COUNTER>N ...]\n", argv[0]);
    return 2;
  }
  const std::string file = argv[1], expect = argv[2];
  alarm(150);  // never hang: SIGALRM ends the process, which fails the test
  use_devices();
  const std::string log = temp_log("session");
  char error[512] = {};
  const NTSTATUS st =
      file == "-" ? SoftrnicNdkLoadScenarioText("seed = 1\n", log.c_str(), error, sizeof error)
                  : SoftrnicNdkLoadScenario(file.c_str(), log.c_str(), error, sizeof error);
  if (st != STATUS_SUCCESS) {
    std::fprintf(stderr, "FAIL: the scenario did not load (%s): %s\n", hex(st).c_str(), error);
    return 1;
  }
  smbd::SessionOptions so = small_session();
  so.payload_size = std::size_t{4} << 20;
  so.latency_rounds = 600;
  const smbd::SessionReport r = smbd::run_session(so);
  const nlohmann::json summary = end();
  const auto lines = read_log(log);
  if (std::getenv("SOFTRNIC_KEEP_SCENARIO_LOG") == nullptr)
    std::remove(log.c_str());
  else
    std::printf("log: %s\n", log.c_str());
  int failures = 0;
  auto fail = [&](const std::string& m) {
    std::fprintf(stderr, "FAIL: %s\n", m.c_str());
    ++failures;
  };
  const std::string got = r.failure.ok() ? "success" : status_name(r.failure.status);
  std::printf("%s: session %s (%s) verified=%d written=%llu read=%llu\n", file.c_str(), got.c_str(),
              r.failure.message.c_str(), r.verified ? 1 : 0,
              static_cast<unsigned long long>(r.bytes_written),
              static_cast<unsigned long long>(r.bytes_read));
  if (expect == "success") {
    if (!r.verified) fail("expected success, got " + got + ": " + r.failure.message);
  } else if (("|" + expect + "|").find("|" + got + "|") == std::string::npos) {
    fail("expected " + expect + ", got " + got + ": " + r.failure.message);
  }
  if (r.objects_open != 0) fail(std::to_string(r.objects_open) + " NDK objects left open");
  if (!summary.is_object()) {
    fail("no summary");
    return 1;
  }
  std::printf("summary: %s\n", summary.dump().c_str());
  if (summary.value("called_back_more_than_once", 1) != 0) fail("a callback ran twice");
  if (summary.value("pending_waiting", 1) != 0) fail("a pending call never called back");
  if (lines.empty() || lines.back().value("type", "") != "summary")
    fail("the log ends without its summary");
  for (int i = 3; i < argc; ++i) {
    const std::string check = argv[i];
    const auto gt = check.find('>');
    if (gt == std::string::npos) return 2;
    const std::string name = check.substr(0, gt);
    const std::uint64_t above = std::stoull(check.substr(gt + 1));
    const std::uint64_t v = total(summary, name);
    std::printf("%s = %llu (needs > %llu)\n", name.c_str(), static_cast<unsigned long long>(v),
                static_cast<unsigned long long>(above));
    if (v <= above) fail(name + " = " + std::to_string(v) + ", needs > " + std::to_string(above));
  }
  std::printf("%s\n", failures == 0 ? "PASS" : "FAILED");
  return failures == 0 ? 0 : 1;
}
