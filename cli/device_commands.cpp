// `softrnic devinfo`, `stats` and `capture`: looking at running devices through their control
// sockets (transport/control/). `serve`, which hosts them, is serve_command.cpp.
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <ostream>
#include <thread>

#include "command.hpp"
#include "control/control_client.hpp"
#include "control/control_paths.hpp"
#include "control/device_control.hpp"
#include "engine/engine_loop.hpp"
#include "hosted_devices.hpp"
#include "interrupt.hpp"

namespace softrnic::cli {
namespace {

using Json = nlohmann::json;
using Clk = std::chrono::steady_clock;

constexpr int kExitFailed = 1;

// Names of the devices whose sockets are in dir (running or stale).
std::vector<std::string> socket_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = readdir(d)) {
    const std::string f = e->d_name;
    if (f.size() > 5 && f.ends_with(".sock")) names.push_back(f.substr(0, f.size() - 5));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Result<Json> ask(const std::string& name, const std::string& dir, const Json& req) {
  auto c = control::ControlClient::connect(name, dir);
  if (!c) return std::unexpected(c.error());
  auto a = c->request(req);
  if (!a) return std::unexpected(a.error());
  if (!a->value("ok", false))
    return make_error(Errc::invalid_argument, name + ": " + a->value("error", std::string("refused")));
  return a;
}

// ibv_devinfo's MTU enumeration: 256 → 1, ..., 4096 → 5.
std::string mtu_text(std::uint32_t mtu) {
  int e = 0;
  for (std::uint32_t m = 256; m <= mtu && e < 5; m *= 2) ++e;
  return std::to_string(mtu) + " (" + std::to_string(e) + ")";
}

void print_devinfo(const Json& i, bool verbose, std::ostream& out) {
  const bool roce = i.value("proto", "roce") == "roce";
  out << "hca_id:\t" << i.value("name", "?") << "\n";
  out << "\ttransport:\t\t\t" << (roce ? "RoCEv2 (InfiniBand over UDP)" : "iWARP (RDMAP/DDP/MPA over TCP)") << "\n";
  out << "\tport kind:\t\t\t" << i.value("port", "?") << "\n";
  out << "\tspec:\t\t\t\t" << i.value("spec", "") << "\n";
  if (i.contains("mac")) out << "\tmac:\t\t\t\t" << i["mac"].get<std::string>() << "\n";
  out << "\tphys_port_cnt:\t\t\t1\n";
  if (verbose && i.contains("limits"))
    for (const auto& [k, v] : i["limits"].items()) {
      char line[96];
      std::snprintf(line, sizeof line, "\t%-31s %s\n", (k + ":").c_str(), v.dump().c_str());
      out << line;
    }
  out << "\t\tport:\t1\n";
  const bool up = i.value("link_up", true);
  out << "\t\t\tstate:\t\t\t" << (up ? "PORT_ACTIVE (4)" : "PORT_DOWN (1)") << "\n";
  if (i.contains("active_mtu")) {
    out << "\t\t\tmax_mtu:\t\t" << mtu_text(i["limits"].value("max_pmtu", 4096u)) << "\n";
    out << "\t\t\tactive_mtu:\t\t" << mtu_text(i["active_mtu"].value("ipv4", 0u)) << " over IPv4, "
        << mtu_text(i["active_mtu"].value("ipv6", 0u)) << " over IPv6\n";
    out << "\t\t\tlink_mtu:\t\t" << i.value("link_mtu", 0u) << "\n";
  }
  out << "\t\t\tlink_layer:\t\tEthernet\n";
  if (i.contains("gids"))
    for (const auto& g : i["gids"]) {
      char idx[8];
      std::snprintf(idx, sizeof idx, "%3u", g.value("index", 0u));
      out << "\t\t\tGID[" << idx << "]:\t\t" << g.value("gid", "") << ", RoCE v2"
          << (g["vlan"].is_null() ? "" : ", vlan " + g["vlan"].dump()) << "\n";
    }
  if (i.contains("addresses"))
    for (const auto& a : i["addresses"]) out << "\t\t\taddress:\t\t" << a.get<std::string>() << "\n";
  out << "\n";
}

struct DevinfoCommand {
  DeviceOptions dev;
  std::vector<std::string> names;
  bool verbose = false;
  bool json = false;
};

int run_devinfo(const DevinfoCommand& c, std::ostream& out, std::ostream& err) {
  std::vector<Json> infos;
  const bool hosted = !c.dev.specs.empty() || !c.dev.config.empty();
  if (hosted) {
    // Devices made here answer through the same control-socket code as running ones.
    auto h = HostedDevices::open(c.dev, {});
    if (!h) {
      err << "softrnic devinfo: " << h.error().message << "\n";
      return kExitFailed;
    }
    EngineLoop loop;
    loop.add([&h] { return (*h)->poll(); });
    if (auto r = loop.start(); !r) {
      err << "softrnic devinfo: " << r.error().message << "\n";
      return kExitFailed;
    }
    for (const auto& s : (*h)->specs()) {
      if (!c.names.empty() && std::find(c.names.begin(), c.names.end(), s.name) == c.names.end()) continue;
      const std::string sock = (*h)->set().control_socket(s.name);
      if (sock.empty()) {
        infos.push_back(control::spec_info(s));
        continue;
      }
      auto cl = control::ControlClient::connect_path(sock);
      auto a = cl ? cl->request({{"cmd", "info"}}) : Result<Json>(std::unexpected(cl.error()));
      if (!a) {
        err << "softrnic devinfo: " << s.name << ": " << a.error().message << "\n";
        return kExitFailed;
      }
      infos.push_back(*a);
    }
  } else {
    const std::string dir = control::control_dir(c.dev.control_dir);
    auto names = c.names.empty() ? socket_names(dir) : c.names;
    if (names.empty()) {
      err << "softrnic devinfo: no running device has a control socket in " << dir
          << " (start one with `softrnic serve --dev SPEC`, or describe devices with --dev)\n";
      return kExitFailed;
    }
    for (const auto& n : names) {
      auto a = ask(n, dir, {{"cmd", "info"}});
      if (!a) {
        err << "softrnic devinfo: " << a.error().message << "\n";
        if (!c.names.empty()) return kExitFailed;
        continue;  // a stale socket in a listing is reported, not fatal
      }
      infos.push_back(*a);
    }
  }
  if (c.json) {
    out << Json(infos).dump(2) << "\n";
  } else {
    for (const auto& i : infos) print_devinfo(i, c.verbose, out);
  }
  return infos.empty() ? kExitFailed : 0;
}

struct StatsCommand {
  std::string name;
  std::string control_dir;
  bool json = false;
  double watch = 0;  // seconds between samples; 0: once
  std::uint32_t count = 0;  // samples with --watch (0: until Ctrl-C)
  bool all = false;
};

// Every counter of an answer as "group.name" → value.
std::vector<std::pair<std::string, std::uint64_t>> flatten(const Json& a) {
  std::vector<std::pair<std::string, std::uint64_t>> v;
  // device, drops, port, capture, then the groups of what runs beside the engine (neighbours, cm).
  std::vector<std::string> groups = {"device", "drops", "port", "capture"};
  for (const auto& [k, x] : a.items())
    if (x.is_object() && std::find(groups.begin(), groups.end(), k) == groups.end()) groups.push_back(k);
  for (const auto& group : groups) {
    if (!a.contains(group) || !a[group].is_object()) continue;
    for (const auto& [k, x] : a[group].items())
      if (x.is_number_unsigned()) v.emplace_back(group + "." + k, x.get<std::uint64_t>());
  }
  return v;
}

int run_stats(const StatsCommand& c, std::ostream& out, std::ostream& err) {
  const std::string dir = control::control_dir(c.control_dir);
  auto cl = control::ControlClient::connect(c.name, dir);
  if (!cl) {
    err << "softrnic stats: " << cl.error().message << "\n";
    return kExitFailed;
  }
  catch_interrupts();
  std::vector<std::pair<std::string, std::uint64_t>> prev;
  for (std::uint32_t sample = 1;; ++sample) {
    auto a = cl->request({{"cmd", "counters"}});
    if (!a || !a->value("ok", false)) {
      err << "softrnic stats: " << c.name << ": "
          << (a ? a->value("error", std::string("refused")) : a.error().message) << "\n";
      return kExitFailed;
    }
    if (c.json) {
      out << a->dump() << "\n";
    } else {
      const auto now = flatten(*a);
      if (c.watch > 0) out << "--- " << c.name << " sample " << sample << "\n";
      for (std::size_t i = 0; i < now.size(); ++i) {
        if (!c.all && now[i].second == 0) continue;
        char line[128];
        std::snprintf(line, sizeof line, "%-36s %16llu", now[i].first.c_str(),
                      static_cast<unsigned long long>(now[i].second));
        out << line;
        if (c.watch > 0 && i < prev.size() && prev[i].first == now[i].first)
          out << "  (+" << now[i].second - prev[i].second << ")";
        out << "\n";
      }
      prev = now;
    }
    out.flush();
    if (c.watch <= 0 || (c.count != 0 && sample >= c.count)) return 0;
    const auto until = Clk::now() + std::chrono::duration<double>(c.watch);
    while (Clk::now() < until && !interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (interrupted()) return 0;
  }
}

struct CaptureCommand {
  std::string name;
  std::string file;
  std::string control_dir;
  double duration = 0;  // seconds; 0: until Ctrl-C
  bool overwrite = false;
  std::uint64_t max_bytes = 0;  // 0: no limit
};

int run_capture(const CaptureCommand& c, std::ostream& out, std::ostream& err) {
  const std::string dir = control::control_dir(c.control_dir);
  std::string file = c.file;
  if (!file.starts_with('/')) {  // the device runs elsewhere: give it an absolute path
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) {
      err << "softrnic capture: cannot resolve " << file << "\n";
      return kExitFailed;
    }
    file = std::string(cwd) + "/" + file;
  }
  catch_interrupts();
  Json start = {{"cmd", "capture"}, {"action", "start"}, {"file", file}};
  if (c.overwrite) start["overwrite"] = true;
  if (c.max_bytes != 0) start["max_bytes"] = c.max_bytes;
  auto started = ask(c.name, dir, start);
  if (!started) {
    err << "softrnic capture: " << started.error().message << "\n";
    return kExitFailed;
  }
  err << "capturing " << c.name << " to " << file
      << (c.duration > 0 ? "" : " (Ctrl-C stops)") << "\n";
  const auto until = Clk::now() + std::chrono::duration<double>(c.duration > 0 ? c.duration : 1e9);
  while (Clk::now() < until && !interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto stopped = ask(c.name, dir, {{"cmd", "capture"}, {"action", "stop"}});
  if (!stopped) {
    err << "softrnic capture: " << stopped.error().message << "\n";
    return kExitFailed;
  }
  out << stopped->value("frames", 0ull) << " frames written to " << file << "\n";
  if (const auto n = stopped->value("frames_over_limit", 0ull); n != 0)
    out << n << " frames not written: the file reached --max-bytes\n";
  if (const auto n = stopped->value("frames_dropped", 0ull); n != 0)
    out << n << " frames dropped: they came faster than the file was written\n";
  return 0;
}

}  // namespace

void add_devinfo_command(CLI::App& app, CommandList& list) {
  auto cmd = std::make_shared<DevinfoCommand>();
  auto* sub = app.add_subcommand(
      "devinfo",
      "Like ibv_devinfo: the devices running on this host (through their control sockets), or "
      "those --dev/--config describe: transport, port, MAC, GIDs (IPv4-mapped and IPv6), MTUs; "
      "-v adds the limits");
  sub->add_option("NAME", cmd->names, "Only these devices");
  add_device_options(*sub, cmd->dev);
  sub->add_flag("-v,--verbose", cmd->verbose, "Also the device limits");
  sub->add_flag("--json", cmd->json, "The devices' info as a JSON array");
  list.push_back({sub, [cmd](std::ostream& out, std::ostream& err) {
                    auto c = *cmd;
                    if (!c.dev.name.empty()) c.names.push_back(c.dev.name);
                    return run_devinfo(c, out, err);
                  }});
}

void add_stats_command(CLI::App& app, CommandList& list) {
  auto cmd = std::make_shared<StatsCommand>();
  auto* sub = app.add_subcommand(
      "stats",
      "Counters of a running device (packets, bytes, drops by reason, retransmits, RNR, NAKs, "
      "CNPs), read through its control socket");
  sub->add_option("-d,--ib-dev", cmd->name, "The device")->required();
  sub->add_option("--control-dir", cmd->control_dir, "Folder of the control sockets");
  sub->add_flag("--json", cmd->json, "The counters as one JSON object per sample");
  sub->add_flag("-a,--all", cmd->all, "Also the counters that are zero");
  sub->add_option("--watch", cmd->watch, "Sample every SECS seconds until Ctrl-C, with deltas")
      ->expected(0, 1)
      ->default_str("1")
      ->check(CLI::PositiveNumber);
  sub->add_option("--count", cmd->count, "With --watch: stop after this many samples")
      ->check(CLI::PositiveNumber);
  list.push_back({sub, [cmd, sub](std::ostream& out, std::ostream& err) {
                    auto c = *cmd;
                    if (sub->count("--watch") > 0 && c.watch <= 0) c.watch = 1;
                    return run_stats(c, out, err);
                  }});
}

void add_capture_command(CLI::App& app, CommandList& list) {
  auto cmd = std::make_shared<CaptureCommand>();
  auto* sub = app.add_subcommand(
      "capture",
      "Write a running device's frames to a capture file until Ctrl-C or --duration: pcapng "
      "when FILE ends in .pcapng, else pcap (both read by tshark/Wireshark and `softrnic "
      "decode`)");
  sub->add_option("-d,--ib-dev", cmd->name, "The device")->required();
  sub->add_option("-w,--write", cmd->file,
                  "The capture file to write (.pcapng: pcapng): a new file, mode 0600; an "
                  "existing one is refused unless --overwrite, a symbolic link always")
      ->required();
  sub->add_flag("--overwrite", cmd->overwrite, "Replace FILE if it exists (a regular file only)");
  sub->add_option("--max-bytes", cmd->max_bytes,
                  "Stop writing before FILE passes this many bytes; the frames left out are "
                  "counted");
  sub->add_option("--duration", cmd->duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  sub->add_option("--control-dir", cmd->control_dir, "Folder of the control sockets");
  list.push_back({sub, [cmd](std::ostream& out, std::ostream& err) { return run_capture(*cmd, out, err); }});
}

}  // namespace softrnic::cli
