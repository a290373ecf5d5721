#include "loopback/stream_pair.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <string>

#include "stream/byte_ring.hpp"

namespace softrnic::transport {

using S = Stream::State;

struct StreamPair::Link {
  struct End {
    End(std::size_t send, std::size_t recv) : tx(send), rx(recv) {}
    ByteRing tx;
    ByteRing rx;
    S state = S::open;
    std::string error;
    StreamFailure failure = StreamFailure::none;
    StreamEndpoint local;
    StreamEndpoint peer;
    bool fin_queued = false;  // FIN follows the last byte of tx
    bool eof = false;         // the peer's FIN has arrived
    std::uint64_t moved = 0;  // bytes this end's tx delivered to the peer's rx
  };

  explicit Link(const StreamPairConfig& c)
      : config(c),
        ends{End(c.send_buffer_bytes, c.recv_buffer_bytes),
             End(c.send_buffer_bytes, c.recv_buffer_bytes)},
        rng(c.seed) {
    ends[0].local = ends[1].peer = c.a_endpoint;
    ends[1].local = ends[0].peer = c.b_endpoint;
  }

  static bool connected(S s) { return s == S::open || s == S::peer_closed; }

  // Moves what fits from ends[from].tx to the other end's rx, then the FIN once tx is empty.
  void transfer(std::size_t from) {
    End& s = ends[from];
    End& d = ends[1 - from];
    if (!connected(d.state)) {
      s.tx.clear();  // a closed end drops what arrives; a failed connection carries nothing
    } else {
      while (!s.tx.empty() && d.rx.space() > 0) {
        const ByteRing::Pieces from_piece = s.tx.data();
        const std::size_t n = d.rx.push(from_piece.first);
        s.tx.drop(n);
        s.moved += n;
      }
    }
    if (s.fin_queued && s.tx.empty() && !d.eof) {
      d.eof = true;
      if (d.state == S::open) d.state = S::peer_closed;
    }
  }
  void pump() {
    transfer(0);
    transfer(1);
  }

  void fail_with_reset(std::size_t i) {
    End& e = ends[i];
    if (!connected(e.state)) return;
    e.state = S::failed;
    e.error = "recv from " + to_string(e.peer) + ": " + std::strerror(ECONNRESET);
    e.failure = StreamFailure::reset;
    e.tx.clear();
  }

  void close(std::size_t i) {
    End& e = ends[i];
    if (connected(e.state)) e.fin_queued = true;
    e.state = S::closed;
    e.rx.clear();
    pump();
  }
  void abort(std::size_t i) {
    End& e = ends[i];
    const bool was_connected = connected(e.state);
    e.state = S::closed;
    e.tx.clear();
    e.rx.clear();
    if (was_connected) fail_with_reset(1 - i);
  }

  std::size_t read_limit(std::size_t want) {
    if (config.max_read == 0) return want;
    std::size_t limit = config.max_read;
    if (config.seed != 0) limit = 1 + static_cast<std::size_t>(rng() % config.max_read);
    return std::min(want, limit);
  }

  StreamPairConfig config;
  std::array<End, 2> ends;
  std::mt19937_64 rng;
};

namespace {

class PairStream final : public Stream {
 public:
  PairStream(std::shared_ptr<StreamPair::Link> link, std::size_t i)
      : link_(std::move(link)), i_(i) {}
  PairStream(const PairStream&) = delete;
  PairStream& operator=(const PairStream&) = delete;
  ~PairStream() override {
    if (end().state != S::closed) link_->close(i_);
  }

  std::size_t write(ConstByteSpan data) override {
    if (end().state != S::open || end().fin_queued) return 0;
    // What the peer's receive buffer frees up is room again at once, as the network would make it.
    std::size_t n = 0;
    for (std::size_t k; (k = end().tx.push(data.subspan(n))) > 0;) {
      n += k;
      link_->pump();
    }
    return n;
  }
  std::size_t read(ByteSpan out) override {
    link_->pump();
    if (end().state == S::closed) return 0;
    const std::size_t n = end().rx.pop(out.first(link_->read_limit(out.size())));
    link_->pump();  // the room just made lets the peer's queued bytes in
    return n;
  }
  std::size_t readable() const override {
    link_->pump();
    return end().state == S::closed ? 0 : end().rx.size();
  }
  std::size_t unsent() const override {
    link_->pump();
    return end().tx.size();
  }
  State state() const override {
    link_->pump();
    return end().state;
  }
  std::string error() const override { return end().error; }
  StreamFailure failure() const override { return end().failure; }
  void close() override { link_->close(i_); }
  void abort() override { link_->abort(i_); }
  StreamEndpoint local() const override { return end().local; }
  StreamEndpoint peer() const override { return end().peer; }
  std::uint32_t mss() const override { return link_->config.mss; }

 private:
  StreamPair::Link::End& end() const { return link_->ends[i_]; }

  std::shared_ptr<StreamPair::Link> link_;
  std::size_t i_;
};

std::size_t index(StreamSide s) { return s == StreamSide::a ? 0 : 1; }

}  // namespace

void StreamPair::inject_reset(StreamSide from) {
  const std::size_t i = index(from);
  Link::End& e = link->ends[i];
  const bool was_connected = Link::connected(e.state) && Link::connected(link->ends[1 - i].state);
  if (Link::connected(e.state)) {
    e.state = S::failed;
    e.error = "connection to " + to_string(e.peer) + ": reset injected";
    e.failure = StreamFailure::reset;
    e.tx.clear();
  }
  if (was_connected) link->fail_with_reset(1 - i);
}

void StreamPair::inject_fin(StreamSide from) {
  Link::End& e = link->ends[index(from)];
  if (!Link::connected(e.state)) return;
  e.fin_queued = true;
  link->pump();
}

std::uint64_t StreamPair::moved(StreamSide from) const { return link->ends[index(from)].moved; }

Result<StreamPair> make_stream_pair(const StreamPairConfig& config) {
  if (config.send_buffer_bytes == 0 || config.recv_buffer_bytes == 0)
    return make_error(Errc::invalid_argument, "stream pair buffers must hold at least one byte");
  StreamPair p;
  p.link = std::make_shared<StreamPair::Link>(config);
  p.a = std::make_unique<PairStream>(p.link, 0);
  p.b = std::make_unique<PairStream>(p.link, 1);
  return p;
}

}  // namespace softrnic::transport
