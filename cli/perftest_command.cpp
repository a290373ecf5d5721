// `softrnic send_bw|write_bw|read_bw|atomic_bw|send_lat|write_lat|read_lat`: perftest's
// ib_*_bw / ib_*_lat on a soft RNIC, with perftest's flags, table and out-of-band exchange
// (perftest_oob.hpp gives the exchange step by step), so the real tools can be either peer.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>

#include "command.hpp"
#include "hosted_devices.hpp"
#include "interrupt.hpp"
#include "perftest_fabric.hpp"
#include "perftest_oob.hpp"
#include "perftest_command.hpp"
#include "perftest_run.hpp"

namespace softrnic::cli {
namespace perftest_detail {

const char* verb_title(pt::Verb v) {
  switch (v) {
    case pt::Verb::send: return "Send";
    case pt::Verb::write: return "RDMA_Write";
    case pt::Verb::read: return "RDMA_Read";
    case pt::Verb::atomic: return "Atomic";
  }
  return "?";
}

// An address text as a GID (IPv4 mapped); hostnames through the resolver.
Result<wire::Ipv6Addr> gid_of(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0)
    return make_error(Errc::invalid_argument, host + ": " + ::gai_strerror(rc));
  wire::Ipv6Addr g{};
  if (res->ai_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
    wire::Ipv4Addr v4;
    std::memcpy(v4.data(), &a->sin_addr, 4);
    g = wire::ipv4_mapped(v4);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(res->ai_addr);
    std::memcpy(g.data(), &a->sin6_addr, 16);
  }
  ::freeaddrinfo(res);
  return g;
}

std::string addr_text(const wire::Ipv6Addr& g) {
  if (wire::is_ipv4_mapped(g)) return wire::to_string(wire::Ipv4Addr{g[12], g[13], g[14], g[15]});
  return wire::to_string(g);
}

// The local address the kernel would use toward `peer` (a connected UDP socket sends nothing).
Result<wire::Ipv6Addr> route_source(const wire::Ipv6Addr& peer) {
  const bool v4 = wire::is_ipv4_mapped(peer);
  const int fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io_error, "socket: " + std::string(std::strerror(errno)));
  sockaddr_storage ss{};
  socklen_t len;
  if (v4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(4791);
    std::memcpy(&a->sin_addr, peer.data() + 12, 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(4791);
    std::memcpy(&a->sin6_addr, peer.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return make_error(Errc::io_error, "no route to " + addr_text(peer));
  }
  sockaddr_storage me{};
  socklen_t ml = sizeof me;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &ml);
  ::close(fd);
  wire::Ipv6Addr g{};
  if (v4) {
    wire::Ipv4Addr a;
    std::memcpy(a.data(), &reinterpret_cast<sockaddr_in*>(&me)->sin_addr, 4);
    g = wire::ipv4_mapped(a);
  } else {
    std::memcpy(g.data(), &reinterpret_cast<sockaddr_in6*>(&me)->sin6_addr, 16);
  }
  return g;
}

// The prefix length of a local address (from its interface), or 0 if none has it; with `any`,
// the first global address of the host (IPv4 first).
Result<std::pair<wire::Ipv6Addr, int>> local_address(const std::optional<wire::Ipv6Addr>& want) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return make_error(Errc::io_error, "getifaddrs failed");
  std::optional<std::pair<wire::Ipv6Addr, int>> found, first6;
  for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_netmask == nullptr) continue;
    wire::Ipv6Addr g{};
    int prefix = 0;
    if (i->ifa_addr->sa_family == AF_INET) {
      wire::Ipv4Addr a;
      std::memcpy(a.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
      g = wire::ipv4_mapped(a);
      std::uint32_t m;
      std::memcpy(&m, &reinterpret_cast<sockaddr_in*>(i->ifa_netmask)->sin_addr, 4);
      prefix = __builtin_popcount(m);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(g.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      const auto* m = reinterpret_cast<sockaddr_in6*>(i->ifa_netmask)->sin6_addr.s6_addr;
      for (int k = 0; k < 16; ++k) prefix += __builtin_popcount(m[k]);
    } else {
      continue;
    }
    if (want) {
      if (g == *want) found = {g, prefix};
      continue;
    }
    const bool loop = (wire::is_ipv4_mapped(g) && g[12] == 127) || g == wire::Ipv6Addr{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const bool link_local = !wire::is_ipv4_mapped(g) && g[0] == 0xfe && (g[1] & 0xc0) == 0x80;
    if (loop || link_local) continue;
    if (wire::is_ipv4_mapped(g)) found = {g, prefix};
    else if (!first6) first6 = {g, prefix};
  }
  ::freeifaddrs(list);
  if (!found && !want && first6) found = first6;
  if (!found)
    return make_error(Errc::not_found, want ? addr_text(*want) + " is not an address of this host"
                                            : "this host has no global address; give --source_ip or --dev");
  return *found;
}

// The default device: a RoCEv2 device on a kernel UDP socket (port=uring) bound to `local`.
std::string default_spec(const wire::Ipv6Addr& local, int prefix) {
  const bool v4 = wire::is_ipv4_mapped(local);
  return "name=srn0,proto=roce,port=uring," + std::string(v4 ? "ip4=" : "ip6=") + addr_text(local) +
         "/" + std::to_string(prefix > 0 ? prefix : (v4 ? 32 : 128));
}

void print_header(const PerftestCommand& c, const std::string& device, bool iwarp, int mtu_e,
                  int gid_index, std::ostream& out) {
  char line[160];
  out << kLine;
  out << "                    " << verb_title(c.verb) << " "
      << (c.verb == pt::Verb::atomic ? c.atomic_type + " " : "")
      << (c.test == pt::Test::bw ? "BW " : "Latency ") << "Test\n";
  std::snprintf(line, sizeof line, " Dual-port       : OFF\t\tDevice         : %s\n", device.c_str());
  out << line;
  std::snprintf(line, sizeof line, " Number of qps   : %d\t\tTransport type : %s\n", c.qps,
                iwarp ? "IW" : "IB");
  out << line;
  out << " Connection type : RC\t\tUsing SRQ      : OFF\n";
  out << " PCIe relax order: Unsupported\n";
  out << " ibv_wr* API     : OFF\n";
  if (!c.host.empty()) out << " TX depth        : " << c.tx_depth << "\n";
  if (c.verb == pt::Verb::send && c.host.empty()) out << " RX depth        : " << c.rx_depth << "\n";
  if (c.test == pt::Test::bw) out << " CQ Moderation   : " << c.cq_mod << "\n";
  out << " Mtu             : " << pt::mtu_bytes(mtu_e) << "[B]\n";
  out << " Link type       : Ethernet\n";
  out << " GID index       : " << gid_index << "\n";
  if (c.verb != pt::Verb::read && c.verb != pt::Verb::atomic) out << " Max inline data : 0[B]\n";
  else out << " Outstand reads  : 16\n";
  out << " rdma_cm QPs\t : " << (c.rdma_cm ? "ON" : "OFF") << "\n";
  out << " Data ex. method : " << (c.rdma_cm ? "rdma_cm" : "Ethernet") << "\n";
  out << kLine;
}

void print_dest(const char* side, const pt::Dest& d, pt::Verb v, std::ostream& out) {
  char line[200];
  std::snprintf(line, sizeof line, " %s address: LID %#04x QPN %#06x PSN %#06x", side, d.lid, d.qpn, d.psn);
  out << line;
  if (v == pt::Verb::read || v == pt::Verb::atomic) {
    std::snprintf(line, sizeof line, " OUT %#04x", d.out_reads);
    out << line;
  }
  if (v != pt::Verb::send) {
    std::snprintf(line, sizeof line, " RKey %#08x VAddr %#016llx", d.rkey,
                  static_cast<unsigned long long>(d.vaddr));
    out << line;
  }
  out << "\n GID: ";
  for (std::size_t i = 0; i < 16; ++i) {
    std::snprintf(line, sizeof line, "%02d%s", d.gid[i], i == 15 ? "\n" : ":");
    out << line;
  }
}

std::string bw_line(const pt::BwReport& r) {
  char line[200];
  std::snprintf(line, sizeof line, " %-7llu    %-10llu       %-7.2f            %-7.2f\t\t   %-7.6f\n",
                static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.iters),
                r.bw_peak, r.bw_avg, r.msg_rate);
  return line;
}

