// Consumer test mode at run time: the active scenario (scenario.hpp) injects its events from the
// engine thread and records, as JSON lines, every injected event next to what the consumer saw
// (NTSTATUS returns of asynchronous calls, their callbacks, completions, CQ notifications,
// connect and disconnect events, failed posts), with a summary at the end.
//
// Cost when no scenario is loaded: every hook is behind active_scenario(), one atomic load and
// a branch (on the data path: once per GetCqResults call, once per RDMA Read/Write post). While
// a scenario is loaded the recording takes a mutex and formats text: test mode is not a
// benchmark.
//
// What is recorded: every non-success completion on its own line (successes are counted by
// operation in the summary), every call that returned or called back, every callback, every CQ
// notification with an error status (all are counted), every connect and disconnect event.
// Lines with "type":"inject" depend only on the scenario and the consumer's actions, not on
// thread timing: two runs of one scenario with one seed give the same inject lines.
//
// Threads: hooks marked "engine" run on the engine thread; the recording ones on any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "completion.hpp"
#include "scenario.hpp"

namespace softrnic::ndk {

struct Qp;
struct Connector;
struct DeviceEntry;
class Runtime;

class ScenarioRun;
inline std::atomic<ScenarioRun*> g_scenario{nullptr};
// The one load every hook makes first.
inline ScenarioRun* active_scenario() { return g_scenario.load(std::memory_order_acquire); }

class ScenarioRun {
 public:
  // log: where the JSON lines go (may be null: the summary is still kept).
  ScenarioRun(scenario::Scenario s, std::FILE* log);
  ~ScenarioRun();
  const scenario::Scenario& scenario() const { return s_; }

  // Engine thread, before the first poll: the devices the events refer to.
  void attach(Runtime& rt);
  // Engine: injects what is due, runs deferred callbacks. Returns work done.
  std::size_t poll();
  // Engine: the end. Runs every deferred callback and releases withheld receives at once, writes
  // the summary line and closes the log. Returns the summary (JSON).
  std::string finish();

  // Hooks.
  void adapter_opened();                        // any thread: starts the clock (first call)
  NTSTATUS injected_failure(scenario::Call c);  // engine: STATUS_SUCCESS when none is armed
  std::uint32_t cq_depth(std::uint32_t asked);  // engine: the depth to create the CQ with
  bool refuse_connect(DeviceEntry& dev);        // engine: true: reject this request
  void connected(DeviceEntry& dev);             // engine: a connection was established
  AsyncMode mode(AsyncMode asked) const;        // any thread
  std::uint64_t callback_delay_ns() const;      // engine
  void defer(std::uint64_t delay_ns, std::function<void()> fn);  // engine
  // Consumer thread, RDMA Read/Write: the token to put on the wire (corrupted while armed).
  std::uint32_t remote_token(std::uint32_t token);
  void qp_created(Qp& q);                 // engine
  void qp_destroyed(Qp& q);               // engine
  void connector_attached(Connector& c);  // engine
  void connector_closed(Connector& c);    // engine

  // Recording (any thread).
  std::uint64_t next_call_id() { return ++call_ids_; }
  void call_returned(const char* call, std::uint64_t id, NTSTATUS st);
  void callback(const char* call, std::uint64_t id, NTSTATUS st, std::uint64_t delayed_ns);
  void completion(const char* op, NTSTATUS st, std::uint32_t bytes);
  void cq_notified(NTSTATUS st);
  void connect_event(const DeviceEntry& dev);
  void disconnect_event(const DeviceEntry& dev, bool delayed);
  void post_failed(const char* call, NTSTATUS st);

