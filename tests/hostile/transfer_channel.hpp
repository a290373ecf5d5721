// One connection of the hostile-peer test carrying a transfer with every byte checked, the same for
// RoCEv2 (roce::Device, connected through the CM) and iWARP (iwarp::Device): both take the same
// verbs objects and work requests.
//
// Iteration i, driven by the client:
//   1. RDMA WRITE of `size` pattern bytes (seeded by i) into the server's region;
//   2. SEND of a header (i, seed, size) and a pattern payload of its own;
//   3. the server checks the region and the payload, and SENDs back a verdict;
//   4. RDMA READ of the region into a cleared buffer, checked against the pattern.
// A `done` message ends the channel: the server answers it with a verdict of its own, so the
// client knows everything before it arrived. Any completion in error, any byte out of place, a
// wrong verdict or 30 s without an iteration is a problem; the process then fails.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "roce/wr.hpp"
#include "verbs/cq.hpp"
#include "verbs/memory.hpp"
#include "verbs/types.hpp"

namespace softrnic::hostile {

using Clk = std::chrono::steady_clock;

inline constexpr std::uint32_t kRegion = 256u << 10;  // the largest WRITE / READ
inline constexpr std::uint32_t kHeader = 24;
inline constexpr std::uint32_t kMaxExtra = 4000;  // SEND payload after the header
inline constexpr std::uint32_t kSlot = kHeader + kMaxExtra;
inline constexpr std::uint32_t kRecvSlots = 8;
inline constexpr std::uint32_t kMagic = 0x48535431;  // "HST1"
inline constexpr std::uint32_t kSizes[] = {1, 777, 4096, 65536, kRegion, 12345, 100000};
inline constexpr auto kStall = std::chrono::seconds(30);

enum class Kind : std::uint32_t { data = 1, done = 2, verdict = 3 };

inline void fill_pattern(std::byte* p, std::size_t n, std::uint32_t seed) {
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    p[i] = std::byte(x >> 24);
  }
}

inline bool matches_pattern(const std::byte* p, std::size_t n, std::uint32_t seed) {
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    if (p[i] != std::byte(x >> 24)) return false;
  }
  return true;
}

struct Header {
  Kind kind = Kind::data;
  std::uint32_t iteration = 0, seed = 0, size = 0, extra = 0, ok = 0;

  void store(std::byte* p) const {
    const std::uint32_t w[6] = {
        kMagic, static_cast<std::uint32_t>(kind), iteration, seed, size, extra ^ (ok << 31)};
    std::memcpy(p, w, sizeof w);
  }
  static bool load(const std::byte* p, std::uint32_t len, Header& h) {
    if (len < kHeader) return false;
    std::uint32_t w[6];
    std::memcpy(w, p, sizeof w);
    if (w[0] != kMagic || w[1] < 1 || w[1] > 3) return false;
    h.kind = static_cast<Kind>(w[1]);
    h.iteration = w[2];
    h.seed = w[3];
    h.size = w[4];
    h.extra = w[5] & 0x7fffffff;
    h.ok = w[5] >> 31;
    return true;
  }
};

// Dev: roce::Device or iwarp::Device; QpT: its QP type.
template <class Dev, class QpT>
class Channel {
 public:
  Channel(std::string name, Dev& dev, verbs::PdHandle pd, bool server, std::uint32_t salt)
      : name_(std::move(name)), dev_(dev), pd_(pd), server_(server), salt_(salt) {}

  // The CQ, the QP and the buffers. False with problem() set on failure.
  bool init(std::uint32_t sq_depth) {
    auto cq = dev_.create_cq(256);
    if (!cq) return fail("create_cq: " + cq.error().message);
    cq_ = *cq;
    roce::QpInit init;
    init.pd = pd_;
    init.send_cq = init.recv_cq = cq_;
    init.sq_depth = init.rq_depth = sq_depth;
    auto qp = dev_.create_qp(init);
    if (!qp) return fail("create_qp: " + qp.error().message);
    qp_ = *qp;
    // Every remote right, atomics included: only the protection domain and the bounds stand
    // between the region and a peer that has its key (insider.hpp).
    const auto remote = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead |
                        verbs::kRemoteAtomic | verbs::kZeroBased;
    region_.resize(kRegion);
    back_.resize(server_ ? 0 : kRegion);
    rx_.resize(kRecvSlots * kSlot);
    tx_.resize(kSlot);
    region_key_ = reg(region_, server_ ? remote : verbs::kLocalWrite | verbs::kZeroBased);
    if (!server_) back_key_ = reg(back_, verbs::kLocalWrite | verbs::kZeroBased);
    rx_key_ = reg(rx_, verbs::kLocalWrite | verbs::kZeroBased);
    tx_key_ = reg(tx_, verbs::kZeroBased);
    return problem_.empty();
  }
  // The receives, once the QP has left RESET: after accept() on the server, at `established` on
  // the client (the server sends nothing before the client's first message).
  bool post_receives() {
    for (std::uint32_t s = 0; s < kRecvSlots; ++s)
      if (!post_recv(s)) return false;
    return true;
  }

