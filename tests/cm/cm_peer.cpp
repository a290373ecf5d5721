// One side of a two-process CM test: builds a device from a spec and, as server, listens on a port
// and accepts every request (answering "srv:" + the client's private data), echoing each SEND;
// as client, connects N RC QPs by address with private data, checks the reply's private data,
// sends one message per connection and waits for its echo, then disconnects them all. Exit 0 when
// every step worked. The client prints connection setup latency (connect -> established) and rate.
//
//   cm_peer SPEC server PORT N [MODE]
//   cm_peer SPEC client ADDR PORT N [MODE]
// MODE: accept (default: the client disconnects), server-disconnects (after the echo the server
// sends the DREQs), reject (the server refuses every request with private data "no:" + tag).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../common/text_bytes.hpp"
#include "cm/connection_manager.hpp"
#include "factory/device_set.hpp"

using namespace softrnic;
using Clk = std::chrono::steady_clock;
using test::bytes_of;
using test::parse_ip;
using test::text_of;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "cm_peer: %s\n", what.c_str());
  return 1;
}

// One connection's QP with a registered buffer for one message each way.
struct Link {
  roce::Qp* qp = nullptr;
  cm::ConnId conn = 0;
  std::vector<std::byte> rx = std::vector<std::byte>(64), tx = std::vector<std::byte>(64);
  verbs::MemKeyRaw rx_key = 0, tx_key = 0;
  Clk::time_point started{};
  double setup_us = 0;
  bool established = false, echoed = false, disconnected = false;
  std::string tag;
};

class Peer {
 public:
  Peer(roce::Device& dev, cm::ConnectionManager& cm) : dev_(dev), cm_(cm) {
    pd_ = *dev.memory().alloc_pd();
    cq_ = *dev.create_cq(4096);
  }

  Link& new_link() {
    links_.push_back(std::make_unique<Link>());
    Link& l = *links_.back();
    roce::QpInit init;
    init.pd = pd_;
    init.send_cq = init.recv_cq = cq_;
    init.sq_depth = init.rq_depth = 8;
    l.qp = *dev_.create_qp(init);
    l.rx_key = *dev_.memory().register_mr(pd_, l.rx.data(), l.rx.size(), 0, verbs::kLocalWrite | verbs::kZeroBased);
    l.tx_key = *dev_.memory().register_mr(pd_, l.tx.data(), l.tx.size(), 0, verbs::kZeroBased);
    by_qpn_[l.qp->qpn] = &l;
    return l;
  }

  bool post_recv(Link& l) {
    roce::RecvWr r;
    r.wr_id = l.qp->qpn;
    r.num_sge = 1;
    r.sg[0] = {0, 64, l.rx_key};
    return static_cast<bool>(dev_.post_recv(*l.qp, r));
  }
  bool send(Link& l, const std::string& text) {
    std::memset(l.tx.data(), 0, l.tx.size());
    std::memcpy(l.tx.data(), text.data(), text.size());
    roce::SendWr w;
    w.wr_id = l.qp->qpn;
    w.flags = verbs::kSignaled;
    w.num_sge = 1;
    w.sg[0] = {0, 64, l.tx_key};
    return static_cast<bool>(dev_.post_send(*l.qp, w));
  }

