#include "control/device_control.hpp"

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "engine/gid_table.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::control {

namespace {

constexpr std::string_view kCommands = "info, counters, capture";
constexpr std::string_view kCaptureActions = "start, stop";

// One request handed to the engine thread. The socket thread waits for `done`; when it gives up it
// sets `abandoned` under the same lock, so the request either ran completely before or never runs.
struct EngineCall {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;
  Json result;
};

// Runs op on dev's engine thread (its submit()); nothing when it did not run in time.
template <class D>
std::optional<Json> run_on_engine(D& dev, std::chrono::milliseconds timeout, std::function<Json()> op) {
  auto call = std::make_shared<EngineCall>();
  dev.submit([call, op = std::move(op)](D&) {
    std::lock_guard lock(call->mu);
    if (call->abandoned) return;
    call->result = op();
    call->done = true;
    call->cv.notify_one();
  });
  std::unique_lock lock(call->mu);
  if (!call->cv.wait_for(lock, timeout, [&] { return call->done; })) {
    call->abandoned = true;
    return std::nullopt;
  }
  return std::move(call->result);
}

// The same on whichever engine the target has.
std::optional<Json> run_on_engine(const DeviceControlTarget& t, std::function<Json()> op) {
  if (t.iwarp != nullptr) return run_on_engine(*t.iwarp, t.timeout, std::move(op));
  return run_on_engine(*t.device, t.timeout, std::move(op));
}

struct State {
  DeviceControlTarget target;
  std::string capture_file;  // the running capture, as far as the socket side knows (it alone
                             // starts and stops captures, so it knows exactly)
  // The running capture's sink, which the capture point shares meanwhile.
  std::shared_ptr<capture::CaptureSink> sink;
};

Json sink_stats_json(const capture::CaptureSinkStats& s) {
  return Json{{"capture_frames_written", s.written},
              {"capture_frames_over_limit", s.over_limit},
              {"capture_write_errors", s.write_errors}};
}

Json not_polling(const State& s) {
  return control_error(
      "engine not polling: device " + s.target.spec.name + " did not take the request within " +
      std::to_string(s.target.timeout.count()) + " ms (is its engine thread running?)");
}

// The request may hold only the listed fields: a misspelt one is an error, not ignored.
std::optional<Json> extra_field(const Json& req, std::initializer_list<std::string_view> allowed,
                                std::string_view what) {
  for (const auto& [key, value] : req.items()) {
    bool ok = false;
    for (const auto a : allowed) ok = ok || key == a;
    if (ok) continue;
    std::string list;
    for (const auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return control_error(key + ": not a field of " + std::string(what) + " (accepted: " + list +
                         ")");
  }
  return std::nullopt;
}

Json counters_json(const auto& counters) {
  Json j = Json::object();
  counters.for_each([&](std::string_view name, std::uint64_t v) { j[std::string(name)] = v; });
  return j;
}

Json limits_json(const verbs::DeviceLimits& l) {
  return Json{{"max_qp", l.max_qp},
              {"max_qp_wr", l.max_qp_wr},
              {"max_srq", l.max_srq},
              {"max_srq_wr", l.max_srq_wr},
              {"max_cq", l.max_cq},
              {"max_cqe", l.max_cqe},
              {"max_sge", l.max_sge},
              {"max_inline", l.max_inline},
              {"max_mr", l.max_mr},
              {"max_mr_size", l.max_mr_size},
              {"max_msg_size", l.max_msg_size},
              {"max_fast_reg_pages", l.max_fast_reg_pages},
              {"max_mw", l.max_mw},
              {"max_pd", l.max_pd},
              {"max_ird", l.max_ird},
              {"max_ord", l.max_ord},
              {"min_pmtu", l.min_pmtu},
              {"max_pmtu", l.max_pmtu},
              {"page_size", l.page_size}};
}

// Engine thread.
Json info_of(const DeviceControlTarget& t, roce::Device& d) {
  Json gids = Json::array();
  for (std::size_t i = 0; i < engine::GidTable::kCapacity; ++i) {
    const engine::GidEntry* e = d.gid_table().at(i);
    if (e == nullptr) continue;
    gids.push_back({{"index", i},
                    {"gid", wire::to_string(e->gid)},
                    {"kind", e->kind == engine::GidKind::ipv4 ? "ipv4" : "ipv6"},
                    {"prefix", e->prefix_len},
                    {"vlan", e->vlan ? Json(*e->vlan) : Json(nullptr)}});
  }
  const bool capturing = t.capture != nullptr && t.capture->capturing();
  return Json{
      {"ok", true},
      {"name", t.spec.name},
      {"spec", transport::format_device_spec(t.spec)},
      {"proto", t.spec.proto == transport::DeviceProto::roce ? "roce" : "iwarp"},
      {"port", std::string(transport::to_string(t.spec.port))},
      {"mac", wire::to_string(d.config().mac)},
      {"gids", gids},
      {"vlan", d.config().vlan ? Json(*d.config().vlan) : Json(nullptr)},
      {"link_mtu", t.port->mtu()},
      {"max_frame", t.port->max_frame()},
      {"link_up", t.port->link_up()},
      {"has_link_layer", t.port->has_link_layer()},
      {"active_mtu",
       {{"ipv4", d.active_mtu(wire::IpVersion::v4)}, {"ipv6", d.active_mtu(wire::IpVersion::v6)}}},
      {"limits", limits_json(d.config().limits)},
      {"capture",
       {{"active", capturing}, {"file", capturing ? Json(t.capture->file()) : Json(nullptr)}}}};
}

// Engine thread. An iWARP device has no frames of its own: its addresses are its spec's.
Json iwarp_info_of(const DeviceControlTarget& t, const std::string& capture_file) {
  const bool capturing = !capture_file.empty();
  Json j = spec_info(t.spec);
  j["limits"] = limits_json(t.iwarp->config().limits);
  j["capture"] = {{"active", capturing}, {"file", capturing ? Json(capture_file) : Json(nullptr)}};
  return j;
}

// Engine thread.
Json iwarp_counters_of(const DeviceControlTarget& t) {
  Json port = nullptr;
  if (t.port_counters) {
    port = Json::object();
    t.port_counters([&](std::string_view name, std::uint64_t v) { port[std::string(name)] = v; });
  }
  Json cap = nullptr;
  if (t.stream_capture != nullptr) {
    cap = Json{{"capture_frames", t.stream_capture->stats().frames},
               {"capture_frames_dropped", t.stream_capture->stats().frames_dropped}};
    if (const auto* sink = t.stream_capture->sink()) cap.update(sink_stats_json(sink->stats()));
  }
  return Json{{"ok", true},
              {"name", t.spec.name},
              {"device", counters_json(t.iwarp->counters())},
              {"drops", nullptr},
              {"port", port},
              {"capture", cap}};
}

// Engine thread.
Json counters_of(const DeviceControlTarget& t, roce::Device& d) {
  Json port = nullptr;
  if (t.port_counters) {
    port = Json::object();
    t.port_counters([&](std::string_view name, std::uint64_t v) { port[std::string(name)] = v; });
  }
  Json cap = nullptr;
  if (t.capture != nullptr) {
    cap = counters_json(t.capture->counters());
    if (const auto* sink = t.capture->sink()) cap.update(sink_stats_json(sink->stats()));
  }
  Json j{{"ok", true},
         {"name", t.spec.name},
         {"device", counters_json(d.counters())},
         {"drops", counters_json(d.drops())},
         {"port", port},
         {"capture", cap}};
  // Groups of what runs beside the engine: "neighbours", and "cm" while a CM runs on the device.
  d.for_each_counter_group([&](std::string_view name, const roce::Device::CounterGroup& g) {
    Json group = Json::object();
    g([&](std::string_view n, std::uint64_t v) { group[std::string(n)] = v; });
    j[std::string(name)] = std::move(group);
  });
  return j;
}

Json capture_start(State& s, const Json& req) {
  const DeviceControlTarget& t = s.target;
  if (auto e = extra_field(req, {"cmd", "action", "file", "overwrite", "max_bytes"},
                           "capture start"))
    return *e;
  const auto f = req.find("file");
  if (f == req.end() || !f->is_string() || f->get_ref<const std::string&>().empty())
    return control_error(
        std::string("file: ") + (f == req.end() ? "missing" : "must be a non-empty string") +
        " (the absolute path of the pcap file to write, e.g. /tmp/" + t.spec.name + ".pcap)");
  const std::string file = f->get<std::string>();
  if (!file.starts_with('/'))
    return control_error("file: '" + file +
                         "' must be an absolute path (the device does not share the client's "
                         "working directory)");
  capture::CaptureFileOptions options;
  if (const auto o = req.find("overwrite"); o != req.end()) {
    if (!o->is_boolean())
      return control_error("overwrite: must be true or false (true replaces an existing file)");
    options.overwrite = o->get<bool>();
  }
  if (const auto m = req.find("max_bytes"); m != req.end()) {
    if (!m->is_number_unsigned())
      return control_error("max_bytes: must be a whole number of bytes (0: no limit)");
    options.max_bytes = m->get<std::uint64_t>();
  }
  if (!s.capture_file.empty())
    return control_error("capture: already running on device " + t.spec.name + " to " +
                         s.capture_file + "; stop it first");
  auto writer = capture::PcapWriter::create(file, options);
  if (!writer) return control_error("file: " + writer.error().message);
  auto made = capture::CaptureSink::create(std::move(*writer));
  if (!made) {
    std::remove(file.c_str());
    return control_error("capture: " + made.error().message);
  }
  std::shared_ptr<capture::CaptureSink> sink = std::move(*made);
  const char* format = sink->pcapng() ? "pcapng" : "pcap";
  std::optional<Json> answer;
  if (t.iwarp != nullptr) {
    auto* sc = t.stream_capture;
    answer = run_on_engine(t, [sink, sc, file, format] {
      sc->set_sink(sink);
      return Json{{"ok", true}, {"file", file}, {"format", format}};
    });
  } else {
    auto* cap = t.capture;
    answer = run_on_engine(t, [sink, cap, file, format] {
      if (auto r = cap->start(sink, file); !r)
        return control_error("capture: " + r.error().message);
      return Json{{"ok", true}, {"file", file}, {"format", format}};
    });
  }
  // Not polling: the request was abandoned and never runs, so the sink is ours alone.
  if (!answer || !(*answer)["ok"].get<bool>()) {
    (void)sink->close();
    std::remove(file.c_str());
    return answer ? *answer : not_polling(s);
  }
  s.sink = std::move(sink);
  s.capture_file = file;
  return *answer;
}

Json capture_stop(State& s, const Json& req) {
  const DeviceControlTarget& t = s.target;
  if (auto e = extra_field(req, {"cmd", "action"}, "capture stop")) return *e;
  if (s.capture_file.empty())
    return control_error("capture: none running on device " + t.spec.name);
  std::optional<Json> answer;
  if (t.iwarp != nullptr) {
    auto* sc = t.stream_capture;
    answer = run_on_engine(t, [sc] {
      sc->set_sink(nullptr);
      return Json{{"ok", true}};
    });
  } else {
    auto* cap = t.capture;
    answer = run_on_engine(t, [cap] {
      (void)cap->stop();  // the port lets go of the sink; this side still holds it
      return Json{{"ok", true}};
    });
  }
  if (!answer) return not_polling(s);
  const std::string file = std::exchange(s.capture_file, {});
  const auto sink = std::exchange(s.sink, {});
  // The writer thread finishes and the file is closed here, off the engine thread.
  const auto closed = sink->close();
  const capture::CaptureSinkStats st = sink->stats();
  if (!closed) return control_error("capture: " + closed.error().message);
  return Json{{"ok", true},
              {"file", file},
              {"frames", st.written},
              {"frames_dropped", st.ring_full},
              {"frames_over_limit", st.over_limit},
              {"write_errors", st.write_errors}};
}

Json capture(State& s, const Json& req) {
  if (s.target.capture == nullptr && s.target.stream_capture == nullptr)
    return control_error("capture: device " + s.target.spec.name + " has no capture point");
  const auto a = req.find("action");
  if (a == req.end())
    return control_error("action: missing (accepted: " + std::string(kCaptureActions) + ")");
  if (!a->is_string())
    return control_error("action: must be a string (accepted: " + std::string(kCaptureActions) +
                         ")");
  const auto& action = a->get_ref<const std::string&>();
  if (action == "start") return capture_start(s, req);
  if (action == "stop") return capture_stop(s, req);
  return control_error("action: unknown '" + action +
                       "' (accepted: " + std::string(kCaptureActions) + ")");
}

Json handle(State& s, const Json& req) {
  const auto c = req.find("cmd");
  if (c == req.end())
    return control_error("cmd: missing (accepted: " + std::string(kCommands) + ")");
  if (!c->is_string())
    return control_error("cmd: must be a string (accepted: " + std::string(kCommands) + ")");
  const auto& cmd = c->get_ref<const std::string&>();
  const DeviceControlTarget& t = s.target;
  if (cmd == "info" || cmd == "counters") {
    if (auto e = extra_field(req, {"cmd"}, cmd)) return *e;
    const bool info = cmd == "info";
    auto answer = t.iwarp != nullptr
                      ? run_on_engine(t, [&t, info, file = s.capture_file] {
                          return info ? iwarp_info_of(t, file) : iwarp_counters_of(t);
                        })
                      : run_on_engine(t, [&t, info] {
                          return info ? info_of(t, *t.device) : counters_of(t, *t.device);
                        });
    return answer ? *answer : not_polling(s);
  }
  if (cmd == "capture") return capture(s, req);
  return control_error("cmd: unknown '" + cmd + "' (accepted: " + std::string(kCommands) + ")");
}

}  // namespace

Json spec_info(const transport::DeviceSpec& s) {
  Json addrs = Json::array();
  for (const auto& a : s.ip4) addrs.push_back(wire::to_string(a.addr) + "/" + std::to_string(a.prefix));
  for (const auto& a : s.ip6) addrs.push_back(wire::to_string(a.addr) + "/" + std::to_string(a.prefix));
  return Json{{"ok", true},
              {"name", s.name},
              {"proto", s.proto == transport::DeviceProto::roce ? "roce" : "iwarp"},
              {"port", std::string(transport::to_string(s.port))},
              {"spec", transport::format_device_spec(s)},
              {"addresses", addrs}};
}

ControlHandler device_control_handler(DeviceControlTarget target) {
  auto state = std::make_shared<State>();
  state->target = std::move(target);
  return [state](const Json& req) { return handle(*state, req); };
}

}  // namespace softrnic::control
