// Wire codec benchmarks. Each cost is printed as a ratio to memcpy of the same bytes measured in
// the same run: absolute numbers move with the machine, the ratio to the memory system much less.
//
//  - CRC32c and the RoCEv2 ICRC over 64 B, 1 KiB and 4 KiB, cache resident; for the ICRC the
//    buffer is a packet's IPv4 header + UDP + BTH + payload, the bytes the ICRC covers;
//  - parse_frame (which verifies the ICRC) and build_roce (which computes it) in ns per frame,
//    for an RC ACKNOWLEDGE (62 B) and an RC SEND ONLY with 4 KiB of payload;
//  - parse_frame of that 4 KiB frame as a ratio to memcpy of the frame.
//
// Repetitions are interleaved at random across benchmarks (so a slow phase of the machine hits
// baseline and subject alike) and summarised by the median of their CPU time. Any --benchmark_*
// flag given on the command line overrides the defaults below.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "ratio_reporter.hpp"
#include "results.hpp"
#include "wire/build.hpp"
#include "wire/crc.hpp"
#include "wire/parse.hpp"

namespace softrnic::perf {
namespace {

constexpr std::size_t kBufferSizes[] = {64, 1024, 4096};
constexpr std::size_t kIcrcHeaders = wire::Ipv4View::kSize + wire::UdpView::kSize +
                                     wire::BthView::kSize;  // what the ICRC covers before payload
constexpr std::size_t kLargePayload = 4096;

// Cache-line aligned storage, so that memcpy and the CRCs see the same alignment.
struct alignas(64) Block {
  std::array<std::byte, wire::kMaxFrameSize> bytes;
};

std::unique_ptr<Block> filled_block() {
  auto b = std::make_unique<Block>();
  for (std::size_t i = 0; i < b->bytes.size(); ++i)
    b->bytes[i] = static_cast<std::byte>(i * 131 + 7);
  return b;
}

// An RC packet over IPv4 between two hosts, as the requester and responder send it.
wire::RoceSpec rc_spec(std::uint8_t opcode, ConstByteSpan payload) {
  wire::RoceSpec s;
  s.eth.dst = {0x52, 0x54, 0x00, 0x52, 0x00, 0x03};
  s.eth.src = {0x52, 0x54, 0x00, 0x52, 0x00, 0x02};
  s.ip.src = wire::ipv4_mapped({198, 18, 0, 2});
  s.ip.dst = wire::ipv4_mapped({198, 18, 0, 3});
  s.ip.id = 0x1234;
  s.bth.opcode = opcode;
  s.bth.pkey = Pkey{0xffff};
  s.bth.dest_qp = Qpn{0x11};
  s.bth.psn = Psn{0x123456};
  s.ext.aeth = {wire::aeth::make(wire::aeth::kTypeAck, wire::aeth::kUnlimitedCredits), Msn{1}};
  s.payload = payload;
  return s;
}

constexpr std::uint8_t kRcSendOnly = 0x04;
constexpr std::uint8_t kRcAcknowledge = 0x11;

// A frame built once, in an aligned block, with the spec that built it (its payload span points
// into a block of its own).
struct Frame {
  std::unique_ptr<Block> payload = filled_block();
  std::unique_ptr<Block> block = std::make_unique<Block>();
  wire::RoceSpec spec;
  std::size_t size = 0;

