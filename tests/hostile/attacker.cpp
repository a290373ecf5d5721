// The hostile station of hostile_test.sh. From its own namespace, through an AF_PACKET socket on
// its link to the bridge, it first connects to the CM target as a peer and tries a key not its own
// on each connection (insider.hpp: with --leaked-rkey), then sprays the two devices with frames no
// honest peer sends (spray.hpp lists them, and what the attacker may know), while a thread floods
// the iWARP listener with TCP connections (mpa_flood.hpp).
//
//   attacker --iface IF --mac MAC --ip4 A --ip6 A6
//            --target NAME,MAC,IP4,IP6,PEER_IP4,PEER_IP6,QPN [--target ...]
//            [--cm-target NAME --cm-port P --reqs N] [--leaked-rkey K --region-len N]
//            [--mpa IP4:PORT --mpa-concurrent N --mpa-total N] [--seconds S] [--pps N] [--seed N]
//
// Exit 0 when everything was sent and every connected probe was refused; 3 when a probe got at
// memory (a breach); 1 when a probe went unanswered or had no connection; 2 on bad arguments or a
// socket the kernel refused.
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../common/text_bytes.hpp"
#include "insider.hpp"
#include "mpa_flood.hpp"
#include "spray.hpp"

using namespace softrnic;
using namespace softrnic::hostile;

namespace {

bool parse_mac(const std::string& s, wire::MacAddr& m) {
  unsigned v[6];
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v[i]);
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep)
      out.emplace_back();
    else
      out.back().push_back(c);
  }
  return out;
}

bool parse_target(const std::string& v, Target& t) {
  const auto f = split(v, ',');
  if (f.size() != 7 || !parse_mac(f[1], t.mac) || !test::parse_ip(f[2], t.ip4) ||
      !test::parse_ip(f[3], t.ip6) || !test::parse_ip(f[4], t.peer4) ||
      !test::parse_ip(f[5], t.peer6))
    return false;
  t.name = f[0];
  t.known_qpn = static_cast<std::uint32_t>(std::stoul(f[6]));
  return true;
}

bool parse_endpoint(const std::string& v, MpaFloodConfig& c) {
  const auto colon = v.rfind(':');
  if (colon == std::string::npos) return false;
  auto* sin = reinterpret_cast<sockaddr_in*>(&c.target);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(static_cast<std::uint16_t>(std::stoul(v.substr(colon + 1))));
  c.target_len = sizeof(sockaddr_in);
  return inet_pton(AF_INET, v.substr(0, colon).c_str(), &sin->sin_addr) == 1;
}

