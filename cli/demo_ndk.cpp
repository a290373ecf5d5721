#include "demo_ndk.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "smbd/session.hpp"
#include "softrnic_ndk_ext.h"
#include "wskndk.h"

namespace softrnic::cli {
namespace {

// The adapters of the demo, in SOFTRNIC_DEVICES order.
constexpr const char* kRoceA = "ndk_a";
constexpr const char* kRoceB = "ndk_b";
constexpr const char* kIwarpC = "ndk_c";
constexpr const char* kIwarpD = "ndk_d";

std::string devices_spec(const NdkDemoOptions& o) {
  const std::string kind = o.loopback ? "loopback" : "ring";
  std::string faults;
  if (o.loss > 0) {
    char b[64];
    std::snprintf(b, sizeof b, ",faults=loss=%g:seed=%d", o.loss, 7);
    faults = b;
  }
  std::string s;
  if (o.roce) {
    s += std::string("name=") + kRoceA + ",port=" + kind + ":peer=" + kRoceB +
         ",ip4=198.18.10.1/24,ip6=fd00:5052::a1/64" + faults + ";";
    s += std::string("name=") + kRoceB + ",port=" + kind + ":peer=" + kRoceA +
         ",ip4=198.18.10.2/24,ip6=fd00:5052::a2/64" + faults + ";";
  }
  if (o.iwarp) {
    s += std::string("name=") + kIwarpC + ",proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128;";
    s += std::string("name=") + kIwarpD + ",proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128;";
  }
  return s;
}

// A TCP port nobody listens on now (for the iWARP listener, which binds kernel TCP).
std::uint16_t free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

std::string status_text(NTSTATUS s) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", static_cast<unsigned>(s));
  return b;
}

PhaseResult phase(const std::string& transport, const std::string& op, const smbd::SessionReport& r) {
  PhaseResult p;
  p.transport = transport;
  p.operation = op;
  p.verified = r.verified;
  if (transport.find("RoCE") != std::string::npos) p.retransmits_note = "-";  // the shim does not report them
  if (!r.failure.ok()) p.error = r.failure.message + " (NTSTATUS " + status_text(r.failure.status) + ")";
  return p;
}

void add_phases(const std::string& transport, const smbd::SessionReport& r, DemoReport& report) {
  auto seconds = [](std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); };
  PhaseResult w = phase(transport, "smbd write (RDMA Read)", r);
  w.bytes = r.bytes_written;
  w.messages = r.server.rdma_reads;
  w.seconds = seconds(r.write);
  PhaseResult rd = phase(transport, "smbd read (RDMA Write)", r);
  rd.bytes = r.bytes_read;
  rd.messages = r.server.rdma_writes;
  rd.seconds = seconds(r.read);
  PhaseResult e = phase(transport, "smbd echo", r);
  e.messages = r.latency_ns.size();
  e.bytes = r.latency_ns.size() * 2 * 64;
  e.seconds = seconds(r.latency);
  e.p50_us = static_cast<double>(smbd::percentile(r.latency_ns, 50)) / 1e3;
  e.p99_us = static_cast<double>(smbd::percentile(r.latency_ns, 99)) / 1e3;
  if (r.objects_open != 0 && e.error.empty())
    e.error = std::to_string(r.objects_open) + " NDK objects left open after teardown";
  for (auto* p : {&w, &rd, &e}) report.phases.push_back(std::move(*p));
}

// The adapter entry of a device by name.
bool find_adapter(const std::vector<SOFTRNIC_NDK_ADAPTER_ENTRY>& list, const char* name, NET_IFINDEX& out) {
  for (const auto& e : list)
    if (std::string(e.Name) == name) {
      out = e.IfIndex;
      return true;
    }
  return false;
}

void run_sessions(const NdkDemoOptions& o, Progress& progress, DemoReport& report);

// Ends the scenario and shows its summary, whatever way the sessions ended.
void end_scenario(Progress& progress) {
  ULONG len = 0;
  (void)SoftrnicNdkEndScenario(nullptr, &len);
  std::string summary(len, '\0');
  if (len == 0 || SoftrnicNdkEndScenario(summary.data(), &len) != STATUS_SUCCESS) return;
  summary.resize(len - 1);
  progress.note("scenario summary: " + summary);
}

}  // namespace

void run_ndk_demo(const NdkDemoOptions& o, Progress& progress, DemoReport& report) {
  setenv("SOFTRNIC_DEVICES", devices_spec(o).c_str(), 1);
  if (o.scenario.empty()) {
    run_sessions(o, progress, report);
    return;
  }
  char error[512] = {};
  const NTSTATUS st = SoftrnicNdkLoadScenario(o.scenario.c_str(),
                                              o.scenario_log.empty() ? nullptr : o.scenario_log.c_str(),
                                              error, sizeof error);
  if (st != STATUS_SUCCESS) {
    report.failures.push_back("NDK: scenario " + o.scenario + ": " + error + " (NTSTATUS " +
                              status_text(st) + ")");
    return;
  }
  progress.note("NDK: consumer test mode, scenario " + o.scenario +
                (o.scenario_log.empty() ? "" : ", event log " + o.scenario_log));
  run_sessions(o, progress, report);
  end_scenario(progress);
}

namespace {

void run_sessions(const NdkDemoOptions& o, Progress& progress, DemoReport& report) {
  ULONG count = 0;
  NTSTATUS st = NdkListAdapters(nullptr, &count);
  std::vector<SOFTRNIC_NDK_ADAPTER_ENTRY> list(count);
  if (count > 0) st = NdkListAdapters(list.data(), &count);
  if (st != STATUS_SUCCESS || count == 0) {
    report.failures.push_back("NDK: the shim could not create its adapters (NTSTATUS " + status_text(st) +
                              "); SOFTRNIC_DEVICES=" + devices_spec(o));
    return;
  }
  struct Part {
    const char* proto;
    const char* server;
    const char* client;
    bool run;
  };
  for (const Part& part : {Part{"RoCEv2", kRoceB, kRoceA, o.roce}, Part{"iWARP", kIwarpD, kIwarpC, o.iwarp}}) {
    if (!part.run) continue;
    for (const bool v6 : {false, true}) {
      const std::string transport = std::string("NDK ") + part.proto + (v6 ? "/IPv6" : "/IPv4");
      smbd::SessionOptions so;
      if (!find_adapter(list, part.server, so.server_if) || !find_adapter(list, part.client, so.client_if)) {
        report.failures.push_back(transport + ": adapter missing from NdkListAdapters");
        continue;
      }
      const bool iwarp = std::string(part.proto) == "iWARP";
      so.server_ip = iwarp ? (v6 ? "::1" : "127.0.0.1") : (v6 ? "fd00:5052::a2" : "198.18.10.2");
      if (iwarp) so.port = free_tcp_port();
      so.payload_size = o.payload;
      so.latency_rounds = o.echoes;
      so.seed = v6 ? 2 : 1;
      progress.note(transport + ": SMB-Direct-like session through the NDK shim (" +
                    std::to_string(o.payload >> 20) + " MiB each way)");
      const smbd::SessionReport r = smbd::run_session(so);
      add_phases(transport, r, report);
      for (std::size_t i = report.phases.size() - 3; i < report.phases.size(); ++i) progress.end(report.phases[i]);
      if (!r.failure.ok()) return;  // a failed session may leave work in flight on the adapters
    }
  }
}

}  // namespace

}  // namespace softrnic::cli
