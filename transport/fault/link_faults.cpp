#include "fault/link_faults.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace softrnic::transport {

// The receive side's wire: frames the receive FaultPort lets through wait here for rx_burst.
class LinkFaultPort::RxQueue final : public Port {
 public:
  explicit RxQueue(Port& inner) : inner_(inner) { ring_.resize(kCapacity); }
  ~RxQueue() override {
    while (count_ > 0) inner_.free(pop());
  }
  std::size_t rx_burst(std::span<Packet*>) override { return 0; }
  std::size_t tx_burst(std::span<Packet*> pkts) override {
    std::size_t n = 0;
    for (; n < pkts.size() && count_ < kCapacity; ++n) {
      ring_[(head_ + count_) % kCapacity] = pkts[n];
      ++count_;
    }
    return n;
  }
  Packet* alloc() override { return inner_.alloc(); }
  void free(Packet* p) override { inner_.free(p); }
  std::uint32_t mtu() const override { return inner_.mtu(); }
  wire::MacAddr mac() const override { return inner_.mac(); }
  std::size_t size() const { return count_; }
  Packet* pop() {
    Packet* p = ring_[head_];
    head_ = (head_ + 1) % kCapacity;
    --count_;
    return p;
  }

 private:
  static constexpr std::size_t kCapacity = 1024;
  Port& inner_;
  std::vector<Packet*> ring_;
  std::size_t head_ = 0, count_ = 0;
};

bool LinkFaults::any() const {
  const FaultConfig& c = config;
  return c.drop > 0 || c.duplicate > 0 || c.corrupt > 0 || c.reorder > 0 || c.delay > 0 || c.ecn_ce > 0 ||
         c.rate_bps > 0 || !c.drop_nth.empty();
}

bool LinkFaults::operator==(const LinkFaults& o) const { return format_link_faults(*this) == format_link_faults(o); }

namespace {

Result<double> probability(std::string_view key, std::string_view v) {
  double d = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), d);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || !(d >= 0 && d <= 1))
    return make_error(Errc::out_of_range, "faults: " + std::string(key) + "=" + std::string(v) +
                                              ": a probability within 0..1 (e.g. 0.01)");
  return d;
}

Result<std::uint64_t> number(std::string_view key, std::string_view v, std::uint64_t max) {
  std::uint64_t n = 0;
  int base = 10;
  if (v.starts_with("0x")) {
    v.remove_prefix(2);
    base = 16;
  }
  const auto r = std::from_chars(v.data(), v.data() + v.size(), n, base);
  if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || v.empty() || n > max)
    return make_error(Errc::out_of_range, "faults: " + std::string(key) + "=" + std::string(v) +
                                              ": a whole number 0.." + std::to_string(max));
  return n;
}

std::string fmt_double(double d) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", d);
  return b;
}

constexpr std::pair<std::string_view, std::uint32_t> kOps[] = {
    {"send", kOpSend}, {"write", kOpWrite}, {"read", kOpRead}, {"atomic", kOpAtomic},
    {"ack", kOpAck},   {"cm", kOpCm},       {"other", kOpOther}};

}  // namespace

