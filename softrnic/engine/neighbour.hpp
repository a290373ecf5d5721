// Neighbour resolution for ports that own the wire: ARP for IPv4 (RFC 826) and IPv6 neighbour
// discovery (RFC 4861). The table answers requests for the device's own addresses (the GID table)
// and resolves peers' MACs with a cache, retransmissions and a clear failure.
//
// It does no I/O and reads no clock: the caller hands it received ARP/ND frames (handle), asks it
// for a destination's MAC (resolve), and collects the requests it wants sent (poll), passing the
// time in nanoseconds each time. Storage is sized at construction; nothing allocates afterwards.
//
// Cache states (a subset of RFC 4861 7.3.2): incomplete (requests outstanding, no MAC yet),
// reachable (confirmed less than reachable_time ago), stale (MAC known, not confirmed lately),
// probe (stale and in use: unicast requests re-confirm it while the MAC keeps being used), failed
// (max_requests went unanswered). A stale entry in use goes straight to probe: there is no DELAY
// state; confirm() is the upper-layer hint (RFC 4861 7.3.1) that makes probes unnecessary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/counters.hpp"
#include "base/result.hpp"
#include "engine/gid_table.hpp"
#include "wire/parse.hpp"

namespace softrnic::engine {

struct NeighbourConfig {
  std::size_t capacity = 256;                        // neighbour entries (at most 32768)
  std::uint64_t retrans_timer_ns = 1'000'000'000;    // RFC 4861 RetransTimer
  std::uint32_t max_requests = 3;                    // RFC 4861 MAX_MULTICAST_SOLICIT
  std::uint64_t reachable_time_ns = 30'000'000'000;  // RFC 4861 REACHABLE_TIME
  std::uint64_t failed_hold_ns = 1'000'000'000;      // a failed entry answers "failed" this long,
                                                     // then is removed
  // Entries waiting for a first answer (incomplete) at most: replies to forged sources cannot
  // take the whole table, nor evict the peers that do answer.
  std::size_t max_unresolved = 64;
  std::uint8_t vlan_pcp = 0;  // priority of the frames we send tagged
};

#define SOFTRNIC_NEIGHBOUR_COUNTERS(X)                                                        \
  X(arp_rx)                /* ARP frames handed to handle() */                                \
  X(arp_requests_tx)       /* ARP requests built by poll() (first tries and retries) */       \
  X(arp_replies_tx)        /* ARP replies built by handle() */                                \
  X(nd_rx)                 /* NS/NA frames handed to handle() */                              \
  X(ns_tx)                 /* neighbour solicitations built by poll() */                      \
  X(na_tx)                 /* neighbour advertisements built by handle() */                   \
  X(learned)               /* entries created or given a MAC by a received frame */           \
  X(confirmed)             /* entries made reachable (reply, solicited NA, confirm()) */      \
  X(resolve_failed)        /* entries that went unanswered max_requests times */              \
  X(ignored_bad_hop_limit) /* NS/NA with an IPv6 hop limit other than 255 (RFC 4861 7.1) */   \
  X(ignored_invalid)       /* ND failing RFC 4861 7.1 validation, ARP with a bad operation */ \
  X(ignored_other_vlan)    /* frames on a VLAN none of our addresses lives on */              \
  X(ignored_not_for_us)    /* requests for addresses that are not ours */                     \
  X(ignored_unsolicited)   /* NA for a neighbour we have no entry for (RFC 4861 7.2.5) */     \
  X(ignored_own_frame)     /* frames sent from our own MAC (looped back) */                   \
  X(address_conflict)      /* another MAC claims one of our addresses */                      \
  X(table_full)            /* no entry free or evictable for a new neighbour */               \
  X(unresolved_full)       /* new resolutions refused: max_unresolved entries are waiting */  \
  X(expired)               /* failed entries removed after failed_hold_ns */                  \
  X(tx_buffer_too_small)   /* a frame did not fit the buffer the caller gave */

enum class NeighbourCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_NEIGHBOUR_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
      count_
};
std::string_view counter_name(NeighbourCounter c);

enum class NeighbourState : std::uint8_t { incomplete, reachable, stale, probe, failed };
std::string_view state_name(NeighbourState s);

// Why a resolution failed.
enum class ResolveFailure : std::uint8_t {
  no_answer,            // max_requests requests went unanswered
  no_source_address,    // the GID table has no address to send the request from
  table_full,           // every entry is busy with another resolution
  too_many_unresolved,  // max_unresolved entries are already waiting for an answer
};

struct Resolution {
  enum class Status : std::uint8_t { resolved, pending, failed };
  Status status = Status::pending;
  wire::MacAddr mac{};                    // resolved
  std::optional<std::uint16_t> vlan_tci;  // resolved: the tag frames to this neighbour carry
  ResolveFailure failure = ResolveFailure::no_answer;  // failed
  std::uint32_t requests = 0;                          // failed by no_answer: requests sent
  bool ipv6 = false;                                   // ND (true) or ARP (false)

  bool resolved() const { return status == Status::resolved; }
  bool pending() const { return status == Status::pending; }
  bool failed() const { return status == Status::failed; }
};

// A failed resolution as an Error a user can act on, e.g.
// "neighbour_unreachable: no answer from 198.18.0.2 after 3 requests (ARP)". Control path only.
Error resolution_error(const wire::Ipv6Addr& dst, const Resolution& r);

// What handle() did with a frame.
struct HandleResult {
  std::size_t reply_len = 0;  // > 0: a reply of this many bytes is in the reply buffer; send it
  bool learned = false;       // a neighbour got a MAC or was confirmed: pending sends may go
};

// A transmit buffer for poll(): the caller provides room, poll() sets len.
struct TxBuffer {
  ByteSpan room;
  std::size_t len = 0;
};

