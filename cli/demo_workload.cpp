#include "demo_workload.hpp"

#include <array>
#include <cstring>
#include <deque>

#include "verbs/types.hpp"

namespace softrnic::cli {

namespace {

using Clk = std::chrono::steady_clock;

constexpr std::uint32_t kRecvSlots = 16;
constexpr std::uint64_t kSlotBase = 4096;  // receive slots start here in the message region
constexpr std::uint32_t kAccess =
    verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kZeroBased;

// A deterministic byte pattern, 8 bytes per step (xorshift64*), so that 64 MiB fill quickly.
void fill(std::byte* p, std::size_t n, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  std::size_t i = 0;
  for (; i < n; i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const std::uint64_t v = x * 0x2545F4914F6CDD1Dull;
    std::memcpy(p + i, &v, std::min<std::size_t>(8, n - i));
  }
}

double us_since(Clk::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clk::now() - t0).count();
}

// The first offset where a and b differ, as a message; empty when they are equal.
std::string compare(const std::byte* a, const std::byte* b, std::size_t n, const char* what) {
  if (std::memcmp(a, b, n) == 0) return {};
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return std::string(what) + ": byte " + std::to_string(i) + " of " + std::to_string(n) +
         " differs";
}

// Completions of both sides, handed out by side and opcode while the devices are polled.
class Completions {
 public:
  explicit Completions(QpPair& pair) : pair_(pair) {}

  // Waits for the next completion of `op` on `side`; other successful completions on that side
  // are kept for later. False (and `error` set) on a failed completion or at the deadline.
  bool next(int side, verbs::WcOpcode op, Clk::time_point deadline, verbs::Cqe& out) {
    for (std::uint32_t spin = 0;; ++spin) {
      auto& q = pending_[side];
      for (auto it = q.begin(); it != q.end(); ++it) {
        if (it->opcode == op) {
          out = *it;
          q.erase(it);
          return true;
        }
      }
      pair_.poll();
      for (int s = 0; s < 2; ++s) {
        const std::size_t n = pair_.cq[s]->poll(buf_);
        for (std::size_t i = 0; i < n; ++i) {
          if (buf_[i].status != verbs::WcStatus::success) {
            error = std::string(s == 0 ? "A" : "B") + ": completion with status " +
                    std::string(verbs::to_string(buf_[i].status));
            return false;
          }
          // Send completions of the ping-pong are not waited for: they are dropped here.
          if (buf_[i].opcode != verbs::WcOpcode::send) pending_[s].push_back(buf_[i]);
        }
      }
      if ((spin & 255) == 0 && Clk::now() > deadline) {
        error = "no completion before the phase's time limit";
        return false;
      }
    }
  }

  std::string error;

 private:
  QpPair& pair_;
  std::array<verbs::Cqe, 32> buf_{};
  std::deque<verbs::Cqe> pending_[2];
};

struct Regions {
  std::byte* msg[2] = {nullptr, nullptr};
  verbs::MemKeyRaw msg_key[2] = {0, 0};
  verbs::MemKeyRaw source = 0, target = 0, back = 0;
};

Result<void> register_all(QpPair& p, DemoBuffers& b, Regions& r, std::uint32_t ping) {
  for (int s = 0; s < 2; ++s) {
    b.msg[s].assign(kSlotBase + std::uint64_t{kRecvSlots} * ping, std::byte{0});
    r.msg[s] = b.msg[s].data();
    auto k = p.memory[s]->register_mr(p.pd[s], b.msg[s].data(), b.msg[s].size(), 0, kAccess);
    if (!k) return std::unexpected(k.error());
    r.msg_key[s] = *k;
  }
  auto src = p.memory[0]->register_mr(p.pd[0], b.source.data(), b.source.size(), 0, kAccess);
  if (!src) return std::unexpected(src.error());
  r.source = *src;
  auto back = p.memory[0]->register_mr(p.pd[0], b.back.data(), b.back.size(), 0, kAccess);
  if (!back) return std::unexpected(back.error());
  r.back = *back;
  auto tgt = p.memory[1]->register_mr(p.pd[1], b.target.data(), b.target.size(), 0, kAccess);
  if (!tgt) return std::unexpected(tgt.error());
  r.target = *tgt;
  return {};
}

roce::RecvWr recv_slot(const Regions& r, int side, std::uint32_t slot, std::uint32_t ping) {
  roce::RecvWr w;
  w.wr_id = slot;
  w.num_sge = 1;
  w.sg[0] = {kSlotBase + std::uint64_t{slot} * ping, ping, r.msg_key[side]};
  return w;
}

roce::SendWr send_of(const Regions& r, int side, std::uint32_t ping) {
  roce::SendWr w;
  w.opcode = verbs::WrOpcode::send;
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  w.sg[0] = {0, ping, r.msg_key[side]};
  return w;
}

class Phase {
 public:
  Phase(QpPair& pair, const std::string& transport, const char* op, std::uint64_t units,
        Progress& progress, std::chrono::seconds timeout)
      : pair_(pair), progress_(progress) {
    r.transport = transport;
    r.operation = op;
    before_ = pair.retransmits();
    deadline = Clk::now() + timeout;
    progress.begin(transport + " " + op, units);
    t0_ = Clk::now();
  }
  PhaseResult finish(std::vector<double>& latencies) {
    r.seconds = std::chrono::duration<double>(Clk::now() - t0_).count();
    if (!latencies.empty()) {
      r.p50_us = percentile(latencies, 50);
      r.p99_us = percentile(latencies, 99);
    }
    const auto after = pair_.retransmits();
    if (before_ && after) r.retransmits = *after - *before_;
    progress_.end(r);
    return r;
  }
  PhaseResult r;
  Clk::time_point deadline;

