// rping's protocol on a softrnic device, so rdma-core's own `rping` in the interop guest is the
// peer (over rxe for RoCEv2, over siw for iWARP). The protocol, as rping speaks it:
//   client: Send {start buffer addr, rkey, size} (16 bytes, big-endian u64/u32/u32)
//   server: RDMA Read of the client's start buffer, then a 16-byte Send ("go ahead")
//   client: Send {rdma buffer addr, rkey, size}
//   server: RDMA Write of what it read (strlen + 1 bytes) into that buffer, then a 16-byte Send
//   client: checks that its rdma buffer now equals its start buffer; repeats COUNT times
// Each message is 16 bytes and each side's receive buffer is 16 bytes: a longer Send is an error.
//
//   rping_peer SPEC server PORT COUNT        serves one connection; exit 0 after COUNT pings
//                                           and the client's disconnect
//   rping_peer SPEC client ADDR PORT COUNT SIZE
//                                           COUNT pings of SIZE bytes, each verified; exit 0
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../common/text_bytes.hpp"
#include "base/bytes.hpp"
#include "cm/connection_manager.hpp"
#include "factory/device_set.hpp"
#include "iwarp/device.hpp"

using namespace softrnic;
using Clk = std::chrono::steady_clock;

namespace {

constexpr std::size_t kInfo = 16;           // sizeof(struct rping_rdma_info)
constexpr std::size_t kMaxSize = 64 << 10;  // rping's RPING_BUFSIZE

int fail(const std::string& what) {
  std::fprintf(stderr, "rping_peer: %s\n", what.c_str());
  return 1;
}

struct Buf {
  std::vector<std::byte> mem;
  verbs::MemKeyRaw key = 0;
  std::uint64_t va() const { return reinterpret_cast<std::uint64_t>(mem.data()); }
};

struct Args {
  bool server = false;
  wire::Ipv6Addr dst{};
  std::uint16_t port = 0;
  int count = 1;
  std::size_t size = 64;
};

// One rping connection over Dev (roce::Device or iwarp::Device) whose connections are made by Cm
// (cm::ConnectionManager, or the iwarp::Device itself).
template <class Dev, class Qp, class Cm>
class Session {
 public:
  Session(Dev& dev, Cm& cm) : dev_(dev), cm_(cm) {}

  int run(const Args& a) {
    pd_ = *dev_.memory().alloc_pd();
    cq_ = *dev_.create_cq(64);
    roce::QpInit init;
    init.pd = pd_;
    init.send_cq = init.recv_cq = cq_;
    init.sq_depth = init.rq_depth = 16;
    qp_ = *dev_.create_qp(init);
    const auto rw = verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead;
    recv_ = reg(kInfo, verbs::kLocalWrite);
    send_ = reg(kInfo, 0);
    start_ = reg(kMaxSize, rw);
    rdma_ = reg(kMaxSize, rw);
    deadline_ = Clk::now() + std::chrono::seconds(60);
    return a.server ? serve(a) : ping(a);
  }

 private:
  Buf reg(std::size_t n, std::uint32_t access) {
    Buf b;
    b.mem.resize(n);
    b.key = *dev_.memory().register_mr(pd_, b.mem.data(), n, b.va(), access);
    return b;
  }

  void step() {
    dev_.poll();
    if constexpr (!std::is_same_v<Cm, Dev>) cm_.poll();
  }

  bool post_recv() {
    roce::RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {recv_.va(), kInfo, recv_.key};
    return static_cast<bool>(dev_.post_recv(*qp_, r));
  }

  bool post(verbs::WrOpcode op, const Buf& local, std::uint32_t len, std::uint64_t raddr,
            std::uint32_t rkey) {
    roce::SendWr w;
    w.opcode = op;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {local.va(), len, local.key};
    w.remote_addr = raddr;
    w.rkey = rkey;
    return static_cast<bool>(dev_.post_send(*qp_, w));
  }

  bool send_info(const Buf& b, std::uint32_t size) {
    const ByteSpan p(send_.mem.data(), kInfo);
    store_be64(p, 0, b.va());
    store_be32(p, 8, b.key);
    store_be32(p, 12, size);
    return post(verbs::WrOpcode::send, send_, kInfo, 0, 0);
  }

