#include "perftest_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace softrnic::cli::perftest {
namespace {

using Clk = std::chrono::steady_clock;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clk::now().time_since_epoch()).count());
}

constexpr std::size_t kPage = 4096;

verbs::WrOpcode opcode_of(const RunParams& p) {
  switch (p.verb) {
    case Verb::send: return verbs::WrOpcode::send;
    case Verb::write: return verbs::WrOpcode::rdma_write;
    case Verb::read: return verbs::WrOpcode::rdma_read;
    case Verb::atomic:
      return p.cmp_swap ? verbs::WrOpcode::atomic_cmp_swap : verbs::WrOpcode::atomic_fetch_add;
  }
  return verbs::WrOpcode::send;
}

// The loop state shared by the runs: progress watch, interrupt, errors.
struct Loop {
  Loop(Fabric& fabric, const RunParams& params) : f(fabric), p(params) {}
  Fabric& f;
  const RunParams& p;
  Clk::time_point last_progress = Clk::now();
  std::string error;

  void progressed() { last_progress = Clk::now(); }
  // False when the run must end: interrupted, stalled or failed.
  bool alive(Measure& m) {
    if (!error.empty()) return false;
    if (p.stop && p.stop()) {
      m.interrupted = true;
      return false;
    }
    if (Clk::now() - last_progress > p.stall_timeout) {
      error = "no progress for " + std::to_string(p.stall_timeout.count() / 1000) +
              " s: the peer stopped answering";
      return false;
    }
    return true;
  }
  // Completions of one QP's CQ; send completions counted in `sends`, receives in `recvs`.
  void reap(int qp, std::uint64_t& sends, std::uint64_t& recvs, Measure* m) {
    verbs::Cqe e[32];
    const std::size_t n = f.cq(qp).poll(e);
    for (std::size_t i = 0; i < n; ++i) {
      if (e[i].status != verbs::WcStatus::success) {
        error = "work completion with status " + std::string(verbs::to_string(e[i].status));
        return;
      }
      if (e[i].opcode == verbs::WcOpcode::recv) {
        ++recvs;
      } else if (e[i].wr_id != kCreditWrId) {
        ++sends;
        if (m != nullptr) m->completed.push_back(now_ns());
      }
      progressed();
    }
  }
  static constexpr std::uint64_t kCreditWrId = ~0ull;
};

roce::SendWr make_wr(const RunParams& p, Buffers& b, int qp_index, const Dest& peer,
                     std::uint64_t size) {
  roce::SendWr w;
  w.opcode = opcode_of(p);
  w.flags = verbs::kSignaled;
  w.num_sge = 1;
  const std::uint32_t len = p.verb == Verb::atomic ? 8u : static_cast<std::uint32_t>(size);
  w.sg[0] = {b.va(b.local(qp_index)), len, b.key()};
  w.remote_addr = peer.vaddr;
  w.rkey = peer.rkey;
  w.compare_add = p.cmp_swap ? 0 : 1;
  w.swap = 1;
  return w;
}

Result<void> post_recvs(Fabric& f, int qp, Buffers& b, int qi, std::uint64_t size, std::uint64_t n) {
  roce::RecvWr r;
  r.num_sge = 1;
  r.sg[0] = {b.va(b.local(qi)), static_cast<std::uint32_t>(std::max<std::uint64_t>(size, 1)), b.key()};
  for (std::uint64_t i = 0; i < n; ++i)
    if (auto x = f.post_recv(qp, r); !x) return x;
  return {};
}

