#include "fault/fault_port.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace softrnic::transport {

namespace {
// A frame can put at most two entries in the backlog (itself and its copy); one burst of slack on
// top lets a whole burst wait while the wrapped port is busy.
constexpr std::size_t kBacklogSlack = 2 * kBurst + 2;

bool is_probability(double p) { return p >= 0.0 && p <= 1.0; }  // false for NaN too
}  // namespace

Result<std::unique_ptr<FaultPort>> FaultPort::create(Port& inner, FaultConfig config) {
  const std::pair<const char*, double> probabilities[] = {
      {"drop", config.drop},       {"duplicate", config.duplicate}, {"corrupt", config.corrupt},
      {"reorder", config.reorder}, {"delay", config.delay},         {"ecn_ce", config.ecn_ce},
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
  if (config.rate_bps > 0 && config.clock == nullptr) {
    return make_error(Errc::invalid_argument, "a fault rate cap needs a clock");
  }
  if (config.jitter_ns > config.delay_ns) {
    return make_error(Errc::invalid_argument, "fault jitter (" + std::to_string(config.jitter_ns) +
                                                  " ns) cannot exceed the delay (" +
                                                  std::to_string(config.delay_ns) + " ns)");
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
      rng_(config_.seed),
      rng2_(config_.seed ^ 0x5eed2f4a17c0ffeeULL) {
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
  const std::uint32_t after_header = frame_len > corrupt_from() ? frame_len - corrupt_from() : 1;
  f.corrupt_offset = rng_.below(after_header);
  f.corrupt_bit = rng_.below(8);
  f.reorder = rng_.chance(config_.reorder);
  f.reorder_after = 1 + rng_.below(std::max<std::uint32_t>(config_.reorder_window, 1));
  f.delay = rng_.chance(config_.delay);
  // The second stream: always two draws.
  const std::uint64_t span = 2 * config_.jitter_ns + 1;
  const std::uint64_t j = rng2_.next();
  f.jitter_ns = config_.jitter_ns ? static_cast<std::int64_t>(j % span) - static_cast<std::int64_t>(config_.jitter_ns) : 0;
  f.ecn = rng2_.chance(config_.ecn_ce);
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
  Fate fate = draw_fate(p->len);
  if ((config_.only_qp || config_.only_ops) && !in_filter(*p)) {
    fate = Fate{};
    counters_.add(FaultCounter::filtered_out);
  }

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
  if (fate.ecn) mark_ce(*p);
  if (fate.corrupt) {
    if (p->len > corrupt_from()) {
      p->data[corrupt_from() + fate.corrupt_offset] ^= std::byte{1} << fate.corrupt_bit;
      counters_.add(FaultCounter::corrupted);
    } else {
      counters_.add(FaultCounter::corrupt_skipped);
    }
  }

  // The rate cap decides when the frame may leave; a delay counts from then.
  const std::uint64_t now = config_.clock ? config_.clock->now_ns() : 0;
  const std::uint64_t depart = depart_at(p->len, now);
  const bool by_time = fate.delay || depart > now;
  const bool wants_hold = by_time || fate.reorder;
  const bool room_to_hold = held_.size() < config_.max_held;
  if (depart > now && !room_to_hold) {  // the cap's queue is full: tail drop
    counters_.add(FaultCounter::rate_dropped);
    link_free_ns_ -= static_cast<std::uint64_t>(p->len) * 8'000'000'000ULL / config_.rate_bps;
    inner_.free(p);
    count_down_reordered();
    return;
  }
  if (wants_hold && !room_to_hold) counters_.add(FaultCounter::hold_full);
  if (wants_hold && room_to_hold) {
    // Counting down first: the frame just held must not count itself as a later frame.
    count_down_reordered();
    HeldFrame h;
    h.pkt = p;
    if (by_time) {
      h.by_time = true;
      std::int64_t due = static_cast<std::int64_t>(depart);
      if (fate.delay) {
        due += static_cast<std::int64_t>(config_.delay_ns) + fate.jitter_ns;
        counters_.add(FaultCounter::delayed);
      }
      if (depart > now) counters_.add(FaultCounter::rate_limited);
      h.due_ns = static_cast<std::uint64_t>(std::max<std::int64_t>(due, 0));
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

std::uint64_t FaultPort::depart_at(std::uint32_t len, std::uint64_t now) {
  if (config_.rate_bps == 0) return now;
  const std::uint64_t start = std::max(now, link_free_ns_);
  link_free_ns_ = start + static_cast<std::uint64_t>(len) * 8'000'000'000ULL / config_.rate_bps;
  return start;
}

namespace {

// Where the IP header and the BTH of a frame are, when it has them.
struct Layout {
  std::size_t ip = 0;
  int ip_version = 0;  // 0: none
  std::optional<std::size_t> bth;
};

Layout layout_of(std::span<const std::byte> f, bool link_layer) {
  Layout l;
  if (!link_layer) {
    l.bth = 0;  // socket ports carry the UDP payload: the BTH comes first
    return l;
  }
  if (f.size() < 14) return l;
  std::size_t at = 12;
  auto u16 = [&](std::size_t i) { return static_cast<std::uint16_t>((std::to_integer<unsigned>(f[i]) << 8) | std::to_integer<unsigned>(f[i + 1])); };
  std::uint16_t type = u16(at);
  if (type == 0x8100 && f.size() >= 18) {
    at += 4;
    type = u16(at);
  }
  l.ip = at + 2;
  std::size_t udp = 0;
  if (type == 0x0800 && f.size() >= l.ip + 20) {
    l.ip_version = 4;
    const std::size_t ihl = (std::to_integer<unsigned>(f[l.ip]) & 0x0f) * 4u;
    if (std::to_integer<unsigned>(f[l.ip + 9]) != 17 || ihl < 20) return l;
    udp = l.ip + ihl;
  } else if (type == 0x86dd && f.size() >= l.ip + 40) {
    l.ip_version = 6;
    if (std::to_integer<unsigned>(f[l.ip + 6]) != 17) return l;
    udp = l.ip + 40;
  } else {
    return l;
  }
  if (f.size() >= udp + 8 + 12 && u16(udp + 2) == 4791) l.bth = udp + 8;
  return l;
}

}  // namespace

std::uint32_t op_class_of(std::span<const std::byte> frame, bool link_layer) {
  const Layout l = layout_of(frame, link_layer);
  if (!l.bth || frame.size() < *l.bth + 12) return kOpOther;
  const auto* b = frame.data() + *l.bth;
  const unsigned op = std::to_integer<unsigned>(b[0]);
  const unsigned qp = (std::to_integer<unsigned>(b[5]) << 16) | (std::to_integer<unsigned>(b[6]) << 8) |
                      std::to_integer<unsigned>(b[7]);
  if (qp == 1) return kOpCm;
  if (op >> 5 > 3) return kOpOther;  // CNP (0x81) and vendor opcodes
  switch (op & 0x1f) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x05: case 0x16: case 0x17: return kOpSend;
    case 0x06: case 0x07: case 0x08: case 0x09: case 0x0a: case 0x0b: return kOpWrite;
    case 0x0c: case 0x0d: case 0x0e: case 0x0f: case 0x10: return kOpRead;
    case 0x11: return kOpAck;
    case 0x12: case 0x13: case 0x14: return kOpAtomic;
    default: return kOpOther;
  }
}

std::optional<std::uint32_t> dest_qp_of(std::span<const std::byte> f, bool link_layer) {
  const Layout l = layout_of(f, link_layer);
  if (!l.bth || f.size() < *l.bth + 12) return std::nullopt;
  const auto* b = f.data() + *l.bth;
  return (std::to_integer<std::uint32_t>(b[5]) << 16) | (std::to_integer<std::uint32_t>(b[6]) << 8) |
         std::to_integer<std::uint32_t>(b[7]);
}

bool FaultPort::in_filter(const Packet& p) const {
  const std::span<const std::byte> f(p.data, p.len);
  if (config_.only_ops && !(op_class_of(f, config_.link_layer) & config_.only_ops)) return false;
  if (config_.only_qp && dest_qp_of(f, config_.link_layer) != config_.only_qp) return false;
  return true;
}

void FaultPort::mark_ce(Packet& p) {
  const Layout l = layout_of({p.data, p.len}, config_.link_layer);
  std::byte* ip = p.data + l.ip;
  if (l.ip_version == 4 && (std::to_integer<unsigned>(ip[1]) & 3) != 0) {
    ip[1] |= std::byte{3};
    // RFC 1071 checksum over the header, recomputed.
    const std::size_t ihl = (std::to_integer<unsigned>(ip[0]) & 0x0f) * 4u;
    ip[10] = ip[11] = std::byte{0};
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < ihl; i += 2)
      sum += (std::to_integer<std::uint32_t>(ip[i]) << 8) | std::to_integer<std::uint32_t>(ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const auto c = static_cast<std::uint16_t>(~sum);
    ip[10] = std::byte(c >> 8);
    ip[11] = std::byte(c & 0xff);
    counters_.add(FaultCounter::ecn_marked);
  } else if (l.ip_version == 6 && (std::to_integer<unsigned>(ip[1]) & 0x30) != 0) {
    ip[1] |= std::byte{0x30};  // ECN: the low two bits of the traffic class (bits 4-5 of byte 1)
    counters_.add(FaultCounter::ecn_marked);
  } else {
    counters_.add(FaultCounter::ecn_skipped);
  }
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
