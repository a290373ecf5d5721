// `softrnic rping`: rdmacm-utils' rping (same flags, same protocol: rping_format.hpp) over the
// RDMA CM of RoCEv2 or over iWARP, so either side can be the real rping.
#include <unistd.h>

#include <ostream>

#include "command.hpp"
#include "hosted_devices.hpp"
#include "interrupt.hpp"
#include "rping_format.hpp"
#include "rping_session.hpp"
#include "socket_util.hpp"

namespace softrnic::cli {
namespace {

constexpr int kExitFailed = 1;
constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports it
// Each device gets a control socket, so `softrnic stats -d NAME` can watch a run.
constexpr bool kControlSockets = true;

struct RpingCommand {
  bool server = false, client = false;
  std::string addr, source;
  int port = kRpingDefaultPort;
  int count = 0;
  int size = kRpingDefaultSize;
  bool verbose = false, validate = false, debug = false, persistent = false, self_qp = false;
  DeviceOptions dev;
  std::string proto = "roce";
  double timeout = 10;
};

int run_rping(const RpingCommand& c, std::ostream& out, std::ostream& err) {
  auto usage = [&](const std::string& m) {
    err << "softrnic rping: " << m << "\n";
    return kExitUsage;
  };
  auto fail = [&](const std::string& m) {
    err << "softrnic rping: " << m << "\n";
    return kExitFailed;
  };
  if (c.server == c.client) return usage("give -s (server) or -c (client)");
  if (c.client && c.addr.empty()) return usage("-c needs -a ADDRESS, the server's address");
  std::optional<wire::Ipv6Addr> addr, source;
  if (!c.addr.empty()) {
    auto a = resolve_address(c.addr);
    if (!a) return usage("-a " + a.error().message);
    addr = *a;
  }
  if (!c.source.empty()) {
    auto a = resolve_address(c.source);
    if (!a) return usage("-I " + a.error().message);
    source = *a;
  }
  const bool explicit_dev = !c.dev.specs.empty() || !c.dev.config.empty();
  std::vector<std::string> defaults;
  DeviceOptions o = c.dev;
  if (!explicit_dev) {
    // The default device: RoCEv2 (or iWARP with --proto iwarp) on a kernel socket at the address
    // this side uses: the server's -a, the client's -I or its route toward the server.
    std::optional<wire::Ipv6Addr> local;
    if (c.server) {
      if (!addr)
        return usage(
            "-s without -a: the default device binds to the address -a gives; give "
            "-a ADDRESS or --dev SPEC");
      local = addr;
    } else if (source) {
      local = source;
    } else {
      auto r = route_source(*addr);
      if (!r) return fail(r.error().message);
      local = *r;
    }
    o.name = c.dev.name.empty() ? "srn" + std::to_string(::getpid()) : c.dev.name;
    auto spec = uring_spec_at(o.name, *local, c.proto == "iwarp");
    if (!spec) return fail("default device: " + spec.error().message);
    defaults.push_back(*spec);
    if (!source && c.client) source = local;
  }
  auto hosted = HostedDevices::open(o, defaults, kControlSockets);
  if (!hosted) return fail(hosted.error().message);
  HostedDevices& h = **hosted;

  RpingConfig rc;
  rc.size = c.size;
  rc.count = c.count;
  rc.verbose = c.verbose;
  rc.validate = c.validate;
  rc.debug = c.debug;
  rc.persistent = c.persistent;
  rc.timeout = std::chrono::milliseconds(static_cast<long long>(c.timeout * 1000));
  const auto port = static_cast<std::uint16_t>(c.port);
  cm::ConnectParams cp;
  if (c.client) {
    cp.remote = {*addr, port};
    cp.local_ip = source;
  }
  const cm::Address at{addr.value_or(wire::Ipv6Addr{}), port};

  catch_interrupts();
  RpingResult res;
  if (roce::Device* d = h.roce()) {
    auto m = cm::ConnectionManager::create(*d);
    if (!m) return fail("the connection manager: " + m.error().message);
    RoceSide side{h, *d, **m};
    res = c.client ? run_rping_client(side, rc, cp, out, err)
                   : run_rping_server(side, rc, at, out, err);
  } else if (iwarp::Device* d = h.iwarp()) {
    IwarpSide side{h, *d, *d};
    res = c.client ? run_rping_client(side, rc, cp, out, err)
                   : run_rping_server(side, rc, at, out, err);
  } else {
    return fail("the device is neither RoCEv2 nor iWARP");
  }
  if (c.debug) out << "done: " << res.pings << " pings" << std::endl;
  if (!res.error.empty()) {
    err << "softrnic rping: " << res.error << " (" << res.pings << " pings done)\n";
    return res.interrupted ? kExitInterrupted : kExitFailed;
  }
  if (res.interrupted) {
    err << "softrnic rping: interrupted after " << res.pings << " pings\n";
    return kExitInterrupted;
  }
  return 0;
}

}  // namespace

void add_rping_command(CLI::App& app, CommandList& list) {
  auto c = std::make_shared<RpingCommand>();
  auto* sub = app.add_subcommand(
      "rping",
      "RDMA ping-pong over the RDMA CM, compatible with rdmacm-utils' rping (same flags, same "
      "protocol), on RoCEv2 and iWARP: the client advertises a buffer, the server RDMA-Reads it, "
      "then RDMA-Writes it back into the client's second buffer. Default device (without "
      "--dev/--config): RoCEv2 (--proto iwarp: iWARP) on a kernel socket (port=uring) at the "
      "server's -a address, or at the client's -I address or else the address the kernel routes "
      "toward -a from. Exit 0 done, 1 failed (timeout, rejected, data mismatch), 2 bad usage, "
      "130 Ctrl-C");
  auto* s = sub->add_flag("-s", c->server, "Server side");
  sub->add_flag("-c", c->client, "Client side")->excludes(s);
  sub->add_option("-a", c->addr,
                  "Address: the server's (client), the one to listen on (server; default: every "
                  "address of the device given with --dev; with IPv6, e.g. -a fd00:5052::1)");
  sub->add_option("-I", c->source, "Source address to bind to for the client");
  sub->add_option("-p", c->port, "Port (default 7174): the RDMA CM port space, TCP's on iWARP")
      ->check(CLI::Range(1, 65535));
  sub->add_option("-C", c->count, "Ping count (default 0: until Ctrl-C)")
      ->check(CLI::Range(0, 2147483647));
  sub->add_option("-S", c->size,
                  "Ping data size, " + std::to_string(kRpingMinSize) + " to " +
                      std::to_string(kRpingMaxSize) + " (default 64)")
      ->check(CLI::Range(kRpingMinSize, kRpingMaxSize));
  sub->add_flag("-v", c->verbose, "Display ping data to stdout");
  sub->add_flag("-V", c->validate, "Validate ping data");
  sub->add_flag("-P", c->persistent,
                "Persistent server: keep serving clients, several at once, until Ctrl-C");
  sub->add_flag(
      "-q", c->self_qp,
      "Use a self-created, self-modified QP (accepted: softrnic's connection calls always "
      "drive the consumer's QP, with the same result)");
  add_device_options(*sub, c->dev);
  // rping's -d is its debug switch: the device is named with --ib-dev only.
  if (auto* d = sub->get_option_no_throw("--ib-dev")) sub->remove_option(d);
  sub->add_option("--ib-dev", c->dev.name,
                  "Use this device (default: the first one created; without --dev, the name of the "
                  "default device)");
  sub->add_flag("-d", c->debug, "Debug printfs");
  sub->add_option("--proto", c->proto, "The default device's wire: roce or iwarp (default roce)")
      ->check(CLI::IsMember({"roce", "iwarp"}));
  sub->add_option("--timeout", c->timeout,
                  "Seconds to wait for a peer that should answer: connection set-up and each step "
                  "of a ping (default 10; a server waits for its first client forever)")
      ->check(CLI::Range(0.1, 3600.0));
  list.push_back(
      {sub, [c](std::ostream& out, std::ostream& err) { return run_rping(*c, out, err); }});
}

}  // namespace softrnic::cli