// Write/Read/Atomic/Send bandwidth, the sending side.
Result<Measure> bw_client(Fabric& f, const std::vector<int>& qps, Buffers& b,
                          const std::vector<Dest>& peers, std::uint64_t size, const RunParams& p) {
  Measure m;
  m.size = size;
  Loop loop{f, p};
  const std::size_t nq = qps.size();
  std::vector<std::uint64_t> posted(nq, 0), done(nq, 0);
  const bool timed = p.duration > 0;
  const auto end = Clk::now() + std::chrono::duration_cast<Clk::duration>(std::chrono::duration<double>(p.duration));
  const std::uint64_t target = p.iters;
  m.posted.reserve(timed ? 1 << 16 : target * nq);
  m.completed.reserve(timed ? 1 << 16 : target * nq);
  for (;;) {
    bool more = false;
    for (std::size_t q = 0; q < nq; ++q) {
      auto want = [&] { return timed ? Clk::now() < end : posted[q] < target; };
      while (want() && posted[q] - done[q] < p.tx_depth) {
        if (p.credits) {
          std::uint32_t granted;
          std::memcpy(&granted, b.credit(static_cast<int>(q)), 4);
          if (posted[q] + 1 - granted >= std::min<std::uint64_t>(p.rx_depth, target)) break;
        }
        const auto w = make_wr(p, b, static_cast<int>(q), peers[q], size);
        m.posted.push_back(now_ns());
        if (auto r = f.post_send(qps[q], w); !r) return std::unexpected(r.error());
        ++posted[q];
      }
      if ((timed ? Clk::now() < end : posted[q] < target) || done[q] < posted[q]) more = true;
    }
    if (!more) break;
    f.poll();
    std::uint64_t recvs = 0;
    for (std::size_t q = 0; q < nq; ++q) loop.reap(qps[q], done[q], recvs, &m);
    if (!loop.alive(m)) break;
  }
  if (!loop.error.empty()) return make_error(Errc::io_error, loop.error);
  m.iters = m.completed.size();
  m.posted.resize(m.iters);
  return m;
}

// send_bw, the receiving side: every expected message has a receive; credits on iWARP.
Result<Measure> bw_server_send(Fabric& f, const std::vector<int>& qps, Buffers& b,
                               const std::vector<Dest>& peers, std::uint64_t size,
                               const RunParams& p) {
  Measure m;
  m.size = size;
  Loop loop{f, p};
  const std::size_t nq = qps.size();
  const std::uint64_t window = std::min<std::uint64_t>(p.rx_depth, p.iters);
  const std::uint64_t credit_every = std::max<std::uint64_t>(window / 3, 1);
  std::vector<std::uint64_t> recvd(nq, 0), posted(nq, window), sends(nq, 0);
  m.posted.reserve(p.iters * nq);
  m.completed.reserve(p.iters * nq);
  auto all_in = [&] {
    for (std::size_t q = 0; q < nq; ++q)
      if (recvd[q] < p.iters) return false;
    return true;
  };
  while (!all_in()) {
    f.poll();
    for (std::size_t q = 0; q < nq; ++q) {
      const std::uint64_t before = recvd[q];
      loop.reap(qps[q], sends[q], recvd[q], nullptr);
      for (std::uint64_t i = before; i < recvd[q]; ++i) {
        const auto t = now_ns();
        m.posted.push_back(m.posted.empty() ? t : m.completed.back());
        m.completed.push_back(t);
        if (posted[q] < p.iters) {
          if (auto r = post_recvs(f, qps[q], b, static_cast<int>(q), size, 1); !r)
            return std::unexpected(r.error());
          ++posted[q];
        }
        if (p.credits && (i + 1) % credit_every == 0) {
          const auto count = static_cast<std::uint32_t>(i + 1);
          std::memcpy(b.credit(static_cast<int>(q)), &count, 4);
          roce::SendWr w;
          w.wr_id = Loop::kCreditWrId;
          w.opcode = verbs::WrOpcode::rdma_write;
          w.flags = verbs::kSignaled;
          w.num_sge = 1;
          w.sg[0] = {b.va(b.credit(static_cast<int>(q))), 4, b.key()};
          w.remote_addr = peers[q].vaddr;
          w.rkey = peers[q].rkey;
          if (auto r = f.post_send(qps[q], w); !r) return std::unexpected(r.error());
        }
      }
    }
    if (!loop.alive(m)) break;
  }
  if (!loop.error.empty()) return make_error(Errc::io_error, loop.error);
  m.iters = m.completed.size();
  return m;
}