  Frame(std::uint8_t opcode, std::size_t payload_len)
      : spec(rc_spec(opcode, ConstByteSpan(payload->bytes).first(payload_len))) {
    const auto n = wire::build_roce(spec, block->bytes);
    if (!n) {
      std::fprintf(stderr, "wire_bench: %s\n", n.error().to_string().c_str());
      std::abort();
    }
    size = *n;
  }
  ConstByteSpan bytes() const { return ConstByteSpan(block->bytes).first(size); }
};

void bm_memcpy(benchmark::State& state, std::size_t n) {
  const auto src = filled_block();
  auto dst = std::make_unique<Block>();
  for (auto _ : state) {
    benchmark::DoNotOptimize(src->bytes.data());
    std::memcpy(dst->bytes.data(), src->bytes.data(), n);
    benchmark::DoNotOptimize(dst->bytes.data());
    benchmark::ClobberMemory();  // the copy must land in memory, not be dropped as unread
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void bm_crc32c(benchmark::State& state, std::size_t n) {
  const auto buf = filled_block();
  const ConstByteSpan data = ConstByteSpan(buf->bytes).first(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf->bytes.data());  // the bytes may have changed: read them again
    std::uint32_t crc = wire::crc32c(0, data);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// ICRC over n bytes: the IPv4 header, then UDP .. payload of a SEND ONLY of n - 40 bytes.
void bm_icrc(benchmark::State& state, std::size_t n) {
  const Frame f(kRcSendOnly, n - kIcrcHeaders);
  const ConstByteSpan frame = f.bytes();
  const ConstByteSpan ip = frame.subspan(wire::EthView::kSize, wire::Ipv4View::kSize);
  const std::size_t l4 = wire::EthView::kSize + wire::Ipv4View::kSize;
  const ConstByteSpan udp_to_pad = frame.subspan(l4, frame.size() - l4 - wire::kIcrcSize);
  if (ip.size() + udp_to_pad.size() != n) state.SkipWithError("ICRC span has the wrong size");
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.block->bytes.data());
    std::uint32_t crc = wire::icrc(ip, udp_to_pad);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// The engine's ICRC over the same n bytes of a frame it owns: masked in place, one CRC call.
void bm_icrc_in_place(benchmark::State& state, std::size_t n) {
  Frame f(kRcSendOnly, n - kIcrcHeaders);
  const ByteSpan frame(f.block->bytes.data(), f.size);
  const std::size_t l3 = wire::EthView::kSize;
  const ByteSpan l3_to_pad = frame.subspan(l3, frame.size() - l3 - wire::kIcrcSize);
  if (l3_to_pad.size() != n) state.SkipWithError("ICRC span has the wrong size");
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.block->bytes.data());
    std::uint32_t crc = wire::icrc_in_place(l3_to_pad, wire::Ipv4View::kSize);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// parse_owned_frame: the engine's receive path (ICRC verified in place).
void bm_parse_owned(benchmark::State& state, std::uint8_t opcode, std::size_t payload_len) {
  Frame f(opcode, payload_len);
  const ByteSpan frame(f.block->bytes.data(), f.size);
  const auto first = wire::parse_owned_frame(frame);
  if (!first || !first->roce.icrc_ok) state.SkipWithError("the frame does not parse");
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.block->bytes.data());
    auto p = wire::parse_owned_frame(frame);
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}

void bm_parse(benchmark::State& state, std::uint8_t opcode, std::size_t payload_len) {
  const Frame f(opcode, payload_len);
  const ConstByteSpan frame = f.bytes();
  const auto first = wire::parse_frame(frame);
  if (!first || !first->roce.icrc_ok) state.SkipWithError("the frame does not parse");
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.block->bytes.data());
    auto p = wire::parse_frame(frame);
    benchmark::DoNotOptimize(p);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}

void bm_build(benchmark::State& state, std::uint8_t opcode, std::size_t payload_len) {
  const Frame f(opcode, payload_len);
  auto out = std::make_unique<Block>();
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.payload->bytes.data());
    auto n = wire::build_roce(f.spec, out->bytes);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.size));
}

std::string name_of(const char* what, std::size_t bytes) {
  return std::string(what) + "/" + std::to_string(bytes);
}

std::size_t ack_frame_size() {
  static const std::size_t n = Frame(kRcAcknowledge, 0).size;
  return n;
}
std::size_t send_frame_size() {
  static const std::size_t n = Frame(kRcSendOnly, kLargePayload).size;
  return n;
}

void register_benchmarks() {
  std::vector<std::size_t> copies(std::begin(kBufferSizes), std::end(kBufferSizes));
  copies.push_back(send_frame_size());
  for (const std::size_t n : copies)
    benchmark::RegisterBenchmark(name_of("memcpy", n).c_str(), bm_memcpy, n);
  for (const std::size_t n : kBufferSizes) {
    benchmark::RegisterBenchmark(name_of("crc32c", n).c_str(), bm_crc32c, n);
    benchmark::RegisterBenchmark(name_of("icrc", n).c_str(), bm_icrc, n);
    benchmark::RegisterBenchmark(name_of("icrc_in_place", n).c_str(), bm_icrc_in_place, n);
  }
  benchmark::RegisterBenchmark(name_of("parse_owned_frame/rc_send_4KiB", send_frame_size()).c_str(),
                               bm_parse_owned, kRcSendOnly, kLargePayload);
  benchmark::RegisterBenchmark(name_of("parse_frame/rc_ack", ack_frame_size()).c_str(), bm_parse,
                               kRcAcknowledge, std::size_t{0});
  benchmark::RegisterBenchmark(name_of("parse_frame/rc_send_4KiB", send_frame_size()).c_str(),
                               bm_parse, kRcSendOnly, kLargePayload);
  benchmark::RegisterBenchmark(name_of("build_roce/rc_ack", ack_frame_size()).c_str(), bm_build,
                               kRcAcknowledge, std::size_t{0});
  benchmark::RegisterBenchmark(name_of("build_roce/rc_send_4KiB", send_frame_size()).c_str(),
                               bm_build, kRcSendOnly, kLargePayload);
}

