#include "engine/neighbour.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "wire/build.hpp"

namespace softrnic::engine {

std::string_view counter_name(NeighbourCounter c) {
  switch (c) {
#define SOFTRNIC_X(n)       \
  case NeighbourCounter::n: \
    return #n;
    SOFTRNIC_NEIGHBOUR_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case NeighbourCounter::count_:
      break;
  }
  return "unknown";
}

std::string_view state_name(NeighbourState s) {
  switch (s) {
    case NeighbourState::incomplete:
      return "incomplete";
    case NeighbourState::reachable:
      return "reachable";
    case NeighbourState::stale:
      return "stale";
    case NeighbourState::probe:
      return "probe";
    case NeighbourState::failed:
      return "failed";
  }
  return "unknown";
}

namespace {

using wire::Ipv6Addr;
using wire::MacAddr;

constexpr MacAddr kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
// ff02::1, all nodes (RFC 4291 2.7.1): where the answer to a duplicate address probe goes.
constexpr Ipv6Addr kAllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr std::size_t kMinFrame = 60;  // IEEE 802.3 minimum frame without the FCS
constexpr std::array<std::byte, kMinFrame> kZeros{};

using wire::ipv4_of;
bool is_unspecified(const Ipv6Addr& a) { return a == Ipv6Addr{}; }
bool is_group_mac(const MacAddr& m) { return (m[0] & 0x01) != 0; }

// Multicast MACs: 33:33 + the low 32 bits of an IPv6 group (RFC 2464 7), 01:00:5e + the low 23
// bits of an IPv4 group (RFC 1112 6.4).
MacAddr multicast_mac(const Ipv6Addr& group) {
  if (is_ipv4_mapped(group)) {
    return {0x01, 0x00, 0x5e, static_cast<std::uint8_t>(group[13] & 0x7f), group[14], group[15]};
  }
  return {0x33, 0x33, group[12], group[13], group[14], group[15]};
}

// Pads an ARP frame to the Ethernet minimum (RFC 894 / IEEE 802.3): ARP is shorter.
ConstByteSpan arp_padding(bool tagged) {
  const std::size_t len = (tagged ? 18 : 14) + wire::ArpView::kSize;
  return ConstByteSpan(kZeros).first(len < kMinFrame ? kMinFrame - len : 0);
}

// The link-layer address option of an NS (source) or NA (target), after checking every option
// is well formed (RFC 4861 7.1: no option of length 0, none past the end).
struct NdOptions {
  bool valid = true;
  std::optional<MacAddr> link_addr;
};
NdOptions read_nd_options(ConstByteSpan opts, std::uint8_t wanted_type) {
  NdOptions r;
  std::size_t off = 0;
  while (off < opts.size()) {
    if (opts.size() - off < 2) return {false, {}};
    const std::size_t len = std::size_t{load_u8(opts, off + 1)} * 8;
    if (len == 0 || len > opts.size() - off) return {false, {}};
    if (load_u8(opts, off) == wanted_type) r.link_addr = wire::load_mac(opts, off + 2);
    off += len;
  }
  return r;
}

}  // namespace

Error resolution_error(const Ipv6Addr& dst, const Resolution& r) {
  const std::string who =
      is_ipv4_mapped(dst) ? wire::to_string(ipv4_of(dst)) : wire::to_string(dst);
  const char* how = r.ipv6 ? "ND" : "ARP";
  if (!r.failed()) {
    return Error{Errc::invalid_argument, "resolution of " + who + " has not failed"};
  }
  switch (r.failure) {
    case ResolveFailure::no_answer:
      return Error{Errc::not_found, "neighbour_unreachable: no answer from " + who + " after " +
                                        std::to_string(r.requests) + " requests (" + how + ")"};
    case ResolveFailure::no_source_address:
      return Error{Errc::not_found, "no_source_address: no address in the GID table to send the " +
                                        std::string(how) + " request for " + who + " from"};
    case ResolveFailure::table_full:
      return Error{Errc::busy,
                   "neighbour_table_full: every neighbour entry is resolving another "
                   "address; " +
                       who + " cannot be resolved now"};
    case ResolveFailure::too_many_unresolved:
      return Error{Errc::busy,
                   "neighbour_unresolved_full: as many neighbours as allowed are "
                   "waiting for an answer; " +
                       who + " cannot be resolved now"};
  }
  return Error{Errc::invalid_argument, "unknown resolution failure"};
}

NeighbourTable::NeighbourTable(const GidTable& gids, const NeighbourConfig& config)
    : gids_(gids), config_(config) {
  config_.capacity = std::clamp<std::size_t>(config_.capacity, 1, 32768);
  config_.max_requests = std::max<std::uint32_t>(config_.max_requests, 1);
  config_.max_unresolved = std::clamp<std::size_t>(config_.max_unresolved, 1, config_.capacity);
  entries_.resize(config_.capacity);
  std::size_t slots = 1;
  while (slots < 2 * config_.capacity) slots *= 2;  // load factor <= 1/2: short probe runs
  index_.assign(slots, kNoSlot);
  free_.reserve(config_.capacity);
  for (std::size_t i = config_.capacity; i-- > 0;) free_.push_back(static_cast<std::uint16_t>(i));
}

// ---- cache storage ----

std::size_t NeighbourTable::home(const Ipv6Addr& ip, std::uint16_t vid) const {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (const auto b : ip) h = (h ^ b) * 16777619u;
  h = (h ^ (vid & 0xff)) * 16777619u;
  h = (h ^ (vid >> 8)) * 16777619u;
  return h & (index_.size() - 1);
}

const NeighbourTable::Entry* NeighbourTable::lookup(const Ipv6Addr& ip, std::uint16_t vid) const {
  const std::size_t mask = index_.size() - 1;
  for (std::size_t h = home(ip, vid); index_[h] != kNoSlot; h = (h + 1) & mask) {
    const Entry& e = entries_[index_[h]];
    if (e.vid == vid && e.ip == ip) return &e;
  }
  return nullptr;
}

NeighbourTable::Entry* NeighbourTable::lookup(const Ipv6Addr& ip, std::uint16_t vid) {
  return const_cast<Entry*>(std::as_const(*this).lookup(ip, vid));
}

NeighbourTable::Entry* NeighbourTable::insert(const Ipv6Addr& ip, std::uint16_t vid,
                                              std::uint64_t now) {
  if (free_.empty()) {
    // Evict the least recently used entry that is not resolving: failed first, then stale, then
    // reachable. Entries with requests outstanding are never evicted.
    Entry* victim = nullptr;
    auto rank = [](NeighbourState s) {
      return s == NeighbourState::failed ? 0 : s == NeighbourState::stale ? 1 : 2;
    };
    for (auto& e : entries_) {
      if (!e.used || e.state == NeighbourState::incomplete || e.state == NeighbourState::probe) {
        continue;
      }
      if (!victim || rank(e.state) < rank(victim->state) ||
          (rank(e.state) == rank(victim->state) && e.last_used < victim->last_used)) {
        victim = &e;
      }
    }
    if (!victim) {
      counters_.add(NeighbourCounter::table_full);
      return nullptr;
    }
    erase(*victim);
  }
  const std::uint16_t pos = free_.back();
  free_.pop_back();
  Entry& e = entries_[pos];
  e = Entry{};
  e.ip = ip;
  e.vid = vid;
  e.used = true;
  e.last_used = now;
  ++unresolved_;  // a new entry is incomplete until given a MAC
  const std::size_t mask = index_.size() - 1;
  std::size_t h = home(ip, vid);
  while (index_[h] != kNoSlot) h = (h + 1) & mask;
  index_[h] = pos;
  ++used_;
  return &e;
}

void NeighbourTable::erase(Entry& e) {
  const auto pos = static_cast<std::uint16_t>(&e - entries_.data());
  if (e.state == NeighbourState::incomplete) --unresolved_;
  const std::size_t mask = index_.size() - 1;
  std::size_t i = home(e.ip, e.vid);
  while (index_[i] != pos) i = (i + 1) & mask;
  // Backward-shift deletion: move later members of the probe run into the hole so that lookups
  // never stop early at it.
  for (;;) {
    index_[i] = kNoSlot;
    std::size_t j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (index_[j] == kNoSlot) {
        e = Entry{};
        free_.push_back(pos);
        --used_;
        return;
      }
      const Entry& m = entries_[index_[j]];
      const std::size_t k = home(m.ip, m.vid);
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (!stays) break;
    }
    index_[i] = index_[j];
    i = j;
  }
}

