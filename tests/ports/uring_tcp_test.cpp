// The io_uring TCP stream transport over the host's loopback (127.0.0.1 and ::1 only): connect and
// accept, bulk transfer both ways, many streams in one poll loop, backpressure, refused connects,
// orderly and abortive close, and destroying streams, listeners and the transport with I/O in
// flight. When io_uring is unavailable the tests skip with "SKIPPED: <reason>".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "uring/uring_tcp.hpp"
#include "wire/ip.hpp"

namespace softrnic {
// Readable failure messages: "peer_closed", not "1-byte object <02>".
inline void PrintTo(Stream::State s, std::ostream* os) {
  constexpr const char* kNames[] = {"connecting", "open", "peer_closed", "closed", "failed"};
  *os << kNames[static_cast<int>(s)];
}
}  // namespace softrnic

namespace softrnic::transport::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using State = Stream::State;
using namespace std::chrono_literals;

enum class Family { v4, v6 };
void PrintTo(Family f, std::ostream* os) { *os << (f == Family::v4 ? "IPv4" : "IPv6"); }

wire::Ipv6Addr loopback(Family f) {
  if (f == Family::v4) return wire::ipv4_mapped({127, 0, 0, 1});
  wire::Ipv6Addr a{};
  a[15] = 1;
  return a;
}

// Bytes that differ at every offset of a stream (splitmix64 of the 8-byte word index), so a byte
// lost, duplicated or moved shows.
std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t z = seed * 0x9e3779b97f4a7c15ULL + i / 8 + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) v[i + k] = std::byte(z >> (8 * k));
  }
  return v;
}

std::uint64_t fnv1a(std::span<const std::byte> b, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (std::byte x : b) h = (h ^ std::to_integer<std::uint64_t>(x)) * 0x100000001b3ULL;
  return h;
}

// One direction of a transfer: writes `data` into `from` as fast as it takes it, reads from `to`
// into `got`.
struct Flow {
  Stream* from = nullptr;
  Stream* to = nullptr;
  std::vector<std::byte> data;
  std::vector<std::byte> got;
  std::size_t sent = 0;
  std::size_t chunk = 64 << 10;

  Flow(Stream* f, Stream* t, std::size_t n, std::uint64_t seed)
      : from(f), to(t), data(pattern(n, seed)) {
    got.reserve(n);
  }
  void step() {
    if (sent < data.size())
      sent += from->write(std::span(data).subspan(sent, std::min(chunk, data.size() - sent)));
    std::byte buf[16 << 10];
    for (;;) {
      const std::size_t n = to->read(buf);
      if (n == 0) break;
      got.insert(got.end(), buf, buf + n);
    }
  }
  bool done() const { return got.size() >= data.size(); }
};

class UringTcp : public ::testing::TestWithParam<Family> {
 protected:
  void SetUp() override { make({}); }

  void make(UringTcpConfig cfg) {
    streams_.clear();
    transport_.reset();
    auto t = UringTcpTransport::create(cfg);
    if (!t) {
      if (t.error().code == Errc::unsupported) GTEST_SKIP() << "SKIPPED: " << t.error().message;
      FAIL() << t.error().to_string();
    }
    transport_ = std::move(*t);
  }

  StreamEndpoint any_port() const { return {loopback(GetParam()), 0}; }

  // Polls until pred() holds; false after `limit`.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      transport_->poll();
      ++polls_;
    }
    return true;
  }

  std::unique_ptr<StreamListener> listen() {
    auto l = transport_->listen(any_port());
    EXPECT_TRUE(l) << l.error().to_string();
    return l ? std::move(*l) : nullptr;
  }

  // A connected client and the server side of it, both open.
  std::pair<std::unique_ptr<Stream>, std::unique_ptr<Stream>> connected(StreamListener& l) {
    auto c = transport_->connect(l.local());
    EXPECT_TRUE(c) << c.error().to_string();
    if (!c) return {};
    std::unique_ptr<Stream> client = std::move(*c);
    std::unique_ptr<Stream> server;
    EXPECT_TRUE(run_until([&] {
      if (!server) server = l.accept();
      return server != nullptr && client->state() != State::connecting;
    }));
    EXPECT_EQ(client->state(), State::open) << client->error();
    return {std::move(client), std::move(server)};
  }

  void transfer(std::vector<Flow>& flows, std::chrono::milliseconds limit = 30s) {
    ASSERT_TRUE(run_until(
        [&] {
          bool all = true;
          for (Flow& f : flows) {
            f.step();
            all = all && f.done();
          }
          return all;
        },
        limit));
    for (const Flow& f : flows) {
      ASSERT_EQ(f.got.size(), f.data.size());
      EXPECT_EQ(fnv1a(f.got), fnv1a(f.data));
      EXPECT_TRUE(f.got == f.data);
    }
  }

  std::unique_ptr<UringTcpTransport> transport_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::size_t polls_ = 0;
};

