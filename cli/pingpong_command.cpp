// `softrnic rc_pingpong` and `softrnic ud_pingpong`: rdma-core's ibv_rc_pingpong / ibv_ud_pingpong
// with the same flags, the same TCP exchange (pingpong_format.hpp) and the same output, so either
// side can be rdma-core's tool. Server when no host is given, client with a host.
#include <unistd.h>

#include <chrono>
#include <ostream>

#include "base/random.hpp"
#include "command.hpp"
#include "engine/gid_table.hpp"
#include "hosted_devices.hpp"
#include "interrupt.hpp"
#include "pingpong_format.hpp"
#include "pingpong_session.hpp"
#include "socket_util.hpp"

namespace softrnic::cli {
namespace {

using Clk = std::chrono::steady_clock;
constexpr int kExitFailed = 1;
constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports it
// Each device gets a control socket, so `softrnic stats -d NAME` can watch a run.
constexpr bool kControlSockets = true;

struct PingpongCommand {
  bool ud = false;
  DeviceOptions dev;
  std::string host;
  int port = kPingpongDefaultPort;
  int ib_port = 1;
  std::uint32_t size = 4096;
  int mtu = 1024;
  std::uint32_t rx_depth = 500;
  std::uint32_t iters = 1000;
  int sl = 0;
  bool events = false;
  int gid_idx = -1;
  bool odp = false, iodp = false, prefetch = false, ts = false, chk = false, dm = false;
  bool new_send = false;
  double timeout = 10;

  std::string tool() const { return ud ? "ud_pingpong" : "rc_pingpong"; }
};

std::string gid_list(const engine::GidTable& t) {
  std::string s;
  for (std::size_t i = 0; i < engine::GidTable::kCapacity; ++i)
    if (const auto* e = t.at(i))
      s += (s.empty() ? "" : ", ") + std::to_string(i) + " " + gid_text(e->gid);
  return s.empty() ? "none" : s;
}

// Our GID: -g's entry, else `near` when it is one of ours (the address the exchange runs on),
// else the device's address of the peer's family (server) or its first address (client).
Result<wire::Ipv6Addr> choose_gid(roce::Device& d, int idx, const wire::Ipv6Addr& near,
                                  const wire::Ipv6Addr* peer) {
  const auto& t = d.gid_table();
  if (idx >= 0) {
    if (const auto* e = t.at(static_cast<std::size_t>(idx))) return e->gid;
    return make_error(Errc::not_found,
                      "-g " + std::to_string(idx) +
                          ": the device has no GID at that index (it has: " + gid_list(t) + ")");
  }
  if (t.find(near)) return near;
  if (peer != nullptr) {
    auto e = t.source_for(*peer);
    if (!e) return std::unexpected(e.error());
    return (*e)->gid;
  }
  if (d.config().gids.empty()) return make_error(Errc::not_found, "the device has no address");
  return d.config().gids.front();
}

Result<void> check_peer_gid(const wire::Ipv6Addr& mine, const wire::Ipv6Addr& peer) {
  if (peer == wire::Ipv6Addr{})
    return make_error(Errc::invalid_argument,
                      "the peer sent no GID (::); RoCE needs one: run rdma-core's tool with "
                      "-g GID_INDEX");
  if (wire::is_ipv4_mapped(mine) != wire::is_ipv4_mapped(peer))
    return make_error(Errc::invalid_argument,
                      "the peer's GID " + gid_text(peer) + " and ours " + gid_text(mine) +
                          " are of different IP families; choose GIDs of one family with -g");
  return {};
}

class PingpongRun {
 public:
  PingpongRun(const PingpongCommand& c, std::ostream& out, std::ostream& err)
      : c_(c), out_(out), err_(err) {}

