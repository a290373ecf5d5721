// Scenario files (scenario.hpp): TOML through toml++, every error as FILE:LINE: message, naming
// the accepted keys or values.
#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <toml++/toml.h>

#include "scenario.hpp"

namespace softrnic::ndk::scenario {

namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(Action::count_)> kActionNames = {
    "drop",           "link_flap",  "rnr_storm", "fail_next",  "async_mode", "delay_callbacks",
    "refuse_connect", "disconnect", "bad_token", "cq_overflow"};

constexpr std::array<std::string_view, static_cast<std::size_t>(Call::count_)> kCallNames = {
    "NdkCreateQp", "NdkCreateCq", "NdkRegisterMr", "NdkCreatePd", "NdkCreateMr"};

// The keys each action takes besides action, at_ms and after.
std::string_view keys_of(Action a) {
  switch (a) {
    case Action::drop:
      return "device, count, dir, qp, ops";
    case Action::link_flap:
      return "device, duration_ms";
    case Action::rnr_storm:
      return "device, duration_ms";
    case Action::fail_next:
      return "call, count, status";
    case Action::async_mode:
      return "mode, delay_ms";
    case Action::delay_callbacks:
      return "delay_ms, duration_ms";
    case Action::refuse_connect:
      return "device, count";
    case Action::disconnect:
      return "device, count";
    case Action::bad_token:
      return "count";
    case Action::cq_overflow:
      return "count, depth";
    case Action::count_:
      break;
  }
  return "";
}

bool takes(Action a, std::string_view key) {
  if (key == "action" || key == "at_ms" || key == "after") return true;
  const std::string_view list = keys_of(a);
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t comma = list.find(',', at);
    std::string_view k = list.substr(at, comma == std::string_view::npos ? list.npos : comma - at);
    while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
    if (k == key) return true;
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return false;
}

std::string statuses_accepted() {
  return "STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, "
         "STATUS_UNSUCCESSFUL, STATUS_INTERNAL_ERROR, STATUS_IMPLEMENTATION_LIMIT";
}

class Errors {
 public:
  explicit Errors(const std::string& file) : file_(file) {}
  std::unexpected<Error> at(std::uint32_t line, const std::string& message) const {
    return make_error(Errc::invalid_argument, file_ + ":" + std::to_string(line) + ": " + message);
  }

