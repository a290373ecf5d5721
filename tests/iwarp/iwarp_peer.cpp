// One side of a two-process iWARP test over kernel TCP. The server listens, accepts one
// connection (its private data names a 16 MiB buffer: "rkey=K len=N") and checks every Send it
// gets against the pattern of its size, answering each with a 4-byte verdict. The client connects
// and, for every size from 0 B to 16 MiB, sends a message, writes the server's buffer and reads it
// back, checking every byte; then it disconnects. Exit 0 when all of it worked.
//
//   iwarp_peer SPEC server PORT
//   iwarp_peer SPEC client ADDR PORT
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../common/text_bytes.hpp"
#include "factory/device_set.hpp"
#include "iwarp/device.hpp"

using namespace softrnic;
using Clk = std::chrono::steady_clock;
using test::parse_ip;

namespace {

constexpr std::size_t kMax = 16u << 20;
const std::size_t kSizes[] = {0, 1, 4095, 65536, 1u << 20, kMax};

int fail(const std::string& what) {
  std::fprintf(stderr, "iwarp_peer: %s\n", what.c_str());
  return 1;
}

void pattern(std::byte* p, std::size_t n, std::uint32_t seed) {
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    p[i] = std::byte(x >> 24);
  }
}

struct Buf {
  std::vector<std::byte> mem;
  verbs::MemKeyRaw key = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return fail("usage: iwarp_peer SPEC server PORT | iwarp_peer SPEC client ADDR PORT");
  auto spec = transport::parse_device_spec(argv[1]);
  if (!spec) return fail(spec.error().message);
  const bool server = std::string(argv[2]) == "server";
  if (!server && argc < 5) return fail("client needs ADDR PORT");
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[server ? 3 : 4]));
  SteadyClock clock;
  transport::DeviceSet set;
  if (auto r = set.build({*spec}, clock); !r) return fail(r.error().message);
  iwarp::Device* devp = set.iwarp_device(spec->name);
  if (!devp) return fail("device " + spec->name + " is not an iWARP device");
  iwarp::Device& dev = *devp;
  const auto pd = *dev.memory().alloc_pd();
  verbs::Cq* cq = *dev.create_cq(256);
  roce::QpInit init;
  init.pd = pd;
  init.send_cq = init.recv_cq = cq;
  init.sq_depth = init.rq_depth = 64;
  iwarp::Qp* qp = *dev.create_qp(init);
  const auto reg = [&](std::size_t n) {
    Buf b;
    b.mem.resize(n);
    b.key = *dev.memory().register_mr(pd, b.mem.data(), n, 0,
                                      verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kZeroBased);
    return b;
  };
  Buf big = reg(kMax), small = reg(64);
  std::vector<std::string> problems;
  bool connected = false, disconnected = false;
  const auto deadline = Clk::now() + std::chrono::seconds(120);
  std::array<verbs::Cqe, 32> cqes;
  const auto post_recv = [&](Buf& b, std::size_t len) {
    roce::RecvWr r;
    r.num_sge = 1;
    r.sg[0] = {0, static_cast<std::uint32_t>(len), b.key};
    if (!dev.post_recv(*qp, r)) problems.push_back("post_recv failed");
  };

  if (server) {
    auto l = dev.listen({{}, port}, [&](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::connect_request) {
        const std::string pdtext = "rkey=" + std::to_string(big.key) + " len=" + std::to_string(kMax);
        std::vector<std::byte> pdb(pdtext.size());
        std::memcpy(pdb.data(), pdtext.data(), pdtext.size());
        cm::AcceptParams ap;
        ap.private_data = pdb;
        if (auto r = dev.accept(e.conn, *qp, ap, {}); !r) problems.push_back(r.error().message);
      } else if (e.type == cm::CmEvent::Type::established) {
        connected = true;
      } else if (e.type == cm::CmEvent::Type::disconnected) {
        disconnected = true;
        if (!e.peer_initiated) problems.push_back("disconnected here: " + e.message);
      } else {
        problems.push_back(std::string(cm::event_name(e.type)) + ": " + e.message);
      }
    });
    if (!l) return fail(l.error().message);
    std::printf("iwarp_peer server: listening on port %u\n", port);
    std::fflush(stdout);
    post_recv(big, kMax);
    std::size_t received = 0;
    std::vector<std::byte> want(kMax);
    while (!disconnected && Clk::now() < deadline && problems.empty()) {
      dev.poll();
      const auto n = cq->poll(cqes);
      for (std::size_t i = 0; i < n; ++i) {
        const auto& c = cqes[i];
        if (c.status != verbs::WcStatus::success) {
          if (c.status != verbs::WcStatus::wr_flush_error) problems.push_back("completion " + std::string(verbs::to_string(c.status)));
          continue;
        }
        if (c.opcode != verbs::WcOpcode::recv) continue;
        pattern(want.data(), c.byte_len, static_cast<std::uint32_t>(c.byte_len));
        const bool ok = std::memcmp(want.data(), big.mem.data(), c.byte_len) == 0;
        if (!ok) problems.push_back("Send of " + std::to_string(c.byte_len) + " bytes arrived corrupted");
        ++received;
        post_recv(big, kMax);
        std::memcpy(small.mem.data(), ok ? "good" : "bad!", 4);
        roce::SendWr w;
        w.num_sge = 1;
        w.sg[0] = {0, 4, small.key};
        if (!dev.post_send(*qp, w)) problems.push_back("verdict send failed");
      }
    }
    for (auto& p : problems) std::fprintf(stderr, "iwarp_peer server: %s\n", p.c_str());
    std::printf("iwarp_peer server: %zu sends verified (crc %s)\n", received, qp->crc ? "on" : "off");
    return problems.empty() && connected && disconnected && received == std::size(kSizes) ? 0 : 1;
  }

  wire::Ipv6Addr dst{};
  if (!parse_ip(argv[3], dst)) return fail(std::string("not an IP address: ") + argv[3]);
  std::uint32_t rkey = 0;
  cm::ConnectParams p;
  p.remote = {dst, port};
  auto id = dev.connect(*qp, p, [&](const cm::CmEvent& e) {
    if (e.type == cm::CmEvent::Type::established) {
      std::string t(reinterpret_cast<const char*>(e.private_data.data()), e.private_data.size());
      unsigned long k = 0, len = 0;
      if (std::sscanf(t.c_str(), "rkey=%lu len=%lu", &k, &len) != 2 || len != kMax)
        problems.push_back("server private data '" + t + "'");
      rkey = static_cast<std::uint32_t>(k);
      connected = true;
    } else if (e.type == cm::CmEvent::Type::disconnected) {
      disconnected = true;
    } else {
      problems.push_back(std::string(cm::event_name(e.type)) + ": " + e.message);
    }
  });
  if (!id) return fail(id.error().message);
  while (!connected && Clk::now() < deadline && problems.empty()) dev.poll();
  Buf back = reg(kMax);
  // Waits for one completion of the given opcode; false on error or timeout.
  const auto wait = [&](verbs::WcOpcode op) {
    while (Clk::now() < deadline && problems.empty()) {
      dev.poll();
      const auto n = cq->poll(cqes);
      bool got = false;
      for (std::size_t i = 0; i < n; ++i) {
        if (cqes[i].status != verbs::WcStatus::success) {
          problems.push_back("completion " + std::string(verbs::to_string(cqes[i].status)));
          return false;
        }
        got = got || cqes[i].opcode == op;
      }
      if (got) return true;
    }
    return false;
  };
  const auto t0 = Clk::now();
  for (const std::size_t size : kSizes) {
    if (!problems.empty()) break;
    pattern(big.mem.data(), size, static_cast<std::uint32_t>(size));
    post_recv(small, 64);
    roce::SendWr w;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {0, static_cast<std::uint32_t>(size), big.key};
    if (!dev.post_send(*qp, w) || !wait(verbs::WcOpcode::recv)) break;
    if (std::memcmp(small.mem.data(), "good", 4) != 0) problems.push_back("the server saw a bad Send of " + std::to_string(size));
    pattern(big.mem.data(), size, static_cast<std::uint32_t>(size) + 7);
    w.opcode = verbs::WrOpcode::rdma_write;
    w.rkey = rkey;
    w.remote_addr = 0;
    if (!dev.post_send(*qp, w) || !wait(verbs::WcOpcode::rdma_write)) break;
    w.opcode = verbs::WrOpcode::rdma_read;
    w.sg[0] = {0, static_cast<std::uint32_t>(size), back.key};
    if (!dev.post_send(*qp, w) || !wait(verbs::WcOpcode::rdma_read)) break;
    if (std::memcmp(back.mem.data(), big.mem.data(), size) != 0)
      problems.push_back("Write then Read of " + std::to_string(size) + " bytes came back different");
  }
  const double secs = std::chrono::duration<double>(Clk::now() - t0).count();
  if (problems.empty()) {
    if (auto r = dev.disconnect(*id); !r) problems.push_back(r.error().message);
  }
  const auto linger = Clk::now() + std::chrono::milliseconds(300);
  while (Clk::now() < linger) dev.poll();
  for (auto& q : problems) std::fprintf(stderr, "iwarp_peer client: %s\n", q.c_str());
  std::printf("iwarp_peer client: send/write/read of 0 B..16 MiB verified in %.2f s (crc %s)\n", secs,
              qp->crc ? "on" : "off");
  return problems.empty() ? 0 : 1;
}