Result<LinkFaults> parse_link_faults(std::string_view text) {
  LinkFaults f;
  FaultConfig& c = f.config;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const std::size_t end = std::min(text.find(':', start), text.size());
    const std::string_view item = text.substr(start, end - start);
    start = end + 1;
    if (item.empty()) {
      if (end >= text.size()) break;
      continue;
    }
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return make_error(Errc::invalid_argument, "faults: '" + std::string(item) + "' is not KEY=VALUE (keys: " +
                                                    std::string(kLinkFaultKeys) + ")");
    const std::string_view k = item.substr(0, eq), v = item.substr(eq + 1);
    auto prob = [&](double& out) -> Result<void> {
      auto p = probability(k, v);
      if (!p) return std::unexpected(p.error());
      out = *p;
      return {};
    };
    Result<void> ok{};
    if (k == "loss") {
      ok = prob(c.drop);
    } else if (k == "dup") {
      ok = prob(c.duplicate);
    } else if (k == "reorder") {
      ok = prob(c.reorder);
    } else if (k == "corrupt") {
      ok = prob(c.corrupt);
    } else if (k == "delay") {
      ok = prob(c.delay);
    } else if (k == "ecn") {
      ok = prob(c.ecn_ce);
    } else if (k == "window") {
      auto n = number(k, v, 64);
      if (!n || *n == 0) return make_error(Errc::out_of_range, "faults: window=" + std::string(v) + ": 1..64 frames");
      c.reorder_window = static_cast<std::uint32_t>(*n);
    } else if (k == "delay_us" || k == "jitter_us") {
      auto n = number(k, v, 10'000'000);
      if (!n) return std::unexpected(n.error());
      (k == "delay_us" ? c.delay_ns : c.jitter_ns) = *n * 1000;
    } else if (k == "rate") {
      std::string_view digits = v;
      std::uint64_t mult = 1;
      if (!digits.empty()) {
        const char s = static_cast<char>(std::tolower(static_cast<unsigned char>(digits.back())));
        if (s == 'k' || s == 'm' || s == 'g') {
          mult = s == 'k' ? 1'000 : s == 'm' ? 1'000'000 : 1'000'000'000;
          digits.remove_suffix(1);
        }
      }
      auto n = number(k, digits, 1'000'000'000'000ULL / mult);
      if (!n || *n == 0)
        return make_error(Errc::out_of_range, "faults: rate=" + std::string(v) + ": bit/s, e.g. 100m or 1g (1 .. 1000g)");
      c.rate_bps = *n * mult;
    } else if (k == "dir") {
      if (v == "tx") f.direction = FaultDirection::tx;
      else if (v == "rx") f.direction = FaultDirection::rx;
      else if (v == "both") f.direction = FaultDirection::both;
      else return make_error(Errc::invalid_argument, "faults: dir=" + std::string(v) + ": accepted tx, rx, both");
    } else if (k == "qp") {
      auto n = number(k, v, 0xffffff);
      if (!n) return std::unexpected(n.error());
      c.only_qp = static_cast<std::uint32_t>(*n);
    } else if (k == "ops") {
      c.only_ops = 0;
      std::size_t s = 0;
      while (s <= v.size()) {
        const std::size_t e = std::min(v.find('+', s), v.size());
        const std::string_view name = v.substr(s, e - s);
        bool found = false;
        for (const auto& [n, bit] : kOps)
          if (n == name) c.only_ops |= bit, found = true;
        if (!found)
          return make_error(Errc::invalid_argument, "faults: ops: unknown class '" + std::string(name) +
                                                        "' (accepted, joined by +: send, write, read, atomic, ack, cm, other)");
        s = e + 1;
      }
    } else if (k == "seed") {
      auto n = number(k, v, ~0ULL);
      if (!n) return std::unexpected(n.error());
      c.seed = *n;
    } else {
      return make_error(Errc::invalid_argument, "faults: unknown key '" + std::string(k) + "' (accepted: " +
                                                    std::string(kLinkFaultKeys) + ")");
    }
    if (!ok) return std::unexpected(ok.error());
    if (end >= text.size()) break;
  }
  if (c.jitter_ns > c.delay_ns)
    return make_error(Errc::invalid_argument, "faults: jitter_us cannot exceed delay_us");
  if (c.delay > 0 && c.delay_ns == 0)
    return make_error(Errc::invalid_argument, "faults: delay=P needs delay_us=N (how long)");
  return f;
}

std::string format_link_faults(const LinkFaults& f) {
  const FaultConfig& c = f.config;
  std::string s;
  auto add = [&](std::string_view k, const std::string& v) {
    s += (s.empty() ? "" : ":") + std::string(k) + "=" + v;
  };
  if (c.drop > 0) add("loss", fmt_double(c.drop));
  if (c.duplicate > 0) add("dup", fmt_double(c.duplicate));
  if (c.reorder > 0) add("reorder", fmt_double(c.reorder));
  if (c.reorder_window != 4) add("window", std::to_string(c.reorder_window));
  if (c.corrupt > 0) add("corrupt", fmt_double(c.corrupt));
  if (c.delay > 0) add("delay", fmt_double(c.delay));
  if (c.delay_ns) add("delay_us", std::to_string(c.delay_ns / 1000));
  if (c.jitter_ns) add("jitter_us", std::to_string(c.jitter_ns / 1000));
  if (c.rate_bps) add("rate", std::to_string(c.rate_bps));
  if (c.ecn_ce > 0) add("ecn", fmt_double(c.ecn_ce));
  if (f.direction != FaultDirection::tx) add("dir", f.direction == FaultDirection::rx ? "rx" : "both");
  if (c.only_qp) add("qp", std::to_string(*c.only_qp));
  if (c.only_ops) {
    std::string ops;
    for (const auto& [n, bit] : kOps)
      if (c.only_ops & bit) ops += (ops.empty() ? "" : "+") + std::string(n);
    add("ops", ops);
  }
  if (c.seed != 1) add("seed", std::to_string(c.seed));
  return s;
}