 private:
  const std::string& file_;
};

std::uint32_t line_of(const toml::node& n) { return n.source().begin.line; }

// A non-negative number of milliseconds (integer or floating point) as nanoseconds.
Result<std::uint64_t> millis(const toml::node& n, std::string_view key) {
  double v = -1;
  if (const auto* i = n.as_integer()) v = static_cast<double>(i->get());
  if (const auto* f = n.as_floating_point()) v = f->get();
  if (!(v >= 0) || v > 3.6e6)
    return make_error(Errc::invalid_argument,
                      std::string(key) + ": expected milliseconds, 0..3600000");
  return static_cast<std::uint64_t>(v * 1e6);
}

Result<std::uint64_t> integer(const toml::node& n, std::string_view key, std::uint64_t lo,
                              std::uint64_t hi) {
  const auto* i = n.as_integer();
  if (i == nullptr || i->get() < 0 || static_cast<std::uint64_t>(i->get()) < lo ||
      static_cast<std::uint64_t>(i->get()) > hi)
    return make_error(Errc::invalid_argument, std::string(key) + ": expected an integer, " +
                                                  std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<std::uint64_t>(i->get());
}

Result<std::string> text(const toml::node& n, std::string_view key) {
  const auto* s = n.as_string();
  if (s == nullptr)
    return make_error(Errc::invalid_argument, std::string(key) + ": expected a string");
  return s->get();
}

Result<void> trigger(const std::string& v, Event& e) {
  if (v == "start") {
    e.trigger = Trigger::start;
    return {};
  }
  if (v == "connected") {
    e.trigger = Trigger::connected;
    return {};
  }
  if (v.rfind("bytes:", 0) == 0) {
    const std::string n = v.substr(6);
    if (!n.empty() && n.size() < 19 &&
        std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      e.trigger = Trigger::bytes;
      e.bytes = std::stoull(n);
      return {};
    }
  }
  return make_error(Errc::invalid_argument,
                    "after: '" + v + "' (accepted: start, connected, bytes:N)");
}

// One key of an [[event]] table whose action is known.
Result<void> field(const std::string& key, const toml::node& n, Event& e) {
  if (key == "action") return {};
  if (key == "at_ms") {
    auto v = millis(n, key);
    if (!v) return std::unexpected(v.error());
    e.at_ns = *v;
    return {};
  }
  if (key == "duration_ms" || key == "delay_ms") {
    auto v = millis(n, key);
    if (!v) return std::unexpected(v.error());
    (key == "duration_ms" ? e.duration_ns : e.delay_ns) = *v;
    return {};
  }
  if (key == "count" || key == "depth" || key == "qp") {
    const std::uint64_t hi = key == "qp" ? 0xffffff : key == "depth" ? 4096 : 1'000'000;
    auto v = integer(n, key, key == "qp" ? 0 : 1, hi);
    if (!v) return std::unexpected(v.error());
    if (key == "count") e.count = static_cast<std::uint32_t>(*v);
    if (key == "depth") e.depth = static_cast<std::uint32_t>(*v);
    if (key == "qp") e.qp = static_cast<std::uint32_t>(*v);
    return {};
  }
  auto s = text(n, key);
  if (!s) return std::unexpected(s.error());
  if (key == "after") return trigger(*s, e);
  if (key == "device") {
    if (s->empty()) return make_error(Errc::invalid_argument, "device: empty name");
    e.device = *s;
    return {};
  }
  if (key == "dir" || key == "ops") {
    // The link-fault grammar owns these words (and its messages list them).
    auto f = transport::parse_link_faults(key + "=" + *s);
    if (!f) return std::unexpected(f.error());
    if (key == "dir") e.dir = f->direction;
    if (key == "ops") e.ops = f->config.only_ops;
    return {};
  }
  if (key == "call") {
    for (std::size_t i = 0; i < kCallNames.size(); ++i)
      if (*s == kCallNames[i]) {
        e.call = static_cast<Call>(i);
        return {};
      }
    return make_error(Errc::invalid_argument,
                      "call: '" + *s + "' (accepted: " + std::string(kCalls) + ")");
  }
  if (key == "status") {
    const auto st = status_of(*s);
    if (!st || statuses_accepted().find(*s) == std::string::npos)
      return make_error(Errc::invalid_argument,
                        "status: '" + *s + "' (accepted: " + statuses_accepted() + ")");
    e.status = *st;
    return {};
  }
  if (key == "mode") {
    if (*s == "pending")
      e.mode = Mode::pending;
    else if (*s == "inline")
      e.mode = Mode::inline_;
    else if (*s == "natural")
      e.mode = Mode::natural;
    else
      return make_error(Errc::invalid_argument,
                        "mode: '" + *s + "' (accepted: pending, inline, natural)");
    return {};
  }
  return make_error(Errc::invalid_argument, "unknown key '" + key + "'");
}

Result<Event> event_from(const toml::table& t, const Errors& err) {
  Event e;
  e.line = t.source().begin.line;
  const toml::node* action = t.get("action");
  if (action == nullptr)
    return err.at(e.line, "[[event]] without action (accepted: " + std::string(kActions) + ")");
  const auto* name = action->as_string();
  const auto found = name == nullptr ? kActionNames.end()
                                     : std::find(kActionNames.begin(), kActionNames.end(),
                                                 std::string_view(name->get()));
  if (found == kActionNames.end())
    return err.at(line_of(*action),
                  "action: " + (name ? "'" + name->get() + "'" : std::string("not a string")) +
                      " (accepted: " + std::string(kActions) + ")");
  e.action = static_cast<Action>(found - kActionNames.begin());
  for (auto&& [k, node] : t) {
    const std::string key(k.str());
    const std::uint32_t line = k.source().begin.line;
    if (!takes(e.action, key))
      return err.at(line, "action " + std::string(action_name(e.action)) + ": unknown key '" + key +
                              "' (accepted: action, at_ms, after, " +
                              std::string(keys_of(e.action)) + ")");
    if (auto r = field(key, node, e); !r) return err.at(line, r.error().message);
  }
  const bool needs_duration = e.action == Action::link_flap || e.action == Action::rnr_storm;
  if (needs_duration && e.duration_ns == 0)
    return err.at(
        e.line, "action " + std::string(action_name(e.action)) + ": duration_ms is required (> 0)");
  if (e.action == Action::fail_next && t.get("call") == nullptr)
    return err.at(e.line,
                  "action fail_next: call is required (accepted: " + std::string(kCalls) + ")");
  if (e.action == Action::async_mode && t.get("mode") == nullptr)
    return err.at(e.line,
                  "action async_mode: mode is required (accepted: pending, inline, natural)");
  if (e.action == Action::delay_callbacks && e.delay_ns == 0)
    return err.at(e.line, "action delay_callbacks: delay_ms is required (> 0)");
  if (e.action == Action::drop && t.get("count") == nullptr)
    return err.at(e.line, "action drop: count is required");
  return e;
}

}  // namespace

std::string_view action_name(Action a) {
  const auto i = static_cast<std::size_t>(a);
  return i < kActionNames.size() ? kActionNames[i] : "?";
}

std::string_view call_name(Call c) {
  const auto i = static_cast<std::size_t>(c);
  return i < kCallNames.size() ? kCallNames[i] : "?";
}

Result<Scenario> parse_scenario(std::string_view source, const std::string& file) {
  Errors err(file);
  toml::table root;
  try {
    root = toml::parse(source, std::string_view(file));
  } catch (const toml::parse_error& e) {
    return err.at(e.source().begin.line, std::string(e.description()));
  }
  Scenario s;
  s.file = file;
  std::string faults;
  std::uint32_t faults_line = 0;
  for (auto&& [k, node] : root) {
    const std::string key(k.str());
    const std::uint32_t line = k.source().begin.line;
    if (key == "seed") {
      auto v = integer(node, key, 0, ~std::uint64_t{0} >> 1);
      if (!v) return err.at(line, v.error().message);
      s.seed = *v;
    } else if (key == "faults") {
      auto v = text(node, key);
      if (!v) return err.at(line, v.error().message);
      faults = *v;
      faults_line = line;
    } else if (key == "event") {
      const auto* arr = node.as_array();
      if (arr == nullptr || !arr->is_array_of_tables())
        return err.at(line, "event: expected [[event]] tables");
      for (const toml::node& t : *arr) {
        auto e = event_from(*t.as_table(), err);
        if (!e) return std::unexpected(e.error());
        s.events.push_back(std::move(*e));
      }
    } else {
      return err.at(line, "unknown key '" + key + "' (accepted: seed, faults, [[event]])");
    }
  }
  if (!faults.empty()) {
    auto f = transport::parse_link_faults(faults);
    if (!f) return err.at(faults_line, "faults: " + f.error().message);
    // The scenario's seed drives the wire faults unless the text names its own.
    if (faults.find("seed=") == std::string::npos) f->config.seed = s.seed;
    s.faults = transport::format_link_faults(*f);
  }
  // Time order, file order among equals: the run walks the list once.
  std::stable_sort(s.events.begin(), s.events.end(),
                   [](const Event& a, const Event& b) { return a.at_ns < b.at_ns; });
  return s;
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, path + ": cannot open the scenario file");
  const std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_scenario(source, path);
}