// ---- state ----

std::optional<std::uint16_t> NeighbourTable::tci_for(std::uint16_t vid) const {
  if (vid == 0) return std::nullopt;
  return wire::make_tci(config_.vlan_pcp, false, vid);
}

void NeighbourTable::start_requests(Entry& e, NeighbourState s, std::uint64_t now) {
  if (s == NeighbourState::incomplete && e.state != NeighbourState::incomplete) ++unresolved_;
  e.state = s;
  e.requests = 0;
  e.next_tx_at = now;
  next_due_ = std::min(next_due_, now);
}

void NeighbourTable::fail(Entry& e, std::uint64_t now) {
  if (e.state == NeighbourState::incomplete) --unresolved_;
  e.state = NeighbourState::failed;
  e.failed_at = now;
  next_due_ = std::min(next_due_, now + config_.failed_hold_ns);  // when poll() removes it
  counters_.add(NeighbourCounter::resolve_failed);
}

void NeighbourTable::age(Entry& e, std::uint64_t now) {
  if (e.state == NeighbourState::reachable && now - e.confirmed_at >= config_.reachable_time_ns) {
    e.state = NeighbourState::stale;  // RFC 4861 7.3.3: REACHABLE -> STALE after ReachableTime
  } else if ((e.state == NeighbourState::incomplete || e.state == NeighbourState::probe) &&
             e.requests >= config_.max_requests && now >= e.next_tx_at) {
    fail(e, now);
  }
}

