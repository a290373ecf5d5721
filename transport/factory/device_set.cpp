#include "factory/device_set.hpp"

#include <algorithm>

#include "capture/capture_port.hpp"
#include "capture/stream_capture.hpp"
#include "fault/link_faults.hpp"
#include "control/control_paths.hpp"
#include "control/control_server.hpp"
#include "control/device_control.hpp"
#include "dpdk/dpdk_port.hpp"
#include "dpdk/eal.hpp"
#include "loopback/loopback_port.hpp"
#include "uring/udp_socket.hpp"
#include "uring/uring_udp_port.hpp"
#include "uring/uring_tcp.hpp"

namespace softrnic::transport {

struct DeviceSet::Entry {
  std::string name;
  DeviceSpec spec;
  std::unique_ptr<Port> owned_port;  // ports that stand alone
  Port* port = nullptr;
  std::unique_ptr<capture::CapturePort> capture;  // with control sockets: between device and port
  std::unique_ptr<LinkFaultPort> faults;  // faults=: above the capture point, so it records the wire
  std::unique_ptr<roce::Device> device;
  // proto=iwarp: the kernel's TCP through io_uring, and the iWARP engine on it.
  std::unique_ptr<UringTcpTransport> tcp;
  std::unique_ptr<capture::StreamCapture> stream_capture;  // iwarp_capture_point: above tcp
  std::unique_ptr<iwarp::Device> iwarp;
  Shared* shared = nullptr;  // the wire or ring pair it shares with its peer
};

struct DeviceSet::Shared {
  std::unique_ptr<LoopbackWire> wire;
  DpdkRingPair ring;
};

DeviceSet::DeviceSet() = default;
DeviceSet::DeviceSet(DeviceSetOptions options) : options_(std::move(options)) {}

DeviceSet::~DeviceSet() {
  control_.reset();  // no request reaches a device after this
  for (auto& e : entries_) {
    e->device.reset();  // devices return their buffers before ports go
    e->iwarp.reset();   // and their streams before the transport
  }
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
  if (s.zero_copy) c.zero_copy_min = *s.zero_copy;
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
    // Ring slots for twice the engine's default window of unacknowledged packets (512): the
    // PMD's default of 512 drops frames of a full window whenever the receiver falls behind.
    case PortKind::af_packet: return "net_af_packet" + n + ",iface=" + s.iface + ",framecnt=1024";
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
  // device -> faults (faults=) -> capture (control sockets) -> port: a capture records what
  // crossed the wire, after transmit faults and before receive faults.
  auto add = [&](const DeviceSpec& s, Port* port, std::unique_ptr<Port> owned) -> std::optional<Error> {
    auto e = std::make_unique<Entry>();
    e->name = s.name;
    e->spec = s;
    e->owned_port = std::move(owned);
    e->port = port;
    if (options_.control_sockets) e->capture = std::make_unique<capture::CapturePort>(*port);
    Port* engine_port = e->capture ? static_cast<Port*>(e->capture.get()) : port;
    if (!s.faults.empty() || options_.fault_stage) {
      auto f = parse_link_faults(s.faults);
      if (!f) return f.error();
      auto lf = LinkFaultPort::create(*engine_port, *f, clock, port->has_link_layer());
      if (!lf) return lf.error();
      e->faults = std::move(*lf);
      engine_port = e->faults.get();
    }
    e->device = std::make_unique<roce::Device>(*engine_port, clock, device_config_of(s, *port));
    e->device->set_wakeup(options_.wakeup);
    entries_.push_back(std::move(e));
    return std::nullopt;
  };
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const DeviceSpec& s = specs[i];
    const bool paired = s.port == PortKind::loopback || s.port == PortKind::ring;
    const bool built_with_peer =
        paired && std::any_of(specs.begin(), specs.begin() + static_cast<std::ptrdiff_t>(i),
                              [&](const DeviceSpec& o) { return o.name == s.peer && o.peer == s.name; });
    if (built_with_peer) continue;
    if (device(s.name) || iwarp_device(s.name)) return fail(s, {Errc::invalid_argument, "the name is taken"});
    if (s.proto == DeviceProto::iwarp) {
      if (s.ip4.empty() && s.ip6.empty())
        return fail(s, {Errc::invalid_argument, "proto=iwarp needs ip4= or ip6= (its TCP address)"});
      auto t = UringTcpTransport::create();
      if (!t) return fail(s, t.error());
      auto e = std::make_unique<Entry>();
      e->name = s.name;
      e->spec = s;
      e->tcp = std::move(*t);
      iwarp::IwarpConfig ic;
      if (s.mpa_crc) ic.request_crc = *s.mpa_crc;
      StreamTransport* st = e->tcp.get();
      if (options_.iwarp_capture_point || options_.control_sockets) {
        e->stream_capture = std::make_unique<capture::StreamCapture>(*e->tcp);
        st = e->stream_capture.get();
      }
      e->iwarp = std::make_unique<iwarp::Device>(*st, clock, ic);
      e->iwarp->set_wakeup(options_.wakeup);
      entries_.push_back(std::move(e));
      continue;
    }
    // A spec's eal= starts DPDK with those arguments (or checks that the running EAL has them);
    // without it the first DPDK port starts the EAL with the embedded defaults.
    if (!s.eal.empty()) {
      if (auto r = eal::init(s.eal); !r) return fail(s, r.error());
    }
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
        Shared* pair = shared.get();
        shared_.push_back(std::move(shared));
        if (auto e = add(s, pa, nullptr)) return fail(s, *e);
        entries_.back()->shared = pair;
        if (auto e = add(*peer, pb, nullptr)) return fail(*peer, *e);
        entries_.back()->shared = pair;
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
        // The MTU follows the link (the interface holding the address) unless the spec names one;
        // capped at the largest the grammar takes. Loopback and unknown: the 1500 default.
        if (s.mtu) {
          uc.mtu = *s.mtu;
        } else if (const std::uint32_t link = udp_socket::link_mtu_of(uc.local_address); link != 0) {
          uc.mtu = std::min<std::uint32_t>(link, 9216);
        }
        auto p = UringUdpPort::create(uc);
        if (!p) return fail(s, p.error());
        Port* raw = p->get();
        if (auto e = add(s, raw, std::move(*p))) return fail(s, *e);
        break;
      }
      case PortKind::memif:
      case PortKind::af_packet:
      case PortKind::af_xdp:
      case PortKind::tap: {
        next_vdev_ = std::max(next_vdev_, entries_.size());
        auto p = DpdkPort::create_vdev(vdev_of(s, next_vdev_++), dpdk_config(s));
        if (!p) return fail(s, p.error());
        Port* raw = p->get();
        if (auto e = add(s, raw, std::move(*p))) return fail(s, *e);
        break;
      }
      case PortKind::pci:
        return fail(s, {Errc::unsupported,
                        "PCI ports are not built by this version; use a vdev port (af_packet, af_xdp)"});
    }
  }
  if (options_.control_sockets) {
    if (auto r = open_control_sockets(first_entry); !r) {
      entries_.resize(first_entry);
      shared_.resize(first_shared);
      return r;
    }
  }
  return {};
}