std::string describe(const Event& e) {
  std::ostringstream o;
  o << action_name(e.action);
  if (!e.device.empty()) o << " device=" << e.device;
  switch (e.action) {
    case Action::drop:
      o << " count=" << e.count << " dir="
        << (e.dir == transport::FaultDirection::tx   ? "tx"
            : e.dir == transport::FaultDirection::rx ? "rx"
                                                     : "both");
      if (e.qp) o << " qp=" << *e.qp;
      if (e.ops != 0) o << " ops=0x" << std::hex << e.ops << std::dec;
      break;
    case Action::link_flap:
    case Action::rnr_storm:
      o << " duration_ms=" << e.duration_ns / 1'000'000;
      break;
    case Action::fail_next:
      o << " call=" << call_name(e.call) << " count=" << e.count
        << " status=" << status_name(e.status);
      break;
    case Action::async_mode:
      o << " mode="
        << (e.mode == Mode::pending   ? "pending"
            : e.mode == Mode::inline_ ? "inline"
                                      : "natural");
      if (e.delay_ns) o << " delay_ms=" << e.delay_ns / 1'000'000;
      break;
    case Action::delay_callbacks:
      o << " delay_ms=" << e.delay_ns / 1'000'000;
      if (e.duration_ns) o << " duration_ms=" << e.duration_ns / 1'000'000;
      break;
    case Action::cq_overflow:
      o << " count=" << e.count << " depth=" << e.depth;
      break;
    case Action::refuse_connect:
    case Action::disconnect:
    case Action::bad_token:
      o << " count=" << e.count;
      break;
    case Action::count_:
      break;
  }
  return o.str();
}

