// A Port decorator that misbehaves on purpose, on transmit, by a seeded schedule: drop, duplicate,
// reorder, corrupt and delay frames, or drop exactly the frames named by sequence number. Protocol
// tests wrap one end of a loopback wire in it to prove retransmission, duplicate detection, ICRC
// checks and timers.
//
// Replay: every frame the decorator takes from the caller gets the next sequence number (1, 2, ...)
// and consumes the same fixed number of draws from one SplitMix64 stream, whatever the
// probabilities are. So the fate of frame n depends only on the seed, n and the configuration:
// the same seed and the same traffic give the same delivered sequence, and raising one fault's
// probability does not reshuffle the others.
//
// Per frame, in this order:
//   1. drop_nth lists its number, or the drop draw hits: the frame is freed. Nothing else applies.
//   2. duplicate: a copy (from the wrapped port's alloc) goes on the wire now; the original follows
//      its own fate below. The copy is taken before step 3, so it is never corrupted.
//   3. corrupt: one bit is flipped at a random byte after the 14-byte Ethernet header, so the
//      receiver's ICRC or IP/UDP checksum has to catch it. Frames with no byte after the header
//      are left alone (corrupt_skipped).
//   4. delay (checked first) holds the frame until the clock reaches now + delay_ns; reorder holds
//      it until k more frames have been taken from the caller, k uniform in 1..reorder_window,
//      and then sends it right after the k-th. When the hold buffer is full the frame is sent
//      unheld (hold_full).
//   5. otherwise it is sent.
// Held frames due by time are released at the start of every rx_burst and tx_burst call (and by
// poll()), in the order they were held.
//
// Further knobs draw from a second SplitMix64 stream (seeded from the same seed), again a fixed
// number of draws per frame, so configurations without them replay exactly as before:
//   - jitter: a delayed frame waits delay_ns plus a uniform offset in [-jitter_ns, +jitter_ns];
//   - ecn_ce: an ECN-capable IP frame (ECT(0) or ECT(1)) is marked Congestion Experienced, the
//     IPv4 header checksum updated (the RoCEv2 ICRC masks those bits); not-ECT frames are left
//     alone (ecn_skipped), as a router would;
//   - rate_bps: a token-bucket-free cap: each frame departs when the link is free again after
//     the previous one (len * 8 / rate), held by time until then; over the hold capacity it is
//     dropped at the tail (rate_dropped), as a full router queue would.
// Filters (only_qp, only_ops) limit the faults to the RoCEv2 frames they name; other frames
// still consume their draws but pass untouched (filtered_out); the rate cap applies to every
// frame, since it is a property of the link.
//
// Back pressure: frames the wrapped port refuses wait in a bounded backlog inside the decorator,
// in order, and are offered again on the next call; once that backlog is full tx_burst takes no
// more frames from the caller (they stay with it, unnumbered), so no fault decision is lost.
//
// No allocation after construction: the hold buffer and the backlog are sized up front. The
// wrapped port must outlive the decorator. Single-threaded, like every port.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/counters.hpp"
#include "base/result.hpp"
#include "engine/port.hpp"
#include "fault/splitmix64.hpp"
#include "wire/ethernet.hpp"

