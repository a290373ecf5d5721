// The active scenario: injection on the engine thread and the JSON-lines record (scenario_run.hpp).
#include "scenario_run.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>

#include "fault/link_faults.hpp"
#include "fault/splitmix64.hpp"
#include "objects.hpp"
#include "qp_internal.hpp"

namespace softrnic::ndk {

namespace {

std::string escape(std::string_view s) {
  std::string o;
  for (const char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

std::string status_text(NTSTATUS st) {
  const std::string_view n = scenario::status_name(st);
  if (!n.empty()) return std::string(n);
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", static_cast<unsigned>(st));
  return b;
}

std::string json_map(const std::map<std::string, std::uint64_t>& m) {
  std::string o = "{";
  for (const auto& [k, v] : m) {
    if (o.size() > 1) o += ",";
    o += "\"" + escape(k) + "\":" + std::to_string(v);
  }
  return o + "}";
}

}  // namespace

ScenarioRun::ScenarioRun(scenario::Scenario s, std::FILE* log)
    : s_(std::move(s)),
      log_(log),
      rng_(s_.seed),
      fired_(s_.events.size(), 0),
      armed_at_ns_(s_.events.size(), 0) {
  if (log_ != nullptr) std::setvbuf(log_, nullptr, _IOLBF, 0);
}

ScenarioRun::~ScenarioRun() {
  if (log_ != nullptr) std::fclose(log_);
}

std::uint64_t ScenarioRun::now_ns() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

double ScenarioRun::t_ms() const {
  const std::uint64_t start = start_ns_.load(std::memory_order_acquire);
  return start == 0 ? 0.0 : static_cast<double>(now_ns() - start) / 1e6;
}

void ScenarioRun::line(const std::string& json) {
  char head[48];
  std::snprintf(head, sizeof head, "{\"t_ms\":%.3f,", t_ms());
  std::lock_guard lock(mu_);
  if (finished_ || log_ == nullptr) return;
  std::fputs(head, log_);
  std::fputs(json.c_str() + 1, log_);  // json starts with '{'
  std::fputc('\n', log_);
}

void ScenarioRun::count(std::map<std::string, std::uint64_t>& m, std::string_view key) {
  ++m[std::string(key)];
}

void ScenarioRun::attach(Runtime& rt) {
  rt_ = &rt;
  // Device counters only ever grow: the summary reports what happened during this run.
  for (DeviceEntry* d : rt.devices()) baseline_[d->name] = counters_of(*d);
}

std::map<std::string, std::uint64_t> ScenarioRun::counters_of(DeviceEntry& d) const {
  std::map<std::string, std::uint64_t> m;
  d.backend->for_each_counter([&](std::string_view n, std::uint64_t v) { m[std::string(n)] = v; });
  if (d.faults != nullptr)
    d.faults->for_each_counter([&](const std::string& n, std::uint64_t v) { m[n] = v; });
  m["bytes_sent"] = d.backend->traffic().out_octets;
  return m;
}

void ScenarioRun::adapter_opened() {
  std::uint64_t zero = 0;
  if (!start_ns_.compare_exchange_strong(zero, now_ns(), std::memory_order_acq_rel)) return;
  // Events due at time 0 apply before the adapter is handed out.
  if (rt_ != nullptr) rt_->run_and_wait([this] { (void)poll(); });
}

// ---- injection (engine thread) ----

std::vector<DeviceEntry*> ScenarioRun::targets(const scenario::Event& e, bool roce_only) {
  std::vector<DeviceEntry*> out;
  for (DeviceEntry* d : rt_->devices()) {
    if (!e.device.empty() && d->name != e.device) continue;
    if (roce_only && d->faults == nullptr) continue;
    out.push_back(d);
  }
  return out;
}

void ScenarioRun::inject(const scenario::Event& e, const std::string& detail) {
  {
    std::lock_guard lock(mu_);
    count(injected_, scenario::action_name(e.action));
  }
  line("{\"type\":\"inject\",\"seq\":" + std::to_string(++inject_seq_) +
       ",\"line\":" + std::to_string(e.line) + ",\"action\":\"" +
       std::string(scenario::action_name(e.action)) + "\",\"event\":\"" +
       escape(scenario::describe(e)) + "\",\"detail\":\"" + escape(detail) + "\"}");
}

void ScenarioRun::apply(const scenario::Event& e) {
  using scenario::Action;
  const std::uint64_t now = now_ns();
  std::string detail;
  switch (e.action) {
    case Action::drop:
    case Action::link_flap: {
      for (DeviceEntry* d : targets(e, false)) {
        if (d->faults == nullptr) {
          detail += d->name + ": no wire faults on iWARP (kernel TCP); ";
          continue;
        }
        if (e.action == Action::drop)
          d->faults->drop_next(e.count, e.dir, e.qp, e.ops);
        else
          d->faults->link_down_for(e.duration_ns);
        detail += d->name + (e.action == Action::drop ? ": armed; " : ": link down; ");
      }
      break;
    }
    case Action::rnr_storm: {
      const auto devs = targets(e, true);
      std::size_t n = 0;
      for (auto& [q, dev] : qps_) {
        if (std::find(devs.begin(), devs.end(), dev) == devs.end()) continue;
        if (q->srq != nullptr || q->held.load(std::memory_order_acquire)) continue;  // unconnected
        {
          std::lock_guard lock(q->held_mu);
          q->held.store(true, std::memory_order_release);
        }
        storms_.push_back({q, now + e.duration_ns});
        ++n;
      }
      detail = "receives withheld on " + std::to_string(n) + " connected RoCEv2 QP(s)";
      break;
    }
    case Action::fail_next: {
      const auto i = static_cast<std::size_t>(e.call);
      fail_left_[i] += e.count;
      fail_status_[i] = e.status;
      detail = "armed";
      break;
    }
    case Action::async_mode: {
      const AsyncMode m = e.mode == scenario::Mode::pending   ? AsyncMode::pending
                          : e.mode == scenario::Mode::inline_ ? AsyncMode::inline_
                                                              : AsyncMode::natural;
      mode_.store(static_cast<std::uint8_t>(static_cast<ULONG>(m) + 1), std::memory_order_release);
      if (e.delay_ns != 0) {
        callback_delay_ns_ = e.delay_ns;
        callback_delay_until_ns_ = 0;
      }
      detail = "every adapter";
      break;
    }
    case Action::delay_callbacks:
      callback_delay_ns_ = e.delay_ns;
      callback_delay_until_ns_ = e.duration_ns == 0 ? 0 : now + e.duration_ns;
      detail = "completion and disconnect callbacks";
      break;
    case Action::refuse_connect:
      refuse_left_[e.device] += e.count;
      detail = "armed";
      break;
    case Action::disconnect: {
      const auto devs = targets(e, false);
      std::uint32_t n = 0;
      // A copy: ending a connection calls back into the consumer, which may close connectors.
      const auto list = connectors_;
      for (auto& [c, dev] : list) {
        if (n == e.count) break;
        if (std::find(devs.begin(), devs.end(), dev) == devs.end()) continue;
        if (std::find(connectors_.begin(), connectors_.end(), std::make_pair(c, dev)) ==
            connectors_.end())
          continue;
        if (force_disconnect(*c)) ++n;
      }
      detail = std::to_string(n) + " connection(s) ended";
      break;
    }
    case Action::bad_token: {
      transport::SplitMix64 g(rng_);
      rng_ = g.next();
      // Flip bits of the key's index (bits 8..31), never none: no memory table resolves it.
      std::uint32_t mask = static_cast<std::uint32_t>(g.next()) & 0xffffff00u;
      if (mask == 0) mask = 0x80000000u;
      token_mask_.store(mask, std::memory_order_release);
      bad_tokens_left_.fetch_add(e.count, std::memory_order_acq_rel);
      char b[32];
      std::snprintf(b, sizeof b, "mask 0x%08x", mask);
      detail = b;
      break;
    }
    case Action::cq_overflow:
      shrink_left_ += e.count;
      shrink_depth_ = e.depth;
      detail = "armed";
      break;
    case Action::count_:
      break;
  }
  inject(e, detail);
}

std::size_t ScenarioRun::poll() {
  std::size_t work = 0;
  const std::uint64_t now = now_ns();
  if (!deferred_.empty()) {
    std::vector<Deferred> due;
    std::erase_if(deferred_, [&](Deferred& d) {
      if (d.when_ns > now) return false;
      due.push_back(std::move(d));
      return true;
    });
    for (auto& d : due) d.fn();
    work += due.size();
  }
  if (!storms_.empty()) {
    std::vector<Qp*> ended;
    std::erase_if(storms_, [&](const Storm& s) {
      if (s.until_ns > now) return false;
      ended.push_back(s.qp);
      return true;
    });
    for (Qp* q : ended) end_storm(q);
  }
  const std::uint64_t start = start_ns_.load(std::memory_order_acquire);
  if (start == 0 || next_event_ == s_.events.size()) return work;
  std::uint64_t sent = 0;
  bool counted = false;
  std::size_t left = 0;
  for (std::size_t i = 0; i < s_.events.size(); ++i) {
    if (fired_[i]) continue;
    const scenario::Event& e = s_.events[i];
    bool due = false;
    switch (e.trigger) {
      case scenario::Trigger::start:
        due = now >= start + e.at_ns;
        break;
      case scenario::Trigger::connected:
        due = armed_at_ns_[i] != 0 && now >= armed_at_ns_[i];
        break;
      case scenario::Trigger::bytes:
        if (armed_at_ns_[i] == 0) {
          if (!counted) {
            for (DeviceEntry* d : rt_->devices())
              sent += d->backend->traffic().out_octets - baseline_[d->name]["bytes_sent"];
            counted = true;
          }
          if (sent >= e.bytes) armed_at_ns_[i] = now + e.at_ns;
        }
        due = armed_at_ns_[i] != 0 && now >= armed_at_ns_[i];
        break;
    }
    if (!due) {
      ++left;
      continue;
    }
    fired_[i] = 1;
    apply(e);
    ++work;
  }
  if (left == 0) next_event_ = s_.events.size();
  return work;
}

void ScenarioRun::end_storm(Qp* q) {
  // Only QPs still alive: a closed QP left qps_ (and its storm) when it was destroyed.
  if (std::none_of(qps_.begin(), qps_.end(), [&](const auto& p) { return p.first == q; })) return;
  release_held_receives(*q);
  line("{\"type\":\"effect\",\"action\":\"rnr_storm\",\"detail\":\"receives released\"}");
}

NTSTATUS ScenarioRun::injected_failure(scenario::Call c) {
  const auto i = static_cast<std::size_t>(c);
  if (fail_left_[i] == 0) return STATUS_SUCCESS;
  --fail_left_[i];
  line("{\"type\":\"effect\",\"action\":\"fail_next\",\"call\":\"" +
       std::string(scenario::call_name(c)) + "\",\"status\":\"" + status_text(fail_status_[i]) +
       "\"}");
  std::lock_guard lock(mu_);
  count(injected_, "fail_next:" + std::string(scenario::call_name(c)));
  return fail_status_[i];
}

std::uint32_t ScenarioRun::cq_depth(std::uint32_t asked) {
  if (shrink_left_ == 0) return asked;
  --shrink_left_;
  const std::uint32_t d = std::min(asked, shrink_depth_);
  line("{\"type\":\"effect\",\"action\":\"cq_overflow\",\"detail\":\"CQ of depth " +
       std::to_string(asked) + " made with " + std::to_string(d) + "\"}");
  return d;
}

bool ScenarioRun::refuse_connect(DeviceEntry& dev) {
  for (const std::string& key : {dev.name, std::string()}) {
    auto it = refuse_left_.find(key);
    if (it == refuse_left_.end() || it->second == 0) continue;
    --it->second;
    line("{\"type\":\"effect\",\"action\":\"refuse_connect\",\"device\":\"" + escape(dev.name) +
         "\"}");
    return true;
  }
  return false;
}

void ScenarioRun::connected(DeviceEntry&) {
  if (++connections_ != 1) return;
  const std::uint64_t now = now_ns();
  for (std::size_t i = 0; i < s_.events.size(); ++i)
    if (s_.events[i].trigger == scenario::Trigger::connected)
      armed_at_ns_[i] = now + s_.events[i].at_ns;
}

AsyncMode ScenarioRun::mode(AsyncMode asked) const {
  const std::uint8_t m = mode_.load(std::memory_order_acquire);
  return m == 0 ? asked : static_cast<AsyncMode>(m - 1);
}

std::uint64_t ScenarioRun::callback_delay_ns() const {
  if (callback_delay_ns_ == 0 || rt_ == nullptr || !rt_->on_engine_thread()) return 0;
  if (callback_delay_until_ns_ != 0 && now_ns() >= callback_delay_until_ns_) return 0;
  return callback_delay_ns_;
}

void ScenarioRun::defer(std::uint64_t delay_ns, std::function<void()> fn) {
  deferred_.push_back({now_ns() + delay_ns, std::move(fn)});
}

std::uint32_t ScenarioRun::remote_token(std::uint32_t token) {
  std::uint32_t left = bad_tokens_left_.load(std::memory_order_acquire);
  while (left != 0) {
    if (bad_tokens_left_.compare_exchange_weak(left, left - 1, std::memory_order_acq_rel)) {
      const std::uint32_t bad = token ^ token_mask_.load(std::memory_order_acquire);
      char b[96];
      std::snprintf(
          b, sizeof b,
          "{\"type\":\"effect\",\"action\":\"bad_token\",\"detail\":\"0x%08x -> 0x%08x\"}", token,
          bad);
      line(b);
      return bad;
    }
  }
  return token;
}

void ScenarioRun::qp_created(Qp& q) { qps_.emplace_back(&q, q.pd->adapter->dev); }

void ScenarioRun::qp_destroyed(Qp& q) {
  const auto it =
      std::find_if(qps_.begin(), qps_.end(), [&](const auto& p) { return p.first == &q; });
  if (it == qps_.end()) return;
  const Backend::QpStats st = it->second->backend->qp_stats(q.eqp);
  closed_qp_stats_.retransmits += st.retransmits;
  closed_qp_stats_.timeouts += st.timeouts;
  closed_qp_stats_.rnr_naks_rx += st.rnr_naks_rx;
  closed_qp_stats_.rnr_naks_tx += st.rnr_naks_tx;
  qps_.erase(it);
  std::erase_if(storms_, [&](const Storm& s) { return s.qp == &q; });
}

void ScenarioRun::connector_attached(Connector& c) { connectors_.emplace_back(&c, c.adapter->dev); }

void ScenarioRun::connector_closed(Connector& c) {
  std::erase_if(connectors_, [&](const auto& p) { return p.first == &c; });
}

// ---- recording (any thread) ----

void ScenarioRun::call_returned(const char* call, std::uint64_t id, NTSTATUS st) {
  {
    std::lock_guard lock(mu_);
    count(returns_, status_text(st));
    if (st == STATUS_PENDING) calls_[id].pending = true;
  }
  line("{\"type\":\"call\",\"call\":\"" + std::string(call ? call : "?") +
       "\",\"id\":" + std::to_string(id) + ",\"status\":\"" + status_text(st) + "\"}");
}

void ScenarioRun::callback(const char* call, std::uint64_t id, NTSTATUS st,
                           std::uint64_t delayed_ns) {
  {
    std::lock_guard lock(mu_);
    count(callbacks_, status_text(st));
    ++calls_[id].callbacks;
    if (delayed_ns != 0) ++delayed_callbacks_;
  }
  line("{\"type\":\"callback\",\"call\":\"" + std::string(call ? call : "?") +
       "\",\"id\":" + std::to_string(id) + ",\"status\":\"" + status_text(st) +
       "\",\"delay_ms\":" + std::to_string(delayed_ns / 1'000'000) + "}");
}

void ScenarioRun::completion(const char* op, NTSTATUS st, std::uint32_t bytes) {
  {
    std::lock_guard lock(mu_);
    count(completions_, status_text(st));
    count(completion_ops_, std::string(op) + "/" + status_text(st));
  }
  if (st != STATUS_SUCCESS)
    line("{\"type\":\"completion\",\"op\":\"" + std::string(op) + "\",\"status\":\"" +
         status_text(st) + "\",\"bytes\":" + std::to_string(bytes) + "}");
}

void ScenarioRun::cq_notified(NTSTATUS st) {
  {
    std::lock_guard lock(mu_);
    ++cq_notifications_;
    if (st != STATUS_SUCCESS) ++cq_errors_;
  }
  if (st != STATUS_SUCCESS)
    line("{\"type\":\"cq_notification\",\"status\":\"" + status_text(st) + "\"}");
}

void ScenarioRun::connect_event(const DeviceEntry& dev) {
  {
    std::lock_guard lock(mu_);
    ++connect_events_;
  }
  line("{\"type\":\"connect_event\",\"device\":\"" + escape(dev.name) + "\"}");
}

void ScenarioRun::disconnect_event(const DeviceEntry& dev, bool delayed) {
  {
    std::lock_guard lock(mu_);
    ++disconnect_events_;
  }
  line("{\"type\":\"disconnect_event\",\"device\":\"" + escape(dev.name) +
       "\",\"delayed\":" + (delayed ? "true" : "false") + "}");
}

void ScenarioRun::post_failed(const char* call, NTSTATUS st) {
  {
    std::lock_guard lock(mu_);
    count(post_failures_, std::string(call) + "/" + status_text(st));
  }
  line("{\"type\":\"post\",\"call\":\"" + std::string(call) + "\",\"status\":\"" + status_text(st) +
       "\"}");
}

std::string ScenarioRun::device_counters() {
  std::string o = "{";
  for (DeviceEntry* d : rt_->devices()) {
    std::map<std::string, std::uint64_t> m = counters_of(*d);
    for (auto& [name, v] : m) v -= baseline_[d->name][name];
    Backend::QpStats s;
    for (auto& [q, dev] : qps_) {
      if (dev != d) continue;
      const Backend::QpStats x = d->backend->qp_stats(q->eqp);
      s.retransmits += x.retransmits;
      s.timeouts += x.timeouts;
      s.rnr_naks_rx += x.rnr_naks_rx;
      s.rnr_naks_tx += x.rnr_naks_tx;
    }
    m["qp_retransmits"] = s.retransmits;
    m["qp_timeouts"] = s.timeouts;
    m["qp_rnr_naks_rx"] = s.rnr_naks_rx;
    m["qp_rnr_naks_tx"] = s.rnr_naks_tx;
    if (o.size() > 1) o += ",";
    o += "\"" + escape(d->name) + "\":" + json_map(m);
  }
  return o + "}";
}

std::string ScenarioRun::finish() {
  // Owed callbacks run now; withheld receives go to the engine.
  while (!deferred_.empty()) {
    std::vector<Deferred> due;
    due.swap(deferred_);
    for (auto& d : due) d.fn();
  }
  for (const Storm& s : std::vector<Storm>(storms_)) end_storm(s.qp);
  storms_.clear();
  std::string devices = rt_ != nullptr ? device_counters() : "{}";
  std::size_t fired = 0;
  for (auto f : fired_) fired += f;
  std::string summary;
  {
    std::lock_guard lock(mu_);
    std::uint64_t pending = 0, called_back = 0, waiting = 0, extra = 0;
    for (const auto& [id, c] : calls_) {
      if (c.callbacks > 1) ++extra;
      if (!c.pending) continue;
      ++pending;
      if (c.callbacks >= 1)
        ++called_back;
      else
        ++waiting;
    }
    // QPs closed during the run count in the device totals too.
    summary = "{\"type\":\"summary\",\"scenario\":\"" + escape(s_.file) +
              "\",\"seed\":" + std::to_string(s_.seed) +
              ",\"events\":" + std::to_string(s_.events.size()) +
              ",\"fired\":" + std::to_string(fired) + ",\"injected\":" + json_map(injected_) +
              ",\"returns\":" + json_map(returns_) + ",\"pending\":" + std::to_string(pending) +
              ",\"pending_called_back\":" + std::to_string(called_back) +
              ",\"pending_waiting\":" + std::to_string(waiting) +
              ",\"called_back_more_than_once\":" + std::to_string(extra) +
              ",\"callbacks\":" + json_map(callbacks_) +
              ",\"callbacks_delayed\":" + std::to_string(delayed_callbacks_) +
              ",\"completions\":" + json_map(completions_) +
              ",\"completion_ops\":" + json_map(completion_ops_) +
              ",\"cq_notifications\":" + std::to_string(cq_notifications_) +
              ",\"cq_errors\":" + std::to_string(cq_errors_) +
              ",\"connect_events\":" + std::to_string(connect_events_) +
              ",\"disconnect_events\":" + std::to_string(disconnect_events_) +
              ",\"post_failures\":" + json_map(post_failures_) +
              ",\"closed_qps\":{\"retransmits\":" + std::to_string(closed_qp_stats_.retransmits) +
              ",\"timeouts\":" + std::to_string(closed_qp_stats_.timeouts) +
              ",\"rnr_naks_rx\":" + std::to_string(closed_qp_stats_.rnr_naks_rx) +
              ",\"rnr_naks_tx\":" + std::to_string(closed_qp_stats_.rnr_naks_tx) +
              "},\"devices\":" + devices + "}";
  }
  line(summary);
  std::lock_guard lock(mu_);
  finished_ = true;
  if (log_ != nullptr) std::fflush(log_);
  return summary;
}

}  // namespace softrnic::ndk
