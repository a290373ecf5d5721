// One device process of the hostile-peer test (hostile_test.sh): a RoCEv2 device with the CM on
// QP1 and an iWARP device, both with control sockets, running transfers with every byte checked
// (transfer_channel.hpp) while attacker.cpp sprays them.
//
//   hostile_peer a ROCE_SPEC IWARP_SPEC CONTROL_DIR
//   hostile_peer b ROCE_SPEC IWARP_SPEC CONTROL_DIR A_ROCE_IP A_IWARP_IP STOP_FILE
//
// a listens: the CM on port 7174, iWARP on TCP port 7175. A request carrying the client's token
// gets a channel of its own at once. Any other RoCEv2 request is what a slow server does with a
// stranger's: it decides after kDecisionDelay (so the listener's backlog fills), accepting the
// first kSpares on spare QPs (their REPs mostly go to addresses nobody answers from; the
// attacker's own connections get them too) and rejecting the rest; any other iWARP request is
// rejected at once. The spare QPs live in a protection domain of their own, with one receive
// posted each, as a server keeps what strangers reach apart from its clients' memory. a ends
// when every channel got `done`.
// b connects one channel on each device and runs iterations until STOP_FILE exists; then it
// connects one more channel on each (a listener must still take a legitimate peer after the
// flood), runs one iteration on it, sends `done` on all four and disconnects.
//
// Both print `qpn roce=N iwarp=N` once connected, and a `rkey roce=K` of its first RoCEv2
// channel's region (the attacker plays one that has seen them on the wire),
// `progress roce=N iwarp=N` (iterations verified) every second, and at exit the CM's counters and
// what a did with strangers' requests. Exit 0: every iteration verified; 77: the devices could
// not be built (DPDK or io_uring refused); 1: anything else.
#include <sys/stat.h>

#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../common/text_bytes.hpp"
#include "cm/connection_manager.hpp"
#include "factory/device_set.hpp"
#include "iwarp/device.hpp"
#include "transfer_channel.hpp"

using namespace softrnic;
using hostile::Clk;