namespace softrnic::transport {

struct FaultConfig {
  std::uint64_t seed = 1;
  double drop = 0.0;                 // probability per frame, 0..1
  double duplicate = 0.0;            // probability per frame, 0..1
  double corrupt = 0.0;              // probability per frame, 0..1
  double reorder = 0.0;              // probability per frame, 0..1
  std::uint32_t reorder_window = 4;  // W: a reordered frame passes at most W later frames
  double delay = 0.0;                // probability per frame, 0..1
  std::uint64_t delay_ns = 0;
  const Clock* clock = nullptr;  // required when delay > 0; must outlive the decorator
  // Sequence numbers (1 = the first frame taken) dropped exactly, whatever the draws say.
  std::vector<std::uint64_t> drop_nth;
  std::size_t max_held = 256;  // frames held for reorder and delay together
  std::uint64_t jitter_ns = 0;      // delay_ns +- up to this, uniform
  double ecn_ce = 0.0;              // probability per ECN-capable frame of marking CE, 0..1
  std::uint64_t rate_bps = 0;       // bandwidth cap in bit/s; 0: none (needs the clock)
  bool link_layer = true;           // frames start with Ethernet; false: socket ports (BTH first)
  std::optional<std::uint32_t> only_qp;  // faults only on frames to this destination QP
  std::uint32_t only_ops = 0;            // faults only on these OpClass bits; 0: every frame
};

// Classes of RoCEv2 frames a fault filter can name (FaultConfig::only_ops), by BTH opcode.
enum OpClass : std::uint32_t {
  kOpSend = 1u << 0,      // SEND (all forms, with immediate or invalidate)
  kOpWrite = 1u << 1,     // RDMA WRITE
  kOpRead = 1u << 2,      // RDMA READ request and response
  kOpAtomic = 1u << 3,    // atomic request and ATOMIC ACKNOWLEDGE
  kOpAck = 1u << 4,       // ACKNOWLEDGE (and NAKs)
  kOpCm = 1u << 5,        // MADs to QP1 (connection management)
  kOpOther = 1u << 6,     // anything else, non-RoCE frames included (ARP, ND, CNPs)
};
// The class of a frame; link_layer as in FaultConfig.
std::uint32_t op_class_of(std::span<const std::byte> frame, bool link_layer);
// The BTH destination QP of a RoCEv2 frame; nothing for other frames.
std::optional<std::uint32_t> dest_qp_of(std::span<const std::byte> frame, bool link_layer);

enum class FaultCounter : std::uint8_t {
  frames_in,        // frames taken from the caller (the last sequence number)
  frames_out,       // frames the wrapped port accepted, duplicates included
  dropped,          // by the drop probability
  dropped_by_list,  // by drop_nth
  duplicated,
  duplicate_no_buffer,  // the wrapped port's pool was empty: no copy made
  corrupted,
  corrupt_skipped,  // chosen for corruption but no byte after the Ethernet header
  reordered,
  delayed,
  hold_full,  // chosen for reorder or delay while the hold buffer was full: sent unheld
  ecn_marked,     // marked Congestion Experienced
  ecn_skipped,    // chosen for marking but not ECN-capable (or no IP header in view)
  rate_limited,   // held by the rate cap until the link was free
  rate_dropped,   // over the rate cap with the hold full: dropped at the tail
  filtered_out,   // outside only_qp / only_ops: passed untouched
  count_
};

constexpr std::string_view counter_name(FaultCounter c) {
  switch (c) {
    case FaultCounter::frames_in:
      return "fault_frames_in";
    case FaultCounter::frames_out:
      return "fault_frames_out";
    case FaultCounter::dropped:
      return "fault_dropped";
    case FaultCounter::dropped_by_list:
      return "fault_dropped_by_list";
    case FaultCounter::duplicated:
      return "fault_duplicated";
    case FaultCounter::duplicate_no_buffer:
      return "fault_duplicate_no_buffer";
    case FaultCounter::corrupted:
      return "fault_corrupted";
    case FaultCounter::corrupt_skipped:
      return "fault_corrupt_skipped";
    case FaultCounter::reordered:
      return "fault_reordered";
    case FaultCounter::delayed:
      return "fault_delayed";
    case FaultCounter::hold_full:
      return "fault_hold_full";
    case FaultCounter::ecn_marked:
      return "fault_ecn_marked";
    case FaultCounter::ecn_skipped:
      return "fault_ecn_skipped";
    case FaultCounter::rate_limited:
      return "fault_rate_limited";
    case FaultCounter::rate_dropped:
      return "fault_rate_dropped";
    case FaultCounter::filtered_out:
      return "fault_filtered_out";
    case FaultCounter::count_:
      break;
  }
  return "fault_unknown";
}

class FaultPort final : public Port {
 public:
  // Fails on a probability outside 0..1, delay without a clock, a zero reorder window with
  // reordering on, or a drop_nth entry of 0.
  [[nodiscard]] static Result<std::unique_ptr<FaultPort>> create(Port& inner, FaultConfig config);