TEST_P(UringTcp, ConnectAndAcceptAgreeOnEndpointsAndMss) {
  EXPECT_TRUE(transport_->uses_multishot_accept());
  auto l = listen();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->local().ip, loopback(GetParam()));
  EXPECT_NE(l->local().port, 0);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  EXPECT_EQ(server->state(), State::open);
  EXPECT_EQ(client->peer(), l->local());
  EXPECT_EQ(server->local(), l->local());
  EXPECT_EQ(server->peer(), client->local());
  EXPECT_EQ(client->local().ip, loopback(GetParam()));
  // Loopback's MTU is 64 KiB: an MSS between the RFC 1122 minimum and the IP maximum.
  for (Stream* s : {client.get(), server.get()}) {
    EXPECT_GE(s->mss(), 536u);
    EXPECT_LE(s->mss(), 65535u);
  }
  EXPECT_TRUE(client->error().empty());
  EXPECT_EQ(transport_->open_sockets(), 3u);
}

TEST_P(UringTcp, SingleShotAcceptServesOneConnectionAfterAnother) {
  UringTcpConfig cfg;
  cfg.multishot_accept = false;
  make(cfg);
  EXPECT_FALSE(transport_->uses_multishot_accept());
  auto l = listen();
  ASSERT_TRUE(l);
  for (int i = 0; i < 3; ++i) {
    auto [client, server] = connected(*l);
    ASSERT_TRUE(client && server);
    ASSERT_EQ(client->write(std::as_bytes(std::span("ping", 4))), 4u);
    ASSERT_TRUE(run_until([&] { return server->readable() == 4; }));
  }
  EXPECT_GE(transport_->counters().get(UringTcpCounter::accept_arms), 3u);
}

TEST_P(UringTcp, Transfers16MiBBothWaysIntact) {
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  std::vector<Flow> flows;
  flows.emplace_back(client.get(), server.get(), 16u << 20, 1);
  flows.emplace_back(server.get(), client.get(), 16u << 20, 2);
  transfer(flows);
  EXPECT_EQ(client->unsent(), 0u);
  const auto& c = transport_->counters();
  EXPECT_EQ(c.get(UringTcpCounter::send_bytes), 32u << 20);
  EXPECT_EQ(c.get(UringTcpCounter::recv_bytes), 32u << 20);
}

TEST_P(UringTcp, SixtyFourStreamsShareOnePollLoopAndOneSubmitPerPoll) {
  UringTcpConfig cfg;
  cfg.send_buffer_bytes = 128 << 10;
  cfg.recv_buffer_bytes = 64 << 10;
  make(cfg);
  auto l = listen();
  ASSERT_TRUE(l);
  constexpr int kStreams = 64;
  std::vector<std::unique_ptr<Stream>> clients, servers;
  for (int i = 0; i < kStreams; ++i) {
    auto c = transport_->connect(l->local());
    ASSERT_TRUE(c) << c.error().to_string();
    clients.push_back(std::move(*c));
  }
  ASSERT_TRUE(run_until([&] {
    while (auto s = l->accept()) servers.push_back(std::move(s));
    return servers.size() == kStreams;
  }));
  ASSERT_TRUE(run_until([&] {
    for (auto& c : clients)
      if (c->state() == State::connecting) return false;
    return true;
  }));
  // Accept order need not follow connect order: pair each server with its client by port.
  std::vector<Flow> flows;
  flows.reserve(2 * kStreams);
  for (int i = 0; i < kStreams; ++i) {
    Stream* server = nullptr;
    for (auto& s : servers)
      if (s->peer() == clients[i]->local()) server = s.get();
    ASSERT_NE(server, nullptr);
    flows.emplace_back(clients[i].get(), server, 512 << 10, 100 + i);
    flows.emplace_back(server, clients[i].get(), 256 << 10, 200 + i);
  }
  const std::uint64_t submits_before = transport_->counters().get(UringTcpCounter::submits);
  const std::size_t polls_before = polls_;
  transfer(flows);
  const std::uint64_t submits =
      transport_->counters().get(UringTcpCounter::submits) - submits_before;
  EXPECT_LE(submits, polls_ - polls_before) << "more than one io_uring_submit per poll()";
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::sq_full), 0u);
}

