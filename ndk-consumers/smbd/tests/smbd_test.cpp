// The SMB-Direct-like consumer end to end: whole sessions over RoCEv2 (IPv4, IPv6) and iWARP
// (IPv4, IPv6) with the shim forced to pend or to complete inline, the MS-SMBD negotiation's
// refusals, fragmentation, and credit exhaustion with small credit targets.
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "smbd_fixture.hpp"

namespace smbd::test {
namespace {

std::string name_of(const std::tuple<Transport, ULONG>& p) {
  return std::string(std::get<0>(p).name) +
         (std::get<1>(p) == SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING ? "Pending" : "Inline");
}

class SmbdSession : public ::testing::TestWithParam<std::tuple<Transport, ULONG>> {
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

TEST_P(SmbdSession, MovesAPayloadBothWaysWithEveryByteVerified) {
  SessionOptions o;
  o.server_if = transport().server_if;
  o.client_if = transport().client_if;
  o.server_ip = transport().server_ip;
  o.port = next_port(transport());
  o.server_config = config();
  o.client_config = config();
  // The full 64 MiB once per wire; 8 MiB in the other modes keeps the suite quick.
  o.payload_size = std::get<1>(GetParam()) == SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING
                       ? std::size_t{64} << 20
                       : std::size_t{8} << 20;
  o.latency_rounds = 100;
  o.inline_rounds = 8;
  const SessionReport r = run_session(o);
  ASSERT_TRUE(r.failure.ok()) << hex(r.failure.status) << " " << r.failure.message;
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(r.technology, transport().iwarp ? NdkiWarp : NdkRoCEv2);
  EXPECT_EQ(r.bytes_written, o.payload_size + o.inline_rounds * o.inline_size);
  EXPECT_EQ(r.bytes_read, r.bytes_written);
  // Split at MaxReadWriteSize (1 MiB): one RDMA operation per MiB each way.
  const std::uint64_t chunks = o.payload_size >> 20;
  EXPECT_EQ(r.server.rdma_reads, chunks);
  EXPECT_EQ(r.server.rdma_writes, chunks);
  EXPECT_EQ(r.server.rdma_bytes, 2 * o.payload_size);
  EXPECT_EQ(r.client.fast_registers, 2 * chunks);
  // Every token came back invalidated by the server's SendAndInvalidate.
  EXPECT_EQ(r.server.send_and_invalidates, 2 * chunks);
  EXPECT_EQ(r.client.remote_invalidations, 2 * chunks);
  EXPECT_EQ(r.client.local_invalidations, 0u);
  EXPECT_EQ(r.latency_ns.size(), o.latency_rounds);
  EXPECT_GT(percentile(r.latency_ns, 50), 0u);
  EXPECT_LE(percentile(r.latency_ns, 50), percentile(r.latency_ns, 99));
  EXPECT_EQ(r.client.requests, 2 * chunks + o.latency_rounds + 2 * o.inline_rounds);
  EXPECT_EQ(r.server.requests, r.client.requests);
  EXPECT_EQ(r.negotiated.max_send_size, 1364u);
  EXPECT_EQ(r.negotiated.receive_credit_target, 255u);
  EXPECT_EQ(r.objects_open, 0u);
  auto mib_s = [&](std::chrono::nanoseconds t) {
    return t.count() > 0 ? static_cast<double>(o.payload_size) / (1 << 20) / (t.count() / 1e9) : 0;
  };
  std::printf(
      "  %s %zu MiB: connect %.1f ms, write %.0f MiB/s, read %.0f MiB/s, echo p50 %.1f us "
      "p99 %.1f us, teardown %.1f ms\n",
      name_of(GetParam()).c_str(), o.payload_size >> 20, r.connect.count() / 1e6, mib_s(r.write),
      mib_s(r.read), percentile(r.latency_ns, 50) / 1e3, percentile(r.latency_ns, 99) / 1e3,
      r.teardown.count() / 1e6);
}

TEST_P(SmbdSession, ClientInvalidatesItsOwnTokensWhenItDoesNotAskTheServerTo) {
  Config c = config();
  c.remote_invalidate = false;
  Pair p(transport(), config(), c, 4 << 20);
  ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
  std::vector<std::byte> data(3 << 20);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + 3);
  ASSERT_TRUE(p.client->write(4096, data).ok());
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(p.client->read(4096, back).ok());
  EXPECT_EQ(back, data);
  const Counters c1 = p.client->info().counters;
  EXPECT_EQ(c1.local_invalidations, 6u);
  EXPECT_EQ(c1.remote_invalidations, 0u);
  EXPECT_EQ(p.server->info(0).counters.send_and_invalidates, 0u);
  p.close_and_check();
}

TEST_P(SmbdSession, AMessageLargerThanOneSendIsFragmentedAndReassembled) {
  Config c = config();
  c.inline_threshold = 1 << 20;  // everything inline
  Pair p(transport(), c, c, 1 << 20);
  ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
  std::vector<std::byte> data(64 << 10);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i ^ (i >> 8));
  ASSERT_TRUE(p.client->write(100, data).ok());
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(p.client->read(100, back).ok());
  EXPECT_EQ(back, data);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), p.server->file().begin() + 100));
  // 1364-byte sends carry 1340 bytes each: 32 + 65536 bytes need 49 fragments.
  const std::uint64_t fragments = (32 + data.size() + 1339) / 1340;
  const Counters cc = p.client->info().counters, sc = p.server->info(0).counters;
  EXPECT_EQ(cc.fragments_sent, fragments);
  EXPECT_EQ(sc.fragments_received, fragments);
  EXPECT_EQ(sc.fragments_sent, fragments);
  EXPECT_EQ(cc.fragments_received, fragments);
  EXPECT_EQ(sc.rdma_reads + sc.rdma_writes, 0u);
  p.close_and_check();
}