  FaultPort(const FaultPort&) = delete;
  FaultPort& operator=(const FaultPort&) = delete;
  // Frames still held or waiting are freed to the wrapped port, never sent.
  ~FaultPort() override;

  std::size_t rx_burst(std::span<Packet*> out) override;
  std::size_t tx_burst(std::span<Packet*> pkts) override;
  Packet* alloc() override { return inner_.alloc(); }
  void free(Packet* p) override { inner_.free(p); }

  std::uint32_t mtu() const override { return inner_.mtu(); }
  std::uint32_t max_frame() const override { return inner_.max_frame(); }
  wire::MacAddr mac() const override { return inner_.mac(); }
  bool link_up() const override { return inner_.link_up(); }
  bool has_link_layer() const override { return inner_.has_link_layer(); }

  // Releases the delayed frames that are due and offers the backlog to the wrapped port.
  void poll();
  // Sends every held frame now, in the order they were held, then offers the backlog. Returns how
  // many frames left the decorator; those the wrapped port refused remain (see held()).
  std::size_t flush();
  // Frames the decorator owns: held for reorder or delay, or refused by the wrapped port so far.
  std::size_t held() const { return held_.size() + backlog_.size(); }

  const Counters<FaultCounter>& counters() const { return counters_; }

 private:
  struct HeldFrame {
    Packet* pkt = nullptr;
    bool by_time = false;
    std::uint64_t due_ns = 0;       // by_time
    std::uint32_t frames_left = 0;  // !by_time: later frames still to pass it
  };
  // The draws of one frame, all taken whether used or not (see the replay note above).
  struct Fate {
    bool drop = false;
    bool duplicate = false;
    bool corrupt = false;
    std::uint32_t corrupt_offset = 0;  // into the bytes after the Ethernet header
    std::uint32_t corrupt_bit = 0;
    bool reorder = false;
    std::uint32_t reorder_after = 0;  // 1..W
    bool delay = false;
    std::int64_t jitter_ns = 0;
    bool ecn = false;
  };

  FaultPort(Port& inner, FaultConfig config);

  Fate draw_fate(std::uint32_t frame_len);
  bool in_filter(const Packet& p) const;
  void mark_ce(Packet& p);
  // The rate cap's departure time of a frame of len bytes taken now (now when there is no cap).
  std::uint64_t depart_at(std::uint32_t len, std::uint64_t now);
  std::uint32_t corrupt_from() const { return config_.link_layer ? kEthernetHeaderBytes : 0; }
  static constexpr std::uint32_t kEthernetHeaderBytes = 14;
  bool listed_for_drop(std::uint64_t seq);
  void take(Packet* p);
  void count_down_reordered();
  void release_due();
  void drain_backlog();

  Port& inner_;
  FaultConfig config_;  // drop_nth sorted and deduplicated
  std::size_t backlog_limit_;
  std::size_t next_listed_ = 0;  // first drop_nth entry not yet passed
  SplitMix64 rng_;
  SplitMix64 rng2_;  // the draws of the later knobs (jitter, ECN)
  std::uint64_t seq_ = 0;
  std::uint64_t link_free_ns_ = 0;  // rate cap: when the last frame has left the link
  std::vector<HeldFrame> held_;   // capacity max_held, in hold order
  std::vector<Packet*> backlog_;  // capacity fixed at construction, in send order
  Counters<FaultCounter> counters_;
};

}  // namespace softrnic::transport
