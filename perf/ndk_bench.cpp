// The NDKPI shim's cost: the same operations through the shim (NdkSend/NdkWrite/NdkGetCqResults
// on adapters from NdkOpenAdapter, connected by a listener and a connector) and through the
// engine's own API (roce::Device post_send/post_recv, verbs::Cq::poll) in the same run, over the
// embedded wire (a DPDK net_ring pair, no hugepages; the in-memory loopback wire when DPDK cannot
// start or SOFTRNIC_NDK_BENCH_WIRE=loopback):
//  - 64 B SEND round trip (a sends, b receives and sends back, a receives), one at a time;
//  - 64 KiB RDMA WRITE with 16 in flight, per write.
// Two engine baselines: "same threads" runs the devices on an engine thread and posts/polls from
// this one, as the shim does (the like-for-like comparison: what remains is the shim's own cost);
// "one thread" also polls the devices from this thread, as perf/roce_bench.cpp does (no hand-off
// between cores at all). Ratios are taken between medians of repetitions interleaved at random.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine_loop.hpp"
#include "factory/device_set.hpp"
#include "factory/device_spec.hpp"
#include "ndkpi.h"
#include "ratio_reporter.hpp"
#include "roce/connect.hpp"
#include "roce/device.hpp"
#include "wskndk.h"

namespace softrnic::perf {
namespace {

constexpr std::uint32_t kMsg = 64;
constexpr std::uint32_t kWrite = 65536;
constexpr std::size_t kDepth = 16;
constexpr std::size_t kBuf = 2 * kWrite;
constexpr std::size_t kRecvAt = kWrite;  // receive buffers sit past the write region
constexpr std::uint64_t kRecvCtx = 1;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ndk_bench: %s\n", what.c_str());
  std::exit(1);
}
void check(const char* call, NTSTATUS st) {
  if (st != STATUS_SUCCESS) die(std::string(call) + " failed: status " + std::to_string(st));
}

// A call that may pend: its final status (and object), after its completion when it pended.
struct Pending {
  std::atomic<int> calls{0};
  std::atomic<NTSTATUS> status{STATUS_SUCCESS};
  std::atomic<NDK_OBJECT_HEADER*> object{nullptr};
  static void on_create(PVOID c, NTSTATUS s, NDK_OBJECT_HEADER* o) {
    auto* p = static_cast<Pending*>(c);
    p->status = s;
    p->object = o;
    p->calls.fetch_add(1);
  }
  static void on_request(PVOID c, NTSTATUS s) {
    auto* p = static_cast<Pending*>(c);
    p->status = s;
    p->calls.fetch_add(1);
  }
  void finish(const char* call, NTSTATUS st) {
    if (st == STATUS_PENDING) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (calls.load() == 0) {
        if (std::chrono::steady_clock::now() > until) die(std::string(call) + " never completed");
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      st = status.load();
    }
    check(call, st);
  }
  template <class T>
  T* created(const char* call, NTSTATUS st, T* direct) {
    finish(call, st);
    return st == STATUS_PENDING ? reinterpret_cast<T*>(object.load()) : direct;
  }
};

// ---- Through the shim ----

struct ShimSide {
  NDK_ADAPTER* adapter = nullptr;
  NDK_PD* pd = nullptr;
  NDK_CQ* cq = nullptr;
  NDK_MR* mr = nullptr;
  NDK_QP* qp = nullptr;
  UINT32 lkey = 0, rkey = 0;
  std::vector<unsigned char> buf = std::vector<unsigned char>(kBuf);