int usage(const std::string& why) {
  std::fprintf(stderr, "attacker: %s\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  SprayConfig o;
  o.seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::string iface;
  MpaFloodConfig mpa_cfg;
  bool mpa_on = false;
  InsiderConfig insider;
  using Set = std::function<bool(const std::string&)>;
  const std::map<std::string, Set> flags = {
      {"--iface", [&](const std::string& v) { return !(iface = v).empty(); }},
      {"--mac", [&](const std::string& v) { return parse_mac(v, o.mac); }},
      {"--ip4", [&](const std::string& v) { return test::parse_ip(v, o.ip4); }},
      {"--ip6", [&](const std::string& v) { return test::parse_ip(v, o.ip6); }},
      {"--target", [&](const std::string& v) { return parse_target(v, o.targets.emplace_back()); }},
      {"--cm-target", [&](const std::string& v) { return !(o.cm_target = v).empty(); }},
      {"--cm-port",
       [&](const std::string& v) {
         return (o.cm_port = static_cast<std::uint16_t>(std::stoul(v))) != 0;
       }},
      {"--reqs", [&](const std::string& v) { return (o.reqs = std::stoull(v)), true; }},
      {"--mpa", [&](const std::string& v) { return mpa_on = parse_endpoint(v, mpa_cfg); }},
      {"--mpa-concurrent",
       [&](const std::string& v) { return (mpa_cfg.concurrent = std::stoi(v)) > 0; }},
      {"--mpa-total", [&](const std::string& v) { return (mpa_cfg.total = std::stoi(v)) > 0; }},
      {"--seconds", [&](const std::string& v) { return (o.seconds = std::stod(v)) > 0; }},
      {"--pps", [&](const std::string& v) { return (o.pps = std::stoull(v)), true; }},
      {"--seed", [&](const std::string& v) { return (o.seed = std::stoull(v)), true; }},
      {"--leaked-rkey",
       [&](const std::string& v) {
         return (insider.leaked_rkey = static_cast<std::uint32_t>(std::stoul(v))) != 0;
       }},
      {"--region-len",
       [&](const std::string& v) { return (insider.region_len = std::stoull(v)) >= 64; }},
  };
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i], v = i + 1 < argc ? argv[i + 1] : "";
    const auto f = flags.find(k);
    bool ok = false;
    try {
      ok = f != flags.end() && f->second(v);
    } catch (const std::exception&) {
    }
    if (!ok) return usage("bad argument: " + k + " " + v);
  }
  if (iface.empty() || o.targets.empty()) return usage("needs --iface and at least one --target");
  std::printf("attacker: seed %llu (--seed replays the frames)\n",
              static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);

  const int fd = ::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) return usage("AF_PACKET socket refused (needs CAP_NET_RAW)");
  const int ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  if (ifindex == 0) return usage("no interface " + iface);
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  int rc = 0;
  if (insider.leaked_rkey != 0) {
    insider.mac = o.mac;
    insider.ip4 = o.ip4;
    insider.cm_port = o.cm_port;
    insider.seed = o.seed ^ 0x696e73;
    bool found = false;
    for (const auto& t : o.targets)
      if (t.name == o.cm_target) insider.target = t, found = true;
    if (!found || insider.region_len == 0)
      return usage("--leaked-rkey needs --cm-target and --region-len");
    const InsiderResult r = run_insider(insider, fd, ifindex);
    std::printf("%s", r.detail.c_str());
    std::printf(
        "attacker: insider: %d connected probes, %d refused, %d breached, %d unexpected, %d "
        "without connection\n",
        r.probes, r.refused, r.breached, r.unexpected, r.connections_failed);
    std::fflush(stdout);
    rc = r.breached != 0 ? 3 : (r.unexpected != 0 || r.connections_failed != 0) ? 1 : 0;
  }

  MpaFloodResult mpa;
  std::thread flood;
  if (mpa_on) {
    mpa_cfg.seconds = o.seconds;
    mpa_cfg.seed = o.seed ^ 0x6d7061;
    flood = std::thread([&mpa, mpa_cfg] { mpa = run_mpa_flood(mpa_cfg); });
  }
  const std::uint64_t refused = run_spray(o, fd, ifindex);
  if (flood.joinable()) flood.join();
  ::close(fd);
  if (mpa_on) {
    std::printf(
        "attacker: mpa flood: opened=%llu established=%llu connect_failed=%llu "
        "closed_by_device=%llu still_open=%llu sent=%llu received=%llu\n",
        static_cast<unsigned long long>(mpa.opened),
        static_cast<unsigned long long>(mpa.established),
        static_cast<unsigned long long>(mpa.connect_failed),
        static_cast<unsigned long long>(mpa.closed_by_device),
        static_cast<unsigned long long>(mpa.still_open),
        static_cast<unsigned long long>(mpa.bytes_sent),
        static_cast<unsigned long long>(mpa.bytes_received));
    std::string line;
    for (int i = 0; i < 6; ++i)
      line += std::string(" ") + kMpaBehaviours[i] + "=" + std::to_string(mpa.by_behaviour[i]);
    std::printf("attacker: mpa behaviours:%s\n", line.c_str());
    if (!mpa.error.empty()) return usage("mpa flood: " + mpa.error);
  }
  if (refused != 0) return usage(std::to_string(refused) + " frames refused by the socket");
  return rc;
}