 private:
  struct Deferred {
    std::uint64_t when_ns;
    std::function<void()> fn;
  };
  struct Storm {
    Qp* qp;
    std::uint64_t until_ns;
  };
  std::uint64_t now_ns() const;
  double t_ms() const;
  void line(const std::string& json);
  void inject(const scenario::Event& e, const std::string& detail);
  void apply(const scenario::Event& e);
  std::vector<DeviceEntry*> targets(const scenario::Event& e, bool roce_only);
  void end_storm(Qp* q);
  void count(std::map<std::string, std::uint64_t>& m, std::string_view key);
  std::string device_counters();
  std::map<std::string, std::uint64_t> counters_of(DeviceEntry& d) const;

  scenario::Scenario s_;
  std::FILE* log_;
  Runtime* rt_ = nullptr;
  std::atomic<std::uint64_t> start_ns_{0};
  std::atomic<std::uint64_t> call_ids_{0};
  std::uint64_t inject_seq_ = 0;  // engine
  std::uint64_t rng_;             // engine: splitmix64 state from the seed

  // Engine state.
  std::size_t next_event_ = 0;              // events of Trigger::start, in time order
  std::vector<std::uint8_t> fired_;         // per event
  std::vector<std::uint64_t> armed_at_ns_;  // per event, triggered ones: when it may fire
  std::uint64_t connections_ = 0;
  std::vector<Deferred> deferred_;
  std::vector<Storm> storms_;
  std::vector<std::pair<Qp*, DeviceEntry*>> qps_;
  std::vector<std::pair<Connector*, DeviceEntry*>> connectors_;
  std::array<std::uint32_t, static_cast<std::size_t>(scenario::Call::count_)> fail_left_{};
  std::array<NTSTATUS, static_cast<std::size_t>(scenario::Call::count_)> fail_status_{};
  std::uint32_t shrink_left_ = 0, shrink_depth_ = 1;
  std::map<std::string, std::uint32_t> refuse_left_;  // device ("" = any)
  std::uint64_t callback_delay_ns_ = 0, callback_delay_until_ns_ = 0;
  Backend::QpStats closed_qp_stats_;  // summed over QPs destroyed during the run
  std::map<std::string, std::map<std::string, std::uint64_t>> baseline_;  // per device, at attach

  // Any thread.
  std::atomic<std::uint8_t> mode_{0};  // 0: as asked, else AsyncMode + 1
  std::atomic<std::uint32_t> bad_tokens_left_{0};
  std::atomic<std::uint32_t> token_mask_{0};

  // Recording, under mu_.
  mutable std::mutex mu_;
  bool finished_ = false;
  std::map<std::string, std::uint64_t> injected_, returns_, callbacks_, completions_,
      completion_ops_, post_failures_;
  struct CallState {
    bool pending = false;
    std::uint32_t callbacks = 0;
  };
  std::unordered_map<std::uint64_t, CallState> calls_;
  std::uint64_t cq_notifications_ = 0, cq_errors_ = 0, connect_events_ = 0, disconnect_events_ = 0,
                delayed_callbacks_ = 0;
};

// Engine: STATUS_SUCCESS, or the failure the active scenario injects into this call.
inline NTSTATUS scenario_failure(scenario::Call c) {
  ScenarioRun* run = active_scenario();
  return run != nullptr ? run->injected_failure(c) : STATUS_SUCCESS;
}

// Loads a scenario for this process (the shim's runtime is built first when it is not yet;
// a scenario's `faults` reach the devices only then). The previous scenario, if any, is finished
// first. log_path may be empty (no JSON lines; the summary is still returned by end_scenario).
[[nodiscard]] Result<void> load_scenario_run(scenario::Scenario s, const std::string& log_path);
// Ends the active scenario: the summary JSON, or empty when none was active.
std::string end_scenario_run();
// Runtime::build: the scenario named by SOFTRNIC_SCENARIO (and its log SOFTRNIC_SCENARIO_LOG),
// made ready before the devices are built; null when the variable is unset.
[[nodiscard]] Result<ScenarioRun*> scenario_from_environment();
// The faults text a scenario being loaded brings for devices without any ("" when none).
std::string prepared_scenario_faults();

}  // namespace softrnic::ndk