  NDK_SGE sge(std::size_t at, ULONG len) {
    NDK_SGE s{};
    s.VirtualAddress = buf.data() + at;
    s.Length = len;
    s.MemoryRegionToken = lkey;
    return s;
  }
  void open(NET_IFINDEX ifindex) {
    check("NdkOpenAdapter", NdkOpenAdapter({1, 0}, ifindex, &adapter));
    Pending p1, p2, p3, p4, p5;
    NDK_PD* d = nullptr;
    pd = p1.created("NdkCreatePd",
                    adapter->Dispatch->NdkCreatePd(adapter, Pending::on_create, &p1, &d), d);
    NDK_CQ* c = nullptr;
    cq = p2.created("NdkCreateCq",
                    adapter->Dispatch->NdkCreateCq(adapter, 1024, nullptr, nullptr, nullptr,
                                                   Pending::on_create, &p2, &c),
                    c);
    NDK_MR* m = nullptr;
    mr = p3.created("NdkCreateMr",
                    pd->Dispatch->NdkCreateMr(pd, FALSE, Pending::on_create, &p3, &m), m);
    MDL* mdl = IoAllocateMdl(buf.data(), static_cast<ULONG>(buf.size()), FALSE, FALSE, nullptr);
    MmBuildMdlForNonPagedPool(mdl);
    p4.finish("NdkRegisterMr", mr->Dispatch->NdkRegisterMr(mr, mdl, buf.size(),
                                                           NDK_MR_FLAG_ALLOW_LOCAL_WRITE |
                                                               NDK_MR_FLAG_ALLOW_REMOTE_WRITE |
                                                               NDK_MR_FLAG_ALLOW_REMOTE_READ,
                                                           Pending::on_request, &p4));
    lkey = mr->Dispatch->NdkGetLocalTokenFromMr(mr);
    rkey = mr->Dispatch->NdkGetRemoteTokenFromMr(mr);
    NDK_QP* q = nullptr;
    qp = p5.created(
        "NdkCreateQp",
        pd->Dispatch->NdkCreateQp(pd, cq, cq, this, 64, 256, 1, 1, 0, Pending::on_create, &p5, &q),
        q);
  }
  void post_recv() {
    const NDK_SGE s = sge(kRecvAt, kMsg);
    check("NdkReceive", qp->Dispatch->NdkReceive(qp, reinterpret_cast<PVOID>(kRecvCtx), &s, 1));
  }
  void send() {
    const NDK_SGE s = sge(0, kMsg);
    check("NdkSend", qp->Dispatch->NdkSend(qp, nullptr, &s, 1, 0));
  }
  // Polls until a receive completes (re-posting it); sends completing meanwhile are consumed.
  void wait_recv() {
    std::array<NDK_RESULT, 8> r;
    for (;;) {
      const ULONG n = cq->Dispatch->NdkGetCqResults(cq, r.data(), r.size());
      bool got = false;
      for (ULONG i = 0; i < n; ++i) {
        if (r[i].Status != STATUS_SUCCESS) check("a shim work request", r[i].Status);
        if (reinterpret_cast<std::uintptr_t>(r[i].RequestContext) == kRecvCtx) {
          post_recv();
          got = true;
        }
      }
      if (got) return;
    }
  }
};

struct ShimRig {
  ShimSide a, b;
  NDK_CONNECTOR *active = nullptr, *passive = nullptr;
  NDK_LISTENER* listener = nullptr;
  std::atomic<NDK_CONNECTOR*> incoming{nullptr};
  static void on_connect(PVOID ctx, NDK_CONNECTOR* c) { static_cast<ShimRig*>(ctx)->incoming = c; }

  void connect(const char* passive_ip) {
    a.open(0x40000000);
    b.open(0x40000001);
    for (int i = 0; i < 32; ++i) a.post_recv(), b.post_recv();
    Pending p1, p2, p3, p4, p5, p6;
    NDK_LISTENER* l = nullptr;
    listener = p1.created("NdkCreateListener",
                          b.adapter->Dispatch->NdkCreateListener(b.adapter, on_connect, this,
                                                                 Pending::on_create, &p1, &l),
                          l);
    SOCKADDR_IN at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(445);
    inet_pton(AF_INET, passive_ip, &at.sin_addr);
    p2.finish("NdkListen", listener->Dispatch->NdkListen(listener, reinterpret_cast<SOCKADDR*>(&at),
                                                         sizeof at, Pending::on_request, &p2));
    NDK_CONNECTOR* c = nullptr;
    active = p3.created(
        "NdkCreateConnector",
        a.adapter->Dispatch->NdkCreateConnector(a.adapter, Pending::on_create, &p3, &c), c);
    const NTSTATUS connecting =
        active->Dispatch->NdkConnect(active, a.qp, nullptr, 0, reinterpret_cast<SOCKADDR*>(&at),
                                     sizeof at, 8, 8, nullptr, 0, Pending::on_request, &p4);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((passive = incoming.load()) == nullptr) {
      if (std::chrono::steady_clock::now() > until) die("no connect event");
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    const NTSTATUS accepting = passive->Dispatch->NdkAccept(
        passive, b.qp, 8, 8, nullptr, 0, nullptr, nullptr, Pending::on_request, &p5);
    p4.finish("NdkConnect", connecting);
    p6.finish("NdkCompleteConnect", active->Dispatch->NdkCompleteConnect(active, nullptr, nullptr,
                                                                         Pending::on_request, &p6));
    p5.finish("NdkAccept", accepting);
  }
};

// ---- Through the engine's API ----

struct EngineSide {
  roce::Device* dev = nullptr;
  verbs::PdHandle pd = 0;
  verbs::Cq* cq = nullptr;
  roce::Qp* qp = nullptr;
  std::uint32_t key = 0;
  std::vector<unsigned char> buf = std::vector<unsigned char>(kBuf);