std::vector<std::string> DeviceSet::remove(const std::vector<std::string>& names) {
  std::vector<Shared*> pairs;
  for (const auto& e : entries_)
    if (e->shared && std::find(names.begin(), names.end(), e->name) != names.end()) pairs.push_back(e->shared);
  std::vector<std::string> removed;
  for (auto& e : entries_) {
    const bool named = std::find(names.begin(), names.end(), e->name) != names.end();
    const bool in_pair = e->shared && std::find(pairs.begin(), pairs.end(), e->shared) != pairs.end();
    if (!named && !in_pair) continue;
    if (control_) control_->remove(e->name);  // no request reaches the device after this
    removed.push_back(e->name);
  }
  // Devices before ports, both of a pair before their shared wire (as ~DeviceSet).
  auto gone = [&](const std::unique_ptr<Entry>& e) {
    return std::find(removed.begin(), removed.end(), e->name) != removed.end();
  };
  for (auto& e : entries_)
    if (gone(e)) {
      e->device.reset();
      e->iwarp.reset();
    }
  std::erase_if(entries_, gone);
  std::erase_if(shared_, [&](const std::unique_ptr<Shared>& sh) {
    return std::find(pairs.begin(), pairs.end(), sh.get()) != pairs.end();
  });
  return removed;
}