namespace {
struct Named {
  NTSTATUS status;
  std::string_view name;
};
#define SOFTRNIC_S(x) \
  Named { x, #x }
constexpr Named kStatuses[] = {
    SOFTRNIC_S(STATUS_SUCCESS),
    SOFTRNIC_S(STATUS_TIMEOUT),
    SOFTRNIC_S(STATUS_PENDING),
    SOFTRNIC_S(STATUS_BUFFER_OVERFLOW),
    SOFTRNIC_S(STATUS_UNSUCCESSFUL),
    SOFTRNIC_S(STATUS_ACCESS_VIOLATION),
    SOFTRNIC_S(STATUS_INVALID_PARAMETER),
    SOFTRNIC_S(STATUS_BUFFER_TOO_SMALL),
    SOFTRNIC_S(STATUS_INVALID_PARAMETER_MIX),
    SOFTRNIC_S(STATUS_DATA_OVERRUN),
    SOFTRNIC_S(STATUS_SHARING_VIOLATION),
    SOFTRNIC_S(STATUS_INSUFFICIENT_RESOURCES),
    SOFTRNIC_S(STATUS_IO_TIMEOUT),
    SOFTRNIC_S(STATUS_NOT_SUPPORTED),
    SOFTRNIC_S(STATUS_INTERNAL_ERROR),
    SOFTRNIC_S(STATUS_CANCELLED),
    SOFTRNIC_S(STATUS_REMOTE_RESOURCES),
    SOFTRNIC_S(STATUS_INVALID_ADDRESS),
    SOFTRNIC_S(STATUS_INVALID_DEVICE_STATE),
    SOFTRNIC_S(STATUS_INVALID_BUFFER_SIZE),
    SOFTRNIC_S(STATUS_TOO_MANY_ADDRESSES),
    SOFTRNIC_S(STATUS_ADDRESS_ALREADY_EXISTS),
    SOFTRNIC_S(STATUS_CONNECTION_DISCONNECTED),
    SOFTRNIC_S(STATUS_CONNECTION_RESET),
    SOFTRNIC_S(STATUS_CONNECTION_REFUSED),
    SOFTRNIC_S(STATUS_CONNECTION_INVALID),
    SOFTRNIC_S(STATUS_NETWORK_UNREACHABLE),
    SOFTRNIC_S(STATUS_HOST_UNREACHABLE),
    SOFTRNIC_S(STATUS_CONNECTION_ABORTED),
    SOFTRNIC_S(STATUS_IMPLEMENTATION_LIMIT),
};
#undef SOFTRNIC_S
}  // namespace

std::string_view status_name(NTSTATUS s) {
  for (const Named& n : kStatuses)
    if (n.status == s) return n.name;
  return {};
}

std::optional<NTSTATUS> status_of(std::string_view name) {
  for (const Named& n : kStatuses)
    if (n.name == name) return n.status;
  return std::nullopt;
}

}  // namespace softrnic::ndk::scenario