  int run() {
    if (c_.odp || c_.iodp)
      return usage(
          "-o/--odp, -O/--iodp: on-demand paging is not supported: softrnic registers "
          "pinned host memory; run without it");
    if (c_.prefetch)
      return usage(
          "-P/--prefetch: prefetch is valid only with an on-demand memory region (-o), "
          "which softrnic does not have");
    if (c_.ts) return usage("-t/--ts: completion timestamps are not supported; run without it");
    if (c_.dm) return usage("-j/--dm: device memory is not supported; run without it");
    if (c_.ib_port != 1)
      return usage("-i/--ib-port " + std::to_string(c_.ib_port) +
                   ": a softrnic device has one port, 1");
    explicit_dev_ = !c_.dev.specs.empty() || !c_.dev.config.empty();
    if (explicit_dev_) {
      auto specs = device_specs(c_.dev, {});
      if (!specs) return fail(specs.error().message);
      for (const auto& s : *specs)
        if ((c_.dev.name.empty() || s.name == c_.dev.name) &&
            s.proto == transport::DeviceProto::iwarp)
          return usage("device " + s.name +
                       " is iWARP: iWARP has no pingpong without the CM (its QPs are connected "
                       "by MPA over TCP, not by a QPN/PSN exchange); use `softrnic rping` on it, "
                       "or a RoCEv2 device here");
      auto h = HostedDevices::open(c_.dev, {}, kControlSockets);
      if (!h) return fail(h.error().message);
      hosted_ = std::move(*h);
    }
    catch_interrupts();
    psn_ = secure_random<std::uint32_t>() & 0xffffff;  // a peer must not guess it
    const int rc = c_.host.empty() ? serve() : connect();
    if (rc != 0) return rc;
    return exchange_and_report();
  }

 private:
  SteadyTime deadline() const {
    return Clk::now() + std::chrono::milliseconds(static_cast<long long>(c_.timeout * 1000));
  }
  int usage(const std::string& m) {
    err_ << "softrnic " << c_.tool() << ": " << m << "\n";
    return kExitUsage;
  }
  int fail(const std::string& m) {
    err_ << "softrnic " << c_.tool() << ": " << m << "\n";
    return interrupted() ? kExitInterrupted : kExitFailed;
  }

  // The default device: RoCEv2 on a kernel UDP socket at the address the exchange runs on.
  int open_default(const wire::Ipv6Addr& addr) {
    if (hosted_) return 0;
    const std::string name = c_.dev.name.empty() ? "srn" + std::to_string(::getpid()) : c_.dev.name;
    auto spec = uring_spec_at(name, addr);
    if (!spec) return fail("default device: " + spec.error().message);
    DeviceOptions o = c_.dev;
    o.name = name;
    auto h = HostedDevices::open(o, {*spec}, kControlSockets);
    if (!h) return fail("default device " + *spec + ": " + h.error().message);
    hosted_ = std::move(*h);
    return 0;
  }

  // Device, QP and our GID; prints the local address line.
  int prepare(const wire::Ipv6Addr& near, const wire::Ipv6Addr* peer) {
    roce::Device* dev = hosted_->roce();
    if (dev == nullptr) return fail("the device is not a RoCEv2 device");
    auto gid = choose_gid(*dev, c_.gid_idx, near, peer);
    if (!gid) return usage(gid.error().message);
    gid_ = *gid;
    const auto v = wire::is_ipv4_mapped(gid_) ? wire::IpVersion::v4 : wire::IpVersion::v6;
    const std::uint32_t active = dev->active_mtu(v);
    if (c_.ud && c_.size > active)
      return fail("Requested size larger than port MTU (" + std::to_string(active) + ")");
    if (!c_.ud && static_cast<std::uint32_t>(c_.mtu) > active)
      return fail("-m " + std::to_string(c_.mtu) + ": larger than the device's active MTU " +
                  std::to_string(active) + " over IPv" + (v == wire::IpVersion::v4 ? "4" : "6"));
    PingpongConfig pc;
    pc.ud = c_.ud;
    pc.size = c_.size;
    pc.rx_depth = c_.rx_depth;
    pc.iters = c_.iters;
    pc.mtu = static_cast<std::uint32_t>(c_.mtu);
    pc.events = c_.events;
    pc.validate = c_.chk;
    pc.timeout = std::chrono::milliseconds(static_cast<long long>(c_.timeout * 1000));
    auto s = PingpongSession::create(*hosted_, pc);
    if (!s) return fail(s.error().message);
    session_ = std::move(*s);
    me_ = {0, session_->qpn(), psn_, gid_};
    out_ << address_line(true, me_, c_.ud) << std::flush;
    return 0;
  }

