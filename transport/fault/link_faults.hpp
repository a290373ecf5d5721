// Faults on both directions of a port: what a device spec's `faults=` field and SOFTRNIC_FAULTS
// put between a device and its port (issue: consumer test mode). Transmit faults are a FaultPort
// on the port; receive faults are a second FaultPort whose "wire" is a queue the received frames
// go through before the device sees them, so both directions have every knob, each with its own
// seeded schedule (the receive side's seed is derived from the same seed).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "engine/port.hpp"
#include "fault/fault_port.hpp"

namespace softrnic::transport {

enum class FaultDirection : std::uint8_t { tx, rx, both };

struct LinkFaults {
  FaultConfig config;  // seed, probabilities, delay/jitter, rate, ECN, filters (clock set later)
  FaultDirection direction = FaultDirection::tx;
  bool any() const;
  bool operator==(const LinkFaults& o) const;
};

// Parses "loss=0.1:dup=0.01:reorder=0.05:window=4:corrupt=0.001:delay=0.5:delay_us=200:
// jitter_us=50:rate=100m:ecn=0.2:dir=tx|rx|both:qp=0x12:ops=send+write+read+atomic+ack+cm+other:
// seed=7" (every key optional; `rate` in bit/s with k/m/g suffixes). Errors name the key and the
// accepted values.
[[nodiscard]] Result<LinkFaults> parse_link_faults(std::string_view text);
std::string format_link_faults(const LinkFaults& f);
// The accepted keys, for messages.
inline constexpr std::string_view kLinkFaultKeys =
    "loss, dup, reorder, window, corrupt, delay, delay_us, jitter_us, rate, ecn, dir, qp, ops, seed";

class LinkFaultPort final : public Port {
 public:
  // clock: for delay and rate; must outlive the port. link_layer: frames start with Ethernet.
  [[nodiscard]] static Result<std::unique_ptr<LinkFaultPort>> create(Port& inner, LinkFaults faults,
                                                                     const Clock& clock, bool link_layer);
  ~LinkFaultPort() override;

  std::size_t rx_burst(std::span<Packet*> out) override;
  std::size_t tx_burst(std::span<Packet*> pkts) override;
  Packet* alloc() override { return inner_.alloc(); }
  void free(Packet* p) override { inner_.free(p); }
  std::uint32_t mtu() const override { return inner_.mtu(); }
  std::uint32_t max_frame() const override { return inner_.max_frame(); }
  wire::MacAddr mac() const override { return inner_.mac(); }
  bool link_up() const override { return inner_.link_up(); }
  bool has_link_layer() const override { return inner_.has_link_layer(); }

  // Counters of each direction (null when that direction has no faults), as "tx_fault_..." /
  // "rx_fault_..." name-value pairs.
  template <class F>
  void for_each_counter(F&& f) const {
    if (tx_) tx_->counters().for_each([&](std::string_view n, std::uint64_t v) { f("tx_" + std::string(n), v); });
    if (rx_) rx_->counters().for_each([&](std::string_view n, std::uint64_t v) { f("rx_" + std::string(n), v); });
    if (rx_) f(std::string("rx_fault_queue_full"), rx_queue_full_);
    f(std::string("fault_scripted_dropped"), scripted_dropped_);
  }
  const FaultPort* tx() const { return tx_.get(); }
  const FaultPort* rx() const { return rx_.get(); }

  // Scripted faults (test scenarios), engine thread only, applied before the seeded schedule and
  // counted apart from it (scripted_dropped). While none is armed they cost one branch per burst.
  // Drops the next n frames of direction dir (both: either) that match qp and ops (0: any).
  void drop_next(std::uint32_t n, FaultDirection dir, std::optional<std::uint32_t> qp = {},
                 std::uint32_t ops = 0);
  // Drops every frame both ways until the clock passes now + duration_ns (a link flap).
  void link_down_for(std::uint64_t duration_ns);
  std::uint64_t scripted_dropped() const { return scripted_dropped_; }
  bool scripted_armed() const { return drop_left_ > 0 || down_until_ns_ != 0; }

 private:
  class RxQueue;
  explicit LinkFaultPort(Port& inner, const Clock& clock, bool link_layer);
  // True when the scripted faults take this frame (and count it).
  bool scripted_drop(const Packet& p, bool transmit);

  Port& inner_;
  std::unique_ptr<RxQueue> queue_;
  std::unique_ptr<FaultPort> tx_;
  std::unique_ptr<FaultPort> rx_;
  std::array<Packet*, kBurst> scratch_{};
  std::uint64_t rx_queue_full_ = 0;  // received frames dropped: the receive fault stage was full
  const Clock& clock_;
  bool link_layer_;
  std::uint32_t drop_left_ = 0;
  FaultDirection drop_dir_ = FaultDirection::both;
  std::optional<std::uint32_t> drop_qp_;
  std::uint32_t drop_ops_ = 0;
  std::uint64_t down_until_ns_ = 0;
  std::uint64_t scripted_dropped_ = 0;
};

}  // namespace softrnic::transport