TEST_P(UringTcp, WriteReturnsZeroWhenTheSendBufferIsFullAndDataSurvivesDraining) {
  UringTcpConfig cfg;
  cfg.send_buffer_bytes = 64 << 10;
  cfg.recv_buffer_bytes = 64 << 10;
  cfg.socket_buffer_bytes = 64 << 10;  // small kernel buffers: the stall comes soon
  make(cfg);
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  Flow f(client.get(), server.get(), 32u << 20, 7);
  f.chunk = 10000;  // not a divisor of the buffer: partial writes show too
  // The server reads nothing: the client must stall with its send buffer full.
  int zero_rounds = 0;
  bool partial = false;
  ASSERT_TRUE(run_until([&] {
    const std::size_t want = std::min(f.chunk, f.data.size() - f.sent);
    const std::size_t n = client->write(std::span(f.data).subspan(f.sent, want));
    partial = partial || (n > 0 && n < want);
    f.sent += n;
    zero_rounds = n == 0 ? zero_rounds + 1 : 0;
    return zero_rounds >= 1000;
  }));
  EXPECT_EQ(client->unsent(), cfg.send_buffer_bytes);
  EXPECT_TRUE(partial);
  EXPECT_LT(f.sent, f.data.size()) << "the kernel took all 32 MiB without a reader";
  EXPECT_EQ(server->readable(), cfg.recv_buffer_bytes);
  // Now drain; everything written, stalled or not, arrives in order.
  std::vector<Flow> flows;
  flows.push_back(std::move(f));
  transfer(flows);
}

TEST_P(UringTcp, RefusedConnectFailsNamingTheEndpoint) {
  StreamEndpoint closed_port;
  {
    auto l = listen();  // a port nobody listens on once this listener is gone
    ASSERT_TRUE(l);
    closed_port = l->local();
  }
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 0; }));
  auto c = transport_->connect(closed_port);
  ASSERT_TRUE(c) << c.error().to_string();
  Stream& s = **c;
  EXPECT_EQ(s.state(), State::connecting);
  EXPECT_EQ(s.write(std::as_bytes(std::span("x", 1))), 0u);
  ASSERT_TRUE(run_until([&] { return s.state() != State::connecting; }));
  EXPECT_EQ(s.state(), State::failed);
  EXPECT_EQ(s.error(), "connect to " + to_string(closed_port) + ": Connection refused");
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::connect_failures), 1u);
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 0; }));
}

TEST_P(UringTcp, ConnectWithoutAnAddressOrPortIsRefusedAtOnce) {
  auto r = transport_->connect({loopback(GetParam()), 0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  r = transport_->connect({wire::Ipv6Addr{}, 5000});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_P(UringTcp, PeerCloseGivesPeerClosedAndTheRestStaysReadable) {
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  const auto data = pattern(300 << 10, 3);  // fits the server's 1 MiB receive buffer
  ASSERT_EQ(client->write(data), data.size());
  client->close();
  EXPECT_EQ(client->state(), State::closed);
  EXPECT_EQ(client->write(data), 0u);
  ASSERT_TRUE(run_until([&] { return server->state() == State::peer_closed; }));
  ASSERT_EQ(server->readable(), data.size());
  std::vector<std::byte> got(data.size());
  EXPECT_EQ(server->read(got), data.size());
  EXPECT_TRUE(got == data);
  EXPECT_EQ(server->read(got), 0u);
  EXPECT_EQ(server->state(), State::peer_closed);
  EXPECT_TRUE(server->error().empty());
  server->close();
  // FIN both ways: both sockets close the orderly way; the listener remains.
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 1; }));
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::orderly_closes), 2u);
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::aborts), 0u);
}