bool DeviceSet::wait_fds(std::vector<int>& fds) const {
  bool all = true;
  for (const auto& e : entries_) {
    const int fd = e->tcp ? e->tcp->wait_fd() : e->faults ? -1 : e->port->wait_fd();
    if (fd < 0) {
      all = false;
    } else {
      fds.push_back(fd);
    }
  }
  return all;
}

std::uint64_t DeviceSet::next_deadline() const {
  std::uint64_t at = UINT64_MAX;
  for (const auto& e : entries_) {
    if (e->device) at = std::min(at, e->device->next_deadline());
    if (e->iwarp) at = std::min(at, e->iwarp->next_deadline());
    // Closed streams linger until the peer's FIN or a timeout that only poll() notices.
    if (e->tcp && e->tcp->open_sockets() != 0) at = std::min(at, e->iwarp->clock().now_ns() + 1'000'000);
  }
  return at;
}

capture::StreamCapture* DeviceSet::stream_capture(std::string_view name) {
  for (auto& e : entries_)
    if (e->name == name) return e->stream_capture.get();
  return nullptr;
}

iwarp::Device* DeviceSet::iwarp_device(std::string_view name) {
  for (auto& e : entries_)
    if (e->name == name) return e->iwarp.get();
  return nullptr;
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

LinkFaultPort* DeviceSet::faults(std::string_view name) {
  for (auto& e : entries_)
    if (e->name == name) return e->faults.get();
  return nullptr;
}

std::vector<std::string> DeviceSet::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e->name);
  return out;
}

std::string DeviceSet::control_socket(std::string_view name) const {
  return control_ ? control_->path_of(name) : std::string();
}

namespace {

template <class P>
std::function<void(const control::CounterSink&)> counters_of(Port* port) {
  return [p = static_cast<P*>(port)](const control::CounterSink& sink) {
    p->counters().for_each(sink);
  };
}

// The port's own counters, by the kind of port the spec built.
std::function<void(const control::CounterSink&)> port_counters(PortKind kind, Port* port) {
  switch (kind) {
    case PortKind::loopback: return counters_of<LoopbackPort>(port);
    case PortKind::uring: return counters_of<UringUdpPort>(port);
    case PortKind::ring:
    case PortKind::memif:
    case PortKind::af_packet:
    case PortKind::af_xdp:
    case PortKind::tap: return counters_of<DpdkPort>(port);
    case PortKind::pci: break;
  }
  return {};
}

}  // namespace

Result<void> DeviceSet::open_control_sockets(std::size_t first_entry) {
  if (!control_) {
    auto server = control::ControlServer::create();
    if (!server) return std::unexpected(server.error());
    control_ = std::move(*server);
  }
  const std::string dir = control::control_dir(options_.control_dir);
  for (std::size_t i = first_entry; i < entries_.size(); ++i) {
    Entry& e = *entries_[i];
    control::DeviceControlTarget t;
    t.spec = e.spec;
    if (e.iwarp) {
      t.iwarp = e.iwarp.get();
      t.stream_capture = e.stream_capture.get();
      t.port_counters = [tcp = e.tcp.get()](const control::CounterSink& sink) { tcp->counters().for_each(sink); };
    } else {
      t.device = e.device.get();
      t.port = e.port;
      t.capture = e.capture.get();
      t.port_counters = port_counters(e.spec.port, e.port);
    }
    if (e.faults) {  // the fault stage's counters join the port's ("tx_fault_dropped", ...)
      t.port_counters = [below = std::move(t.port_counters), faults = e.faults.get()](const control::CounterSink& sink) {
        if (below) below(sink);
        faults->for_each_counter([&](const std::string& name, std::uint64_t v) { sink(name, v); });
      };
    }
    t.timeout = options_.control_timeout;
    if (auto r = control_->listen(dir, e.name, control::device_control_handler(std::move(t))); !r) {
      for (std::size_t k = first_entry; k < i; ++k) control_->remove(entries_[k]->name);
      return std::unexpected(r.error());  // it names the device
    }
  }
  return {};
}

}  // namespace softrnic::transport
