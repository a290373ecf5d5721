// One run of a perftest-dialect command: the device, the out-of-band exchange in perftest's order
// (perftest_oob.hpp), the QPs, the data phase per size and the report.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/random.hpp"
#include "engine/gid_table.hpp"
#include "perftest_command.hpp"

namespace softrnic::cli {

using namespace perftest_detail;
using Json = nlohmann::json;

int run_perftest(const PerftestCommand& c0, std::ostream& out, std::ostream& err) {
  PerftestCommand c = c0;
  const std::string me = "softrnic " + c.name;
  auto usage = [&](const std::string& m) {
    err << me << ": " << m << "\n";
    return kExitUsage;
  };
  auto failed = [&](const std::string& m) {
    err << me << ": " << m << "\n";
    return kExitFailed;
  };
  const bool client = !c.host.empty();
  if (c.run_infinitely) return usage("--run_infinitely is not supported; use -D SECONDS for a timed run");
  if (c.connection == "UD" || c.connection == "UC" || c.connection != "RC")
    return usage("-c " + c.connection + ": only RC is available in this dialect");
  if (c.duration > 0 && (c.test == pt::Test::lat || c.verb == pt::Verb::send))
    return usage("-D is available for write_bw, read_bw and atomic_bw only; use -n here");
  if (c.duration > 0 && c.all) return usage("-D and -a cannot be combined");
  if (c.size == 0) c.size = c.test == pt::Test::bw ? 65536 : 2;
  if (c.verb == pt::Verb::atomic) c.size = 8;
  if (c.iters == 0) c.iters = c.test == pt::Test::bw ? 5000 : 1000;
  if (c.tx_depth == 0) c.tx_depth = c.test == pt::Test::bw ? 128 : 1;
  if (c.test == pt::Test::lat && c.qps != 1) return usage("-q: latency tests use one QP");
  if (c.verb == pt::Verb::write && c.test == pt::Test::lat && c.size < 1) return usage("-s must be >= 1");

  // The device.
  std::vector<std::string> defaults;
  std::optional<wire::Ipv6Addr> peer_gid;
  if (client) {
    auto g = gid_of(c.host);
    if (!g) return usage("HOST " + g.error().message);
    peer_gid = *g;
  }
  if (c.dev.specs.empty() && c.dev.config.empty()) {
    std::optional<wire::Ipv6Addr> want;
    if (!c.source_ip.empty()) {
      auto g = gid_of(c.source_ip);
      if (!g) return usage("--source_ip " + g.error().message);
      want = *g;
    } else if (peer_gid) {
      auto g = route_source(*peer_gid);
      if (!g) return failed(g.error().message);
      want = *g;
    }
    auto a = local_address(want);
    if (!a) return failed(a.error().message);
    defaults.push_back(default_spec(a->first, a->second));
  }
  auto hosted = HostedDevices::open(c.dev, defaults, false);
  if (!hosted) return failed(hosted.error().message);
  HostedDevices& h = **hosted;
  const bool iwarp = h.iwarp() != nullptr;
  if (iwarp) {
    if (c.verb == pt::Verb::atomic)
      return failed("atomics are not available on iWARP devices (no RFC 7306 atomics in softrnic)");
    c.rdma_cm = true;  // iWARP QPs are connected only through the CM
  }
  auto poll_all = [&h] { h.poll(); };
  std::vector<wire::Ipv6Addr> spec_gids;
  for (const auto& a : h.selected().ip4) spec_gids.push_back(wire::ipv4_mapped(a.addr));
  for (const auto& a : h.selected().ip6) spec_gids.push_back(a.addr);
  auto fabric = iwarp ? pt::Fabric::iwarp(*h.iwarp(), spec_gids, poll_all)
                      : pt::Fabric::roce(*h.roce(), poll_all);
  if (!fabric) return failed(fabric.error().message);
  pt::Fabric& f = **fabric;
  catch_interrupts();
  auto stop = [] { return interrupted(); };
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(c.timeout * 1000));
  const auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(c.wait * 1000));

  // The GID: -x (an index into the device's GID table, as ibv_devinfo lists it), or the
  // device's address of the peer's family (the server learns it from the client's key).
  const auto gids = f.gids();
  if (gids.empty()) return failed("the device has no address");
  // Without -x: the first GID of the peer's family (server), else the first one; link-local
  // GIDs (fe80::/10, first in a table that has them) only when nothing else matches.
  int gid_index = 0;
  for (std::size_t i = 0; i < gids.size(); ++i)
    if (!engine::is_link_local(gids[i])) {
      gid_index = static_cast<int>(i);
      break;
    }
  if (c.gid_index >= 0) {
    if (static_cast<std::size_t>(c.gid_index) >= gids.size())
      return usage("-x " + std::to_string(c.gid_index) + ": the device has " +
                   std::to_string(gids.size()) + " GIDs (0.." + std::to_string(gids.size() - 1) + ")");
    gid_index = c.gid_index;
  } else if (peer_gid) {
    for (std::size_t i = 0; i < gids.size(); ++i)
      if (wire::is_ipv4_mapped(gids[i]) == wire::is_ipv4_mapped(*peer_gid) && !engine::is_link_local(gids[i])) {
        gid_index = static_cast<int>(i);
        break;
      }
  }
  const wire::Ipv6Addr my_gid = gids[static_cast<std::size_t>(gid_index)];

  // Out-of-band channel.
  std::unique_ptr<pt::Channel> channel;
  pt::CmLink link(f, timeout, stop);
  if (!c.rdma_cm) {
    pt::TcpOptions o{timeout, wait, stop};
    auto ch = client ? pt::tcp_connect(c.host, c.port, o)
                     : pt::tcp_accept(c.source_ip, c.port, o);
    if (!ch) return failed(ch.error().message);
    channel = std::move(*ch);
  } else {
    auto qp = f.create_qp(4, 8);
    if (!qp) return failed(qp.error().message);
    auto ch = pt::CmChannel::create(f, *qp, timeout);
    if (!ch) return failed(ch.error().message);
    if (client) {
      if (auto r = link.connect(*qp, {*peer_gid, c.port}, my_gid, 16); !r) return failed(r.error().message);
    } else {
      if (!c.json) out << "\n************************************\n* Waiting for client to connect... *\n"
                          "************************************\n";
      if (auto r = link.listen({{}, c.port}); !r) return failed(r.error().message);
      if (auto r = link.accept_next(*qp, 16, wait); !r) return failed(r.error().message);
    }
    if (auto r = (*ch)->ready(); !r) return failed(r.error().message);
    channel = std::move(*ch);
  }
  pt::Exchange x(*channel, client);
  auto step = [&](Result<void> r) -> bool {
    if (!r) err << me << ": " << r.error().message << "\n";
    return r.has_value();
  };
  auto ver = x.versions();
  if (!ver) return failed(ver.error().message);
  std::uint32_t cycle = 4096, cache_line = 64;
  if (!step(x.sys_data(cycle, cache_line))) return kExitFailed;
  const bool v6 = !wire::is_ipv4_mapped(my_gid);
  const int my_mtu = pt::mtu_enum(c.mtu != 0 ? c.mtu : f.active_mtu(v6));
  auto mtu = x.mtu(my_mtu);
  if (!mtu) return failed(mtu.error().message);

  // Buffers and QPs.
  const std::uint64_t max_size = c.all ? kMaxSize : c.size;
  pt::Buffers buf;
  if (auto r = buf.allocate(f, c.qps, std::max<std::uint64_t>(max_size, cycle)); !r)
    return failed(r.error().message);
  std::vector<int> qps;
  std::vector<pt::Dest> mine(static_cast<std::size_t>(c.qps)), peers(static_cast<std::size_t>(c.qps));
  const std::uint32_t depth = std::max<std::uint32_t>(c.tx_depth, 16) + 16;
  const std::uint32_t rdepth = std::max<std::uint32_t>(c.rx_depth, 16) + 16;
  if (c.rdma_cm) {
    pt::Dest zero;
    if (auto r = x.key(zero); !r) return failed(r.error().message);
  }
  for (int q = 0; q < c.qps; ++q) {
    auto qp = f.create_qp(depth, rdepth);
    if (!qp) return failed(qp.error().message);
    qps.push_back(*qp);
    if (c.rdma_cm) {
      auto r = client ? link.connect(*qp, {*peer_gid, c.port}, my_gid, 16) : link.accept_next(*qp, 16, timeout);
      if (!r) return failed(r.error().message);
    }
  }
  if (c.rdma_cm) {
    pt::Dest zero;
    if (auto r = x.key(zero); !r) return failed(r.error().message);
  }
  const bool credits = iwarp && c.verb == pt::Verb::send && c.test == pt::Test::bw;
  for (int q = 0; q < c.qps; ++q) {
    auto& d = mine[static_cast<std::size_t>(q)];
    d.out_reads = 16;
    d.qpn = f.qpn(qps[static_cast<std::size_t>(q)]);
    d.psn = secure_random<std::uint32_t>() & 0xffffff;  // a peer must not guess it
    d.rkey = buf.key();
    d.vaddr = buf.va(credits ? buf.credit(q) : buf.target(q));
    d.gid = my_gid;
  }

  // The key messages, in the order of each test (perftest_oob.hpp step 4).
  auto keys_per_qp = [&]() -> bool {
    for (std::size_t q = 0; q < mine.size(); ++q) {
      auto r = x.key(mine[q]);
      if (!r) return step(std::unexpected(r.error()));
      peers[q] = *r;
    }
    return true;
  };
  auto one_key = [&]() -> bool {
    auto r = x.key(mine[0]);
    return r ? true : step(std::unexpected(r.error()));
  };
  auto connect = [&]() -> bool {
    if (c.rdma_cm) return true;
    for (std::size_t q = 0; q < qps.size(); ++q)
      if (!step(f.connect_direct(qps[q], my_gid, peers[q], mine[q].psn, pt::mtu_bytes(*mtu), 16)))
        return false;
    return true;
  };
  const bool first_key = c.test == pt::Test::lat && c.verb != pt::Verb::send;
  if (first_key && !one_key()) return kExitFailed;
  if (!keys_per_qp() || !connect()) return kExitFailed;
  if (c.verb == pt::Verb::send && !one_key()) return kExitFailed;
  if (!keys_per_qp()) return kExitFailed;
  if (c.verb != pt::Verb::send && !one_key()) return kExitFailed;

  if (!c.json) {
    print_header(c, h.selected().name, iwarp, *mtu, gid_index, out);
    for (const auto& d : mine) print_dest("local", d, c.verb, out);
    for (const auto& d : peers) print_dest("remote", d, c.verb, out);
    out << kLine;
  }
  const double factor = c.gbits ? 125000000.0 : 1048576.0;
  Json results = Json::array();
  auto header = [&] {
    if (c.json) return;
    if (c.test == pt::Test::bw)
      out << (c.gbits ? " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n"
                      : " #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n");
    else
      out << " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    "
             "t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] \n";
  };
  auto report_bw = [&](const pt::BwReport& r) {
    if (c.json)
      results.push_back({{"MsgSize", r.size}, {"n_iterations", r.iters}, {"BW_peak", r.bw_peak},
                         {"BW_average", r.bw_avg}, {"MsgRate", r.msg_rate},
                         {"unit", c.gbits ? "Gb/sec" : "MB/sec"}});
    else
      out << bw_line(r);
  };
  auto finish = [&](int rc) {
    if (c.json)
      out << Json{{"test", c.name}, {"side", client ? "client" : "server"},
                  {"transport", iwarp ? "iWARP" : "RoCEv2"}, {"rdma_cm", c.rdma_cm},
                  {"results", results}, {"ok", rc == 0}}.dump(2) << "\n";
    else
      out << kLine;
    // The server's message is the last of the exchange: the client leaves first.
    if (rc == 0 && !client) link.await_peer_disconnect(kPeerLeaveGrace);
    link.disconnect_all();
    return rc;
  };

  pt::RunParams p;
  p.verb = c.verb;
  p.test = c.test;
  p.client = client;
  p.iters = c.iters;
  p.duration = c.duration;
  p.tx_depth = c.tx_depth;
  p.rx_depth = c.rx_depth;
  p.cq_mod = c.cq_mod;
  p.cmp_swap = c.atomic_type == "CMP_AND_SWAP";
  p.credits = credits;
  p.stop = stop;
  p.stall_timeout = timeout;
  std::vector<std::uint64_t> sizes;
  if (c.all) {
    for (std::uint64_t s = 2; s <= kMaxSize; s *= 2) sizes.push_back(c.verb == pt::Verb::atomic ? 8 : s);
    if (c.verb == pt::Verb::atomic) sizes.resize(1);
  } else {
    sizes.push_back(c.size);
  }

  const bool rdma_bw = c.test == pt::Test::bw && c.verb != pt::Verb::send;
  header();
  // The passive side of Write/Read/Atomic BW waits for the client, then prints its report.
  if (rdma_bw && !client) {
    if (!one_key()) return finish(kExitFailed);
    auto rep = x.bw_reports({});
    if (!rep) return failed(rep.error().message);
    report_bw(*rep);
    if (!step(x.close(mine[0]))) return finish(kExitFailed);
    return finish(0);
  }
  if (c.test == pt::Test::lat && c.verb == pt::Verb::read && !client) {
    if (!step(x.close(mine[0]))) return finish(kExitFailed);
    return finish(0);
  }
  pt::BwReport last;
  bool stopped = false;
  for (std::uint64_t size : sizes) {
    if (!step(pt::prepare_size(f, qps, buf, size, p))) return finish(kExitFailed);
    if (c.verb == pt::Verb::send && !one_key()) return finish(kExitFailed);
    auto m = pt::run_size(f, qps, buf, peers, size, p);
    if (!m) {
      err << me << ": " << m.error().message << "\n";
      return finish(kExitFailed);
    }
    if (c.test == pt::Test::bw) {
      last = pt::bw_report(*m, c.cq_mod, factor);
      report_bw(last);
    } else {
      const auto s = pt::lat_stats(*m, c.verb != pt::Verb::read);
      if (c.json)
        results.push_back({{"MsgSize", size}, {"n_iterations", m->iters}, {"t_min", s.t_min},
                           {"t_max", s.t_max}, {"t_typical", s.t_typical}, {"t_avg", s.t_avg},
                           {"t_stdev", s.t_stdev}, {"percentile_99", s.p99},
                           {"percentile_99_9", s.p999}});
      else
        out << lat_line(size, m->iters, s);
    }
    if (m->interrupted) {
      stopped = true;
      break;
    }
    if (c.verb == pt::Verb::send && c.test == pt::Test::bw && c.all && !one_key())
      return finish(kExitFailed);
  }
  if (stopped) {
    err << me << ": interrupted; the results above cover what was done\n";
    return finish(kExitFailed);
  }
  if (rdma_bw) {
    if (!one_key()) return finish(kExitFailed);
    if (auto r = x.bw_reports(last); !r) return failed(r.error().message);
  }
  if (!(c.test == pt::Test::lat && c.verb == pt::Verb::write) && !step(x.close(mine[0])))
    return finish(kExitFailed);
  return finish(0);
}

}  // namespace softrnic::cli