  std::uint64_t va(std::size_t at) { return reinterpret_cast<std::uintptr_t>(buf.data() + at); }
  void open(roce::Device* d) {
    dev = d;
    pd = *dev->memory().alloc_pd();
    auto k =
        dev->memory().register_mr(pd, buf.data(), buf.size(), va(0),
                                  verbs::kLocalWrite | verbs::kRemoteWrite | verbs::kRemoteRead);
    if (!k) die("register_mr: " + k.error().message);
    key = *k;
    cq = *dev->create_cq(1024);
    roce::QpInit init;
    init.pd = pd;
    init.send_cq = cq;
    init.recv_cq = cq;
    init.sq_depth = 256;
    init.rq_depth = 64;
    qp = *dev->create_qp(init);
  }
  void post_recv() {
    roce::RecvWr w;
    w.wr_id = kRecvCtx;
    w.num_sge = 1;
    w.sg[0] = {va(kRecvAt), kMsg, key};
    if (!dev->post_recv(*qp, w)) die("post_recv failed");
  }
  void send() {
    roce::SendWr s;
    s.opcode = verbs::WrOpcode::send;
    s.flags = verbs::kSignaled;
    s.num_sge = 1;
    s.sg[0] = {va(0), kMsg, key};
    if (!dev->post_send(*qp, s)) die("post_send failed");
  }
};

struct EngineRig {
  EngineSide a, b;
  bool one_thread = false;  // this thread also polls the devices

  void connect(roce::Device* da, roce::Device* db) {
    a.open(da);
    b.open(db);
    up(a, b);
    up(b, a);
    for (int i = 0; i < 32; ++i) a.post_recv(), b.post_recv();
  }
  static void up(EngineSide& s, EngineSide& peer) {
    roce::QpConnectOptions o;
    o.pmtu = s.dev->active_mtu(wire::IpVersion::v4);
    o.rd_atomic = 8;
    auto r = roce::connect_qp(
        *s.dev, *s.qp, s.dev->config().gids[0],
        {peer.qp->qpn, Psn{}, peer.dev->config().gids[0], peer.dev->config().mac}, o);
    if (!r) die("connect_qp: " + r.error().message);
  }
  void service() {
    if (!one_thread) return;
    a.dev->poll();
    b.dev->poll();
  }
  // Completions on s's CQ; receives are re-posted. Returns how many, and whether one was a receive.
  std::size_t poll(EngineSide& s, bool* got_recv) {
    std::array<verbs::Cqe, 8> c;
    service();
    const std::size_t n = s.cq->poll(c);
    for (std::size_t i = 0; i < n; ++i) {
      if (c[i].status != verbs::WcStatus::success) die("an engine work request failed");
      if (c[i].wr_id == kRecvCtx) {
        s.post_recv();
        if (got_recv) *got_recv = true;
      }
    }
    return n;
  }
  void wait_recv(EngineSide& s) {
    bool got = false;
    while (!got) (void)poll(s, &got);
  }
};

// Every round trip's wall time, per benchmark: on a loaded machine a repetition's mean also
// counts the waits for a CPU of whichever thread was preempted; the median round trip does not.
std::map<std::string, std::vector<double>> g_rtt_ns;

template <class F>
void timed_rtt(benchmark::State& st, const char* key, F&& round_trip) {
  std::vector<double>& out = g_rtt_ns[key];
  for (auto _ : st) {
    const auto t0 = std::chrono::steady_clock::now();
    round_trip();
    out.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<std::size_t>(p / 100 * static_cast<double>(v.size())))];
}

ShimRig* g_shim = nullptr;
EngineRig* g_engine = nullptr;      // devices on an engine thread
EngineRig* g_engine_one = nullptr;  // devices polled here

void bm_shim_send_rtt(benchmark::State& st) {
  timed_rtt(st, "shim", [] {
    g_shim->a.send();
    g_shim->b.wait_recv();
    g_shim->b.send();
    g_shim->a.wait_recv();
  });
}

void bm_engine_send_rtt(benchmark::State& st, EngineRig* r, const char* key) {
  timed_rtt(st, key, [r] {
    r->a.send();
    r->wait_recv(r->b);
    r->b.send();
    r->wait_recv(r->a);
  });
}

// One iteration = one write completed, with kDepth in flight.
template <class Post, class Poll>
void pipelined(benchmark::State& st, Post post, Poll poll) {
  std::size_t inflight = 0, banked = 0;
  for (auto _ : st) {
    while (banked == 0) {
      while (inflight < kDepth) {
        post();
        ++inflight;
      }
      const std::size_t got = poll();
      inflight -= got;
      banked += got;
    }
    --banked;
  }
  while (inflight > 0) inflight -= poll();
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * kWrite);
}