// One operation at a time (read_lat, atomic_lat): the client alone.
Result<Measure> lat_single(Fabric& f, int qp, Buffers& b, const Dest& peer, std::uint64_t size,
                           const RunParams& p) {
  Measure m;
  m.size = size;
  Loop loop{f, p};
  std::uint64_t done = 0, recvs = 0;
  const auto w = make_wr(p, b, 0, peer, size);
  for (std::uint64_t i = 0; i < p.iters; ++i) {
    m.posted.push_back(now_ns());
    if (auto r = f.post_send(qp, w); !r) return std::unexpected(r.error());
    while (done <= i) {
      f.poll();
      loop.reap(qp, done, recvs, &m);
      if (!loop.alive(m)) break;
    }
    if (done <= i) break;
  }
  if (!loop.error.empty()) return make_error(Errc::io_error, loop.error);
  m.iters = m.completed.size();
  m.posted.resize(m.iters);
  return m;
}

// Ping-pong (write_lat, send_lat); each side sends exactly iters. Who sends first is perftest's:
// the client in send_lat, the server in write_lat (its run_iter_lat_write skips the server's
// first wait, run_iter_lat_send the client's); with the other order both sides wait forever.
Result<Measure> lat_pingpong(Fabric& f, int qp, Buffers& b, const Dest& peer, std::uint64_t size,
                             const RunParams& p) {
  Measure m;
  m.size = size;
  Loop loop{f, p};
  const bool send = p.verb == Verb::send;
  std::uint64_t scnt = 0, rcnt = 0, ccnt = 0, recvs = 0;
  std::uint64_t recv_posted = send ? std::min<std::uint64_t>(p.rx_depth, p.iters) : 0;
  auto w = make_wr(p, b, 0, peer, size);
  const bool i_start = send ? p.client : !p.client;
  volatile std::byte* poll_byte = b.target(0) + size - 1;
  std::byte* post_byte = b.local(0) + size - 1;
  while (scnt < p.iters || ccnt < p.iters || rcnt < p.iters) {
    if (rcnt < p.iters && !(scnt == 0 && i_start)) {
      ++rcnt;
      for (;;) {
        if (send) {
          if (recvs >= rcnt) break;
        } else if (*poll_byte == static_cast<std::byte>(rcnt & 0xff)) {
          break;
        }
        f.poll();
        loop.reap(qp, ccnt, recvs, nullptr);
        if (!loop.alive(m)) break;
      }
      if (!loop.error.empty() || m.interrupted) break;
      if (send && recv_posted < p.iters) {
        if (auto r = post_recvs(f, qp, b, 0, size, 1); !r) return std::unexpected(r.error());
        ++recv_posted;
      }
    }
    if (scnt < p.iters) {
      m.posted.push_back(now_ns());
      *post_byte = static_cast<std::byte>(++scnt & 0xff);
      if (auto r = f.post_send(qp, w); !r) return std::unexpected(r.error());
    }
    // Completions of our own posts (polled without waiting for each one).
    f.poll();
    loop.reap(qp, ccnt, recvs, nullptr);
    if (!loop.alive(m)) break;
  }
  if (!loop.error.empty()) return make_error(Errc::io_error, loop.error);
  m.iters = m.interrupted ? m.posted.size() : p.iters;
  m.completed = m.posted;
  return m;
}

}  // namespace

Result<void> prepare_size(Fabric& f, const std::vector<int>& qps, Buffers& b, std::uint64_t size,
                          const RunParams& p) {
  if (p.verb != Verb::send || (p.test == Test::bw && p.client)) return {};
  const std::uint64_t window = std::min<std::uint64_t>(p.rx_depth, p.iters);
  for (std::size_t q = 0; q < qps.size(); ++q)
    if (auto r = post_recvs(f, qps[q], b, static_cast<int>(q), size, window); !r) return r;
  return {};
}