void NeighbourTable::set_mac(Entry& e, const MacAddr& mac, bool confirmed, std::uint64_t now) {
  const bool had_mac = e.state != NeighbourState::incomplete && e.state != NeighbourState::failed;
  const bool changed = !had_mac || e.mac != mac;
  if (changed) counters_.add(NeighbourCounter::learned);
  if (e.state == NeighbourState::incomplete) --unresolved_;  // it leaves incomplete below
  e.mac = mac;
  if (confirmed) {
    e.state = NeighbourState::reachable;
    e.confirmed_at = now;
    e.requests = 0;
    counters_.add(NeighbourCounter::confirmed);
  } else if (changed) {
    // RFC 4861 7.2.3: a new or changed address from an unsolicited message is STALE until
    // confirmed.
    e.state = NeighbourState::stale;
    e.requests = 0;
  }
}

Resolution NeighbourTable::answer(const Entry& e) const {
  Resolution r;
  r.ipv6 = !is_ipv4_mapped(e.ip);
  switch (e.state) {
    case NeighbourState::reachable:
    case NeighbourState::stale:
    case NeighbourState::probe:
      r.status = Resolution::Status::resolved;
      r.mac = e.mac;
      r.vlan_tci = tci_for(e.vid);
      break;
    case NeighbourState::incomplete:
      r.status = Resolution::Status::pending;
      break;
    case NeighbourState::failed:
      r.status = Resolution::Status::failed;
      r.failure = ResolveFailure::no_answer;
      r.requests = e.requests;
      break;
  }
  return r;
}