TEST_P(SmbdSession, CreditExhaustionStallsTheSenderAndResumesWhenCreditsAreGranted) {
  for (std::uint16_t credits : {2, 3}) {
    SCOPED_TRACE(credits);
    Config c = config();
    c.receive_credit_max = credits;
    c.send_credit_target = credits;
    c.inline_threshold = 1 << 20;
    Pair p(transport(), c, c, 1 << 20);
    ASSERT_TRUE(p.connected.ok()) << hex(p.connected.status) << " " << p.connected.message;
    EXPECT_EQ(p.client->info().params.receive_credit_target, credits);
    std::vector<std::byte> data(40 << 10);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 13);
    ASSERT_TRUE(p.client->write(0, data).ok());
    std::vector<std::byte> back(data.size());
    ASSERT_TRUE(p.client->read(0, back).ok());
    EXPECT_EQ(back, data);
    for (int i = 0; i < 20; ++i) {
      const std::byte b[8] = {std::byte{1}};
      ASSERT_TRUE(p.client->echo(b).ok());
    }
    const Counters cc = p.client->info().counters, sc = p.server->info(0).counters;
    EXPECT_GT(cc.credit_stalls, 0u) << "31 fragments through 2-3 credits must wait";
    EXPECT_GT(sc.credit_stalls, 0u);
    // Every message granted at most what the receiver had posted.
    EXPECT_LE(cc.credits_received, sc.messages_sent * credits);
    p.close_and_check();
  }
}

TEST_P(SmbdSession, AServerRefusesAClientOfferingNoVersionItSpeaks) {
  Config c = config();
  c.negotiate_override.min_version = 0x0200;
  c.negotiate_override.max_version = 0x0300;
  Pair p(transport(), config(), c);
  EXPECT_EQ(p.connected.status, STATUS_NOT_SUPPORTED) << p.connected.message;
  EXPECT_EQ(p.client, nullptr);
  ASSERT_TRUE(p.accepted.ok());
  ASSERT_TRUE(p.server->wait_down(0, std::chrono::milliseconds(5000)));
  EXPECT_EQ(p.server->info(0).failure.status, STATUS_NOT_SUPPORTED);
  p.close_and_check();
}

TEST_P(SmbdSession, AServerDisconnectsABadNegotiateRequest) {
  struct Case {
    const char* what;
    NegotiateOverride o;
  };
  std::vector<Case> cases(3);
  cases[0] = {"credits 0", {}};
  cases[0].o.credits_requested = 0;
  cases[1] = {"MaxReceiveSize 100", {}};
  cases[1].o.max_receive_size = 100;
  cases[2] = {"MaxFragmentedSize 64 KiB", {}};
  cases[2].o.max_fragmented_size = 65536;
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    Config c = config();
    c.negotiate_override = k.o;
    c.negotiate_timeout = std::chrono::milliseconds(3000);
    Pair p(transport(), config(), c);
    EXPECT_EQ(p.connected.status, STATUS_CONNECTION_DISCONNECTED) << p.connected.message;
    ASSERT_TRUE(p.accepted.ok());
    ASSERT_TRUE(p.server->wait_down(0, std::chrono::milliseconds(5000)));
    EXPECT_EQ(p.server->info(0).failure.status, STATUS_INVALID_PARAMETER);
    EXPECT_EQ(p.server->info(0).counters.messages_sent, 0u) << "no response to a bad request";
    p.close_and_check();
  }
}

TEST_P(SmbdSession, AClientRefusesABadNegotiateResponse) {
  Config s = config();
  s.negotiate_override.credits_granted = 0;
  Pair p(transport(), s, config());
  EXPECT_EQ(p.connected.status, STATUS_INVALID_PARAMETER) << p.connected.message;
  ASSERT_TRUE(p.server->wait_down(0, std::chrono::milliseconds(5000)));
  EXPECT_EQ(p.server->info(0).failure.status, STATUS_CONNECTION_DISCONNECTED);
  p.close_and_check();
}

std::string name(const ::testing::TestParamInfo<std::tuple<Transport, ULONG>>& i) {
  return name_of(i.param);
}

INSTANTIATE_TEST_SUITE_P(Wires, SmbdSession,
                         ::testing::Combine(::testing::Values(kRoce4, kRoce6, kIwarp4, kIwarp6),
                                            ::testing::Values(SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING,
                                                              SOFTRNIC_NDK_ASYNC_ALWAYS_INLINE)),
                         name);

}  // namespace
}  // namespace smbd::test