  QpT& qp() { return *qp_; }
  const std::string& name() const { return name_; }
  const std::string& problem() const { return problem_; }
  std::uint64_t iterations() const { return iterations_; }
  bool finished() const { return finished_; }
  bool done_received() const { return done_received_; }
  std::uint32_t region_key() const { return region_key_; }

  // Connection events, from the CM's or the iWARP device's handler.
  void established(std::uint32_t peer_rkey) {
    peer_rkey_ = peer_rkey;
    connected_ = true;
    if (!server_) (void)post_receives();
    last_progress_ = Clk::now();
  }
  void disconnected() { disconnected_ = true; }
  void lost(const std::string& what) {
    if (!closing_) (void)fail(what);
  }
  bool connected() const { return connected_; }
  bool is_disconnected() const { return disconnected_; }
  // The client finishes: no new iteration; `done` goes out once the current one is through.
  void stop() { stopping_ = true; }
  // After the last message: completions in error (flushes) are no longer problems.
  void closing() { closing_ = true; }

  // One turn: completions, then the next step of the client's iteration. Returns work done.
  std::size_t step() {
    std::array<verbs::Cqe, 32> c;
    const std::size_t n = cq_->poll(c);
    for (std::size_t i = 0; i < n; ++i) on_completion(c[i]);
    if (!server_ && connected_ && problem_.empty()) client_step();
    return n;
  }

 private:
  enum WrId : std::uint64_t { kWrite = 1, kSend = 2, kRead = 3, kReply = 4, kRecvBase = 100 };
  enum class State { idle, writing, reading, done_sent, finished };

  bool fail(const std::string& what) {
    if (problem_.empty()) problem_ = name_ + ": " + what;
    return false;
  }
  std::uint32_t reg(std::vector<std::byte>& b, std::uint32_t access) {
    auto k = dev_.memory().register_mr(pd_, b.data(), b.size(), 0, access);
    if (!k) {
      (void)fail("register_mr: " + k.error().message);
      return 0;
    }
    return *k;
  }
  bool post_recv(std::uint32_t slot) {
    roce::RecvWr r;
    r.wr_id = kRecvBase + slot;
    r.num_sge = 1;
    r.sg[0] = {std::uint64_t{slot} * kSlot, kSlot, rx_key_};
    if (auto p = dev_.post_recv(*qp_, r); !p) return fail("post_recv: " + p.error().message);
    return true;
  }
  bool post(verbs::WrOpcode op, std::uint64_t id, std::uint32_t lkey, std::uint32_t len,
            std::uint64_t remote = 0) {
    roce::SendWr w;
    w.wr_id = id;
    w.opcode = op;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {0, len, lkey};
    w.rkey = peer_rkey_;
    w.remote_addr = remote;
    if (auto p = dev_.post_send(*qp_, w); !p) return fail("post_send: " + p.error().message);
    return true;
  }
  bool send_header(const Header& h, std::uint64_t id, std::uint32_t extra_seed) {
    h.store(tx_.data());
    fill_pattern(tx_.data() + kHeader, h.extra, extra_seed);
    return post(verbs::WrOpcode::send, id, tx_key_, kHeader + h.extra);
  }

  void on_completion(const verbs::Cqe& c) {
    if (c.status != verbs::WcStatus::success) {
      if (!closing_)
        (void)fail("completion of wr " + std::to_string(c.wr_id) + ": " +
                   std::string(verbs::to_string(c.status)));
      return;
    }
    if (c.opcode != verbs::WcOpcode::recv) {
      if (c.wr_id == kWrite) write_done_ = true;
      if (c.wr_id == kSend) send_done_ = true;
      if (c.wr_id == kRead) read_done_ = true;
      return;
    }
    const auto slot = static_cast<std::uint32_t>(c.wr_id - kRecvBase);
    const std::byte* m = rx_.data() + std::size_t{slot} * kSlot;
    Header h;
    if (!Header::load(m, c.byte_len, h)) {
      (void)fail("a message of " + std::to_string(c.byte_len) + " bytes with no valid header");
    } else if (server_) {
      serve(h, m, c.byte_len);
    } else if (h.kind != Kind::verdict || !h.ok) {
      (void)fail("verdict " + std::to_string(h.ok) + " for iteration " +
                 std::to_string(h.iteration));
    } else {
      verdict_ = h.iteration;
      have_verdict_ = true;
    }
    (void)post_recv(slot);
  }

