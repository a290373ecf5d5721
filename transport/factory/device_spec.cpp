#include "factory/device_spec.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>

#include "dpdk/eal_args.hpp"
#include "fault/link_faults.hpp"

namespace softrnic::transport {

std::string_view to_string(PortKind k) {
  switch (k) {
    case PortKind::loopback: return "loopback";
    case PortKind::ring: return "ring";
    case PortKind::memif: return "memif";
    case PortKind::af_packet: return "af_packet";
    case PortKind::af_xdp: return "af_xdp";
    case PortKind::tap: return "tap";
    case PortKind::uring: return "uring";
    case PortKind::pci: return "pci";
  }
  return "?";
}

namespace {

constexpr std::string_view kPortKinds = "loopback, ring, memif, af_packet, af_xdp, tap, uring, pci";

std::unexpected<Error> field_error(std::string_view field, std::string message) {
  return make_error(Errc::invalid_argument, std::string(field) + ": " + message);
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

template <class T>
std::optional<T> number(std::string_view v, T lo, T hi) {
  T x{};
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc{} || p != v.data() + v.size() || x < lo || x > hi) return std::nullopt;
  return x;
}

std::optional<wire::MacAddr> parse_mac(std::string_view v) {
  const auto parts = split(v, ':');
  if (parts.size() != 6) return std::nullopt;
  wire::MacAddr m{};
  for (std::size_t i = 0; i < 6; ++i) {
    unsigned x = 0;
    const auto [p, ec] = std::from_chars(parts[i].data(), parts[i].data() + parts[i].size(), x, 16);
    if (ec != std::errc{} || p != parts[i].data() + parts[i].size() || parts[i].size() != 2) return std::nullopt;
    m[i] = static_cast<std::uint8_t>(x);
  }
  return m;
}

template <class Prefix, int Family, std::size_t Bytes, std::uint8_t MaxLen>
Result<Prefix> parse_prefix(std::string_view field, std::string_view v) {
  const auto slash = v.find('/');
  if (slash == std::string_view::npos)
    return field_error(field, "'" + std::string(v) + "' needs a prefix length (ADDRESS/P)");
  const std::string addr(v.substr(0, slash));
  Prefix p;
  if (inet_pton(Family, addr.c_str(), p.addr.data()) != 1)
    return field_error(field, "'" + addr + "' is not an address");
  const auto len = number<unsigned>(v.substr(slash + 1), 0, MaxLen);
  if (!len) return field_error(field, "prefix length must be 0.." + std::to_string(MaxLen));
  p.prefix = static_cast<std::uint8_t>(*len);
  static_assert(sizeof(p.addr) == Bytes);
  return p;
}

Result<void> parse_port(std::string_view v, DeviceSpec& s) {
  const auto colon = v.find(':');
  const std::string_view kind = v.substr(0, colon);
  const std::string_view opts = colon == std::string_view::npos ? std::string_view{} : v.substr(colon + 1);
  static constexpr std::pair<std::string_view, PortKind> kKinds[] = {
      {"loopback", PortKind::loopback}, {"ring", PortKind::ring},   {"memif", PortKind::memif},
      {"af_packet", PortKind::af_packet}, {"af_xdp", PortKind::af_xdp}, {"tap", PortKind::tap},
      {"uring", PortKind::uring},       {"pci", PortKind::pci}};
  bool known = false;
  for (const auto& [n, k] : kKinds) {
    if (n == kind) {
      s.port = k;
      known = true;
    }
  }
  if (!known) return field_error("port", "unknown kind '" + std::string(kind) + "' (accepted: " + std::string(kPortKinds) + ")");
  if (s.port == PortKind::pci) {
    if (opts.empty()) return field_error("port", "pci needs an address: port=pci:0000:03:00.0");
    s.pci_addr = std::string(opts);
    return {};
  }
  if (opts.empty()) {
    if (s.port == PortKind::loopback || s.port == PortKind::ring)
      return field_error("port", std::string(kind) + " needs its peer: port=" + std::string(kind) + ":peer=NAME");
    if (s.port == PortKind::memif) return field_error("port", "memif needs its socket: port=memif:socket=PATH");
    if (s.port == PortKind::af_packet || s.port == PortKind::af_xdp)
      return field_error("port", std::string(kind) + " needs an interface: port=" + std::string(kind) + ":iface=IF");
    return {};
  }
  for (const auto opt : split(opts, ':')) {
    const auto eq = opt.find('=');
    const std::string_view key = opt.substr(0, eq);
    const std::string_view val = eq == std::string_view::npos ? std::string_view{} : opt.substr(eq + 1);
    if (val.empty()) return field_error("port", "option '" + std::string(opt) + "' needs a value (KEY=VALUE)");
    const bool peer_ok = s.port == PortKind::loopback || s.port == PortKind::ring;
    const bool iface_ok = s.port == PortKind::af_packet || s.port == PortKind::af_xdp || s.port == PortKind::tap;
    if (key == "peer" && peer_ok) {
      s.peer = std::string(val);
    } else if (key == "socket" && s.port == PortKind::memif) {
      s.socket = std::string(val);
    } else if (key == "iface" && iface_ok) {
      s.iface = std::string(val);
    } else {
      return field_error("port", "option '" + std::string(key) + "' does not apply to " + std::string(kind));
    }
  }
  if ((s.port == PortKind::loopback || s.port == PortKind::ring) && s.peer.empty())
    return field_error("port", std::string(kind) + " needs peer=NAME");
  if (s.port == PortKind::memif && s.socket.empty()) return field_error("port", "memif needs socket=PATH");
  if ((s.port == PortKind::af_packet || s.port == PortKind::af_xdp) && s.iface.empty())
    return field_error("port", std::string(kind) + " needs iface=IF");
  return {};
}

}  // namespace

Result<DeviceSpec> parse_device_spec(std::string_view text) {
  DeviceSpec s;
  bool have_name = false, have_port = false, have_role = false;
  std::optional<std::uint16_t> udp_port, peer_udp_port;
  for (const auto item : split(text, ',')) {
    const auto eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos || eq + 1 == item.size())
      return make_error(Errc::invalid_argument, "'" + std::string(item) + "': fields are FIELD=VALUE, separated by commas");
    const std::string_view key = item.substr(0, eq), val = item.substr(eq + 1);
    if (key == "name") {
      if (val.find_first_of("/ ") != std::string_view::npos)
        return field_error("name", "'" + std::string(val) + "' may not contain '/' or spaces");
      s.name = std::string(val);
      have_name = true;
    } else if (key == "proto") {
      if (val == "roce") s.proto = DeviceProto::roce;
      else if (val == "iwarp") s.proto = DeviceProto::iwarp;
      else return field_error("proto", "unknown protocol '" + std::string(val) + "' (accepted: roce, iwarp)");
    } else if (key == "port") {
      if (auto r = parse_port(val, s); !r) return std::unexpected(r.error());
      have_port = true;
    } else if (key == "role") {
      if (val == "server") s.role = MemifRole::server;
      else if (val == "client") s.role = MemifRole::client;
      else return field_error("role", "unknown role '" + std::string(val) + "' (accepted: server, client)");
      have_role = true;
    } else if (key == "mac") {
      auto m = parse_mac(val);
      if (!m) return field_error("mac", "'" + std::string(val) + "' is not a MAC address (xx:xx:xx:xx:xx:xx)");
      s.mac = *m;
    } else if (key == "ip4") {
      auto p = parse_prefix<Ipv4Prefix, AF_INET, 4, 32>("ip4", val);
      if (!p) return std::unexpected(p.error());
      s.ip4.push_back(*p);
    } else if (key == "ip6") {
      auto p = parse_prefix<Ipv6Prefix, AF_INET6, 16, 128>("ip6", val);
      if (!p) return std::unexpected(p.error());
      s.ip6.push_back(*p);
    } else if (key == "mtu") {
      auto n = number<std::uint32_t>(val, 68, 9216);
      if (!n) return field_error("mtu", "'" + std::string(val) + "' is not a number in 68..9216");
      s.mtu = *n;
    } else if (key == "vlan") {
      auto n = number<std::uint16_t>(val, 1, 4094);
      if (!n) return field_error("vlan", "'" + std::string(val) + "' is not a VLAN ID in 1..4094");
      s.vlan = *n;
    } else if (key == "udp_port" || key == "peer_udp_port") {
      auto n = number<std::uint16_t>(val, 1, 65535);
      if (!n) return field_error(key, "'" + std::string(val) + "' is not a UDP port in 1..65535");
      (key == "udp_port" ? udp_port : peer_udp_port) = *n;
    } else if (key == "mpa_crc") {
      if (val == "on") s.mpa_crc = true;
      else if (val == "off") s.mpa_crc = false;
      else return field_error("mpa_crc", "'" + std::string(val) + "' (accepted: on, off)");
    } else if (key == "faults") {
      auto f = parse_link_faults(val);
      if (!f) return field_error("faults", f.error().message);
      s.faults = format_link_faults(*f);
    } else if (key == "zero_copy") {
      if (val == "off") {
        s.zero_copy = 0;
      } else {
        auto n = number<std::uint32_t>(val, 64, 9216);
        if (!n) return field_error("zero_copy", "'" + std::string(val) + "' (accepted: off, or bytes in 64..9216)");
        s.zero_copy = *n;
      }
    } else if (key == "eal") {
      for (const auto a : split(val, ' '))
        if (!a.empty()) s.eal.emplace_back(a);
    } else {
      return make_error(Errc::invalid_argument,
                        "unknown field '" + std::string(key) +
                            "' (accepted: name, proto, port, role, mac, ip4, ip6, mtu, vlan, udp_port, "
                            "peer_udp_port, mpa_crc, faults, eal, zero_copy)");
    }
  }
  if (!have_name) return field_error("name", "every device needs a name");
  if (!have_port) return field_error("port", "missing (accepted: " + std::string(kPortKinds) + ")");
  if (have_role && s.port != PortKind::memif) return field_error("role", "applies only to port=memif");
  if ((udp_port || peer_udp_port) && s.port != PortKind::uring)
    return field_error(udp_port ? "udp_port" : "peer_udp_port", "applies only to port=uring");
  if (!s.eal.empty() && !s.uses_dpdk()) return field_error("eal", "applies only to DPDK ports");
  // No argument that makes DPDK load code or touch files it names (dpdk/eal_args.hpp).
  if (auto r = eal::check_args(s.eal); !r) return std::unexpected(r.error());
  if (s.zero_copy && !s.uses_dpdk()) return field_error("zero_copy", "applies only to DPDK ports");
  if (s.mpa_crc && s.proto != DeviceProto::iwarp) return field_error("mpa_crc", "applies only to proto=iwarp");
  if (!s.faults.empty() && s.proto == DeviceProto::iwarp)
    return field_error("faults", "applies to frames, so to proto=roce: iWARP rides on the kernel's TCP, which "
                                 "hides loss, duplication and reordering from the engine");
  if (s.proto == DeviceProto::iwarp && s.port != PortKind::uring)
    return field_error("proto", "iwarp runs on the kernel's TCP: it needs port=uring");
  if (s.port == PortKind::uring && (s.vlan || s.mac))
    return field_error(s.vlan ? "vlan" : "mac", "a socket port has no Ethernet header of its own");
  s.udp_port = udp_port;
  s.peer_udp_port = peer_udp_port;
  return s;
}

