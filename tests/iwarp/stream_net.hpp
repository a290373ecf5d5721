// An in-memory StreamTransport for iWARP engine tests: every device gets its own address on one
// shared "network"; connect() to a listening endpoint makes a StreamPair (split-at-any-byte reads
// when configured) and queues the far end on the listener; connecting to nobody fails as TCP's
// refusal does. A hook may wrap each new stream (fault injection).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>

#include "engine/stream.hpp"
#include "loopback/stream_pair.hpp"

namespace softrnic::iwarp::test {

// A stream that passes every call to the one it wraps: tests that alter one direction (StreamNet's
// wrap hook) override only what they change.
class ForwardingStream : public Stream {
 public:
  explicit ForwardingStream(std::unique_ptr<Stream> s) : s_(std::move(s)) {}
  std::size_t write(ConstByteSpan d) override { return s_->write(d); }
  std::size_t read(ByteSpan o) override { return s_->read(o); }
  std::size_t readable() const override { return s_->readable(); }
  std::size_t unsent() const override { return s_->unsent(); }
  State state() const override { return s_->state(); }
  std::string error() const override { return s_->error(); }
  StreamFailure failure() const override { return s_->failure(); }
  void close() override { s_->close(); }
  void abort() override { s_->abort(); }
  StreamEndpoint local() const override { return s_->local(); }
  StreamEndpoint peer() const override { return s_->peer(); }
  std::uint32_t mss() const override { return s_->mss(); }
  Stream& inner() { return *s_; }

 protected:
  std::unique_ptr<Stream> s_;
};

class StreamNet {
 public:
  explicit StreamNet(transport::StreamPairConfig cfg = {}) : cfg_(cfg) {}

  class Endpoint final : public StreamTransport {
   public:
    Endpoint(StreamNet& net, wire::Ipv6Addr ip) : net_(net), ip_(ip) {}

    Result<std::unique_ptr<StreamListener>> listen(const StreamEndpoint& local) override {
      const StreamEndpoint ep{local.ip == wire::Ipv6Addr{} ? ip_ : local.ip, local.port};
      if (net_.listeners_.contains(key(ep))) return make_error(Errc::busy, "address in use: " + to_string(ep));
      auto l = std::make_unique<Listener>(net_, ep);
      net_.listeners_[key(ep)] = l.get();
      return std::unique_ptr<StreamListener>(std::move(l));
    }
    Result<std::unique_ptr<Stream>> connect(const StreamEndpoint& remote, const StreamEndpoint&) override {
      auto it = net_.listeners_.find(key(remote));
      if (it == net_.listeners_.end()) return std::unique_ptr<Stream>(std::make_unique<Refused>(remote));
      auto cfg = net_.cfg_;
      cfg.a_endpoint = {ip_, net_.next_port_++};
      cfg.b_endpoint = remote;
      cfg.seed = cfg.seed ? cfg.seed + net_.next_port_ : 0;
      auto pair = transport::make_stream_pair(cfg);
      if (!pair) return std::unexpected(pair.error());
      std::unique_ptr<Stream> a = std::move(pair->a), b = std::move(pair->b);
      net_.pairs_.push_back(std::move(*pair));
      if (net_.wrap) {
        a = net_.wrap(std::move(a), true);
        b = net_.wrap(std::move(b), false);
      }
      it->second->queue.push_back(std::move(b));
      return a;
    }
    std::size_t poll() override { return 0; }

   private:
    StreamNet& net_;
    wire::Ipv6Addr ip_;
  };

  // Wraps every new stream (active: the connecting side).
  std::function<std::unique_ptr<Stream>(std::unique_ptr<Stream>, bool active)> wrap;
  std::vector<transport::StreamPair> pairs_;  // for inject_* in tests

 private:
  using Key = std::pair<wire::Ipv6Addr, std::uint16_t>;
  static Key key(const StreamEndpoint& e) { return {e.ip, e.port}; }

  class Listener final : public StreamListener {
   public:
    Listener(StreamNet& net, StreamEndpoint ep) : net_(net), ep_(ep) {}
    ~Listener() override { net_.listeners_.erase(key(ep_)); }
    std::unique_ptr<Stream> accept() override {
      if (queue.empty()) return nullptr;
      auto s = std::move(queue.front());
      queue.pop_front();
      return s;
    }
    StreamEndpoint local() const override { return ep_; }
    std::deque<std::unique_ptr<Stream>> queue;

   private:
    StreamNet& net_;
    StreamEndpoint ep_;
  };

  class Refused final : public Stream {
   public:
    explicit Refused(StreamEndpoint to) : to_(to) {}
    std::size_t write(ConstByteSpan) override { return 0; }
    std::size_t read(ByteSpan) override { return 0; }
    std::size_t readable() const override { return 0; }
    std::size_t unsent() const override { return 0; }
    State state() const override { return State::failed; }
    std::string error() const override { return "connect to " + to_string(to_) + ": Connection refused"; }
    StreamFailure failure() const override { return StreamFailure::refused; }
    void close() override {}
    void abort() override {}
    StreamEndpoint local() const override { return {}; }
    StreamEndpoint peer() const override { return to_; }
    std::uint32_t mss() const override { return 1460; }

   private:
    StreamEndpoint to_;
  };

  transport::StreamPairConfig cfg_;
  std::map<Key, Listener*> listeners_;
  std::uint16_t next_port_ = 40000;
};

}  // namespace softrnic::iwarp::test