 private:
  QpPair& pair_;
  Progress& progress_;
  std::optional<std::uint64_t> before_;
  Clk::time_point t0_;
};

PhaseResult ping_pong(QpPair& p, const std::string& transport, const WorkloadConfig& cfg,
                      Regions& reg, std::uint32_t seed, Progress& progress) {
  Phase ph(p, transport, "send ping-pong", cfg.pingpongs, progress, cfg.phase_timeout);
  Completions cq(p);
  std::vector<double> lat;
  lat.reserve(cfg.pingpongs);
  const std::uint32_t n = cfg.ping_size;
  for (int s = 0; s < 2; ++s) {
    for (std::uint32_t k = 0; k < kRecvSlots; ++k) {
      if (auto w = p.post_recv(s, recv_slot(reg, s, k, n)); !w) {
        ph.r.error = "post_recv: " + w.error().message;
        return ph.finish(lat);
      }
    }
  }
  std::vector<std::byte> want(n);
  verbs::Cqe c;
  // One side's message arrived: check it against the pattern and give its slot back.
  const auto take = [&](int side, std::uint64_t pattern_seed) -> bool {
    if (!cq.next(side, verbs::WcOpcode::recv, ph.deadline, c)) {
      ph.r.error = cq.error;
      return false;
    }
    fill(want.data(), n, pattern_seed);
    const auto slot = static_cast<std::uint32_t>(c.wr_id);
    const std::byte* got = reg.msg[side] + kSlotBase + std::uint64_t{slot} * n;
    if (c.byte_len != n) {
      ph.r.error =
          "a message of " + std::to_string(c.byte_len) + " bytes arrived, not " + std::to_string(n);
      return false;
    }
    ph.r.error = compare(got, want.data(), n, side == 1 ? "ping" : "pong");
    if (!ph.r.error.empty()) return false;
    if (auto w = p.post_recv(side, recv_slot(reg, side, slot, n)); !w) {
      ph.r.error = "post_recv: " + w.error().message;
      return false;
    }
    ph.r.bytes += n;
    ++ph.r.messages;
    return true;
  };
  for (std::uint32_t i = 0; i < cfg.pingpongs; ++i) {
    const std::uint64_t ping_seed = (std::uint64_t{seed} << 32) | (2 * i);
    fill(reg.msg[0], n, ping_seed);
    const auto t0 = Clk::now();
    if (auto w = p.post_send(0, send_of(reg, 0, n)); !w) {
      ph.r.error = "post_send: " + w.error().message;
      return ph.finish(lat);
    }
    if (!take(1, ping_seed)) return ph.finish(lat);
    fill(reg.msg[1], n, ping_seed + 1);
    if (auto w = p.post_send(1, send_of(reg, 1, n)); !w) {
      ph.r.error = "post_send: " + w.error().message;
      return ph.finish(lat);
    }
    if (!take(0, ping_seed + 1)) return ph.finish(lat);
    lat.push_back(us_since(t0));
    progress.update(i + 1);
  }
  ph.r.verified = true;
  return ph.finish(lat);
}

// RDMA Writes of source into B's target (read = false), or RDMA Reads of target into back.
PhaseResult bulk(QpPair& p, const std::string& transport, const WorkloadConfig& cfg, DemoBuffers& b,
                 Regions& reg, bool read, Progress& progress) {
  const std::uint64_t total = b.source.size();
  const std::uint64_t chunks = (total + cfg.chunk - 1) / cfg.chunk;
  Phase ph(p, transport, read ? "rdma read" : "rdma write", chunks, progress, cfg.phase_timeout);
  Completions cq(p);
  std::vector<double> lat;
  lat.reserve(chunks);
  std::vector<Clk::time_point> posted_at(chunks);
  const auto op = read ? verbs::WcOpcode::rdma_read : verbs::WcOpcode::rdma_write;
  std::uint64_t posted = 0, done = 0;
  verbs::Cqe c;
  while (done < chunks) {
    while (posted < chunks && posted - done < cfg.window) {
      const std::uint64_t off = posted * cfg.chunk;
      const auto len = static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg.chunk, total - off));
      roce::SendWr w;
      w.wr_id = posted;
      w.opcode = read ? verbs::WrOpcode::rdma_read : verbs::WrOpcode::rdma_write;
      w.flags = verbs::kSignaled;
      w.num_sge = 1;
      w.sg[0] = {off, len, read ? reg.back : reg.source};
      w.remote_addr = off;
      w.rkey = reg.target;
      posted_at[posted] = Clk::now();
      if (auto r = p.post_send(0, w); !r) {
        ph.r.error = "post_send: " + r.error().message;
        return ph.finish(lat);
      }
      ++posted;
    }
    if (!cq.next(0, op, ph.deadline, c)) {
      ph.r.error =
          cq.error + " (" + std::to_string(done) + " of " + std::to_string(chunks) + " done)";
      return ph.finish(lat);
    }
    lat.push_back(us_since(posted_at[c.wr_id]));
    ph.r.bytes += std::min<std::uint64_t>(cfg.chunk, total - c.wr_id * cfg.chunk);
    ++ph.r.messages;
    ++done;
    progress.update(done);
  }
  if (!read) {
    // iWARP completes a Write once the stream has taken its last byte, not once B has placed it
    // (iwarp/device.hpp); a Send that follows the Writes on the same stream arrives after they
    // are placed, on either protocol. The ping-pong left receives posted on B.
    if (auto r = p.post_send(0, send_of(reg, 0, cfg.ping_size)); !r) {
      ph.r.error = "post_send: " + r.error().message;
      return ph.finish(lat);
    }
    if (!cq.next(1, verbs::WcOpcode::recv, ph.deadline, c)) {
      ph.r.error = "the Send after the Writes: " + cq.error;
      return ph.finish(lat);
    }
    const auto slot = static_cast<std::uint32_t>(c.wr_id);
    if (auto r = p.post_recv(1, recv_slot(reg, 1, slot, cfg.ping_size)); !r) {
      ph.r.error = "post_recv: " + r.error().message;
      return ph.finish(lat);
    }
  }
  ph.r.error = read ? compare(b.back.data(), b.source.data(), total, "read back")
                    : compare(b.target.data(), b.source.data(), total, "written");
  ph.r.verified = ph.r.error.empty();
  return ph.finish(lat);
}

}  // namespace

std::vector<PhaseResult> run_workload(QpPair& pair, const std::string& transport,
                                      const WorkloadConfig& cfg, DemoBuffers& buffers,
                                      std::uint32_t seed, Progress& progress) {
  std::vector<PhaseResult> out;
  Regions reg;
  if (auto r = register_all(pair, buffers, reg, cfg.ping_size); !r) {
    PhaseResult f;
    f.transport = transport;
    f.operation = "register memory";
    f.error = r.error().message;
    out.push_back(f);
    return out;
  }
  // Fresh data for every transport, and targets cleared, so no phase passes on old bytes.
  fill(buffers.source.data(), buffers.source.size(), seed);
  std::memset(buffers.target.data(), 0, buffers.target.size());
  std::memset(buffers.back.data(), 0, buffers.back.size());

  out.push_back(ping_pong(pair, transport, cfg, reg, seed, progress));
  if (out.back().ok()) out.push_back(bulk(pair, transport, cfg, buffers, reg, false, progress));
  if (out.back().ok()) out.push_back(bulk(pair, transport, cfg, buffers, reg, true, progress));

  // The regions stay registered until the device goes: even after the last completion the
  // responder may still answer a duplicate Read request from them.
  return out;
}

}  // namespace softrnic::cli
