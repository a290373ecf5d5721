#include "fault/fault_port.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace softrnic::transport {

namespace {
constexpr std::uint32_t kEthernetHeader = 14;
// A frame can put at most two entries in the backlog (itself and its copy); one burst of slack on
// top lets a whole burst wait while the wrapped port is busy.
constexpr std::size_t kBacklogSlack = 2 * kBurst + 2;

bool is_probability(double p) { return p >= 0.0 && p <= 1.0; }  // false for NaN too
}  // namespace

Result<std::unique_ptr<FaultPort>> FaultPort::create(Port& inner, FaultConfig config) {
  const std::pair<const char*, double> probabilities[] = {
      {"drop", config.drop},       {"duplicate", config.duplicate}, {"corrupt", config.corrupt},
      {"reorder", config.reorder}, {"delay", config.delay},
  };
  for (const auto& [name, p] : probabilities) {
    if (!is_probability(p)) {
      return make_error(Errc::out_of_range, std::string("fault probability '") + name +
                                                "' must be within 0..1, got " + std::to_string(p));
    }
  }
  if (config.delay > 0.0 && config.clock == nullptr) {
    return make_error(Errc::invalid_argument, "fault delay needs a clock");
  }
  if (config.reorder > 0.0 && config.reorder_window == 0) {
    return make_error(Errc::invalid_argument, "fault reordering needs a window of at least 1");
  }
  if (std::find(config.drop_nth.begin(), config.drop_nth.end(), 0) != config.drop_nth.end()) {
    return make_error(Errc::invalid_argument, "drop_nth counts frames from 1; 0 names no frame");
  }
  return std::unique_ptr<FaultPort>(new FaultPort(inner, std::move(config)));
}

FaultPort::FaultPort(Port& inner, FaultConfig config)
    : inner_(inner),
      config_(std::move(config)),
      backlog_limit_(config_.max_held + kBacklogSlack),
      rng_(config_.seed) {
  std::sort(config_.drop_nth.begin(), config_.drop_nth.end());
  config_.drop_nth.erase(std::unique(config_.drop_nth.begin(), config_.drop_nth.end()),
                         config_.drop_nth.end());
  held_.reserve(config_.max_held);
  backlog_.reserve(backlog_limit_);
}

FaultPort::~FaultPort() {
  for (const HeldFrame& h : held_) inner_.free(h.pkt);
  for (Packet* p : backlog_) inner_.free(p);
}

FaultPort::Fate FaultPort::draw_fate(std::uint32_t frame_len) {
  // Always the same eight draws in the same order: see "Replay" in the header.
  Fate f;
  f.drop = rng_.chance(config_.drop);
  f.duplicate = rng_.chance(config_.duplicate);
  f.corrupt = rng_.chance(config_.corrupt);
  const std::uint32_t after_header = frame_len > kEthernetHeader ? frame_len - kEthernetHeader : 1;
  f.corrupt_offset = rng_.below(after_header);
  f.corrupt_bit = rng_.below(8);
  f.reorder = rng_.chance(config_.reorder);
  f.reorder_after = 1 + rng_.below(std::max<std::uint32_t>(config_.reorder_window, 1));
  f.delay = rng_.chance(config_.delay);
  return f;
}

bool FaultPort::listed_for_drop(std::uint64_t seq) {
  // Sequence numbers only grow, so one cursor walks the sorted list.
  const auto& list = config_.drop_nth;
  while (next_listed_ < list.size() && list[next_listed_] < seq) ++next_listed_;
  return next_listed_ < list.size() && list[next_listed_] == seq;
}

std::size_t FaultPort::tx_burst(std::span<Packet*> pkts) {
  release_due();
  std::size_t n = 0;
  // Room for this frame, its copy, and every held frame it could release.
  // held_ + backlog_ never exceeds the backlog's reserved size, so push_back never reallocates.
  while (n < pkts.size() && backlog_.size() + 2 + held_.size() <= backlog_limit_) {
    take(pkts[n++]);
  }
  drain_backlog();
  return n;
}

void FaultPort::take(Packet* p) {
  const std::uint64_t seq = ++seq_;
  counters_.add(FaultCounter::frames_in);
  const Fate fate = draw_fate(p->len);

  const bool listed = listed_for_drop(seq);
  if (listed || fate.drop) {
    counters_.add(listed ? FaultCounter::dropped_by_list : FaultCounter::dropped);
    inner_.free(p);
    count_down_reordered();
    return;
  }
  if (fate.duplicate) {
    Packet* copy = inner_.alloc();
    if (copy != nullptr && copy->capacity >= p->len) {
      std::memcpy(copy->data, p->data, p->len);
      copy->len = p->len;
      backlog_.push_back(copy);
      counters_.add(FaultCounter::duplicated);
    } else {
      if (copy != nullptr) inner_.free(copy);
      counters_.add(FaultCounter::duplicate_no_buffer);
    }
  }
  if (fate.corrupt) {
    if (p->len > kEthernetHeader) {
      p->data[kEthernetHeader + fate.corrupt_offset] ^= std::byte{1} << fate.corrupt_bit;
      counters_.add(FaultCounter::corrupted);
    } else {
      counters_.add(FaultCounter::corrupt_skipped);
    }
  }

  const bool wants_hold = fate.delay || fate.reorder;
  const bool room_to_hold = held_.size() < config_.max_held;
  if (wants_hold && !room_to_hold) counters_.add(FaultCounter::hold_full);
  if (wants_hold && room_to_hold) {
    // Counting down first: the frame just held must not count itself as a later frame.
    count_down_reordered();
    HeldFrame h;
    h.pkt = p;
    if (fate.delay) {
      h.by_time = true;
      h.due_ns = config_.clock->now_ns() + config_.delay_ns;
      counters_.add(FaultCounter::delayed);
    } else {
      h.frames_left = fate.reorder_after;
      counters_.add(FaultCounter::reordered);
    }
    held_.push_back(h);
    return;
  }
  backlog_.push_back(p);
  count_down_reordered();  // after the frame, so a released frame follows it on the wire
}

void FaultPort::count_down_reordered() {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < held_.size(); ++i) {
    HeldFrame& h = held_[i];
    if (!h.by_time && --h.frames_left == 0) {
      backlog_.push_back(h.pkt);
    } else {
      held_[kept++] = h;
    }
  }
  held_.resize(kept);  // shrinking never reallocates
}

void FaultPort::release_due() {
  if (config_.clock == nullptr) return;
  const std::uint64_t now = config_.clock->now_ns();
  std::size_t kept = 0;
  for (std::size_t i = 0; i < held_.size(); ++i) {
    const HeldFrame& h = held_[i];
    if (h.by_time && h.due_ns <= now) {
      backlog_.push_back(h.pkt);
    } else {
      held_[kept++] = h;
    }
  }
  held_.resize(kept);
}

void FaultPort::drain_backlog() {
  if (backlog_.empty()) return;
  const std::size_t sent = inner_.tx_burst(backlog_);
  counters_.add(FaultCounter::frames_out, sent);
  backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(sent));
}

void FaultPort::poll() {
  release_due();
  drain_backlog();
}

std::size_t FaultPort::rx_burst(std::span<Packet*> out) {
  poll();
  return inner_.rx_burst(out);
}

std::size_t FaultPort::flush() {
  const std::size_t before = held();
  for (const HeldFrame& h : held_) backlog_.push_back(h.pkt);
  held_.clear();
  drain_backlog();
  return before - held();
}

}  // namespace softrnic::transport