std::optional<NeighbourState> NeighbourTable::state(const Ipv6Addr& ip, std::uint16_t vid) const {
  const Entry* e = lookup(ip, vid);
  if (!e) return std::nullopt;
  return e->state;
}

// ---- transmit path ----

Resolution NeighbourTable::resolve(const Ipv6Addr& dst, std::uint64_t now) {
  const GidEntry* src = gids_.pick_source(dst);
  if (!src) {
    Resolution r;
    r.status = Resolution::Status::failed;
    r.failure = ResolveFailure::no_source_address;
    r.ipv6 = !is_ipv4_mapped(dst);
    return r;
  }
  return resolve_from(dst, *src, now);
}

Resolution NeighbourTable::resolve(const Ipv6Addr& dst, const Ipv6Addr& src, std::uint64_t now) {
  const auto at = gids_.find(src);
  const GidEntry* e = at ? gids_.at(*at) : nullptr;
  if (!e || is_ipv4_mapped(src) != is_ipv4_mapped(dst)) {
    Resolution r;
    r.status = Resolution::Status::failed;
    r.failure = ResolveFailure::no_source_address;
    r.ipv6 = !is_ipv4_mapped(dst);
    return r;
  }
  return resolve_from(dst, *e, now);
}

Resolution NeighbourTable::resolve_from(const Ipv6Addr& dst, const GidEntry& src,
                                        std::uint64_t now) {
  const std::uint16_t vid = vid_of(src);
  if (is_multicast(dst) || gids_.find_on(dst, vid)) {
    // Multicast groups map to a MAC; our own addresses are our MAC (the port loops them back).
    Resolution r;
    r.status = Resolution::Status::resolved;
    r.mac = is_multicast(dst) ? multicast_mac(dst) : gids_.mac();
    r.vlan_tci = tci_for(vid);
    r.ipv6 = !is_ipv4_mapped(dst);
    return r;
  }
  const auto refuse = [&](ResolveFailure why) {
    Resolution r;
    r.status = Resolution::Status::failed;
    r.failure = why;
    r.ipv6 = !is_ipv4_mapped(dst);
    return r;
  };
  Entry* e = lookup(dst, vid);
  if (!e) {
    // (With every entry waiting, the table is full: said as such below.)
    if (unresolved_ >= config_.max_unresolved && unresolved_ < config_.capacity) {
      counters_.add(NeighbourCounter::unresolved_full);
      return refuse(ResolveFailure::too_many_unresolved);
    }
    e = insert(dst, vid, now);
    if (!e) return refuse(ResolveFailure::table_full);
    e->src = src.gid;
    start_requests(*e, NeighbourState::incomplete, now);
    return answer(*e);
  }
  e->last_used = now;
  age(*e, now);
  if (e->state == NeighbourState::stale) {
    // In use and not confirmed lately: keep using the MAC while unicast requests re-confirm it
    // (RFC 4861 7.3.3 PROBE; without the DELAY wait).
    e->src = src.gid;
    start_requests(*e, NeighbourState::probe, now);
  } else if (e->state == NeighbourState::failed && now - e->failed_at >= config_.failed_hold_ns) {
    if (unresolved_ >= config_.max_unresolved) {
      counters_.add(NeighbourCounter::unresolved_full);
      return refuse(ResolveFailure::too_many_unresolved);
    }
    e->src = src.gid;
    start_requests(*e, NeighbourState::incomplete, now);
  }
  return answer(*e);
}