  int connect() {
    auto fd = tcp_connect(c_.host, static_cast<std::uint16_t>(c_.port), deadline());
    if (!fd)
      return fail("Couldn't connect to " + c_.host + ":" + std::to_string(c_.port) + ": " +
                  fd.error().message);
    auto local = local_address(fd->get());
    if (!local) return fail(local.error().message);
    if (int rc = open_default(*local); rc != 0) return rc;
    if (int rc = prepare(*local, nullptr); rc != 0) return rc;
    const PingpongMsg mine = format_pingpong_dest(me_);
    PingpongMsg theirs{};
    if (auto r = write_all(fd->get(), mine, deadline()); !r)
      return fail("Couldn't send local address: " + r.error().message);
    if (auto r = read_exact(fd->get(), theirs, deadline()); !r)
      return fail("Couldn't read remote address: " + r.error().message);
    if (auto r = write_all(fd->get(), std::span<const char>("done", kPingpongDoneSize), deadline());
        !r)
      return fail("Couldn't write done: " + r.error().message);
    auto peer = parse_pingpong_dest(theirs);
    if (!peer) return fail("the server's address message: " + peer.error().message);
    peer_ = *peer;
    out_ << address_line(false, peer_) << std::flush;
    if (auto r = check_peer_gid(gid_, peer_.gid); !r) return fail(r.error().message);
    if (auto r = session_->connect(gid_, psn_, peer_); !r) return fail(r.error().message);
    return 0;
  }

  int serve() {
    auto fd = tcp_accept_one(static_cast<std::uint16_t>(c_.port), kNoDeadline);
    if (!fd) return fail(fd.error().message);
    PingpongMsg theirs{};
    if (auto r = read_exact(fd->get(), theirs, deadline()); !r)
      return fail("Couldn't read remote address: " + r.error().message);
    auto peer = parse_pingpong_dest(theirs);
    if (!peer) return fail("the client's address message: " + peer.error().message);
    peer_ = *peer;
    auto local = local_address(fd->get());
    if (!local) return fail(local.error().message);
    // The client's GID may be of another family than the exchange: the kernel's route to it names
    // our address of that family.
    wire::Ipv6Addr near = *local;
    if (peer_.gid != wire::Ipv6Addr{} && wire::is_ipv4_mapped(peer_.gid) != wire::is_ipv4_mapped(near)) {
      if (auto src = route_source(peer_.gid)) near = *src;
    }
    if (int rc = open_default(near); rc != 0) return rc;
    if (int rc = prepare(near, &peer_.gid); rc != 0) return rc;
    out_ << address_line(false, peer_) << std::flush;
    if (auto r = check_peer_gid(gid_, peer_.gid); !r) return fail(r.error().message);
    if (auto r = session_->connect(gid_, psn_, peer_); !r)
      return fail("Couldn't connect to remote QP: " + r.error().message);
    const PingpongMsg mine = format_pingpong_dest(me_);
    if (auto r = write_all(fd->get(), mine, deadline()); !r)
      return fail("Couldn't send local address: " + r.error().message);
    std::array<char, kPingpongDoneSize> done{};
    if (auto r = read_exact(fd->get(), done, deadline()); !r)
      return fail("Couldn't recv done: " + r.error().message);
    return 0;
  }

  int exchange_and_report() {
    const PingpongOutcome r = session_->run(!c_.host.empty());
    if (!r.error.empty()) {
      err_ << "softrnic " << c_.tool() << ": " << r.error << " (" << r.iters_done() << " of "
           << c_.iters << " iterations done)\n";
      return kExitFailed;
    }
    out_ << result_lines(c_.size, r.interrupted ? r.iters_done() : c_.iters, r.usec);
    for (std::size_t p : r.bad_pages) out_ << "invalid data in page " << p << "\n";
    out_ << std::flush;
    if (r.interrupted) {
      err_ << "softrnic " << c_.tool() << ": interrupted after " << r.iters_done() << " of "
           << c_.iters << " iterations\n";
      return kExitInterrupted;
    }
    return r.bad_pages.empty() ? 0 : kExitFailed;
  }

