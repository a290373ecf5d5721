#include "hosted_devices.hpp"

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
    const DeviceOptions& o, const std::vector<std::string>& default_specs, bool control_sockets) {
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
  h->set_ = std::make_unique<transport::DeviceSet>(so);
  if (auto r = h->set_->build(h->specs_, h->clock_); !r) return std::unexpected(r.error());
  return h;
}

std::size_t HostedDevices::poll() {
  std::size_t n = 0;
  for (const auto& s : specs_) {
    if (auto* d = set_->device(s.name)) n += d->poll();
    if (auto* d = set_->iwarp_device(s.name)) n += d->poll();
  }
  return n;
}

}  // namespace softrnic::cli