  // One round of the engine, the CM and the CQ; on_recv gets the link a message arrived on.
  template <class F>
  void poll(F&& on_recv) {
    dev_.poll();
    cm_.poll();
    std::array<verbs::Cqe, 32> c;
    const auto n = cq_->poll(c);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].status != verbs::WcStatus::success) {
        errors_.push_back("completion status " + std::to_string(static_cast<int>(c[i].status)) + " on QP " +
                          std::to_string(c[i].qp_num));
        continue;
      }
      if (c[i].opcode == verbs::WcOpcode::recv) on_recv(*by_qpn_.at(c[i].qp_num));
    }
  }

  std::vector<std::unique_ptr<Link>> links_;
  std::map<std::uint32_t, Link*> by_qpn_;
  std::map<cm::ConnId, Link*> by_conn_;
  std::vector<std::string> errors_;

 private:
  roce::Device& dev_;
  cm::ConnectionManager& cm_;
  verbs::PdHandle pd_ = 0;
  verbs::Cq* cq_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return fail("usage: cm_peer SPEC server PORT N | cm_peer SPEC client ADDR PORT N");
  auto spec = transport::parse_device_spec(argv[1]);
  if (!spec) return fail(spec.error().message);
  const bool server = std::string(argv[2]) == "server";
  if (!server && argc < 6) return fail("client needs ADDR PORT N");
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[server ? 3 : 4]));
  const int n = std::stoi(argv[server ? 4 : 5]);
  const int mode_arg = server ? 5 : 6;
  const std::string mode = argc > mode_arg ? argv[mode_arg] : "accept";
  if (mode != "accept" && mode != "server-disconnects" && mode != "reject")
    return fail("MODE is accept, server-disconnects or reject, not " + mode);
  const bool rejecting = mode == "reject";
  const bool server_disconnects = mode == "server-disconnects";
  SteadyClock clock;
  transport::DeviceSet set;
  if (auto r = set.build({*spec}, clock); !r) return fail(r.error().message);
  roce::Device& dev = *set.device(spec->name);
  auto made = cm::ConnectionManager::create(dev);
  if (!made) return fail(made.error().message);
  cm::ConnectionManager& cmgr = **made;
  Peer peer(dev, cmgr);
  std::vector<std::string> problems;
  const auto deadline = Clk::now() + std::chrono::seconds(40);

  if (server) {
    int disconnected = 0, echoed = 0;
    auto l = cmgr.listen({{}, port}, [&](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::connect_request && rejecting) {
        const auto no = bytes_of("no:" + text_of(e.private_data));
        if (auto r = cmgr.reject(e.conn, no); !r) problems.push_back(r.error().message);
        ++disconnected, ++echoed;  // nothing else will happen on this one
      } else if (e.type == cm::CmEvent::Type::connect_request) {
        Link& link = peer.new_link();
        link.tag = text_of(e.private_data);
        const auto reply = bytes_of("srv:" + link.tag);
        cm::AcceptParams ap;
        ap.private_data = reply;
        if (auto r = cmgr.accept(e.conn, *link.qp, ap, {}); !r) problems.push_back(r.error().message);
        if (!peer.post_recv(link)) problems.push_back("post_recv failed");
        peer.by_conn_[e.conn] = &link;
      } else if (e.type == cm::CmEvent::Type::disconnected) {
        disconnected++;
      } else if (e.type != cm::CmEvent::Type::established) {
        problems.push_back(std::string(cm::event_name(e.type)) + ": " + e.message);
      }
    });
    if (!l) return fail(l.error().message);
    std::printf("cm_peer server: listening on port %u\n", port);
    std::fflush(stdout);
    bool disconnecting = false;
    while ((disconnected < n || echoed < n) && Clk::now() < deadline && problems.empty()) {
      peer.poll([&](Link& link) {
        if (!peer.send(link, "echo:" + text_of(link.rx))) problems.push_back("echo send failed");
        echoed++;
      });
      if (server_disconnects && !disconnecting && echoed == n) {
        // Let the echoes be acknowledged first: the DREQ must not overtake them.
        const auto settle = Clk::now() + std::chrono::milliseconds(100);
        while (Clk::now() < settle) peer.poll([](Link&) {});
        disconnecting = true;
        for (auto& [id, link] : peer.by_conn_) {
          if (auto r = cmgr.disconnect(id); !r) problems.push_back(r.error().message);
        }
      }
    }
    // Linger so the last DREP/ACKs reach the client.
    const auto linger = Clk::now() + std::chrono::milliseconds(300);
    while (Clk::now() < linger) peer.poll([](Link&) {});
    for (auto& p : peer.errors_) problems.push_back(p);
    for (auto& p : problems) std::fprintf(stderr, "cm_peer server: %s\n", p.c_str());
    std::printf("cm_peer server: %d echoed, %d disconnected (cm: %llu retransmits)\n", echoed, disconnected,
                static_cast<unsigned long long>(cmgr.counters().get(cm::CmCounter::retransmits)));
    return problems.empty() && disconnected == n && echoed == n ? 0 : 1;
  }

  wire::Ipv6Addr dst{};
  if (!parse_ip(argv[3], dst)) return fail(std::string("not an IP address: ") + argv[3]);
  int established = 0, echoed = 0, disconnected = 0, rejected = 0;
  const auto t0 = Clk::now();
  Clk::time_point all_up{};
  for (int i = 0; i < n; ++i) {
    Link& link = peer.new_link();
    link.tag = "c" + std::to_string(i);
    const auto pd = bytes_of(link.tag);
    cm::ConnectParams p;
    p.remote = {dst, port};
    p.private_data = pd;
    link.started = Clk::now();
    Link* lp = &link;
    auto id = cmgr.connect(*link.qp, p, [&, lp](const cm::CmEvent& e) {
      if (e.type == cm::CmEvent::Type::established) {
        lp->setup_us = std::chrono::duration<double, std::micro>(Clk::now() - lp->started).count();
        if (text_of(e.private_data) != "srv:" + lp->tag)
          problems.push_back("connection " + lp->tag + ": reply private data '" + text_of(e.private_data) + "'");
        if (!peer.post_recv(*lp) || !peer.send(*lp, "msg:" + lp->tag)) problems.push_back("post failed");
        if (++established == n) all_up = Clk::now();
      } else if (e.type == cm::CmEvent::Type::disconnected) {
        if (e.peer_initiated != server_disconnects) problems.push_back("disconnect from the wrong side");
        disconnected++;
      } else if (e.type == cm::CmEvent::Type::rejected && rejecting) {
        if (e.reject_reason != 28 || text_of(e.private_data) != "no:" + lp->tag)
          problems.push_back("reject of " + lp->tag + ": reason " + std::to_string(e.reject_reason) + ", '" +
                             text_of(e.private_data) + "'");
        rejected++;
      } else {
        problems.push_back(std::string(cm::event_name(e.type)) + ": " + e.message);
      }
    });
    if (!id) return fail(id.error().message);
    link.conn = *id;
  }
  bool disconnecting = false;
  if (rejecting) {
    while (rejected < n && Clk::now() < deadline && problems.empty()) peer.poll([](Link&) {});
    for (auto& p : problems) std::fprintf(stderr, "cm_peer client: %s\n", p.c_str());
    std::printf("cm_peer client: %d rejected with private data\n", rejected);
    return problems.empty() && rejected == n ? 0 : 1;
  }
  while (disconnected < n && Clk::now() < deadline && problems.empty()) {
    peer.poll([&](Link& link) {
      if (text_of(link.rx) != "echo:msg:" + link.tag)
        problems.push_back("connection " + link.tag + " echoed '" + text_of(link.rx) + "'");
      echoed++;
    });
    if (!disconnecting && echoed == n && !server_disconnects) {
      disconnecting = true;
      for (auto& l : peer.links_) {
        if (auto r = cmgr.disconnect(l->conn); !r) problems.push_back(r.error().message);
      }
    }
  }
  // Linger so the last DREPs (or ACKs) leave before the process does.
  const auto linger = Clk::now() + std::chrono::milliseconds(300);
  while (Clk::now() < linger) peer.poll([](Link&) {});
  for (auto& p : peer.errors_) problems.push_back(p);
  for (auto& p : problems) std::fprintf(stderr, "cm_peer client: %s\n", p.c_str());
  std::vector<double> lat;
  for (auto& l : peer.links_) lat.push_back(l->setup_us);
  std::sort(lat.begin(), lat.end());
  const double total_s = std::chrono::duration<double>(all_up - t0).count();
  std::printf("cm_peer client: %d established, %d echoed, %d disconnected\n", established, echoed, disconnected);
  if (established == n && n > 0) {
    std::printf("cm_peer client: setup latency p50 %.0f us, p99 %.0f us; %d connections in %.3f s = %.0f conn/s\n",
                lat[lat.size() / 2], lat[std::min(lat.size() - 1, lat.size() * 99 / 100)], n, total_s,
                n / total_s);
  }
  return problems.empty() && established == n && echoed == n && disconnected == n ? 0 : 1;
}