void bm_shim_write(benchmark::State& st) {
  ShimSide& a = g_shim->a;
  const std::uint64_t remote = reinterpret_cast<std::uintptr_t>(g_shim->b.buf.data());
  const UINT32 rkey = g_shim->b.rkey;
  pipelined(
      st,
      [&] {
        const NDK_SGE s = a.sge(0, kWrite);
        check("NdkWrite", a.qp->Dispatch->NdkWrite(a.qp, nullptr, &s, 1, remote, rkey, 0));
      },
      [&] {
        std::array<NDK_RESULT, 16> r;
        const ULONG n = a.cq->Dispatch->NdkGetCqResults(a.cq, r.data(), r.size());
        for (ULONG i = 0; i < n; ++i) check("NdkWrite (completion)", r[i].Status);
        return static_cast<std::size_t>(n);
      });
}

void bm_engine_write(benchmark::State& st, EngineRig* r) {
  pipelined(
      st,
      [&] {
        roce::SendWr s;
        s.opcode = verbs::WrOpcode::rdma_write;
        s.flags = verbs::kSignaled;
        s.num_sge = 1;
        s.sg[0] = {r->a.va(0), kWrite, r->a.key};
        s.remote_addr = r->b.va(0);
        s.rkey = r->b.key;
        if (!r->a.dev->post_send(*r->a.qp, s)) die("post_send (write) failed");
      },
      [&] { return r->poll(r->a, nullptr); });
}

void print_row(const RatioReporter& rep, const char* what, const std::string& shim,
               const std::string& engine, bool bandwidth, double target_cost) {
  const auto s = rep.median_ns(shim), e = rep.median_ns(engine);
  if (!s || !e) {
    std::printf("%-46s (not measured in this run)\n", what);
    return;
  }
  const double cost = *s / *e - 1.0;
  if (bandwidth)
    std::printf("%-46s %9.2f GB/s %9.2f GB/s %8.3fx", what, kWrite / *s, kWrite / *e, *e / *s);
  else
    std::printf("%-46s %9.0f ns   %9.0f ns   %8.3fx", what, *s, *e, *s / *e);
  std::printf("   shim cost %+.1f%%", cost * 100);
  if (target_cost > 0)
    std::printf(" (target < %.0f%%: %s)", target_cost * 100, cost < target_cost ? "MET" : "ABOVE");
  std::printf("\n");
}

}  // namespace
}  // namespace softrnic::perf

