// The CM's identifiers come from the kernel's generator: every byte getrandom(2) hands this process
// is recorded (the test binary defines getrandom, so calls from the CM's library land here and go
// on to the system call), and each communication ID, transaction ID and starting PSN a handshake
// shows must be bytes from that record. A generator seeded once and run in user space (a Mersenne
// Twister, whose state the IDs in REJ and REP give away) produces values that are not.
#include <gtest/gtest.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

#include "cm_fixture.hpp"

namespace {

std::array<std::byte, 1 << 20> g_drawn;
std::atomic<std::size_t> g_drawn_len{0};

}  // namespace

extern "C" ssize_t getrandom(void* buf, size_t len, unsigned int flags) {
  const long r = syscall(SYS_getrandom, buf, len, flags);
  if (r > 0) {
    const std::size_t n = static_cast<std::size_t>(r);
    const std::size_t at = g_drawn_len.fetch_add(n);
    if (at + n <= g_drawn.size()) std::memcpy(g_drawn.data() + at, buf, n);
  }
  return r;
}

namespace softrnic::cm::test {
namespace {

using Type = CmEvent::Type;
namespace mad = wire::cm;

// True when the n low-order bytes of v (as the CPU stores them) appear in what getrandom gave.
bool drawn_from_getrandom(std::uint32_t v, std::size_t n = 4) {
  std::array<std::byte, 4> b;
  std::memcpy(b.data(), &v, 4);
  const std::size_t len = std::min(g_drawn_len.load(), g_drawn.size());
  const auto end = g_drawn.begin() + static_cast<std::ptrdiff_t>(len);
  return std::search(g_drawn.begin(), end, b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)) !=
         end;
}

TEST(CmRandom, CommIdsTransactionIdsAndPsnsAreBytesFromGetrandom) {
  CmPair t(wire::IpVersion::v4, {}, 4200, /*seeded=*/false);
  std::vector<mad::Req> reqs;
  std::vector<std::uint64_t> tids;
  t.wire_.filter = [&](int side, Packet& p) {
    if (side == 0 && mad_attr(p) == 0x10) {
      auto f = wire::parse_frame(ConstByteSpan(p.data, p.len));
      auto m = mad::decode_cm_mad(f->payload().first(mad::kMadSize));
      reqs.push_back(std::get<mad::Req>(m->msg));
      tids.push_back(m->hdr.tid);
    }
    return true;
  };
  t.auto_accept(7174);
  std::vector<ConnId> ours;
  for (int i = 0; i < 4; ++i) {
    ConnectParams p;
    p.remote = {t.ip_b(), 7174};
    auto id = t.a.cm->connect(*t.a.new_qp(), p, t.a.log());
    ASSERT_TRUE(id);
    ours.push_back(*id);
  }
  ASSERT_TRUE(t.run_until([&] { return t.b.count(Type::established) == 4; }));
  ASSERT_EQ(reqs.size(), 4u);
  ASSERT_LT(g_drawn_len.load(), g_drawn.size());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].local_comm_id, ours[i]);
    EXPECT_TRUE(drawn_from_getrandom(ours[i])) << "comm ID " << ours[i];
    EXPECT_TRUE(drawn_from_getrandom(static_cast<std::uint32_t>(tids[i] >> 32)))
        << "transaction ID " << tids[i];
    EXPECT_TRUE(drawn_from_getrandom(reqs[i].starting_psn, 3)) << "PSN " << reqs[i].starting_psn;
  }
  for (const auto& e : t.b.events) {
    if (e.type != Type::connect_request) continue;
    EXPECT_TRUE(drawn_from_getrandom(e.conn)) << "comm ID " << e.conn;
  }
}

TEST(CmRandom, ASeedStillGivesAReplayableSequenceForTests) {
  CmPair one, two;
  for (CmPair* t : {&one, &two}) t->auto_accept(7174);
  ConnectParams p;
  p.remote = {one.ip_b(), 7174};
  auto a = one.a.cm->connect(*one.a.new_qp(), p, one.a.log());
  auto b = two.a.cm->connect(*two.a.new_qp(), p, two.a.log());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace softrnic::cm::test
