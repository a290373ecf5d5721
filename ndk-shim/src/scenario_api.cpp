// Loading and ending scenarios: from SOFTRNIC_SCENARIO when the runtime is built, or through the
// extension's C calls (softrnic_ndk_ext.h). A run is never freed while the process lives: a
// consumer thread may still be inside a hook of a run that has just ended.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "guard.hpp"
#include "scenario_run.hpp"

namespace softrnic::ndk {

namespace {

std::mutex g_mu;       // loads and ends; taken before Runtime::instance's lock, never under it
std::mutex g_runs_mu;  // g_runs and g_atexit (also taken while the runtime is being built)
std::vector<std::unique_ptr<ScenarioRun>> g_runs;
ScenarioRun* g_prepared = nullptr;  // being loaded while the runtime may be built
bool g_prepared_used = false;
std::string g_last_summary;
bool g_atexit = false;

Result<std::FILE*> open_log(const std::string& path) {
  if (path.empty()) return static_cast<std::FILE*>(nullptr);
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr)
    return make_error(Errc::invalid_argument,
                      path + ": cannot write the scenario log: " + std::strerror(errno));
  return f;
}

// g_mu held.
std::string end_locked() {
  ScenarioRun* run = active_scenario();
  if (run == nullptr) return {};
  std::string summary;
  Runtime* rt = Runtime::instance(nullptr);
  auto end = [&] {
    g_scenario.store(nullptr, std::memory_order_release);
    summary = run->finish();
  };
  if (rt != nullptr)
    rt->run_and_wait(end);
  else
    end();
  g_last_summary = summary;
  return summary;
}

void end_at_exit() {
  std::lock_guard lock(g_mu);
  (void)end_locked();
}

}  // namespace

std::string prepared_scenario_faults() {
  if (g_prepared == nullptr) return {};
  g_prepared_used = true;
  return g_prepared->scenario().faults;
}

// secure_getenv: a set-user-ID or file-capability consumer ignores its caller's scenario and
// log file.
Result<ScenarioRun*> scenario_from_environment() {
  const char* path = secure_getenv("SOFTRNIC_SCENARIO");
  if (path == nullptr || *path == '\0') return static_cast<ScenarioRun*>(nullptr);
  auto s = scenario::load_scenario(path);
  if (!s) return make_error(s.error().code, "SOFTRNIC_SCENARIO: " + s.error().message);
  const char* log_path = secure_getenv("SOFTRNIC_SCENARIO_LOG");
  auto log = open_log(log_path != nullptr ? log_path : "");
  if (!log) return make_error(log.error().code, "SOFTRNIC_SCENARIO_LOG: " + log.error().message);
  std::lock_guard lock(g_runs_mu);
  g_runs.push_back(std::make_unique<ScenarioRun>(std::move(*s), *log));
  if (!g_atexit) {
    g_atexit = true;
    std::atexit(end_at_exit);
  }
  return g_runs.back().get();
}

Result<void> load_scenario_run(scenario::Scenario s, const std::string& log_path) {
  std::lock_guard lock(g_mu);
  (void)end_locked();
  auto log = open_log(log_path);
  if (!log) return std::unexpected(log.error());
  ScenarioRun* run = nullptr;
  {
    std::lock_guard runs(g_runs_mu);
    g_runs.push_back(std::make_unique<ScenarioRun>(std::move(s), *log));
    run = g_runs.back().get();
  }
  g_prepared = run;
  g_prepared_used = false;
  NTSTATUS st = STATUS_SUCCESS;
  Runtime* rt = Runtime::instance(&st);
  g_prepared = nullptr;
  {
    // After Runtime::instance's statics exist, so that this runs before they are destroyed.
    std::lock_guard runs(g_runs_mu);
    if (!g_atexit) {
      g_atexit = true;
      std::atexit(end_at_exit);
    }
  }
  (void)end_locked();  // a SOFTRNIC_SCENARIO run the build just started
  if (rt == nullptr)
    return make_error(Errc::io_error, "the shim's devices could not be built (SOFTRNIC_DEVICES)");
  if (!run->scenario().faults.empty() && !g_prepared_used)
    std::fprintf(stderr,
                 "softrnic-ndk: scenario %s: faults not applied (the devices were built before "
                 "it was loaded; load it before the first NDK call)\n",
                 run->scenario().file.c_str());
  rt->run_and_wait([&] {
    run->attach(*rt);
    g_scenario.store(run, std::memory_order_release);
  });
  return {};
}

std::string end_scenario_run() {
  std::lock_guard lock(g_mu);
  return end_locked();
}

namespace {

NTSTATUS load_common(Result<scenario::Scenario> s, const char* log_path, char* error,
                     ULONG error_len) {
  auto fail = [&](const std::string& m, NTSTATUS st) {
    if (error != nullptr && error_len > 0) {
      std::strncpy(error, m.c_str(), error_len - 1);
      error[error_len - 1] = '\0';
    }
    return st;
  };
  if (!s) return fail(s.error().message, STATUS_INVALID_PARAMETER);
  if (auto r = load_scenario_run(std::move(*s), log_path != nullptr ? log_path : ""); !r)
    return fail(r.error().message, r.error().code == Errc::io_error
                                       ? static_cast<NTSTATUS>(NDIS_STATUS_ADAPTER_NOT_READY)
                                       : STATUS_INVALID_PARAMETER);
  if (error != nullptr && error_len > 0) error[0] = '\0';
  return STATUS_SUCCESS;
}

}  // namespace

}  // namespace softrnic::ndk

extern "C" {

NTSTATUS SoftrnicNdkLoadScenario(const char* Path, const char* LogPath, char* Error,
                                 ULONG ErrorLength) {
  using namespace softrnic::ndk;
  return guarded_call(__func__, [&] {
    if (Path == nullptr) return STATUS_INVALID_PARAMETER;
    return load_common(scenario::load_scenario(Path), LogPath, Error, ErrorLength);
  });
}

NTSTATUS SoftrnicNdkLoadScenarioText(const char* Text, const char* LogPath, char* Error,
                                     ULONG ErrorLength) {
  using namespace softrnic::ndk;
  return guarded_call(__func__, [&] {
    if (Text == nullptr) return STATUS_INVALID_PARAMETER;
    return load_common(scenario::parse_scenario(Text, "<scenario>"), LogPath, Error, ErrorLength);
  });
}

NTSTATUS SoftrnicNdkEndScenario(char* Summary, ULONG* pLength) {
  using namespace softrnic::ndk;
  return guarded_call(__func__, [&] {
    if (pLength == nullptr) return STATUS_INVALID_PARAMETER;
    std::string summary = end_scenario_run();
    {
      // The last summary stays for a second call with a bigger buffer.
      if (summary.empty()) {
        std::lock_guard lock(g_mu);
        summary = g_last_summary;
      }
    }
    if (summary.empty()) return STATUS_INVALID_DEVICE_STATE;
    const auto need = static_cast<ULONG>(summary.size() + 1);
    const ULONG room = *pLength;
    *pLength = need;
    if (Summary == nullptr || room < need) return STATUS_BUFFER_TOO_SMALL;
    std::memcpy(Summary, summary.c_str(), need);
    return STATUS_SUCCESS;
  });
}

}  // extern "C"