TEST_P(UringTcp, CloseSendsEverythingQueuedBeforeTheFinEvenAfterTheHandleIsGone) {
  UringTcpConfig cfg;
  cfg.recv_buffer_bytes = 64 << 10;  // far less than what is sent: the reader paces the sender
  make(cfg);
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  const auto data = pattern(4 << 20, 4);
  ASSERT_EQ(client->write(data), data.size());
  client->close();
  client.reset();  // the transport keeps sending on its own
  std::vector<std::byte> got;
  std::byte buf[8192];
  ASSERT_TRUE(run_until([&] {
    const std::size_t n = server->read(buf);
    got.insert(got.end(), buf, buf + n);
    return server->state() == State::peer_closed && server->readable() == 0;
  }));
  EXPECT_TRUE(got == data);
  server.reset();
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 1; }));
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::orderly_closes), 2u);
}

TEST_P(UringTcp, AbortResetsThePeer) {
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  const auto data = pattern(1000, 5);
  ASSERT_EQ(client->write(data), data.size());
  ASSERT_TRUE(run_until([&] { return server->readable() == data.size(); }));
  client->abort();
  EXPECT_EQ(client->state(), State::closed);
  EXPECT_EQ(client->unsent(), 0u);
  ASSERT_TRUE(run_until([&] { return server->state() != State::open; }));
  EXPECT_EQ(server->state(), State::failed);
  EXPECT_THAT(server->error(), StartsWith("recv from " + to_string(server->peer()) + ": "));
  EXPECT_THAT(server->error(), HasSubstr("Connection reset by peer"));
  EXPECT_EQ(server->readable(), data.size()) << "bytes received before the reset stay readable";
  EXPECT_EQ(server->write(data), 0u);
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 1; }));
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::stream_errors), 1u);
}

TEST_P(UringTcp, ClosedStreamGivesUpAfterLingerWhenThePeerNeverCloses) {
  UringTcpConfig cfg;
  cfg.linger_ms = 50;
  make(cfg);
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  client->close();
  ASSERT_TRUE(run_until([&] { return server->state() == State::peer_closed; }));
  // The server neither closes nor answers: the client's socket goes after linger_ms.
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 2; }, 2s));
  EXPECT_EQ(transport_->counters().get(UringTcpCounter::linger_timeouts), 1u);
}

TEST_P(UringTcp, DestroyingStreamsAndListenersWithIoInFlightIsSafe) {
  UringTcpConfig cfg;
  cfg.send_buffer_bytes = 1 << 20;
  cfg.recv_buffer_bytes = 64 << 10;
  cfg.linger_ms = 100;
  make(cfg);
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  // A stalled send and a posted receive on both sides.
  const auto data = pattern(1 << 20, 6);
  ASSERT_EQ(client->write(data), data.size());
  for (int i = 0; i < 50; ++i) transport_->poll();
  EXPECT_GT(transport_->in_flight(), 0u);
  client.reset();  // orderly close with bytes still queued
  server.reset();  // closes too, discarding what arrives
  // A connection that waits in the listener, one destroyed before its connect was submitted, and
  // one aborted the same way.
  auto waiting = transport_->connect(l->local());
  ASSERT_TRUE(waiting);
  for (int i = 0; i < 20; ++i) transport_->poll();
  auto unsubmitted = transport_->connect(l->local());
  ASSERT_TRUE(unsubmitted);
  unsubmitted->reset();
  auto aborted = transport_->connect(l->local());
  ASSERT_TRUE(aborted);
  (*aborted)->abort();
  l.reset();  // with its multishot accept armed and accepted sockets waiting
  waiting->reset();
  ASSERT_TRUE(run_until([&] { return transport_->open_sockets() == 0; }, 5s))
      << transport_->open_sockets() << " sockets still open";
  EXPECT_EQ(transport_->in_flight(), 0u);
}

TEST_P(UringTcp, DestroyingTheTransportWithIoInFlightLeavesHandlesFailedButUsable) {
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  const auto data = pattern(8 << 20, 8);
  std::size_t sent = 0;
  for (int i = 0; i < 200; ++i) {
    sent += client->write(std::span(data).subspan(sent));
    transport_->poll();
  }
  auto connecting = transport_->connect(l->local());
  ASSERT_TRUE(connecting);
  ASSERT_GT(server->readable(), 0u);
  const std::size_t readable = server->readable();
  transport_.reset();
  for (Stream* s : {client.get(), server.get(), connecting->get()}) {
    EXPECT_EQ(s->state(), State::failed);
    EXPECT_EQ(s->error(), "the transport was destroyed");
    EXPECT_EQ(s->write(data), 0u);
  }
  std::vector<std::byte> got(readable);
  EXPECT_EQ(server->read(got), readable);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), data.begin()));
  EXPECT_EQ(l->accept(), nullptr);
  client->close();
  server->abort();
  EXPECT_EQ(client->state(), State::closed);
}

