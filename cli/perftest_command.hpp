// What the perftest-dialect subcommands share between their flags (perftest_command.cpp) and
// their run (perftest_session.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>

#include "base/result.hpp"
#include "command.hpp"
#include "hosted_devices.hpp"
#include "interrupt.hpp"
#include "perftest_fabric.hpp"
#include "perftest_oob.hpp"
#include "perftest_run.hpp"
#include "wire/ip.hpp"

namespace softrnic::cli {
namespace perftest_detail {

namespace pt = perftest;
constexpr int kExitFailed = 1;
constexpr std::uint64_t kMaxSize = 8388608;  // perftest's MAX_SIZE; -a runs 2 .. 2^23
// How long a server waits, after its last message, for the client to close the CM connections
// before it closes them itself (CmLink::await_peer_disconnect).
constexpr std::chrono::milliseconds kPeerLeaveGrace{3000};
constexpr const char* kLine =
    "---------------------------------------------------------------------------------------\n";

struct PerftestCommand {
  std::string name;  // send_bw, ...
  pt::Verb verb = pt::Verb::write;
  pt::Test test = pt::Test::bw;
  DeviceOptions dev;
  std::string host;
  std::uint64_t size = 0;
  std::uint64_t iters = 0;
  double duration = 0;
  bool all = false;
  int qps = 1;
  std::uint32_t mtu = 0;
  bool rdma_cm = false;
  bool gbits = false;
  std::uint16_t port = pt::kDefaultPort;
  int gid_index = -1;
  std::uint32_t tx_depth = 0;
  std::uint32_t rx_depth = 512;
  std::uint32_t cq_mod = 100;
  bool cpu_freq = false;
  bool run_infinitely = false;
  std::string connection = "RC";
  std::string atomic_type = "FETCH_AND_ADD";
  std::string source_ip;
  bool json = false;
  double timeout = 15;
  double wait = 0;
};

const char* verb_title(pt::Verb v);
Result<wire::Ipv6Addr> gid_of(const std::string& host);
std::string addr_text(const wire::Ipv6Addr& g);
Result<wire::Ipv6Addr> route_source(const wire::Ipv6Addr& peer);
Result<std::pair<wire::Ipv6Addr, int>> local_address(const std::optional<wire::Ipv6Addr>& want);
std::string default_spec(const wire::Ipv6Addr& local, int prefix);
void print_header(const PerftestCommand& c, const std::string& device, bool iwarp, int mtu_e,
                  int gid_index, std::ostream& out);
void print_dest(const char* side, const pt::Dest& d, pt::Verb v, std::ostream& out);
std::string bw_line(const pt::BwReport& r);
std::string lat_line(std::uint64_t size, std::uint64_t iters, const pt::LatStats& s);

}  // namespace perftest_detail

int run_perftest(const perftest_detail::PerftestCommand& c, std::ostream& out, std::ostream& err);

}  // namespace softrnic::cli
