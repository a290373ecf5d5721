#include "engine/gid_table.hpp"

#include <string>

namespace softrnic::engine {

std::string_view gid_error_name(GidError e) {
  switch (e) {
    case GidError::duplicate_gid:
      return "duplicate_gid";
    case GidError::bad_prefix:
      return "bad_prefix";
    case GidError::bad_address:
      return "bad_address";
    case GidError::bad_vlan:
      return "bad_vlan";
    case GidError::table_full:
      return "table_full";
    case GidError::not_found:
      return "not_found";
    case GidError::no_source_address:
      return "no_source_address";
  }
  return "unknown";
}

Error gid_error(GidError e, std::string_view detail) {
  Errc code = Errc::invalid_argument;
  switch (e) {
    case GidError::duplicate_gid:
    case GidError::bad_prefix:
    case GidError::bad_address:
      code = Errc::invalid_argument;
      break;
    case GidError::bad_vlan:
      code = Errc::out_of_range;
      break;
    case GidError::table_full:
      code = Errc::busy;
      break;
    case GidError::not_found:
    case GidError::no_source_address:
      code = Errc::not_found;
      break;
  }
  return Error{code, std::string(gid_error_name(e)) + ": " + std::string(detail)};
}

namespace {

std::unexpected<Error> fail(GidError e, std::string_view detail) {
  return std::unexpected<Error>(gid_error(e, detail));
}

using wire::ipv4_of;

// How a GID prints in messages: dotted quad for IPv4-mapped GIDs.
std::string gid_text(const wire::Ipv6Addr& a) {
  return is_ipv4_mapped(a) ? wire::to_string(ipv4_of(a)) : wire::to_string(a);
}

// The prefix length over the 128-bit GID: an IPv4 prefix follows the 96-bit ::ffff: part.
unsigned gid_prefix(const GidEntry& e) {
  return e.kind == GidKind::ipv4 ? 96u + e.prefix_len : e.prefix_len;
}

}  // namespace

bool is_link_local(const wire::Ipv6Addr& a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; }

bool is_multicast(const wire::Ipv6Addr& a) {
  if (is_ipv4_mapped(a)) return (a[12] & 0xf0) == 0xe0;  // 224.0.0.0/4 (RFC 5771)
  return a[0] == 0xff;                                   // ff00::/8 (RFC 4291 2.7)
}

wire::Ipv6Addr link_local_from_mac(const wire::MacAddr& m) {
  // RFC 4291 appendix A: invert the universal/local bit (0x02 of the first octet) and insert
  // 0xff 0xfe between the OUI and the NIC-specific part.
  return {0xfe, 0x80, 0,    0,    0,    0,    0,   0, static_cast<std::uint8_t>(m[0] ^ 0x02),
          m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
}

bool same_prefix(const wire::Ipv6Addr& a, const wire::Ipv6Addr& b, unsigned prefix_len) {
  if (prefix_len > 128) prefix_len = 128;
  const unsigned whole = prefix_len / 8;
  for (unsigned i = 0; i < whole; ++i) {
    if (a[i] != b[i]) return false;
  }
  const unsigned rest = prefix_len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

GidTable::GidTable(const GidTableConfig& config)
    : mac_(config.mac), default_vlan_(config.vlan), allow_loopback_(config.allow_loopback) {
  if (config.ipv6_enabled) {
    // Index 0, as on Linux RoCE devices. The MAC may still be all zeros in a test; the address is
    // then fe80::200:ff:fe00:0, which is valid.
    slots_[0].used = true;
    slots_[0].entry = GidEntry{link_local_from_mac(mac_), GidKind::ipv6, 64, default_vlan_};
    count_ = 1;
  }
}

Result<std::size_t> GidTable::add(const GidEntry& in) {
  GidEntry e = in;
  if (!e.vlan) e.vlan = default_vlan_;
  const std::string text = gid_text(e.gid);
  if (e.kind == GidKind::ipv4) {
    if (!is_ipv4_mapped(e.gid)) {
      return fail(GidError::bad_address, text + " is not an IPv4-mapped GID (::ffff:a.b.c.d)");
    }
    const auto v4 = ipv4_of(e.gid);
    if (v4 == wire::Ipv4Addr{0, 0, 0, 0} || v4 == wire::Ipv4Addr{255, 255, 255, 255} ||
        (v4[0] & 0xf0) == 0xe0 || (v4[0] == 127 && !allow_loopback_)) {
      return fail(GidError::bad_address,
                  text +
                      " is not a unicast address a device can own (unspecified, broadcast, "
                      "multicast or loopback)");
    }
    if (e.prefix_len > 32) {
      return fail(GidError::bad_prefix, "/" + std::to_string(e.prefix_len) + " on IPv4 address " +
                                            text + " (at most 32)");
    }
  } else {
    if (is_ipv4_mapped(e.gid)) {
      return fail(GidError::bad_address,
                  text + " is an IPv4-mapped GID: add it with kind ipv4 (add_ipv4)");
    }
    const wire::Ipv6Addr unspecified{};
    wire::Ipv6Addr loopback{};
    loopback[15] = 1;
    if (e.gid == unspecified || (e.gid == loopback && !allow_loopback_) || is_multicast(e.gid)) {
      return fail(GidError::bad_address, text +
                                             " is not a unicast address a device can own "
                                             "(unspecified, loopback or multicast)");
    }
    if (e.prefix_len > 128) {
      return fail(GidError::bad_prefix, "/" + std::to_string(e.prefix_len) + " on IPv6 address " +
                                            text + " (at most 128)");
    }
  }
  if (e.vlan && (*e.vlan == 0 || *e.vlan > 4094)) {
    return fail(GidError::bad_vlan, "VLAN ID " + std::to_string(*e.vlan) + " for " + text +
                                        " (IEEE 802.1Q allows 1..4094)");
  }
  if (auto at = find(e.gid)) {
    return fail(GidError::duplicate_gid,
                text + " is already in the GID table at index " + std::to_string(*at));
  }
  for (std::size_t i = 0; i < kCapacity; ++i) {
    if (slots_[i].used) continue;
    slots_[i].used = true;
    slots_[i].entry = e;
    ++count_;
    return i;
  }
  return fail(GidError::table_full, "no room for " + text + ": the GID table holds " +
                                        std::to_string(kCapacity) + " addresses");
}

Result<std::size_t> GidTable::add_ipv4(const wire::Ipv4Addr& a, std::uint8_t prefix_len,
                                       std::optional<std::uint16_t> vlan) {
  return add(GidEntry{wire::ipv4_mapped(a), GidKind::ipv4, prefix_len, vlan});
}

Result<std::size_t> GidTable::add_ipv6(const wire::Ipv6Addr& a, std::uint8_t prefix_len,
                                       std::optional<std::uint16_t> vlan) {
  return add(GidEntry{a, GidKind::ipv6, prefix_len, vlan});
}

Result<void> GidTable::remove(const wire::Ipv6Addr& gid) {
  const auto at = find(gid);
  if (!at) return fail(GidError::not_found, gid_text(gid) + " is not in the GID table");
  slots_[*at] = Slot{};
  --count_;
  return {};
}

std::optional<std::size_t> GidTable::find(const wire::Ipv6Addr& gid) const {
  for (std::size_t i = 0; i < kCapacity; ++i) {
    if (slots_[i].used && slots_[i].entry.gid == gid) return i;
  }
  return std::nullopt;
}

const GidEntry* GidTable::find_on(const wire::Ipv6Addr& gid, std::uint16_t vid) const {
  for (const auto& s : slots_) {
    if (s.used && s.entry.gid == gid && vid_of(s.entry) == vid) return &s.entry;
  }
  return nullptr;
}

const GidEntry* GidTable::at(std::size_t index) const {
  if (index >= kCapacity || !slots_[index].used) return nullptr;
  return &slots_[index].entry;
}

bool GidTable::serves_vlan(std::uint16_t vid) const {
  for (const auto& s : slots_) {
    if (s.used && vid_of(s.entry) == vid) return true;
  }
  return false;
}

const GidEntry* GidTable::pick_source(const wire::Ipv6Addr& dst) const {
  const bool v4 = is_ipv4_mapped(dst);
  const GidKind kind = v4 ? GidKind::ipv4 : GidKind::ipv6;
  const bool want_link_local = !v4 && is_link_local(dst);
  const GidEntry* best_match = nullptr;  // subnet holds dst, longest prefix
  const GidEntry* first = nullptr;       // lowest index of the right family and scope
  for (const auto& s : slots_) {
    if (!s.used || s.entry.kind != kind) continue;
    const auto& e = s.entry;
    // RFC 6724 rule 2: prefer an address of the destination's scope.
    if (!v4 && is_link_local(e.gid) != want_link_local) continue;
    if (!first) first = &e;
    if (same_prefix(e.gid, dst, gid_prefix(e)) &&
        (!best_match || gid_prefix(e) > gid_prefix(*best_match))) {
      best_match = &e;
    }
  }
  return best_match ? best_match : first;
}

Result<const GidEntry*> GidTable::source_for(const wire::Ipv6Addr& dst) const {
  if (const GidEntry* e = pick_source(dst)) return e;
  const bool v4 = is_ipv4_mapped(dst);
  const bool want_link_local = !v4 && is_link_local(dst);
  return fail(GidError::no_source_address, "no " +
                                               std::string(v4                ? "IPv4"
                                                           : want_link_local ? "IPv6 link-local"
                                                                             : "IPv6") +
                                               " address in the GID table to reach " +
                                               gid_text(dst) + " from");
}

}  // namespace softrnic::engine