TEST_P(UringTcp, ReportsLoopbackThroughputAndPingPongLatency) {
  auto l = listen();
  ASSERT_TRUE(l);
  auto [client, server] = connected(*l);
  ASSERT_TRUE(client && server);
  // Throughput: 256 MiB one way in 64 KiB writes.
  const auto chunk = pattern(64 << 10, 9);
  constexpr std::size_t kTotal = 256u << 20;
  std::size_t sent = 0, received = 0;
  std::vector<std::byte> sink(256 << 10);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] {
    if (sent < kTotal) {
      const std::size_t off = sent % chunk.size();
      sent +=
          client->write(std::span(chunk).subspan(off, std::min(chunk.size() - off, kTotal - sent)));
    }
    received += server->read(sink);
    return received == kTotal;
  }));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Latency: 64-byte ping-pong.
  constexpr int kRounds = 20000;
  std::array<std::byte, 64> msg{};
  std::array<std::byte, 64> in{};
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    ASSERT_EQ(client->write(msg), msg.size());
    std::size_t got = 0;
    ASSERT_TRUE(run_until([&] {
      got += server->read(std::span(in).subspan(got));
      return got == in.size();
    }));
    ASSERT_EQ(server->write(in), in.size());
    got = 0;
    ASSERT_TRUE(run_until([&] {
      got += client->read(std::span(in).subspan(got));
      return got == in.size();
    }));
  }
  const double rtt =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t1).count() /
      kRounds;
  std::printf("uring_tcp %s: %.2f Gbit/s one stream, 64 B ping-pong round trip %.1f us\n",
              GetParam() == Family::v4 ? "127.0.0.1" : "::1", kTotal * 8.0 / secs / 1e9, rtt);
}

INSTANTIATE_TEST_SUITE_P(Loopback, UringTcp, ::testing::Values(Family::v4, Family::v6),
                         [](const auto& info) {
                           return std::string(info.param == Family::v4 ? "IPv4" : "IPv6");
                         });

// Not parameterised: a listener on all zeros takes IPv4 and IPv6 connections (both to loopback).
TEST(UringTcpListener, AnyAddressAcceptsIpv4AndIpv6Peers) {
  auto t = UringTcpTransport::create();
  if (!t) GTEST_SKIP() << "SKIPPED: " << t.error().message;
  auto l = (*t)->listen({wire::Ipv6Addr{}, 0});
  ASSERT_TRUE(l) << l.error().to_string();
  const std::uint16_t port = (*l)->local().port;
  std::vector<std::unique_ptr<Stream>> clients, servers;
  for (Family f : {Family::v4, Family::v6}) {
    auto c = (*t)->connect({loopback(f), port});
    ASSERT_TRUE(c) << c.error().to_string();
    clients.push_back(std::move(*c));
  }
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (servers.size() < 2 && std::chrono::steady_clock::now() < end) {
    (*t)->poll();
    while (auto s = (*l)->accept()) servers.push_back(std::move(s));
  }
  ASSERT_EQ(servers.size(), 2u);
  std::vector<wire::Ipv6Addr> peers{servers[0]->peer().ip, servers[1]->peer().ip};
  EXPECT_THAT(peers, ::testing::UnorderedElementsAre(loopback(Family::v4), loopback(Family::v6)));
}

TEST(StreamEndpointText, Ipv4AsDottedQuadAndIpv6InBrackets) {
  EXPECT_EQ(to_string(StreamEndpoint{wire::ipv4_mapped({198, 18, 0, 2}), 4791}), "198.18.0.2:4791");
  EXPECT_EQ(to_string(StreamEndpoint{loopback(Family::v6), 5000}), "[::1]:5000");
  EXPECT_EQ(to_string(StreamEndpoint{}), "[::]:0");
}

}  // namespace
}  // namespace softrnic::transport::test
