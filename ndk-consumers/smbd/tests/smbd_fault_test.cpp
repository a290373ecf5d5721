// The SMB-Direct-like consumer facing a bad or silent peer: keep-alives answered and unanswered,
// malformed data transfer messages, and a request the server refuses.
#include <chrono>
#include <vector>

#include "smbd/wire.hpp"
#include "smbd_fixture.hpp"

namespace smbd::test {
namespace {

class SmbdPeer : public ::testing::TestWithParam<std::tuple<Transport, ULONG>> {
 protected:
  static void SetUpTestSuite() { use_devices(); }
  const Transport& transport() const { return std::get<0>(GetParam()); }
  Config config() const {
    Config c;
    c.async_mode = std::get<1>(GetParam());
    return c;
  }
  void TearDown() override { EXPECT_EQ(objects_open_in_process(), 0u); }
};

TEST_P(SmbdPeer, AnIdleConnectionSendsKeepalivesThatThePeerAnswers) {
  Config c = config();
  c.keepalive_interval = std::chrono::milliseconds(40);
  c.keepalive_timeout = std::chrono::milliseconds(2000);
  Pair p(transport(), config(), c);
  ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
  EXPECT_TRUE(p.client->stay_idle(std::chrono::milliseconds(400)).ok());
  const Counters cc = p.client->info().counters, sc = p.server->info(0).counters;
  EXPECT_GE(cc.keepalives_sent, 3u);
  EXPECT_GE(sc.keepalives_answered, cc.keepalives_sent - 1);
  EXPECT_FALSE(p.server->info(0).down);
  const std::byte b[4] = {};
  EXPECT_TRUE(p.client->echo(b).ok());
  p.close_and_check();
}

TEST_P(SmbdPeer, AKeepaliveThatIsNeverAnsweredEndsTheConnectionWithATimeout) {
  Config s = config();
  s.ignore_keepalives = true;
  Config c = config();
  c.keepalive_interval = std::chrono::milliseconds(30);
  c.keepalive_timeout = std::chrono::milliseconds(150);
  Pair p(transport(), s, c);
  ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
  const Failure f = p.client->stay_idle(std::chrono::milliseconds(5000));
  EXPECT_EQ(f.status, STATUS_IO_TIMEOUT) << f.message;
  EXPECT_GE(p.client->info().counters.keepalives_sent, 1u);
  EXPECT_TRUE(p.server->wait_down(0, std::chrono::milliseconds(5000)));
  EXPECT_EQ(p.server->info(0).failure.status, STATUS_CONNECTION_DISCONNECTED);
  p.close_and_check();
}

// A data transfer message with the given header and `data_bytes` bytes after it.
std::vector<std::byte> message(const wire::DataTransfer& h, std::size_t data_bytes) {
  std::vector<std::byte> m(wire::DataTransfer::kDataOffset + data_bytes, std::byte{0x5a});
  wire::encode(h, m);
  return m;
}

TEST_P(SmbdPeer, AMalformedDataTransferMessageDisconnectsWithInvalidNetworkResponse) {
  struct Case {
    const char* what;
    wire::DataTransfer h;
    std::size_t data_bytes;
  };
  wire::DataTransfer base;
  base.credits_requested = 255;
  base.data_offset = 24;
  base.data_length = 32;
  std::vector<Case> cases;
  Case misaligned{"DataOffset 20", base, 36};
  misaligned.h.data_offset = 20;
  cases.push_back(misaligned);
  Case beyond{"DataLength beyond the message", base, 32};
  beyond.h.data_length = 64;
  cases.push_back(beyond);
  Case too_long{"RemainingDataLength beyond MaxFragmentedSize", base, 32};
  too_long.h.remaining_data_length = 1u << 20;
  cases.push_back(too_long);
  Case no_credits{"CreditsRequested 0", base, 32};
  no_credits.h.credits_requested = 0;
  cases.push_back(no_credits);
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Pair p(transport(), config(), config());
    ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
    ASSERT_TRUE(p.client->send_raw_for_test(message(k.h, k.data_bytes)).ok());
    ASSERT_TRUE(p.server->wait_down(0, std::chrono::milliseconds(5000)));
    const ConnectionInfo si = p.server->info(0);
    EXPECT_EQ(si.failure.status, kStatusInvalidNetworkResponse) << si.failure.message;
    const Failure f = p.client->stay_idle(std::chrono::milliseconds(5000));
    EXPECT_EQ(f.status, STATUS_CONNECTION_DISCONNECTED) << f.message;
    p.close_and_check();
  }
}

TEST_P(SmbdPeer, ARequestTheServerRefusesFailsAloneAndTheConnectionStaysUp) {
  Pair p(transport(), config(), config(), 1 << 20);
  ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
  std::vector<std::byte> big(256 << 10), small(100);
  EXPECT_EQ(p.client->write((1 << 20) - 1000, big).status, STATUS_INVALID_PARAMETER);
  EXPECT_EQ(p.client->read((1 << 20) - 10, small).status, STATUS_INVALID_PARAMETER);
  // The refused RDMA request's token was invalidated by the client itself.
  EXPECT_EQ(p.client->info().counters.local_invalidations, 1u);
  EXPECT_TRUE(p.client->write(0, big).ok());
  EXPECT_TRUE(p.client->read(0, small).ok());
  EXPECT_FALSE(p.client->info().down);
  p.close_and_check();
}

TEST_P(SmbdPeer, ConnectingWhereNobodyListensFailsAndLeavesNothingOpen) {
  Client::Options co;
  co.if_index = transport().client_if;
  co.server_ip = transport().server_ip;
  co.port = next_port(transport());
  co.config = config();
  if (!transport().iwarp) co.port = 4455;
  std::unique_ptr<Client> client;
  const Failure f = Client::connect(co, client);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(client, nullptr);
  EXPECT_TRUE(f.status == STATUS_CONNECTION_REFUSED || f.status == STATUS_IO_TIMEOUT)
      << hex(f.status) << " " << f.message;
}

std::string name(const ::testing::TestParamInfo<std::tuple<Transport, ULONG>>& i) {
  return std::string(std::get<0>(i.param).name) +
         (std::get<1>(i.param) == SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING ? "Pending" : "Inline");
}

// Lost READ responses and ACKs cost resends, never the connection: the server's RDMA Reads of
// the client's buffers recover, and a replayed READ whose buffer the server has since invalidated
// does not take the client's QP down.
TEST(SmbdLossyWire, ASessionOverARoceWireLosingTwoPercentOfFramesCompletesVerified) {
  use_devices();
  SessionOptions o;
  o.server_if = kLossyRoce4.server_if;
  o.client_if = kLossyRoce4.client_if;
  o.server_ip = kLossyRoce4.server_ip;
  o.payload_size = std::size_t{4} << 20;
  o.latency_rounds = 200;
  o.inline_rounds = 8;
  const auto start = std::chrono::steady_clock::now();
  const SessionReport r = run_session(o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.failure.ok()) << hex(r.failure.status) << " " << r.failure.message;
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(r.bytes_read, r.bytes_written);
  EXPECT_EQ(r.objects_open, 0u);
  // Each loss costs at most a resend round or an ACK timeout; a retransmission storm would not.
  EXPECT_LT(took, std::chrono::seconds(60));
}

INSTANTIATE_TEST_SUITE_P(Wires, SmbdPeer,
                         ::testing::Combine(::testing::Values(kRoce4, kIwarp6),
                                            ::testing::Values(SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING,
                                                              SOFTRNIC_NDK_ASYNC_ALWAYS_INLINE)),
                         name);

}  // namespace
}  // namespace smbd::test