Result<void> Buffers::allocate(Fabric& f, int qps, std::uint64_t area) {
  qps_ = qps;
  area_ = (std::max<std::uint64_t>(area, kPage) + kPage - 1) / kPage * kPage;
  const std::uint64_t bytes = 2 * static_cast<std::uint64_t>(qps) * area_ + kPage;
  storage_.assign(bytes + kPage, std::byte{0});
  const auto raw = reinterpret_cast<std::uintptr_t>(storage_.data());
  base_ = storage_.data() + ((kPage - raw % kPage) % kPage);
  auto k = f.memory().register_mr(f.pd(), base_, bytes, va(base_),
                                  verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead |
                                      verbs::kRemoteAtomic);
  if (!k) return std::unexpected(k.error());
  key_ = *k;
  return {};
}

Result<Measure> run_size(Fabric& f, const std::vector<int>& qps, Buffers& b,
                         const std::vector<Dest>& peers, std::uint64_t size, const RunParams& p) {
  if (p.test == Test::bw) {
    if (p.client) return bw_client(f, qps, b, peers, size, p);
    if (p.verb == Verb::send) return bw_server_send(f, qps, b, peers, size, p);
    return Measure{size, 0, {}, {}, false};  // the passive side of Write/Read/Atomic
  }
  if (p.verb == Verb::write || p.verb == Verb::send)
    return lat_pingpong(f, qps[0], b, peers[0], size, p);
  if (!p.client) return Measure{size, 0, {}, {}, false};
  return lat_single(f, qps[0], b, peers[0], size, p);
}

BwReport bw_report(const Measure& m, std::uint32_t cq_mod, double format_factor) {
  BwReport r;
  r.size = m.size;
  r.iters = m.iters;
  if (m.iters == 0) return r;
  const double total_s = static_cast<double>(m.completed.back() - m.posted.front()) / 1e9;
  if (total_s <= 0) return r;
  const double bytes = static_cast<double>(m.size) * static_cast<double>(m.iters);
  r.bw_avg = bytes / total_s / format_factor;
  r.msg_rate = static_cast<double>(m.iters) / total_s / 1e6;
  // Peak: the best window of cq_mod consecutive operations, first post to last completion.
  const std::size_t w = std::max<std::size_t>(1, std::min<std::size_t>(cq_mod, m.iters));
  double best = 0;
  for (std::size_t i = 0; i + w <= m.iters; i += w) {
    const double s = static_cast<double>(m.completed[i + w - 1] - m.posted[i]) / 1e9;
    if (s > 0) best = std::max(best, static_cast<double>(m.size) * static_cast<double>(w) / s);
  }
  r.bw_peak = std::max(best / format_factor, r.bw_avg);
  return r;
}

LatStats lat_stats(const Measure& m, bool round_trip) {
  LatStats s;
  if (m.posted.size() < 2) return s;
  std::vector<double> d;
  const double div = (round_trip ? 2.0 : 1.0) * 1000.0;  // ns -> usec
  for (std::size_t i = 0; i + 1 < m.posted.size(); ++i)
    d.push_back(static_cast<double>(m.posted[i + 1] - m.posted[i]) / div);
  std::sort(d.begin(), d.end());
  // The two slowest samples are left out, as perftest does.
  std::size_t n = d.size() > 4 ? d.size() - 2 : d.size();
  s.t_min = d[0];
  s.t_max = d[std::min(n, d.size() - 1)];
  s.t_typical = (n - 1) % 2 != 0 && n >= 2 ? (d[n / 2] + d[n / 2 - 1]) / 2 : d[n / 2];
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += d[i];
  s.t_avg = sum / static_cast<double>(n);
  double var = 0;
  for (std::size_t i = 0; i < n; ++i) var += (d[i] - s.t_avg) * (d[i] - s.t_avg);
  s.t_stdev = std::sqrt(var / static_cast<double>(n));
  const auto at = [&](double q) {
    return d[std::min(d.size() - 1, static_cast<std::size_t>(std::ceil(static_cast<double>(n) * q)))];
  };
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  return s;
}

}  // namespace softrnic::cli::perftest