std::string lat_line(std::uint64_t size, std::uint64_t iters, const pt::LatStats& s) {
  char line[240];
  std::snprintf(line, sizeof line,
                " %-7llu %llu          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f"
                "\t\t%-7.2f \t\t%-7.2f\n",
                static_cast<unsigned long long>(size), static_cast<unsigned long long>(iters), s.t_min,
                s.t_max, s.t_typical, s.t_avg, s.t_stdev, s.p99, s.p999);
  return line;
}

}  // namespace perftest_detail

namespace {

using namespace perftest_detail;

void add_one(CLI::App& app, CommandList& list, const char* name, pt::Verb verb, pt::Test test,
             const char* what) {
  auto c = std::make_shared<PerftestCommand>();
  c->name = name;
  c->verb = verb;
  c->test = test;
  auto* sub = app.add_subcommand(name, std::string(what) +
      " (perftest's ib_" + name + "; server without HOST, client with it)");
  sub->footer(
      "Devices: without --dev/--config, a RoCEv2 device on a kernel UDP socket (port=uring) is made "
      "on the local address: the client's route toward HOST, the server's --source_ip or else the "
      "host's first global address (IPv4 first). proto=iwarp devices (--dev) connect only through "
      "the CM (-R implied) and have no atomics. The out-of-band exchange is perftest 4.5-0.17's "
      "(TCP to -p PORT, or the RDMA CM with -R), so ib_" + std::string(name) +
      " can be either peer. Exit status: 0 done, 1 failed or interrupted, 2 bad flags.");
  add_device_options(*sub, c->dev);
  sub->add_option("host", c->host, "The server to connect to (client); none: be the server");
  sub->add_option("-s,--size", c->size, "Message size in bytes (1.." + std::to_string(kMaxSize) +
                                            "; default 65536 for BW, 2 for latency)")
      ->check(CLI::Range(std::uint64_t{1}, kMaxSize));
  sub->add_option("-n,--iters", c->iters, "Iterations (5..100000000; default 5000 BW, 1000 latency)")
      ->check(CLI::Range(std::uint64_t{5}, std::uint64_t{100000000}));
  sub->add_option("-D,--duration", c->duration, "Run for this many seconds instead of -n (BW tests)")
      ->check(CLI::Range(0.1, 86400.0));
  sub->add_flag("-a,--all", c->all, "Run every size from 2 to 2^23 bytes");
  sub->add_option("-q,--qp", c->qps, "Number of QPs (1..64)")->check(CLI::Range(1, 64));
  sub->add_option("-m,--mtu", c->mtu, "Path MTU: 256, 512, 1024, 2048 or 4096")
      ->check(CLI::IsMember({256u, 512u, 1024u, 2048u, 4096u}));
  sub->add_flag("-R,--rdma_cm", c->rdma_cm, "Connect through the RDMA CM (implied on iWARP)");
  sub->add_flag("--report_gbits", c->gbits, "Report Gb/sec instead of MB/sec");
  sub->add_option("-p,--port", c->port, "Out-of-band port (TCP, or the CM's with -R)")
      ->check(CLI::Range(1, 65535));
  sub->add_option("-x,--gid-index", c->gid_index, "GID index of the device (default: the address "
                                                   "of the out-of-band connection's family)")
      ->check(CLI::Range(0, 255));
  sub->add_option("-t,--tx-depth", c->tx_depth, "Send queue depth (1..4096; default 128 BW, 1 latency)")
      ->check(CLI::Range(1u, 4096u));
  sub->add_option("-r,--rx-depth", c->rx_depth, "Receive queue depth for Send tests (1..4096)")
      ->check(CLI::Range(1u, 4096u));
  sub->add_option("-Q,--cq-mod", c->cq_mod, "Completions per peak-bandwidth window (1..1024)")
      ->check(CLI::Range(1u, 1024u));
  sub->add_flag("-F,--CPU-freq", c->cpu_freq, "Accepted for perftest compatibility (no effect: "
                                              "times come from the steady clock)");
  sub->add_flag("--run_infinitely", c->run_infinitely, "Not supported (refused with a message)");
  sub->add_option("-c,--connection", c->connection, "Transport: RC (UC and UD are not available)")
      ->check(CLI::IsMember({"RC", "UC", "UD", "XRC", "DC", "SRD"}));
  if (verb == pt::Verb::atomic)
    sub->add_option("-A,--atomic_type", c->atomic_type, "CMP_AND_SWAP or FETCH_AND_ADD")
        ->check(CLI::IsMember({"CMP_AND_SWAP", "FETCH_AND_ADD"}));
  sub->add_option("--source_ip", c->source_ip, "Local address of the default device");
  sub->add_flag("--json", c->json, "Print the results as JSON instead of the table");
  sub->add_option("--timeout", c->timeout, "Seconds before a silent peer is an error (default 15)")
      ->check(CLI::Range(0.5, 3600.0));
  sub->add_option("--wait", c->wait, "Server: seconds to wait for a client (default: forever)")
      ->check(CLI::Range(0.0, 86400.0));
  list.push_back({sub, [c](std::ostream& out, std::ostream& err) { return run_perftest(*c, out, err); }});
}

}  // namespace

void add_perftest_commands(CLI::App& app, CommandList& list) {
  add_one(app, list, "send_bw", pt::Verb::send, pt::Test::bw, "Send bandwidth");
  add_one(app, list, "write_bw", pt::Verb::write, pt::Test::bw, "RDMA Write bandwidth");
  add_one(app, list, "read_bw", pt::Verb::read, pt::Test::bw, "RDMA Read bandwidth");
  add_one(app, list, "atomic_bw", pt::Verb::atomic, pt::Test::bw, "Atomic bandwidth");
  add_one(app, list, "send_lat", pt::Verb::send, pt::Test::lat, "Send latency");
  add_one(app, list, "write_lat", pt::Verb::write, pt::Test::lat, "RDMA Write latency");
  add_one(app, list, "read_lat", pt::Verb::read, pt::Test::lat, "RDMA Read latency");
}

}  // namespace softrnic::cli
