// The device's GID table: the addresses the engine answers for and sends from. RoCEv2 GIDs are
// IPv6 addresses; an IPv4 address is held in its IPv4-mapped form ::ffff:a.b.c.d (IBA A17.4.5.1).
// An IPv6-enabled device always has its link-local address fe80::/64 + modified EUI-64 of its MAC
// (RFC 4291 2.5.6 and appendix A, RFC 2464 4) at index 0.
//
// Indices are stable: removing an entry frees its slot without moving the others, because a QP's
// address vector names its source GID by index.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "base/result.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

namespace softrnic::engine {

enum class GidKind : std::uint8_t { ipv4, ipv6 };

struct GidEntry {
  wire::Ipv6Addr gid{};  // IPv4: ::ffff:a.b.c.d
  GidKind kind = GidKind::ipv4;
  std::uint8_t prefix_len = 24;         // subnet length: 0..32 for IPv4, 0..128 for IPv6
  std::optional<std::uint16_t> vlan{};  // VLAN ID 1..4094 the address lives on; none = untagged
};

// Why a GID table operation was refused. Each name starts the message of the returned Error.
enum class GidError : std::uint8_t {
  duplicate_gid,      // the address is already in the table
  bad_prefix,         // prefix length longer than the address family allows
  bad_address,        // unspecified, multicast, broadcast, or kind and address family disagree
  bad_vlan,           // VLAN ID outside 1..4094
  table_full,         // every slot is used
  not_found,          // no such address or index
  no_source_address,  // no address of the destination's family to send from
};
std::string_view gid_error_name(GidError e);
// The Error for e: its Errc, and a message "<name>: <detail>".
Error gid_error(GidError e, std::string_view detail);

struct GidTableConfig {
  wire::MacAddr mac{};
  bool ipv6_enabled = true;  // adds the link-local address at index 0
  // The device's VLAN ID: the default for entries added without one.
  std::optional<std::uint16_t> vlan{};
  // Loopback addresses (127.0.0.0/8, ::1) as GIDs: for ports on kernel sockets, where the kernel
  // owns addressing and two devices on one host may talk over lo. Never on an Ethernet port.
  bool allow_loopback = false;
};

// Address helpers (RFC 4291 2.4, 2.5.6; RFC 2464 4).
using wire::is_ipv4_mapped;
bool is_link_local(const wire::Ipv6Addr& a);  // fe80::/10
bool is_multicast(const wire::Ipv6Addr& a);   // IPv6 ff00::/8, or an IPv4-mapped 224.0.0.0/4
// fe80::/64 with the modified EUI-64 interface identifier of mac: the universal/local bit flipped
// and ff:fe inserted in the middle.
wire::Ipv6Addr link_local_from_mac(const wire::MacAddr& mac);
// True when the first prefix_len bits of a and b agree.
bool same_prefix(const wire::Ipv6Addr& a, const wire::Ipv6Addr& b, unsigned prefix_len);

class GidTable {
 public:
  static constexpr std::size_t kCapacity = 16;

  explicit GidTable(const GidTableConfig& config);

  const wire::MacAddr& mac() const { return mac_; }
  const std::optional<std::uint16_t>& default_vlan() const { return default_vlan_; }

  // Adds an entry and returns its index. An entry without a VLAN takes the device's VLAN.
  // An IPv4 entry's prefix_len counts bits of the IPv4 address (0..32).
  [[nodiscard]] Result<std::size_t> add(const GidEntry& entry);
  // Shorthands for the common cases.
  [[nodiscard]] Result<std::size_t> add_ipv4(const wire::Ipv4Addr& a, std::uint8_t prefix_len,
                                             std::optional<std::uint16_t> vlan = std::nullopt);
  [[nodiscard]] Result<std::size_t> add_ipv6(const wire::Ipv6Addr& a, std::uint8_t prefix_len,
                                             std::optional<std::uint16_t> vlan = std::nullopt);
  [[nodiscard]] Result<void> remove(const wire::Ipv6Addr& gid);

  // The index of gid (on any VLAN), or nothing.
  std::optional<std::size_t> find(const wire::Ipv6Addr& gid) const;
  // The entry for gid on VLAN vid (0 = untagged), or nullptr. This is the receive-path check.
  const GidEntry* find_on(const wire::Ipv6Addr& gid, std::uint16_t vid) const;
  // The entry at index, or nullptr for a free or out-of-range slot.
  const GidEntry* at(std::size_t index) const;
  std::size_t size() const { return count_; }

  bool is_ours(const wire::Ipv6Addr& gid) const { return find(gid).has_value(); }
  bool is_ours(const wire::Ipv4Addr& a) const { return is_ours(wire::ipv4_mapped(a)); }
  // True when some address lives on VLAN vid (0 = untagged).
  bool serves_vlan(std::uint16_t vid) const;

  // The address to send from to dst (RFC 6724 in short): same family; for an IPv6 link-local
  // destination our link-local address; otherwise an address whose subnet holds dst (longest
  // prefix first), else the family's lowest-index address, skipping link-local for global
  // destinations.
  [[nodiscard]] Result<const GidEntry*> source_for(const wire::Ipv6Addr& dst) const;
  // The same choice without building an error: nullptr when there is none (data path).
  const GidEntry* pick_source(const wire::Ipv6Addr& dst) const;

 private:
  struct Slot {
    bool used = false;
    GidEntry entry;
  };
  wire::MacAddr mac_;
  std::optional<std::uint16_t> default_vlan_;
  bool allow_loopback_ = false;
  std::array<Slot, kCapacity> slots_{};
  std::size_t count_ = 0;
};

// The VLAN ID of an entry as the receive path sees it: 0 when untagged.
inline std::uint16_t vid_of(const GidEntry& e) { return e.vlan.value_or(0); }

}  // namespace softrnic::engine