  // Server: check what the client wrote and sent, answer with a verdict.
  void serve(const Header& h, const std::byte* m, std::uint32_t len) {
    Header v;
    v.kind = Kind::verdict;
    v.iteration = h.iteration;
    if (h.kind == Kind::done) {
      done_received_ = true;
      v.ok = 1;
    } else if (h.kind != Kind::data || h.size > kRegion || h.extra > kMaxExtra ||
               len != kHeader + h.extra) {
      (void)fail("a data message that does not add up");
    } else if (!matches_pattern(m + kHeader, h.extra, h.seed ^ 0x5a5a5a5a)) {
      (void)fail("SEND payload of iteration " + std::to_string(h.iteration) + " differs");
    } else if (!matches_pattern(region_.data(), h.size, h.seed)) {
      (void)fail("RDMA WRITE of iteration " + std::to_string(h.iteration) + " (" +
                 std::to_string(h.size) + " bytes) differs");
    } else {
      v.ok = 1;
      ++iterations_;
    }
    (void)send_header(v, kReply, 0);
  }

  // Client: one iteration at a time.
  void client_step() {
    const auto now = Clk::now();
    switch (state_) {
      case State::idle: {
        if (stopping_) {
          Header d;
          d.kind = Kind::done;
          d.iteration = next_;
          have_verdict_ = send_done_ = false;
          if (send_header(d, kSend, 0)) state_ = State::done_sent;
          return;
        }
        if (now - last_progress_ > kStall) {
          (void)fail("no iteration completed in 30 s");
          return;
        }
        cur_.kind = Kind::data;
        cur_.iteration = next_;
        cur_.seed = next_ * 0x9e3779b9u ^ salt_;
        cur_.size = kSizes[next_ % std::size(kSizes)];
        cur_.extra = (next_ * 997u) % kMaxExtra;
        fill_pattern(region_.data(), cur_.size, cur_.seed);
        write_done_ = send_done_ = read_done_ = have_verdict_ = false;
        if (post(verbs::WrOpcode::rdma_write, kWrite, region_key_, cur_.size) &&
            send_header(cur_, kSend, cur_.seed ^ 0x5a5a5a5a))
          state_ = State::writing;
        return;
      }
      case State::writing:
        if (!write_done_ || !send_done_ || !have_verdict_) break;
        if (verdict_ != cur_.iteration) {
          (void)fail("verdict for iteration " + std::to_string(verdict_) + " during " +
                     std::to_string(cur_.iteration));
          return;
        }
        std::fill_n(back_.data(), cur_.size, std::byte{0xee});
        if (post(verbs::WrOpcode::rdma_read, kRead, back_key_, cur_.size)) state_ = State::reading;
        return;
      case State::reading:
        if (!read_done_) break;
        if (!matches_pattern(back_.data(), cur_.size, cur_.seed)) {
          (void)fail("RDMA READ of iteration " + std::to_string(cur_.iteration) + " (" +
                     std::to_string(cur_.size) + " bytes) came back different");
          return;
        }
        ++iterations_;
        ++next_;
        last_progress_ = now;
        state_ = State::idle;
        return;
      case State::done_sent:
        if (send_done_ && have_verdict_) {
          state_ = State::finished;
          finished_ = true;
        }
        break;
      case State::finished:
        break;
    }
    if (state_ != State::finished && now - last_progress_ > kStall)
      (void)fail("an iteration stalled for 30 s");
  }

  std::string name_;
  Dev& dev_;
  verbs::PdHandle pd_;
  bool server_;
  std::uint32_t salt_;
  verbs::Cq* cq_ = nullptr;
  QpT* qp_ = nullptr;
  std::vector<std::byte> region_, back_, rx_, tx_;
  std::uint32_t region_key_ = 0, back_key_ = 0, rx_key_ = 0, tx_key_ = 0, peer_rkey_ = 0;
  bool connected_ = false, disconnected_ = false, stopping_ = false, closing_ = false;
  bool finished_ = false, done_received_ = false;
  State state_ = State::idle;
  Header cur_;
  std::uint32_t next_ = 0, verdict_ = 0;
  bool write_done_ = false, send_done_ = false, read_done_ = false, have_verdict_ = false;
  std::uint64_t iterations_ = 0;
  Clk::time_point last_progress_ = Clk::now();
  std::string problem_;
};

}  // namespace softrnic::hostile