std::string format_device_spec(const DeviceSpec& s) {
  std::string out = "name=" + s.name + ",proto=" + (s.proto == DeviceProto::roce ? "roce" : "iwarp") +
                    ",port=" + std::string(to_string(s.port));
  if (s.port == PortKind::pci) out += ":" + s.pci_addr;
  if (!s.peer.empty()) out += ":peer=" + s.peer;
  if (!s.socket.empty()) out += ":socket=" + s.socket;
  if (!s.iface.empty()) out += ":iface=" + s.iface;
  if (s.port == PortKind::memif) out += std::string(",role=") + (s.role == MemifRole::server ? "server" : "client");
  if (s.mac) out += ",mac=" + wire::to_string(*s.mac);
  for (const auto& p : s.ip4) out += ",ip4=" + wire::to_string(p.addr) + "/" + std::to_string(p.prefix);
  for (const auto& p : s.ip6) out += ",ip6=" + wire::to_string(p.addr) + "/" + std::to_string(p.prefix);
  if (s.mtu) out += ",mtu=" + std::to_string(*s.mtu);
  if (s.vlan) out += ",vlan=" + std::to_string(*s.vlan);
  if (s.udp_port) out += ",udp_port=" + std::to_string(*s.udp_port);
  if (s.peer_udp_port) out += ",peer_udp_port=" + std::to_string(*s.peer_udp_port);
  if (s.mpa_crc) out += std::string(",mpa_crc=") + (*s.mpa_crc ? "on" : "off");
  if (!s.faults.empty()) out += ",faults=" + s.faults;
  if (s.zero_copy) out += ",zero_copy=" + (*s.zero_copy == 0 ? std::string("off") : std::to_string(*s.zero_copy));
  if (!s.eal.empty()) {
    out += ",eal=";
    for (std::size_t i = 0; i < s.eal.size(); ++i) out += (i ? " " : "") + s.eal[i];
  }
  return out;
}

bool operator==(const DeviceSpec& a, const DeviceSpec& b) {
  return a.name == b.name && a.proto == b.proto && a.port == b.port && a.peer == b.peer &&
         a.socket == b.socket && a.role == b.role && a.iface == b.iface && a.pci_addr == b.pci_addr &&
         a.udp_port == b.udp_port && a.peer_udp_port == b.peer_udp_port && a.mac == b.mac &&
         a.ip4 == b.ip4 && a.ip6 == b.ip6 && a.mtu == b.mtu && a.vlan == b.vlan && a.mpa_crc == b.mpa_crc &&
         a.faults == b.faults && a.eal == b.eal && a.zero_copy == b.zero_copy;
}

}  // namespace softrnic::transport