int main(int argc, char** argv) {
  using namespace softrnic;
  using namespace softrnic::perf;
  std::vector<char*> args{argv[0]};
  std::string defaults[] = {"--benchmark_repetitions=9", "--benchmark_min_time=0.1",
                            "--benchmark_min_warmup_time=0.05",
                            "--benchmark_enable_random_interleaving=true"};
  for (std::string& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  // The baselines' devices first: when DPDK cannot start, everything runs on the loopback wire.
  const char* wanted = std::getenv("SOFTRNIC_NDK_BENCH_WIRE");
  std::string wire = wanted ? wanted : "ring";
  SteadyClock clock;
  transport::DeviceSet set;
  auto build = [&](const std::string& kind) {
    std::vector<transport::DeviceSpec> specs;
    for (const char* pair : {"cd", "ef"}) {
      for (int side = 0; side < 2; ++side) {
        const std::string name(1, pair[side]), peer(1, pair[1 - side]);
        const std::string subnet = pair[0] == 'c' ? "1" : "2";
        auto spec = transport::parse_device_spec("name=" + name + ",port=" + kind +
                                                 ":peer=" + peer + ",ip4=198.18." + subnet + "." +
                                                 std::to_string(side + 1) + "/24");
        if (!spec) die(spec.error().message);
        specs.push_back(std::move(*spec));
      }
    }
    return set.build(specs, clock);
  };
  if (auto b = build(wire); !b) {
    if (wire == "loopback") die("cannot build the loopback devices: " + b.error().message);
    std::printf("DPDK net_ring unavailable (%s): the loopback wire instead\n",
                b.error().message.c_str());
    wire = "loopback";
    if (auto b2 = build(wire); !b2) die(b2.error().message);
  }
  const std::string devices = "name=a,port=" + wire +
                              ":peer=b,ip4=198.18.0.1/24;name=b,port=" + wire +
                              ":peer=a,ip4=198.18.0.2/24";
  setenv("SOFTRNIC_DEVICES", devices.c_str(), 1);

  static ShimRig shim;
  shim.connect("198.18.0.2");
  static EngineRig engine, engine_one;
  engine.connect(set.device("c"), set.device("d"));
  engine_one.connect(set.device("e"), set.device("f"));
  engine_one.one_thread = true;
  EngineLoop loop;  // the shim's engine thread runs with the same (default) configuration
  loop.add([&] { return engine.a.dev->poll(); });
  loop.add([&] { return engine.b.dev->poll(); });
  if (auto s = loop.start(); !s) die("engine loop: " + s.error().message);
  g_shim = &shim;
  g_engine = &engine;
  g_engine_one = &engine_one;

  benchmark::RegisterBenchmark("send_rtt_64B/shim", bm_shim_send_rtt);
  benchmark::RegisterBenchmark("send_rtt_64B/engine_same_threads", bm_engine_send_rtt, g_engine,
                               "engine_same_threads");
  benchmark::RegisterBenchmark("send_rtt_64B/engine_one_thread", bm_engine_send_rtt, g_engine_one,
                               "engine_one_thread");
  benchmark::RegisterBenchmark("write_64KiB_q16/shim", bm_shim_write);
  benchmark::RegisterBenchmark("write_64KiB_q16/engine_same_threads", bm_engine_write, g_engine);
  benchmark::RegisterBenchmark("write_64KiB_q16/engine_one_thread", bm_engine_write, g_engine_one);
  RatioReporter reporter(isatty(STDOUT_FILENO) != 0 ? benchmark::ConsoleReporter::OO_Defaults
                                                    : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::cout.flush();
  std::printf(
      "\nNDKPI shim vs the engine's API over the %s wire, RoCEv2 IPv4; median CPU time of "
      "repetitions interleaved at random\n",
      wire == "ring" ? "DPDK net_ring" : "in-memory loopback");
  std::printf("%-46s %14s %14s %9s\n", "what", "shim", "engine", "ratio");
  print_row(reporter, "64 B SEND round trip vs engine, same threads", "send_rtt_64B/shim",
            "send_rtt_64B/engine_same_threads", false, 0.10);
  print_row(reporter, "64 B SEND round trip vs engine, one thread", "send_rtt_64B/shim",
            "send_rtt_64B/engine_one_thread", false, 0);
  print_row(reporter, "64 KiB RDMA WRITE (16 in flight), same threads", "write_64KiB_q16/shim",
            "write_64KiB_q16/engine_same_threads", true, 0);
  print_row(reporter, "64 KiB RDMA WRITE (16 in flight), one thread", "write_64KiB_q16/shim",
            "write_64KiB_q16/engine_one_thread", true, 0);
  std::printf("\nSingle 64 B SEND round trips (wall time of each, all repetitions pooled)\n");
  std::printf("%-46s %10s %10s %12s\n", "path", "p50 ns", "p99 ns", "round trips");
  for (const char* key : {"shim", "engine_same_threads", "engine_one_thread"}) {
    const auto& v = g_rtt_ns[key];
    std::printf("%-46s %10.0f %10.0f %12zu\n", key, percentile(v, 50), percentile(v, 99), v.size());
  }
  const double shim50 = percentile(g_rtt_ns["shim"], 50);
  const double same50 = percentile(g_rtt_ns["engine_same_threads"], 50);
  if (same50 > 0) {
    const double cost = shim50 / same50 - 1.0;
    std::printf("%-46s %+.1f%% (target < 10%%: %s)\n", "shim cost at p50, vs engine same threads",
                cost * 100, cost < 0.10 ? "MET" : "ABOVE");
  }
  std::fflush(stdout);
  loop.stop();
  benchmark::Shutdown();
  // The shim's objects stay open: its runtime ends with the process.
  std::_Exit(0);
}