Result<std::size_t> NeighbourTable::build_request(const Entry& e, ByteSpan out) const {
  // A first resolution asks everyone (broadcast / solicited-node multicast); a probe asks the
  // neighbour at the MAC we have (RFC 4861 7.3.3, RFC 1122 2.3.2.1).
  const bool unicast = e.state == NeighbourState::probe;
  wire::EthSpec eth;
  eth.src = gids_.mac();
  eth.vlan_tci = tci_for(e.vid);
  if (is_ipv4_mapped(e.ip)) {
    wire::ArpSpec s;
    s.eth = eth;
    s.eth.dst = unicast ? e.mac : kBroadcast;
    s.oper = wire::ArpView::kRequest;
    s.sha = gids_.mac();
    s.spa = ipv4_of(e.src);
    s.tha = {};
    s.tpa = ipv4_of(e.ip);
    s.trailer = arp_padding(eth.vlan_tci.has_value());
    return wire::build_arp(s, out);
  }
  wire::NdSpec s;
  s.eth = eth;
  const Ipv6Addr group = wire::solicited_node(e.ip);
  s.eth.dst = unicast ? e.mac : multicast_mac(group);
  s.ip.version = wire::IpVersion::v6;
  s.ip.src = e.src;
  s.ip.dst = unicast ? e.ip : group;
  s.ip.ttl = 255;  // RFC 4861 7.1.1
  s.type = wire::icmpv6::kNeighbourSolicitation;
  s.target = e.ip;
  s.link_addr = gids_.mac();
  return wire::build_nd(s, out);
}

std::size_t NeighbourTable::poll(std::uint64_t now, std::span<TxBuffer> out) {
  if (now < next_due_) return 0;
  std::size_t n = 0;
  std::uint64_t next = UINT64_MAX;
  for (auto& e : entries_) {
    if (!e.used) continue;
    if (e.state == NeighbourState::failed) {
      // Held for failed_hold_ns to answer "failed" at once, then gone: entries for addresses that
      // never answer (forged sources) do not stay.
      if (now - e.failed_at >= config_.failed_hold_ns) {
        erase(e);
        counters_.add(NeighbourCounter::expired);
      } else {
        next = std::min(next, e.failed_at + config_.failed_hold_ns);
      }
      continue;
    }
    if (e.state != NeighbourState::incomplete && e.state != NeighbourState::probe) continue;
    if (now >= e.next_tx_at) {
      if (e.requests >= config_.max_requests) {
        fail(e, now);
        next = std::min(next, now + config_.failed_hold_ns);
        continue;
      }
      if (n == out.size()) {
        next = now;  // still due: the next poll sends it
        continue;
      }
      auto len = build_request(e, out[n].room);
      if (len) {
        out[n++].len = *len;
        counters_.add(is_ipv4_mapped(e.ip) ? NeighbourCounter::arp_requests_tx
                                           : NeighbourCounter::ns_tx);
      } else {
        // Counted as a try all the same, so an undersized buffer ends in a failure, not a spin.
        counters_.add(NeighbourCounter::tx_buffer_too_small);
      }
      ++e.requests;
      e.next_tx_at = now + config_.retrans_timer_ns;
    }
    next = std::min(next, e.next_tx_at);
  }
  next_due_ = next;
  return n;
}

void NeighbourTable::confirm(const Ipv6Addr& ip, std::uint16_t vid, std::uint64_t now) {
  Entry* e = lookup(ip, vid);
  if (!e || e->state == NeighbourState::incomplete || e->state == NeighbourState::failed) return;
  set_mac(*e, e->mac, true, now);
}

void NeighbourTable::forget(const Ipv6Addr& ip) {
  for (auto& e : entries_) {
    if (e.used && e.ip == ip) erase(e);
  }
}

// ---- receive path ----

HandleResult NeighbourTable::handle(const wire::ParsedFrame& p, std::uint64_t now, ByteSpan reply) {
  if (p.proto != wire::Proto::arp && p.proto != wire::Proto::nd) return {};
  counters_.add(p.proto == wire::Proto::arp ? NeighbourCounter::arp_rx : NeighbourCounter::nd_rx);
  if (p.eth().src() == gids_.mac()) {
    counters_.add(NeighbourCounter::ignored_own_frame);
    return {};
  }
  // VLAN ID 0 is a priority tag: the frame belongs to the untagged network (IEEE 802.1Q 9.6).
  const std::uint16_t vid = p.vlan() ? p.vlan()->vid() : 0;
  if (!gids_.serves_vlan(vid)) {
    counters_.add(NeighbourCounter::ignored_other_vlan);
    return {};
  }
  return p.proto == wire::Proto::arp ? handle_arp(p, vid, now, reply)
                                     : handle_nd(p, vid, now, reply);
}