// One line of the ratio table: subject against memcpy of `bytes` bytes.
void print_ratio(const RatioReporter& r, const char* label, const std::string& subject,
                 std::size_t bytes, double target) {
  const auto t = r.median_ns(subject);
  const auto base = r.median_ns(name_of("memcpy", bytes));
  if (!t || !base) {
    std::printf("%-34s %6zu  (not measured in this run)\n", label, bytes);
    return;
  }
  const double ratio = *base / *t;
  std::printf("%-34s %6zu %9.1f %8.2f %12.2f %8.3fx", label, bytes, *t,
              static_cast<double>(bytes) / *t, static_cast<double>(bytes) / *base, ratio);
  if (target > 0) std::printf("   >= %.2fx %s", target, ratio >= target ? "PASS" : "BELOW");
  std::printf("\n");
  perf::record("wire_bench", std::string(label) + ", " + std::to_string(bytes) + " B",
                static_cast<double>(bytes) / *t, "GB/s", "memcpy of the same bytes",
                static_cast<double>(bytes) / *base, ratio, target > 0 ? ">= " + json_number(target) + "x" : "",
                target > 0 ? int(ratio >= target) : -1);
}

void print_cost(const RatioReporter& r, const char* label, const std::string& subject) {
  const auto t = r.median_ns(subject);
  if (!t) {
    std::printf("%-34s (not measured in this run)\n", label);
    return;
  }
  std::printf("%-34s %9.1f ns/frame  (%zu repetitions)\n", label, *t, r.repetitions(subject));
}

void print_summary(const RatioReporter& r) {
  std::cout.flush();  // the reporter writes to std::cout, the table below to stdio
  std::printf(
      "\nRatios to memcpy of the same bytes (cache resident) measured in this run; median CPU "
      "time of repetitions interleaved at random\n");
  std::printf("%-34s %6s %9s %8s %12s %9s   %s\n", "what", "bytes", "ns", "GB/s", "memcpy GB/s",
              "ratio", "target (not asserted)");
  for (const std::size_t n : kBufferSizes)
    print_ratio(r, "crc32c", name_of("crc32c", n), n, n == 4096 ? 0.4 : 0);
  // The engine computes and verifies the ICRC on buffers it owns (in place); the const,
  // copy-masking variant serves captures and tools. Targets apply to the engine's path.
  for (const std::size_t n : kBufferSizes)
    print_ratio(r, "icrc in place (engine path)", name_of("icrc_in_place", n), n, n == 4096 ? 0.4 : 0);
  for (const std::size_t n : kBufferSizes)
    print_ratio(r, "icrc on const bytes (masked copy)", name_of("icrc", n), n, 0);
  print_ratio(r, "parse_owned_frame + ICRC, 4 KiB",
              name_of("parse_owned_frame/rc_send_4KiB", send_frame_size()), send_frame_size(), 0.3);
  print_ratio(r, "parse_frame (const) + ICRC, 4 KiB",
              name_of("parse_frame/rc_send_4KiB", send_frame_size()), send_frame_size(), 0);

  std::printf("\nCost per frame (median)\n");
  const std::string ack = "RC ACKNOWLEDGE " + std::to_string(ack_frame_size()) + " B";
  const std::string send = "RC SEND 4 KiB " + std::to_string(send_frame_size()) + " B";
  print_cost(r, ("parse_frame " + ack).c_str(), name_of("parse_frame/rc_ack", ack_frame_size()));
  print_cost(r, ("parse_frame " + send).c_str(),
             name_of("parse_frame/rc_send_4KiB", send_frame_size()));
  print_cost(r, ("build_roce  " + ack).c_str(), name_of("build_roce/rc_ack", ack_frame_size()));
  print_cost(r, ("build_roce  " + send).c_str(),
             name_of("build_roce/rc_send_4KiB", send_frame_size()));
}

}  // namespace
}  // namespace softrnic::perf

int main(int argc, char** argv) {
  // Defaults first, so that the same flags given by the user (later in argv) win.
  std::vector<char*> args{argv[0]};
  std::string defaults[] = {"--benchmark_repetitions=15", "--benchmark_min_time=0.05",
                            "--benchmark_min_warmup_time=0.02",
                            "--benchmark_enable_random_interleaving=true"};
  for (std::string& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;

  softrnic::perf::register_benchmarks();
  // Colours only on a terminal (a reporter made here does not read --benchmark_color).
  softrnic::perf::RatioReporter reporter(isatty(STDOUT_FILENO) != 0
                                             ? benchmark::ConsoleReporter::OO_Defaults
                                             : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  softrnic::perf::print_summary(reporter);
  std::fflush(stdout);
  benchmark::Shutdown();
  return 0;
}
