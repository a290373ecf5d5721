#include "hosted_devices.hpp"

#include <algorithm>
#include <sstream>

#include "factory/device_config.hpp"

namespace softrnic::cli {

void add_device_options(CLI::App& sub, DeviceOptions& o) {
  sub.add_option("-d,--ib-dev", o.name, "Use this device (default: the first one created)");
  sub.add_option("--dev", o.specs,
                 "Create a device from a spec (repeatable), e.g. "
                 "name=srn0,proto=roce,port=uring,ip4=198.18.0.1/24. Fields: name, "
                 "proto=roce|iwarp, port=loopback|ring|memif|af_packet|af_xdp|tap|uring|pci, "
                 "mac, ip4, ip6, mtu, vlan, eal, mpa_crc");
  sub.add_option("--config", o.config, "Create the devices of this TOML file")
      ->check(CLI::ExistingFile);
  sub.add_option("--eal", o.eal,
                 "DPDK EAL arguments for DPDK ports, space-separated (replace the embedded "
                 "defaults --no-huge -m 512 --no-shconf --no-pci)");
  sub.add_option("--control-dir", o.control_dir,
                 "Folder of the devices' control sockets (default: $SOFTRNIC_CONTROL_DIR, "
                 "$XDG_RUNTIME_DIR/softrnic, /run/softrnic as root, else /tmp/softrnic-UID)");
}

Result<std::vector<transport::DeviceSpec>> device_specs(
    const DeviceOptions& o, const std::vector<std::string>& default_specs) {
  std::vector<transport::DeviceSpec> specs;
  if (!o.config.empty()) {
    auto c = transport::load_device_config(o.config);
    if (!c) return make_error(c.error().code, "--config " + o.config + ": " + c.error().message);
    specs = std::move(*c);
  }
  const auto& texts = o.specs.empty() && o.config.empty() ? default_specs : o.specs;
  for (const auto& t : texts) {
    auto s = transport::parse_device_spec(t);
    if (!s) return make_error(s.error().code, "--dev " + t + ": " + s.error().message);
    specs.push_back(std::move(*s));
  }
  if (specs.empty()) return make_error(Errc::invalid_argument, "no device: give --dev SPEC or --config FILE");
  if (!o.eal.empty()) {
    std::vector<std::string> eal;
    std::istringstream in(o.eal);
    for (std::string a; in >> a;) eal.push_back(a);
    for (auto& s : specs)
      if (s.uses_dpdk() && s.eal.empty()) s.eal = eal;
  }
  return specs;
}

Result<std::unique_ptr<HostedDevices>> HostedDevices::open(
    const DeviceOptions& o, const std::vector<std::string>& default_specs, bool control_sockets,
    Wakeup* wakeup) {
  auto specs = device_specs(o, default_specs);
  if (!specs) return std::unexpected(specs.error());
  auto h = std::unique_ptr<HostedDevices>(new HostedDevices());
  h->specs_ = std::move(*specs);
  if (!o.name.empty()) {
    std::size_t i = 0;
    while (i < h->specs_.size() && h->specs_[i].name != o.name) ++i;
    if (i == h->specs_.size()) {
      std::string names;
      for (const auto& s : h->specs_) names += (names.empty() ? "" : ", ") + s.name;
      return make_error(Errc::not_found, "-d " + o.name + ": no such device (created: " + names + ")");
    }
    h->selected_ = i;
  }
  transport::DeviceSetOptions so;
  so.control_sockets = control_sockets;
  so.control_dir = o.control_dir;
  so.wakeup = wakeup;
  h->set_ = std::make_unique<transport::DeviceSet>(so);
  if (auto r = h->set_->build(h->specs_, h->clock_); !r) return std::unexpected(r.error());
  h->refresh_pollers();
  h->pump_ = std::make_unique<DevicePump>([d = h.get()] { return d->poll(); });
  return h;
}

void HostedDevices::refresh_pollers() {
  roce_.clear();
  iwarp_.clear();
  for (const auto& s : specs_) {
    if (auto* d = set_->device(s.name)) roce_.push_back(d);
    if (auto* d = set_->iwarp_device(s.name)) iwarp_.push_back(d);
  }
}

std::size_t HostedDevices::poll() {
  std::size_t n = 0;
  for (auto* d : roce_) n += d->poll();
  for (auto* d : iwarp_) n += d->poll();
  return n;
}

namespace {

bool paired(const transport::DeviceSpec& s) {
  return s.port == transport::PortKind::loopback || s.port == transport::PortKind::ring;
}

const transport::DeviceSpec* find_spec(const std::vector<transport::DeviceSpec>& v, const std::string& name) {
  for (const auto& s : v)
    if (s.name == name) return &s;
  return nullptr;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

Result<ReloadReport> HostedDevices::reload(const DeviceOptions& o) {
  auto next = device_specs(o, {});
  if (!next) return std::unexpected(next.error());
  // Refuse what build() would refuse for the whole set, before anything stops.
  for (std::size_t i = 0; i < next->size(); ++i) {
    const auto& s = (*next)[i];
    for (std::size_t k = 0; k < i; ++k)
      if ((*next)[k].name == s.name) return make_error(Errc::invalid_argument, "device " + s.name + ": the name is taken");
    if (!paired(s)) continue;
    const auto* peer = find_spec(*next, s.peer);
    if (peer == nullptr || peer->port != s.port || peer->peer != s.name)
      return make_error(Errc::invalid_argument, "device " + s.name + ": peer " + s.peer +
                                                    " must be given too, with port=" +
                                                    std::string(to_string(s.port)) + ":peer=" + s.name);
  }
  // Which devices go: removed from the configuration, or changed; a pair goes as a whole.
  std::vector<std::string> go;
  for (const auto& old : specs_) {
    const auto* now = find_spec(*next, old.name);
    if (now == nullptr || !(*now == old)) go.push_back(old.name);
  }
  for (bool more = true; more;) {
    more = false;
    for (const auto& old : specs_)
      if (paired(old) && contains(go, old.name) != contains(go, old.peer) && find_spec(specs_, old.peer)) {
        go.push_back(contains(go, old.name) ? old.peer : old.name);
        more = true;
      }
  }
  ReloadReport report;
  const std::vector<transport::DeviceSpec> before = specs_;
  set_->remove(go);
  for (const auto& name : go) {
    (find_spec(*next, name) ? report.restarted : report.stopped).push_back(name);
  }
  // Build what is not running, in the configuration's order; a pair in one build.
  std::vector<transport::DeviceSpec> running;
  std::vector<std::string> done;
  for (const auto& s : *next) {
    if (contains(done, s.name)) continue;
    const bool was_kept = find_spec(before, s.name) != nullptr && !contains(go, s.name);
    if (was_kept) {
      report.kept.push_back(s.name);
      running.push_back(s);
      done.push_back(s.name);
      continue;
    }
    std::vector<transport::DeviceSpec> group{s};
    if (paired(s)) group.push_back(*find_spec(*next, s.peer));
    for (const auto& g : group) done.push_back(g.name);
    auto built = set_->build(group, clock_);
    if (built) {
      for (const auto& g : group) {
        running.push_back(g);
        if (!contains(report.restarted, g.name)) report.started.push_back(g.name);
      }
      continue;
    }
    for (const auto& g : group) report.failed.emplace_back(g.name, built.error().message);
    // A changed device that does not build: its old spec again, when it had one (a pair only
    // when both ends had theirs). Otherwise it is stopped.
    std::vector<transport::DeviceSpec> old_group;
    for (const auto& g : group)
      if (const auto* old = find_spec(before, g.name)) old_group.push_back(*old);
    const bool whole = std::all_of(old_group.begin(), old_group.end(), [&](const auto& x) {
      return !paired(x) || find_spec(old_group, x.peer) != nullptr;
    });
    if (!old_group.empty() && whole && set_->build(old_group, clock_)) {
      for (const auto& g : old_group) {
        running.push_back(g);
        report.restored.push_back(g.name);
      }
      continue;
    }
    for (const auto& g : old_group) {
      std::erase(report.restarted, g.name);
      report.stopped.push_back(g.name);
    }
  }
  specs_ = std::move(running);
  selected_ = 0;
  refresh_pollers();
  return report;
}

}  // namespace softrnic::cli