  // Polls until a completion of `op` (false on an error completion, a disconnect or the deadline).
  bool wait(verbs::WcOpcode op) {
    std::array<verbs::Cqe, 16> c;
    while (Clk::now() < deadline_ && problems_.empty()) {
      step();
      const auto n = cq_->poll(c);
      bool got = false;
      for (std::size_t i = 0; i < n; ++i) {
        if (c[i].status == verbs::WcStatus::wr_flush_error)
          return false;  // the connection went down
        if (c[i].status != verbs::WcStatus::success) {
          if (!disconnected_)
            problems_.push_back("completion " + std::string(verbs::to_string(c[i].status)));
          return false;
        }
        if (c[i].opcode == verbs::WcOpcode::recv && c[i].byte_len != kInfo)
          problems_.push_back("a Send of " + std::to_string(c[i].byte_len) + " bytes, not " +
                              std::to_string(kInfo));
        got = got || c[i].opcode == op;
      }
      if (got) return problems_.empty();
      if (disconnected_) return false;
    }
    if (problems_.empty() && !disconnected_) problems_.push_back("timed out");
    return false;
  }

  void note(const cm::CmEvent& e) {
    if (e.type == cm::CmEvent::Type::established) {
      established_ = true;
    } else if (e.type == cm::CmEvent::Type::disconnected) {
      disconnected_ = true;
    } else if (e.type != cm::CmEvent::Type::connect_request) {
      problems_.push_back(std::string(cm::event_name(e.type)) + ": " + e.message);
    }
  }

  int report(const char* role, int pings, int want) {
    for (auto& p : problems_) std::fprintf(stderr, "rping_peer %s: %s\n", role, p.c_str());
    // The client checks each ping's data; the server serves them (rping -V checks on its side).
    std::printf("rping_peer %s: %d of %d pings %s%s\n", role, pings, want,
                std::strcmp(role, "client") == 0 ? "verified" : "served",
                disconnected_ ? ", disconnected" : "");
    return problems_.empty() && pings == want ? 0 : 1;
  }

  int serve(const Args& a) {
    auto l = cm_.listen({{}, a.port}, [&](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::connect_request) {
        if (conn_) {
          (void)cm_.reject(e.conn);
          return;
        }
        conn_ = e.conn;
        cm::AcceptParams ap;
        ap.responder_resources = ap.initiator_depth = 1;  // what rping asks for
        // The receive goes in once accept() has taken the QP out of RESET, and before the
        // client's first Send can arrive (that needs our REP and its RTU first).
        if (auto r = cm_.accept(e.conn, *qp_, ap, [&](const cm::CmEvent& ev) { note(ev); }); !r)
          problems_.push_back(r.error().message);
        else if (!post_recv())
          problems_.push_back("post_recv failed");
      }
      note(e);
    });
    if (!l) return fail(l.error().message);
    std::printf("rping_peer server: listening on port %u\n", a.port);
    std::fflush(stdout);
    int pings = 0;
    while (pings < a.count || !disconnected_) {
      // Client's start buffer, read; go ahead; client's rdma buffer, written; done.
      if (!wait(verbs::WcOpcode::recv)) break;
      const ConstByteSpan p(recv_.mem.data(), kInfo);
      std::uint64_t addr = load_be64(p, 0);
      std::uint32_t rkey = load_be32(p, 8), len = load_be32(p, 12);
      if (len > kMaxSize)
        return fail("the client's buffer is larger than " + std::to_string(kMaxSize));
      if (!post_recv() || !post(verbs::WrOpcode::rdma_read, rdma_, len, addr, rkey) ||
          !wait(verbs::WcOpcode::rdma_read))
        break;
      rdma_.mem[len ? len - 1 : 0] = std::byte{0};
      std::printf("server ping data: %s\n", reinterpret_cast<const char*>(rdma_.mem.data()));
      if (!post(verbs::WrOpcode::send, send_, kInfo, 0, 0) || !wait(verbs::WcOpcode::recv)) break;
      addr = load_be64(p, 0), rkey = load_be32(p, 8);
      const auto n = static_cast<std::uint32_t>(
          std::strlen(reinterpret_cast<const char*>(rdma_.mem.data())) + 1);
      if (!post_recv() || !post(verbs::WrOpcode::rdma_write, rdma_, n, addr, rkey) ||
          !wait(verbs::WcOpcode::rdma_write) || !post(verbs::WrOpcode::send, send_, kInfo, 0, 0))
        break;
      ++pings;
    }
    const auto linger = Clk::now() + std::chrono::milliseconds(300);
    while (Clk::now() < linger) step();
    return report("server", pings, a.count);
  }