LinkFaultPort::LinkFaultPort(Port& inner, const Clock& clock, bool link_layer)
    : inner_(inner), clock_(clock), link_layer_(link_layer) {}

void LinkFaultPort::drop_next(std::uint32_t n, FaultDirection dir, std::optional<std::uint32_t> qp,
                              std::uint32_t ops) {
  drop_left_ = n;
  drop_dir_ = dir;
  drop_qp_ = qp;
  drop_ops_ = ops;
}

void LinkFaultPort::link_down_for(std::uint64_t duration_ns) { down_until_ns_ = clock_.now_ns() + duration_ns; }

bool LinkFaultPort::scripted_drop(const Packet& p, bool transmit) {
  if (down_until_ns_ != 0) {
    if (clock_.now_ns() < down_until_ns_) {
      ++scripted_dropped_;
      return true;
    }
    down_until_ns_ = 0;
  }
  if (drop_left_ == 0) return false;
  if (drop_dir_ != FaultDirection::both && (drop_dir_ == FaultDirection::tx) != transmit) return false;
  const std::span<const std::byte> f(p.data, p.len);
  if (drop_ops_ && !(op_class_of(f, link_layer_) & drop_ops_)) return false;
  if (drop_qp_ && dest_qp_of(f, link_layer_) != drop_qp_) return false;
  --drop_left_;
  ++scripted_dropped_;
  return true;
}

LinkFaultPort::~LinkFaultPort() {
  tx_.reset();
  rx_.reset();  // frees what it holds to the queue's pool (the inner port)
  queue_.reset();
}

Result<std::unique_ptr<LinkFaultPort>> LinkFaultPort::create(Port& inner, LinkFaults faults, const Clock& clock,
                                                             bool link_layer) {
  auto p = std::unique_ptr<LinkFaultPort>(new LinkFaultPort(inner, clock, link_layer));
  faults.config.clock = &clock;
  faults.config.link_layer = link_layer;
  // Without seeded faults there is no stage at all: the port passes frames straight through and
  // only the scripted faults (drop_next, link_down_for) can act.
  if (!faults.any()) return p;
  if (faults.direction != FaultDirection::rx) {
    auto t = FaultPort::create(inner, faults.config);
    if (!t) return std::unexpected(t.error());
    p->tx_ = std::move(*t);
  }
  if (faults.direction != FaultDirection::tx) {
    p->queue_ = std::make_unique<RxQueue>(inner);
    FaultConfig rc = faults.config;
    rc.seed = faults.config.seed * 0x9e3779b97f4a7c15ULL + 1;  // its own schedule, from the same seed
    auto r = FaultPort::create(*p->queue_, rc);
    if (!r) return std::unexpected(r.error());
    p->rx_ = std::move(*r);
  }
  return p;
}

std::size_t LinkFaultPort::tx_burst(std::span<Packet*> pkts) {
  Port& next = tx_ ? static_cast<Port&>(*tx_) : inner_;
  if (!scripted_armed()) return next.tx_burst(pkts);
  // One frame at a time while a script is armed, so that what the caller gave stays in order.
  std::size_t taken = 0;
  for (; taken < pkts.size(); ++taken) {
    if (scripted_drop(*pkts[taken], true)) {
      inner_.free(pkts[taken]);
      continue;
    }
    if (next.tx_burst(pkts.subspan(taken, 1)) == 0) break;
  }
  return taken;
}

std::size_t LinkFaultPort::rx_burst(std::span<Packet*> out) {
  if (tx_) tx_->poll();  // delayed and rate-held transmit frames leave on time
  if (!rx_) {
    const std::size_t got = inner_.rx_burst(out);
    if (!scripted_armed()) return got;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < got; ++i) {
      if (scripted_drop(*out[i], false)) {
        inner_.free(out[i]);
      } else {
        out[kept++] = out[i];
      }
    }
    return kept;
  }
  std::size_t got = inner_.rx_burst(scratch_);
  if (scripted_armed()) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < got; ++i) {
      if (scripted_drop(*scratch_[i], false)) {
        inner_.free(scratch_[i]);
      } else {
        scratch_[kept++] = scratch_[i];
      }
    }
    got = kept;
  }
  const std::size_t taken = rx_->tx_burst(std::span(scratch_).first(got));
  for (std::size_t i = taken; i < got; ++i) {
    inner_.free(scratch_[i]);
    ++rx_queue_full_;
  }
  rx_->poll();
  std::size_t n = 0;
  while (n < out.size() && queue_->size() > 0) out[n++] = queue_->pop();
  return n;
}

}  // namespace softrnic::transport