namespace {

constexpr std::uint16_t kCmPort = 7174, kIwarpPort = 7175;
constexpr std::size_t kSpares = 16;
constexpr auto kDecisionDelay = std::chrono::seconds(2);
constexpr std::string_view kToken = "softrnic-hostile-b";
constexpr auto kDeadline = std::chrono::minutes(20);  // a soak run stays far below

using RoceChannel = hostile::Channel<roce::Device, roce::Qp>;
using IwarpChannel = hostile::Channel<iwarp::Device, iwarp::Qp>;

int fail(const std::string& what) {
  std::fprintf(stderr, "hostile_peer: %s\n", what.c_str());
  return 1;
}

template <class C>
std::string counters_line(const C& counters) {
  std::string line;
  counters.for_each([&](std::string_view name, std::uint64_t v) {
    line += " " + std::string(name) + "=" + std::to_string(v);
  });
  return line;
}

std::uint32_t rkey_of(const std::vector<std::byte>& private_data) {
  unsigned long k = 0;
  const std::string t = test::text_of(private_data);
  return std::sscanf(t.c_str(), "rkey=%lu", &k) == 1 ? static_cast<std::uint32_t>(k) : 0;
}

bool has_token(const std::vector<std::byte>& private_data) {
  return test::text_of(private_data) == kToken;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The devices of one process and every channel they carry.
struct Peer {
  roce::Device* roce = nullptr;
  cm::ConnectionManager* cm = nullptr;
  iwarp::Device* iwarp = nullptr;
  verbs::PdHandle roce_pd = 0, iwarp_pd = 0;
  verbs::PdHandle stranger_pd = 0;  // a's spare QPs for strangers, and nothing else
  std::vector<std::unique_ptr<RoceChannel>> roce_channels;
  std::vector<std::unique_ptr<IwarpChannel>> iwarp_channels;
  std::vector<std::string> problems;
  std::uint32_t salt = 1;

  std::size_t poll() {
    std::size_t work = roce->poll() + cm->poll() + iwarp->poll();
    for (auto& c : roce_channels) work += c->step();
    for (auto& c : iwarp_channels) work += c->step();
    return work;
  }
  std::string first_problem() const {
    if (!problems.empty()) return problems.front();
    for (auto& c : roce_channels)
      if (!c->problem().empty()) return c->problem();
    for (auto& c : iwarp_channels)
      if (!c->problem().empty()) return c->problem();
    return {};
  }
  std::uint64_t iterations(bool roce_side) const {
    std::uint64_t n = 0;
    if (roce_side) {
      for (auto& c : roce_channels) n += c->iterations();
    } else {
      for (auto& c : iwarp_channels) n += c->iterations();
    }
    return n;
  }
  template <class Ch, class Dev>
  Ch* add_channel(std::vector<std::unique_ptr<Ch>>& list, Dev& dev, verbs::PdHandle pd, bool server,
                  std::uint32_t depth, const char* kind) {
    list.push_back(
        std::make_unique<Ch>(std::string(kind) + " channel " + std::to_string(list.size()), dev, pd,
                             server, salt++ * 0x01000193u));
    Ch* ch = list.back().get();
    if (!ch->init(depth)) {
      problems.push_back(ch->problem());
      return nullptr;
    }
    return ch;
  }
};

// Events of one channel's connection, for either device.
template <class Ch>
cm::Handler channel_handler(Ch* ch) {
  return [ch](const cm::CmEvent& e) {
    using T = cm::CmEvent::Type;
    if (e.type == T::established) {
      ch->established(rkey_of(e.private_data));
    } else if (e.type == T::disconnected) {
      ch->disconnected();
      ch->lost("disconnected before the end: " + e.message);
    } else {
      ch->lost(std::string(cm::event_name(e.type)) + ": " + e.message);
    }
  };
}

struct Strangers {  // what a did with requests that did not carry the token
  std::uint64_t roce_accepted = 0, roce_rejected = 0, roce_events = 0, iwarp_rejected = 0;
  std::uint64_t refused_calls = 0;  // accept/reject calls that failed (the request timed out)
};

int run_server(Peer& p) {
  Strangers st;
  std::vector<roce::Qp*> spares;
  std::deque<std::pair<Clk::time_point, cm::ConnId>> strangers;  // requests waiting for a decision
  verbs::Cq* spare_cq = *p.roce->create_cq(64);
  std::vector<std::byte> spare_rx(kSpares * 64);
  const auto spare_rx_key = p.roce->memory().register_mr(
      p.stranger_pd, spare_rx.data(), spare_rx.size(), 0, verbs::kLocalWrite | verbs::kZeroBased);
  if (!spare_rx_key) return fail("spare receive buffer: " + spare_rx_key.error().message);
  for (std::size_t i = 0; i < kSpares; ++i) {
    roce::QpInit init;
    init.pd = p.stranger_pd;
    init.send_cq = init.recv_cq = spare_cq;
    init.sq_depth = init.rq_depth = 4;
    auto qp = p.roce->create_qp(init);
    if (!qp) return fail("spare QP: " + qp.error().message);
    spares.push_back(*qp);
  }
  auto reply_of = [](std::uint32_t rkey) {
    return test::bytes_of("rkey=" + std::to_string(rkey) +
                          " len=" + std::to_string(hostile::kRegion));
  };
  auto roce_listener = p.cm->listen({{}, kCmPort}, [&](const cm::CmEvent& e) {
    if (e.type != cm::CmEvent::Type::connect_request) return;
    if (has_token(e.private_data)) {
      RoceChannel* ch = p.add_channel(p.roce_channels, *p.roce, p.roce_pd, true, 256, "roce");
      if (!ch) return;
      const auto reply = reply_of(ch->region_key());
      cm::AcceptParams ap;
      ap.private_data = reply;
      if (auto r = p.cm->accept(e.conn, ch->qp(), ap, channel_handler(ch)); !r)
        p.problems.push_back("accept: " + r.error().message);
      else if (ch->post_receives())
        std::printf("hostile_peer a: qpn roce=%u\nhostile_peer a: rkey roce=%u\n", ch->qp().qpn,
                    ch->region_key());
      std::fflush(stdout);
      return;
    }
    strangers.emplace_back(Clk::now() + kDecisionDelay, e.conn);
  });
  if (!roce_listener) return fail("CM listen: " + roce_listener.error().message);
  const auto decide = [&](cm::ConnId conn) {
    if (!spares.empty()) {
      roce::Qp& qp = *spares.back();
      spares.pop_back();
      cm::AcceptParams ap;
      if (!p.cm->accept(conn, qp, ap, [&st](const cm::CmEvent&) { ++st.roce_events; })) {
        ++st.refused_calls;
        return;
      }
      ++st.roce_accepted;
      roce::RecvWr r;  // a SEND (with invalidate) from the stranger gets as far as it can
      r.num_sge = 1;
      r.sg[0] = {spares.size() * 64, 64, *spare_rx_key};
      if (!p.roce->post_recv(qp, r)) p.problems.push_back("post_recv on a spare QP failed");
      return;
    }
    static_cast<bool>(p.cm->reject(conn)) ? ++st.roce_rejected : ++st.refused_calls;
  };
  auto iwarp_listener = p.iwarp->listen({{}, kIwarpPort}, [&](const cm::CmEvent& e) {
    if (e.type != cm::CmEvent::Type::connect_request) return;
    if (!has_token(e.private_data)) {
      static_cast<bool>(p.iwarp->reject(e.conn)) ? ++st.iwarp_rejected : ++st.refused_calls;
      return;
    }
    IwarpChannel* ch = p.add_channel(p.iwarp_channels, *p.iwarp, p.iwarp_pd, true, 64, "iwarp");
    if (!ch) return;
    const auto reply = reply_of(ch->region_key());
    cm::AcceptParams ap;
    ap.private_data = reply;
    if (auto r = p.iwarp->accept(e.conn, ch->qp(), ap, channel_handler(ch)); !r)
      p.problems.push_back("iWARP accept: " + r.error().message);
    else if (ch->post_receives())
      std::printf("hostile_peer a: qpn iwarp=%u\n", ch->qp().qpn);
    std::fflush(stdout);
  });
  if (!iwarp_listener) return fail("iWARP listen: " + iwarp_listener.error().message);
  std::printf("hostile_peer a: listening (CM port %u, iWARP port %u)\n", kCmPort, kIwarpPort);
  std::fflush(stdout);

  // Four channels end with `done`: two from the start, two connected after the attack.
  const auto all_done = [&] {
    std::size_t done = 0;
    for (auto& c : p.roce_channels) done += c->done_received();
    for (auto& c : p.iwarp_channels) done += c->done_received();
    return done >= 4;
  };
  const auto deadline = Clk::now() + kDeadline;
  auto next_report = Clk::now() + std::chrono::seconds(1);
  std::uint32_t idle = 0;
  while (!all_done() && p.first_problem().empty() && Clk::now() < deadline) {
    idle = p.poll() == 0 ? idle + 1 : 0;
    if (idle > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    while (!strangers.empty() && strangers.front().first <= Clk::now()) {
      decide(strangers.front().second);
      strangers.pop_front();
    }
    if (Clk::now() >= next_report) {
      next_report += std::chrono::seconds(1);
      std::printf("hostile_peer a: progress roce=%llu iwarp=%llu\n",
                  static_cast<unsigned long long>(p.iterations(true)),
                  static_cast<unsigned long long>(p.iterations(false)));
      std::fflush(stdout);
    }
  }
  for (auto& c : p.roce_channels) c->closing();
  for (auto& c : p.iwarp_channels) c->closing();
  // The verdicts for `done` and the client's disconnects still need the engine.
  const auto linger = Clk::now() + std::chrono::seconds(1);
  while (Clk::now() < linger) (void)p.poll();
  std::printf(
      "hostile_peer a: strangers' requests: roce accepted=%llu rejected=%llu events=%llu, "
      "iwarp rejected=%llu, refused calls=%llu\n",
      static_cast<unsigned long long>(st.roce_accepted),
      static_cast<unsigned long long>(st.roce_rejected),
      static_cast<unsigned long long>(st.roce_events),
      static_cast<unsigned long long>(st.iwarp_rejected),
      static_cast<unsigned long long>(st.refused_calls));
  std::printf("hostile_peer a: cm:%s records=%zu queued=%zu\n",
              counters_line(p.cm->counters()).c_str(), p.cm->connection_count(),
              p.cm->queued_mads());
  const std::string problem = p.first_problem();
  if (!problem.empty()) return fail(problem);
  if (!all_done()) return fail("timed out before every channel ended");
  std::printf("hostile_peer a: verified roce=%llu iwarp=%llu iterations\n",
              static_cast<unsigned long long>(p.iterations(true)),
              static_cast<unsigned long long>(p.iterations(false)));
  return 0;
}

int run_client(Peer& p, const wire::Ipv6Addr& roce_ip, const wire::Ipv6Addr& iwarp_ip,
               const std::string& stop_file) {
  const auto token = test::bytes_of(std::string(kToken));
  std::vector<cm::ConnId> conns_roce, conns_iwarp;
  const auto connect_roce = [&] {
    RoceChannel* ch = p.add_channel(p.roce_channels, *p.roce, p.roce_pd, false, 256, "roce");
    if (!ch) return;
    cm::ConnectParams cp;
    cp.remote = {roce_ip, kCmPort};
    cp.private_data = token;
    auto id = p.cm->connect(ch->qp(), cp, channel_handler(ch));
    if (!id) return p.problems.push_back("CM connect: " + id.error().message);
    conns_roce.push_back(*id);
  };
  const auto connect_iwarp = [&] {
    IwarpChannel* ch = p.add_channel(p.iwarp_channels, *p.iwarp, p.iwarp_pd, false, 64, "iwarp");
    if (!ch) return;
    cm::ConnectParams cp;
    cp.remote = {iwarp_ip, kIwarpPort};
    cp.private_data = token;
    auto id = p.iwarp->connect(ch->qp(), cp, channel_handler(ch));
    if (!id) return p.problems.push_back("iWARP connect: " + id.error().message);
    conns_iwarp.push_back(*id);
  };
  connect_roce();
  connect_iwarp();
  const auto deadline = Clk::now() + kDeadline;
  auto next_report = Clk::now() + std::chrono::seconds(1);
  auto next_stop_check = Clk::now();
  bool ready = false, stopping = false, late = false;
  std::uint32_t idle = 0;
  const auto all = [&](auto pred) {
    for (auto& c : p.roce_channels)
      if (!pred(*c)) return false;
    for (auto& c : p.iwarp_channels)
      if (!pred(*c)) return false;
    return true;
  };
  while (p.first_problem().empty() && Clk::now() < deadline) {
    idle = p.poll() == 0 ? idle + 1 : 0;
    if (idle > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    const auto now = Clk::now();
    if (!ready && p.roce_channels[0]->iterations() > 0 && p.iwarp_channels[0]->iterations() > 0) {
      ready = true;
      std::printf("hostile_peer b: qpn roce=%u iwarp=%u\nhostile_peer b: ready\n",
                  p.roce_channels[0]->qp().qpn, p.iwarp_channels[0]->qp().qpn);
      std::fflush(stdout);
    }
    if (now >= next_report) {
      next_report += std::chrono::seconds(1);
      std::printf("hostile_peer b: progress roce=%llu iwarp=%llu\n",
                  static_cast<unsigned long long>(p.iterations(true)),
                  static_cast<unsigned long long>(p.iterations(false)));
      std::fflush(stdout);
    }
    if (ready && !stopping && now >= next_stop_check) {
      next_stop_check = now + std::chrono::milliseconds(100);
      if (file_exists(stop_file)) {
        stopping = true;
        std::printf("hostile_peer b: stopping; connecting once more on each device\n");
        std::fflush(stdout);
        p.roce_channels[0]->stop();
        p.iwarp_channels[0]->stop();
        connect_roce();
        connect_iwarp();
      }
    }
    if (stopping && !late && p.roce_channels.size() == 2 && p.iwarp_channels.size() == 2 &&
        p.roce_channels[1]->iterations() > 0 && p.iwarp_channels[1]->iterations() > 0) {
      late = true;
      p.roce_channels[1]->stop();
      p.iwarp_channels[1]->stop();
    }
    if (late && all([](auto& c) { return c.finished(); })) break;
  }
  std::string problem = p.first_problem();
  if (problem.empty() && !late) problem = "timed out";
  for (auto& c : p.roce_channels) c->closing();
  for (auto& c : p.iwarp_channels) c->closing();
  for (auto id : conns_roce) (void)p.cm->disconnect(id);
  for (auto id : conns_iwarp) (void)p.iwarp->disconnect(id);
  const auto linger = Clk::now() + std::chrono::milliseconds(500);
  while (Clk::now() < linger) (void)p.poll();
  std::printf("hostile_peer b: cm:%s records=%zu queued=%zu\n",
              counters_line(p.cm->counters()).c_str(), p.cm->connection_count(),
              p.cm->queued_mads());
  if (!problem.empty()) return fail(problem);
  std::printf(
      "hostile_peer b: verified roce=%llu iwarp=%llu iterations (late channels: roce %llu, "
      "iwarp %llu)\n",
      static_cast<unsigned long long>(p.iterations(true)),
      static_cast<unsigned long long>(p.iterations(false)),
      static_cast<unsigned long long>(p.roce_channels[1]->iterations()),
      static_cast<unsigned long long>(p.iwarp_channels[1]->iterations()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string role = argc > 1 ? argv[1] : "";
  if (!((role == "a" && argc == 5) || (role == "b" && argc == 8)))
    return fail(
        "usage: hostile_peer a ROCE_SPEC IWARP_SPEC CONTROL_DIR | hostile_peer b ROCE_SPEC "
        "IWARP_SPEC CONTROL_DIR A_ROCE_IP A_IWARP_IP STOP_FILE");
  std::vector<transport::DeviceSpec> specs;
  for (int i : {2, 3}) {
    auto s = transport::parse_device_spec(argv[i]);
    if (!s) return fail(s.error().message);
    specs.push_back(*s);
  }
  transport::DeviceSetOptions options;
  options.control_sockets = true;
  options.control_dir = argv[4];
  SteadyClock clock;
  transport::DeviceSet set(options);
  if (auto r = set.build(specs, clock); !r) {
    (void)fail("cannot build the devices: " + r.error().message);
    return 77;
  }
  Peer p;
  p.roce = set.device(specs[0].name);
  p.iwarp = set.iwarp_device(specs[1].name);
  if (!p.roce || !p.iwarp) return fail("the first spec must be RoCEv2, the second iWARP");
  auto cm = cm::ConnectionManager::create(*p.roce);
  if (!cm) return fail("CM: " + cm.error().message);
  p.cm = cm->get();
  p.roce_pd = *p.roce->memory().alloc_pd();
  p.stranger_pd = *p.roce->memory().alloc_pd();
  p.iwarp_pd = *p.iwarp->memory().alloc_pd();
  p.salt = role == "a" ? 0x1000 : 0x2000;
  int rc = 0;
  if (role == "a") {
    rc = run_server(p);
  } else {
    wire::Ipv6Addr roce_ip{}, iwarp_ip{};
    if (!test::parse_ip(argv[5], roce_ip) || !test::parse_ip(argv[6], iwarp_ip))
      return fail("not IP addresses: " + std::string(argv[5]) + ", " + argv[6]);
    rc = run_client(p, roce_ip, iwarp_ip, argv[7]);
  }
  std::printf("hostile_peer %s: roce device:%s\nhostile_peer %s: roce drops:%s\n", role.c_str(),
              counters_line(p.roce->counters()).c_str(), role.c_str(),
              counters_line(p.roce->drops()).c_str());
  std::printf("hostile_peer %s: iwarp device:%s\n", role.c_str(),
              counters_line(p.iwarp->counters()).c_str());
  const auto& events = p.roce->events();
  for (std::size_t i = 0; i < events.size() && i < 20; ++i)
    std::printf("hostile_peer %s: async event %d on QP %u: %s\n", role.c_str(),
                static_cast<int>(events[i].type), events[i].qpn, events[i].message.c_str());
  return rc;
}