  int ping(const Args& a) {
    if (a.size < 16 || a.size > kMaxSize) return fail("SIZE is 16.." + std::to_string(kMaxSize));
    cm::ConnectParams p;
    p.remote = {a.dst, a.port};
    p.responder_resources = p.initiator_depth = 1;
    auto id = cm_.connect(*qp_, p, [&](const cm::CmEvent& e) { note(e); });
    if (!id) return fail(id.error().message);
    while (!established_ && problems_.empty() && Clk::now() < deadline_) step();
    if (!established_) {
      problems_.push_back("not connected");
      return report("client", 0, a.count);
    }
    // The server speaks only after our first Send, so the receive can wait for the RTS QP.
    if (!post_recv()) return fail("post_recv failed");
    const auto t0 = Clk::now();
    int pings = 0;
    char start = 'A';
    for (int i = 0; i < a.count; ++i) {
      // The text rping puts in its buffer: "rdma-ping-N: " then a rotating run of letters.
      auto* s = reinterpret_cast<char*>(start_.mem.data());
      int cc = std::snprintf(s, a.size, "rdma-ping-%d: ", i);
      char c = start;
      for (std::size_t k = static_cast<std::size_t>(cc); k < a.size; ++k) {
        s[k] = c;
        if (++c > 'z') c = 'A';
      }
      if (++start > 'z') start = 'A';
      s[a.size - 1] = 0;
      std::memset(rdma_.mem.data(), 0, a.size);
      const auto size = static_cast<std::uint32_t>(a.size);
      if (!send_info(start_, size) || !wait(verbs::WcOpcode::recv) || !post_recv()) break;
      if (!send_info(rdma_, size) || !wait(verbs::WcOpcode::recv) || !post_recv()) break;
      if (std::memcmp(start_.mem.data(), rdma_.mem.data(), a.size) != 0) {
        problems_.push_back("ping " + std::to_string(i) + " came back different");
        break;
      }
      ++pings;
    }
    const double secs = std::chrono::duration<double>(Clk::now() - t0).count();
    if (pings > 0)
      std::printf("rping_peer client: %d pings of %zu bytes in %.3f s\n", pings, a.size, secs);
    if (auto r = cm_.disconnect(*id); !r) problems_.push_back(r.error().message);
    const auto until = Clk::now() + std::chrono::seconds(3);
    while (!disconnected_ && Clk::now() < until) step();
    return report("client", pings, a.count);
  }

  Dev& dev_;
  Cm& cm_;
  verbs::PdHandle pd_ = 0;
  verbs::Cq* cq_ = nullptr;
  Qp* qp_ = nullptr;
  Buf recv_, send_, start_, rdma_;
  Clk::time_point deadline_{};
  cm::ConnId conn_ = 0;
  bool established_ = false, disconnected_ = false;
  std::vector<std::string> problems_;
};

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: rping_peer SPEC server PORT COUNT | rping_peer SPEC client ADDR PORT COUNT SIZE";
  if (argc < 5) return fail(usage);
  auto spec = transport::parse_device_spec(argv[1]);
  if (!spec) return fail(spec.error().message);
  Args a;
  a.server = std::string(argv[2]) == "server";
  if (a.server) {
    a.port = static_cast<std::uint16_t>(std::stoi(argv[3]));
    a.count = std::stoi(argv[4]);
  } else {
    if (argc < 7) return fail(usage);
    if (!test::parse_ip(argv[3], a.dst)) return fail(std::string("not an IP address: ") + argv[3]);
    a.port = static_cast<std::uint16_t>(std::stoi(argv[4]));
    a.count = std::stoi(argv[5]);
    a.size = static_cast<std::size_t>(std::stoul(argv[6]));
  }
  SteadyClock clock;
  transport::DeviceSet set;
  if (auto r = set.build({*spec}, clock); !r) return fail(r.error().message);
  if (iwarp::Device* iw = set.iwarp_device(spec->name)) {
    Session<iwarp::Device, iwarp::Qp, iwarp::Device> s(*iw, *iw);
    return s.run(a);
  }
  roce::Device* dev = set.device(spec->name);
  if (!dev) return fail("no device " + spec->name);
  auto made = cm::ConnectionManager::create(*dev);
  if (!made) return fail(made.error().message);
  Session<roce::Device, roce::Qp, cm::ConnectionManager> s(*dev, **made);
  return s.run(a);
}
