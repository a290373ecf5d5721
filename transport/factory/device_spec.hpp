// The one device-spec grammar of the project, used on the command line, in config files and by
// the library API:
//
//   name=NAME,proto=roce|iwarp,port=KIND[:OPTIONS][,FIELD=VALUE]...
//
//   port=loopback:peer=NAME         in-memory wire to device NAME (same process)
//   port=ring:peer=NAME             DPDK net_ring pair with device NAME (same process)
//   port=memif:socket=PATH          DPDK net_memif; role=server|client (default server)
//   port=af_packet:iface=IF         DPDK net_af_packet on kernel interface IF
//   port=af_xdp:iface=IF            DPDK net_af_xdp on kernel interface IF
//   port=tap                        DPDK net_tap (makes its own TAP interface; iface=IF names it)
//   port=uring                      kernel UDP sockets through io_uring (no DPDK, no root);
//                                   udp_port=N (default 4791), peer_udp_port=N (same-host tests)
//   port=pci:ADDR                   a PCI NIC bound to a DPDK driver (ADDR = 0000:03:00.0)
//
//   mac=02:00:00:00:00:01   the device's MAC (default: the port's)
//   ip4=A.B.C.D/P           an IPv4 address (repeatable); its GID is ::ffff:A.B.C.D
//   ip6=ADDR/P              an IPv6 address (repeatable)
//   mtu=N                   link MTU, 68..9216 (path MTU follows: the largest IB MTU that fits)
//   vlan=N                  802.1Q VLAN ID 1..4094
//   eal=ARGS                DPDK EAL arguments, space-separated (replace the embedded defaults);
//                           none that loads code or names files (-d, --trace-dir, ...:
//                           dpdk/eal_args.hpp)
//   zero_copy=N|off         DPDK ports: payloads of at least N bytes (64..9216, default 2048) are
//                           sent by reference from registered memory where the PMD allows
//                           (af_packet, tap, memif); off: always copy
//   mpa_crc=on|off          proto=iwarp: ask the peer for MPA CRC32c (default on; a peer's
//                           request is always honoured)
//   faults=KEY=V:KEY=V...   seeded wire faults between the device and its port, on transmit,
//                           receive or both (fault/link_faults.hpp: loss, dup, reorder, window,
//                           corrupt, delay, delay_us, jitter_us, rate, ecn, dir, qp, ops, seed);
//                           proto=roce only (iWARP's kernel TCP hides loss and reordering)
//
// proto=iwarp needs port=uring: iWARP rides on the kernel's TCP (io_uring stream transport), on
// the addresses given by ip4/ip6.
//
// Fields that do not apply to the chosen port or protocol are errors, not silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::transport {

enum class PortKind : std::uint8_t { loopback, ring, memif, af_packet, af_xdp, tap, uring, pci };
enum class DeviceProto : std::uint8_t { roce, iwarp };
enum class MemifRole : std::uint8_t { server, client };

std::string_view to_string(PortKind k);

struct Ipv4Prefix {
  wire::Ipv4Addr addr{};
  std::uint8_t prefix = 32;
  bool operator==(const Ipv4Prefix&) const = default;
};
struct Ipv6Prefix {
  wire::Ipv6Addr addr{};
  std::uint8_t prefix = 128;
  bool operator==(const Ipv6Prefix&) const = default;
};

struct DeviceSpec {
  std::string name;
  DeviceProto proto = DeviceProto::roce;
  PortKind port = PortKind::loopback;
  std::string peer;    // loopback, ring
  std::string socket;  // memif
  MemifRole role = MemifRole::server;
  std::string iface;     // af_packet, af_xdp, tap
  std::string pci_addr;  // pci
  std::optional<std::uint16_t> udp_port;       // uring
  std::optional<std::uint16_t> peer_udp_port;  // uring
  std::optional<wire::MacAddr> mac;
  std::vector<Ipv4Prefix> ip4;
  std::vector<Ipv6Prefix> ip6;
  std::optional<std::uint32_t> mtu;
  std::optional<std::uint16_t> vlan;
  std::optional<bool> mpa_crc;  // iwarp: ask for MPA CRC32c (default on)
  std::string faults;           // link faults, canonical text (format_link_faults); empty: none
  std::vector<std::string> eal;
  std::optional<std::uint32_t> zero_copy;  // DPDK: smallest payload sent by reference; 0: off

  bool uses_dpdk() const {
    return port != PortKind::loopback && port != PortKind::uring;
  }
};

// Parses one spec; the error names the field and, for enumerations, the accepted values.
[[nodiscard]] Result<DeviceSpec> parse_device_spec(std::string_view text);

// The canonical text of a spec (parse_device_spec(format(s)) == s).
std::string format_device_spec(const DeviceSpec& s);

bool operator==(const DeviceSpec& a, const DeviceSpec& b);

}  // namespace softrnic::transport
