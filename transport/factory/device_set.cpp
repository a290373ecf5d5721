#include "factory/device_set.hpp"

#include <algorithm>

#include "dpdk/dpdk_port.hpp"
#include "loopback/loopback_port.hpp"
#include "uring/uring_udp_port.hpp"

namespace softrnic::transport {

struct DeviceSet::Entry {
  std::string name;
  std::unique_ptr<Port> owned_port;  // ports that stand alone
  Port* port = nullptr;
  std::unique_ptr<roce::Device> device;
};

struct DeviceSet::Shared {
  std::unique_ptr<LoopbackWire> wire;
  DpdkRingPair ring;
};

DeviceSet::DeviceSet() = default;

DeviceSet::~DeviceSet() {
  for (auto& e : entries_) e->device.reset();  // devices return their buffers before ports go
}

roce::DeviceConfig device_config_of(const DeviceSpec& spec, const Port& port) {
  roce::DeviceConfig c;
  c.mac = spec.mac.value_or(port.mac());
  for (const auto& p : spec.ip4) c.gids.push_back(wire::ipv4_mapped(p.addr));
  for (const auto& p : spec.ip6) c.gids.push_back(p.addr);
  if (!spec.ip4.empty()) c.ipv4_prefix = spec.ip4.front().prefix;
  if (!spec.ip6.empty()) c.ipv6_prefix = spec.ip6.front().prefix;
  c.vlan = spec.vlan;
  return c;
}

namespace {

std::unexpected<Error> device_error(const DeviceSpec& s, const Error& e) {
  return make_error(e.code, "device " + s.name + ": " + e.message);
}

DpdkPortConfig dpdk_config(const DeviceSpec& s) {
  DpdkPortConfig c;
  if (s.mtu) c.mtu = *s.mtu;
  c.mac = s.mac;
  return c;
}

// The DPDK device string of a port kind that attaches to a kernel interface or socket.
std::string vdev_of(const DeviceSpec& s, std::size_t index) {
  const std::string n = std::to_string(index);
  switch (s.port) {
    case PortKind::memif:
      return "net_memif" + n + ",role=" + (s.role == MemifRole::server ? "server" : "client") +
             ",socket=" + s.socket;
    case PortKind::af_packet: return "net_af_packet" + n + ",iface=" + s.iface;
    case PortKind::af_xdp: return "net_af_xdp" + n + ",iface=" + s.iface;
    case PortKind::tap: return "net_tap" + n + (s.iface.empty() ? "" : ",iface=" + s.iface);
    default: return {};
  }
}

}  // namespace

Result<void> DeviceSet::build(const std::vector<DeviceSpec>& specs, Clock& clock) {
  const std::size_t first_entry = entries_.size(), first_shared = shared_.size();
  auto fail = [&](const DeviceSpec& s, const Error& e) {
    entries_.resize(first_entry);
    shared_.resize(first_shared);
    return device_error(s, e);
  };
  auto add = [&](const DeviceSpec& s, Port* port, std::unique_ptr<Port> owned) {
    auto e = std::make_unique<Entry>();
    e->name = s.name;
    e->owned_port = std::move(owned);
    e->port = port;
    e->device = std::make_unique<roce::Device>(*port, clock, device_config_of(s, *port));
    entries_.push_back(std::move(e));
  };
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const DeviceSpec& s = specs[i];
    const bool paired = s.port == PortKind::loopback || s.port == PortKind::ring;
    const bool built_with_peer =
        paired && std::any_of(specs.begin(), specs.begin() + static_cast<std::ptrdiff_t>(i),
                              [&](const DeviceSpec& o) { return o.name == s.peer && o.peer == s.name; });
    if (built_with_peer) continue;
    if (device(s.name)) return fail(s, {Errc::invalid_argument, "the name is taken"});
    if (s.proto == DeviceProto::iwarp)
      return fail(s, {Errc::unsupported, "iWARP devices are not built by this version yet"});
    switch (s.port) {
      case PortKind::loopback:
      case PortKind::ring: {
        const auto peer = std::find_if(specs.begin(), specs.end(), [&](const DeviceSpec& o) {
          return o.name == s.peer && o.port == s.port && o.peer == s.name;
        });
        if (peer == specs.end())
          return fail(s, {Errc::invalid_argument, "peer " + s.peer + " must be given too, with port=" +
                                                      std::string(to_string(s.port)) + ":peer=" + s.name});
        auto shared = std::make_unique<Shared>();
        Port *pa = nullptr, *pb = nullptr;
        if (s.port == PortKind::loopback) {
          LoopbackConfig lc;
          if (s.mtu) lc.mtu = *s.mtu;
          if (s.mac) lc.mac_a = *s.mac;
          if (peer->mac) lc.mac_b = *peer->mac;
          auto w = LoopbackWire::create(lc);
          if (!w) return fail(s, w.error());
          shared->wire = std::move(*w);
          pa = &shared->wire->a();
          pb = &shared->wire->b();
        } else {
          auto r = DpdkPort::create_ring_pair(s.name + "_" + peer->name, dpdk_config(s), dpdk_config(*peer));
          if (!r) return fail(s, r.error());
          shared->ring = std::move(*r);
          pa = shared->ring.a.get();
          pb = shared->ring.b.get();
        }
        shared_.push_back(std::move(shared));
        add(s, pa, nullptr);
        add(*peer, pb, nullptr);
        break;
      }
      case PortKind::uring: {
        UringUdpConfig uc;
        if (!s.ip4.empty()) {
          uc.local_address = wire::ipv4_mapped(s.ip4.front().addr);
        } else if (!s.ip6.empty()) {
          uc.local_address = s.ip6.front().addr;
        } else {
          return fail(s, {Errc::invalid_argument, "port=uring needs ip4= or ip6= (the socket binds to it)"});
        }
        if (s.udp_port) uc.udp_port = *s.udp_port;
        if (s.peer_udp_port) uc.peer_udp_port = *s.peer_udp_port;
        if (s.mtu) uc.mtu = *s.mtu;
        auto p = UringUdpPort::create(uc);
        if (!p) return fail(s, p.error());
        Port* raw = p->get();
        add(s, raw, std::move(*p));
        break;
      }
      case PortKind::memif:
      case PortKind::af_packet:
      case PortKind::af_xdp:
      case PortKind::tap: {
        auto p = DpdkPort::create_vdev(vdev_of(s, entries_.size()), dpdk_config(s));
        if (!p) return fail(s, p.error());
        Port* raw = p->get();
        add(s, raw, std::move(*p));
        break;
      }
      case PortKind::pci:
        return fail(s, {Errc::unsupported,
                        "PCI ports are not built by this version; use a vdev port (af_packet, af_xdp)"});
    }
  }
  return {};
}

roce::Device* DeviceSet::device(std::string_view name) {
  for (auto& e : entries_)
    if (e->name == name) return e->device.get();
  return nullptr;
}

Port* DeviceSet::port(std::string_view name) {
  for (auto& e : entries_)
    if (e->name == name) return e->port;
  return nullptr;
}

std::vector<std::string> DeviceSet::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e->name);
  return out;
}

}  // namespace softrnic::transport