  const PingpongCommand& c_;
  std::ostream& out_;
  std::ostream& err_;
  bool explicit_dev_ = false;
  std::unique_ptr<HostedDevices> hosted_;
  std::unique_ptr<PingpongSession> session_;
  std::uint32_t psn_ = 0;
  wire::Ipv6Addr gid_{};
  PingpongDest me_, peer_;
};

void add_pingpong(CLI::App& app, CommandList& list, bool ud) {
  auto c = std::make_shared<PingpongCommand>();
  c->ud = ud;
  if (ud) c->size = 1024;
  const std::string name = ud ? "ud_pingpong" : "rc_pingpong";
  auto* sub = app.add_subcommand(
      name,
      std::string(ud ? "UD" : "RC") + " Send ping-pong, compatible with rdma-core's ibv_" + name +
          " (same flags, same TCP exchange on port 18515, same output), so either side can be "
          "rdma-core's tool. Server without HOST, client with HOST. RoCEv2 only. Default device "
          "(without --dev/--config): RoCEv2 on a kernel UDP socket (port=uring, UDP 4791) at the "
          "local address of the TCP exchange (the client: the address it reaches HOST from; the "
          "server: the address the client reached, or the kernel's route source toward the "
          "client's GID when that is of the other IP family). Exit 0 done, 1 failed (timeout, "
          "peer error, -c mismatch), 2 bad usage, 130 Ctrl-C (the results so far are printed)");
  sub->add_option("host", c->host,
                  "The server to connect to (name or address); none: be the server");
  sub->add_option("-p,--port", c->port, "Listen on / connect to this TCP port (default 18515)")
      ->check(CLI::Range(1, 65535));
  add_device_options(*sub, c->dev);
  // One spec per --dev, so that `--dev SPEC HOST` leaves HOST to the positional.
  if (auto* d = sub->get_option_no_throw("--dev")) d->allow_extra_args(false);
  sub->add_option("-i,--ib-port", c->ib_port, "Port of the device (default 1; there is only 1)")
      ->check(CLI::Range(1, 255));
  sub->add_option("-s,--size", c->size,
                  std::string("Size of message to exchange (default ") + (ud ? "1024" : "4096") +
                      (ud ? "; at most the path MTU)" : ")"))
      ->check(CLI::Range(1u, 1u << 30));
  if (!ud)
    sub->add_option("-m,--mtu", c->mtu, "Path MTU: 256, 512, 1024, 2048 or 4096 (default 1024)")
        ->check(CLI::IsMember({256, 512, 1024, 2048, 4096}));
  sub->add_option("-r,--rx-depth", c->rx_depth, "Receives to post at a time (default 500)")
      ->check(CLI::Range(1u, 16383u));
  sub->add_option("-n,--iters", c->iters, "Number of exchanges (default 1000)")
      ->check(CLI::Range(1u, 2147483647u));
  sub->add_option("-l,--sl", c->sl, "Service level 0..15 (accepted; RoCEv2 carries none)")
      ->check(CLI::Range(0, 15));
  sub->add_flag("-e,--events", c->events, "Sleep on CQ events instead of polling the CQ");
  sub->add_option("-g,--gid-idx", c->gid_idx,
                  "Local GID index (softrnic devinfo lists them; default: the GID of the address "
                  "the exchange runs on; rdma-core's tool needs -g on RoCE)")
      ->check(CLI::Range(0, 15));
  sub->add_flag("-c,--chk", c->chk,
                "Validate the received buffer (prints 'invalid data in page N' and exits 1)");
  if (!ud) {
    sub->add_flag("-o,--odp", c->odp, "Use on-demand paging (refused: not supported)");
    sub->add_flag("-O,--iodp", c->iodp, "Use implicit on-demand paging (refused: not supported)");
    sub->add_flag("-P,--prefetch", c->prefetch, "Prefetch an ODP MR (refused: no ODP)");
    sub->add_flag("-t,--ts", c->ts, "Get CQEs with timestamps (refused: not supported)");
    sub->add_flag("-j,--dm", c->dm, "Use device memory (refused: not supported)");
    sub->add_flag("-N,--new_send", c->new_send, "Use the new post send WR API (same behaviour)");
  }
  sub->add_option("--timeout", c->timeout,
                  "Seconds to wait for a peer that should be answering: the TCP exchange, each "
                  "completion of the run (default 10; the server waits for its client forever)")
      ->check(CLI::Range(0.1, 3600.0));
  list.push_back({sub, [c](std::ostream& out, std::ostream& err) {
                    PingpongRun r(*c, out, err);
                    return r.run();
                  }});
}

}  // namespace

void add_rc_pingpong_command(CLI::App& app, CommandList& list) { add_pingpong(app, list, false); }
void add_ud_pingpong_command(CLI::App& app, CommandList& list) { add_pingpong(app, list, true); }

}  // namespace softrnic::cli