// Largest frame the table builds (NS/NA with a VLAN tag and one link-layer option).
inline constexpr std::size_t kNeighbourFrameMax = 14 + 4 + 40 + 24 + 8;

class NeighbourTable {
 public:
  // gids must outlive the table; its MAC is ours.
  explicit NeighbourTable(const GidTable& gids, const NeighbourConfig& config = {});

  // Receive path: a frame the parser classified as Proto::arp or Proto::nd (others are ignored).
  // Learns the sender and, for an ARP request or neighbour solicitation for one of our
  // addresses, writes the reply into `reply` (kNeighbourFrameMax bytes always suffice). `reply`
  // may be the received frame's own buffer: every field needed is read before the first byte is
  // written.
  HandleResult handle(const wire::ParsedFrame& p, std::uint64_t now, ByteSpan reply);

  // Transmit path: the MAC of dst (a GID: IPv4-mapped or IPv6). On a miss this creates an
  // incomplete entry whose requests poll() sends; meanwhile the answer is pending. The source of
  // the requests is src when given (it must be in the GID table), else the GID table's choice.
  // Multicast destinations resolve at once to their multicast MAC (RFC 1112 6.4, RFC 2464 7).
  Resolution resolve(const wire::Ipv6Addr& dst, std::uint64_t now);
  Resolution resolve(const wire::Ipv6Addr& dst, const wire::Ipv6Addr& src, std::uint64_t now);

  // True when poll() has something to send or a retry timer has expired.
  bool due(std::uint64_t now) const { return now >= next_due_; }
  // When poll() next has something to do (a request or a failure to time out); UINT64_MAX: never
  // without a new resolve() or frame.
  std::uint64_t next_due() const { return next_due_; }
  // Builds the requests that are due into out[0..n) (one frame per buffer) and returns n; marks
  // entries failed whose last request went unanswered for a retransmit interval. What does not fit
  // in out stays due.
  std::size_t poll(std::uint64_t now, std::span<TxBuffer> out);

  // An upper-layer reachability confirmation (RFC 4861 7.3.1), e.g. an ACK from the peer:
  // the entry (on VLAN vid, 0 = untagged) becomes reachable without probes. Cheap: one hash
  // lookup, no frame.
  void confirm(const wire::Ipv6Addr& ip, std::uint16_t vid, std::uint64_t now);
  // Drops the entry for ip (every VLAN); the next resolve starts afresh.
  void forget(const wire::Ipv6Addr& ip);

  // Read-only inspection, for tests and the CLI. vid 0 = untagged. The state is as the last
  // handle/resolve/poll left it: time alone does not move it.
  std::optional<NeighbourState> state(const wire::Ipv6Addr& ip, std::uint16_t vid = 0) const;
  std::size_t size() const { return used_; }
  std::size_t unresolved() const { return unresolved_; }  // entries in state incomplete
  const Counters<NeighbourCounter>& counters() const { return counters_; }
  const NeighbourConfig& config() const { return config_; }

 private:
  struct Entry {
    wire::Ipv6Addr ip{};
    wire::Ipv6Addr src{};  // our address the requests come from
    std::uint16_t vid = 0;
    bool used = false;
    NeighbourState state = NeighbourState::incomplete;
    wire::MacAddr mac{};
    std::uint64_t confirmed_at = 0;  // reachable until confirmed_at + reachable_time
    std::uint64_t next_tx_at = 0;    // incomplete/probe: when the next request (or failure) is due
    std::uint64_t failed_at = 0;
    std::uint64_t last_used = 0;
    std::uint32_t requests = 0;  // sent in the current round
  };
  static constexpr std::uint16_t kNoSlot = 0xffff;

  Resolution resolve_from(const wire::Ipv6Addr& dst, const GidEntry& src, std::uint64_t now);
  HandleResult handle_arp(const wire::ParsedFrame& p, std::uint16_t vid, std::uint64_t now,
                          ByteSpan reply);
  HandleResult handle_nd(const wire::ParsedFrame& p, std::uint16_t vid, std::uint64_t now,
                         ByteSpan reply);
  std::optional<std::uint16_t> tci_for(std::uint16_t vid) const;

  // Cache storage: entries_ is the pool, index_ an open-addressing hash (linear probing,
  // backward-shift deletion) of pool positions.
  Entry* lookup(const wire::Ipv6Addr& ip, std::uint16_t vid);
  const Entry* lookup(const wire::Ipv6Addr& ip, std::uint16_t vid) const;
  Entry* insert(const wire::Ipv6Addr& ip, std::uint16_t vid, std::uint64_t now);
  void erase(Entry& e);
  std::size_t home(const wire::Ipv6Addr& ip, std::uint16_t vid) const;
  // Moves an entry's state on with time: reachable -> stale, probe/incomplete -> failed.
  void age(Entry& e, std::uint64_t now);
  void start_requests(Entry& e, NeighbourState s, std::uint64_t now);
  void fail(Entry& e, std::uint64_t now);
  void set_mac(Entry& e, const wire::MacAddr& mac, bool confirmed, std::uint64_t now);
  Resolution answer(const Entry& e) const;
  [[nodiscard]] Result<std::size_t> build_request(const Entry& e, ByteSpan out) const;

  const GidTable& gids_;
  NeighbourConfig config_;
  std::vector<Entry> entries_;
  std::vector<std::uint16_t> index_;  // kNoSlot or a position in entries_
  std::vector<std::uint16_t> free_;   // free positions in entries_ (a stack)
  std::size_t used_ = 0;
  std::size_t unresolved_ = 0;
  std::uint64_t next_due_ = UINT64_MAX;
  Counters<NeighbourCounter> counters_;
};

}  // namespace softrnic::engine