HandleResult NeighbourTable::handle_arp(const wire::ParsedFrame& p, std::uint16_t vid,
                                        std::uint64_t now, ByteSpan reply) {
  const auto a = p.arp();
  const std::uint16_t oper = a.oper();
  const MacAddr sha = a.sha();
  const Ipv6Addr spa = wire::ipv4_mapped(a.spa());
  const Ipv6Addr tpa = wire::ipv4_mapped(a.tpa());
  if ((oper != wire::ArpView::kRequest && oper != wire::ArpView::kReply) || is_group_mac(sha)) {
    counters_.add(NeighbourCounter::ignored_invalid);
    return {};
  }
  if (gids_.is_ours(spa)) {
    counters_.add(NeighbourCounter::address_conflict);
    return {};
  }
  // RFC 5227 probes come from 0.0.0.0: answered, never learned.
  const bool learnable = a.spa() != wire::Ipv4Addr{0, 0, 0, 0};
  const GidEntry* target = gids_.find_on(tpa, vid);
  HandleResult r;
  // RFC 826 "Packet Reception": update the sender if known (merge), add it if the request or
  // reply is for us.
  bool merged = false;
  if (learnable) {
    if (Entry* e = lookup(spa, vid)) {
      set_mac(*e, sha, target && oper == wire::ArpView::kReply, now);
      merged = true;
      r.learned = true;
    }
  }
  if (!target) {
    if (oper == wire::ArpView::kRequest && !merged) {
      counters_.add(NeighbourCounter::ignored_not_for_us);
    }
    return r;
  }
  if (learnable && !merged) {
    if (Entry* e = insert(spa, vid, now)) {
      e->src = target->gid;
      set_mac(*e, sha, oper == wire::ArpView::kReply, now);
      r.learned = true;
    }
  }
  if (oper != wire::ArpView::kRequest) return r;
  wire::ArpSpec s;
  s.eth.dst = sha;
  s.eth.src = gids_.mac();
  s.eth.vlan_tci = tci_for(vid);
  s.oper = wire::ArpView::kReply;
  s.sha = gids_.mac();
  s.spa = ipv4_of(tpa);
  s.tha = sha;
  s.tpa = ipv4_of(spa);
  s.trailer = arp_padding(s.eth.vlan_tci.has_value());
  const auto len = wire::build_arp(s, reply);
  if (!len) {
    counters_.add(NeighbourCounter::tx_buffer_too_small);
    return r;
  }
  counters_.add(NeighbourCounter::arp_replies_tx);
  r.reply_len = *len;
  return r;
}

HandleResult NeighbourTable::handle_nd(const wire::ParsedFrame& p, std::uint16_t vid,
                                       std::uint64_t now, ByteSpan reply) {
  const auto ip6 = p.ipv6();
  const auto nd = p.nd();
  const std::uint8_t type = nd.type();
  const bool is_ns = type == wire::icmpv6::kNeighbourSolicitation;
  // RFC 4861 7.1.1 / 7.1.2: a hop limit below 255 means the message crossed a router.
  if (ip6.hop_limit() != 255) {
    counters_.add(NeighbourCounter::ignored_bad_hop_limit);
    return {};
  }
  const Ipv6Addr src = ip6.src();
  const Ipv6Addr dst = ip6.dst();
  const Ipv6Addr target = nd.target();
  const std::uint8_t flags = nd.na_flags();
  const auto opts = read_nd_options(
      p.nd_options(), is_ns ? wire::icmpv6::kOptSourceLinkAddr : wire::icmpv6::kOptTargetLinkAddr);
  const MacAddr eth_src = p.eth().src();
  bool valid = opts.valid && nd.code() == 0 && !is_multicast(target) && !is_ipv4_mapped(target);
  if (is_ns && is_unspecified(src)) {
    // A duplicate address detection probe: sent to the solicited-node group, no source option.
    valid = valid && dst == wire::solicited_node(target) && !opts.link_addr;
  }
  if (!is_ns && is_multicast(dst) && (flags & wire::icmpv6::kNaSolicited)) valid = false;
  if (opts.link_addr && is_group_mac(*opts.link_addr)) valid = false;
  if (!valid) {
    counters_.add(NeighbourCounter::ignored_invalid);
    return {};
  }

  HandleResult r;
  if (!is_ns) {
    if (gids_.is_ours(target)) {
      counters_.add(NeighbourCounter::address_conflict);
      return r;
    }
    Entry* e = lookup(target, vid);
    if (!e) {
      counters_.add(NeighbourCounter::ignored_unsolicited);
      return r;
    }
    // RFC 4861 7.2.5.
    const bool solicited = (flags & wire::icmpv6::kNaSolicited) != 0;
    const bool overrides = (flags & wire::icmpv6::kNaOverride) != 0;
    if (e->state == NeighbourState::incomplete || e->state == NeighbourState::failed) {
      if (!opts.link_addr) return r;  // nothing to learn from
      set_mac(*e, *opts.link_addr, solicited, now);
      r.learned = true;
      return r;
    }
    const bool differs = opts.link_addr && *opts.link_addr != e->mac;
    if (!overrides && differs) {
      if (e->state == NeighbourState::reachable) e->state = NeighbourState::stale;
      return r;
    }
    set_mac(*e, opts.link_addr.value_or(e->mac), solicited, now);
    r.learned = true;
    return r;
  }

  const GidEntry* ours = gids_.find_on(target, vid);
  if (!ours) {
    counters_.add(NeighbourCounter::ignored_not_for_us);
    return r;
  }
  const bool dad = is_unspecified(src);
  if (!dad && gids_.is_ours(src)) {
    counters_.add(NeighbourCounter::address_conflict);
    return r;
  }
  if (dad) counters_.add(NeighbourCounter::address_conflict);  // someone wants our address
  if (!dad && opts.link_addr) {
    // RFC 4861 7.2.3: create or update the solicitor's entry.
    Entry* e = lookup(src, vid);
    if (!e) {
      e = insert(src, vid, now);
      if (e) e->src = target;
    }
    if (e) {
      set_mac(*e, *opts.link_addr, false, now);
      r.learned = true;
    }
  }
  // RFC 4861 7.2.4: to the solicitor, Solicited and Override set, our MAC in the target option;
  // the answer to a DAD probe goes to all nodes with Solicited clear.
  wire::NdSpec s;
  s.eth.src = gids_.mac();
  s.eth.dst = dad ? multicast_mac(kAllNodes) : opts.link_addr.value_or(eth_src);
  s.eth.vlan_tci = tci_for(vid);
  s.ip.version = wire::IpVersion::v6;
  s.ip.src = target;
  s.ip.dst = dad ? kAllNodes : src;
  s.ip.ttl = 255;
  s.type = wire::icmpv6::kNeighbourAdvertisement;
  s.na_flags =
      dad ? wire::icmpv6::kNaOverride
          : static_cast<std::uint8_t>(wire::icmpv6::kNaSolicited | wire::icmpv6::kNaOverride);
  s.target = target;
  s.link_addr = gids_.mac();
  const auto len = wire::build_nd(s, reply);
  if (!len) {
    counters_.add(NeighbourCounter::tx_buffer_too_small);
    return r;
  }
  counters_.add(NeighbourCounter::na_tx);
  r.reply_len = *len;
  return r;
}

}  // namespace softrnic::engine
