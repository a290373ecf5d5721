#include "demo_command.hpp"

#include <unistd.h>

#include <optional>
#include <ostream>

#include "base/clock.hpp"
#include "capture/capture_sink.hpp"
#include "capture/pcap_file.hpp"
#include "command.hpp"
#include "demo_codec.hpp"
#include "demo_ndk.hpp"
#include "demo_report.hpp"
#include "demo_rigs.hpp"
#include "demo_workload.hpp"

namespace softrnic::cli {

namespace {

const char* family(wire::IpVersion ip) { return ip == wire::IpVersion::v4 ? "IPv4" : "IPv6"; }

// Connects a pair per IP family on `rig` and runs the workload on each.
void run_on(Rig& rig, const std::string& proto, const WorkloadConfig& wc, DemoBuffers& buffers,
            std::uint32_t& seed, Progress& progress, DemoReport& report) {
  for (const auto ip : {wire::IpVersion::v4, wire::IpVersion::v6}) {
    const std::string transport = proto + "/" + family(ip);
    auto pair = rig.connect(ip);
    if (!pair) {
      report.failures.push_back(transport + ": connection failed: " + pair.error().message);
      return;
    }
    progress.note(transport + ": connected (private data checked both ways)");
    auto results = run_workload(**pair, transport, wc, buffers, ++seed, progress);
    const bool ok = results.back().ok();
    for (auto& r : results) report.phases.push_back(std::move(r));
    if (!ok) return;  // work may still be in flight on this pair: no more traffic on the rig
  }
  rig.disconnect_all();
}

}  // namespace

int run_demo(const DemoCommand& cmd, std::ostream& out, std::ostream& err) {
  if (cmd.codec) return run_codec_demo(cmd.output, cmd.capture_overwrite, out, err);

  DemoReport report;
  report.loss_percent = cmd.loss_percent;
  report.capture = cmd.capture;
  Progress progress(err, isatty(STDERR_FILENO) == 1);
  WorkloadConfig wc;
  // Under loss every lost packet costs a resend round (go-back-N) or an ACK timeout (67 ms), so
  // the defaults shrink to keep the run short.
  const bool lossy = cmd.loss_percent > 0;
  wc.bytes = std::uint64_t{cmd.size_mib.value_or(lossy ? kLossySizeMib : kSizeMib)} << 20;
  wc.chunk = cmd.chunk_kib.value_or(lossy ? kLossyChunkKib : kChunkKib) << 10;
  wc.pingpongs = cmd.pingpongs.value_or(lossy ? kLossyPingpongs : kPingpongs);
  report.chunk = wc.chunk;
  report.window = wc.window;
  DemoBuffers buffers;
  buffers.source.resize(wc.bytes);
  buffers.target.resize(wc.bytes);
  buffers.back.resize(wc.bytes);
  SteadyClock clock;
  std::uint32_t seed = 0;
  // One capture for both wires: the RoCEv2 rig shares it, then the iWARP rig. Nothing else
  // runs on the demo's engine, so it waits for room in the capture's ring rather than leave
  // frames out of the file.
  std::shared_ptr<capture::CaptureSink> sink;
  if (!cmd.capture.empty()) {
    auto w = capture::PcapWriter::create(
        cmd.capture, {.overwrite = cmd.capture_overwrite, .max_bytes = cmd.capture_max_bytes});
    auto s = w ? capture::CaptureSink::create(std::move(*w), {.wait_when_full = true})
               : Result<std::shared_ptr<capture::CaptureSink>>(std::unexpected(w.error()));
    if (!s) {
      err << "softrnic demo: --capture " << cmd.capture << ": " << s.error().message << '\n';
      return 1;
    }
    sink = std::move(*s);
  }

  if (cmd.roce) {
    RoceRigOptions ro;
    ro.loss = cmd.loss_percent / 100.0;
    ro.capture = sink;
    ro.loopback = cmd.wire == "loopback";
    RoceRigInfo info;
    auto rig = make_roce_rig(ro, clock, info);
    report.roce_wire = info.wire;
    report.note = info.note;
    if (!info.note.empty()) progress.note("note: " + info.note);
    if (!rig) {
      report.failures.push_back("RoCEv2: set-up failed: " + rig.error().message);
    } else {
      progress.note("RoCEv2: devices a and b on " + info.wire);
      run_on(**rig, "RoCEv2", wc, buffers, seed, progress, report);
    }
  } else {
    report.roce_wire = "not run (--no-roce)";
  }

  if (cmd.iwarp) {
    auto rig = make_iwarp_rig(clock, sink);
    if (!rig) {
      const std::string why =
          "iWARP rides on kernel TCP through io_uring, which could not start here: " +
          rig.error().message;
      report.skipped.push_back({"iWARP", why});
      progress.note("SKIPPED: " + why);
    } else {
      progress.note("iWARP: devices ia and ib on kernel TCP (io_uring), 127.0.0.1 and ::1");
      run_on(**rig, "iWARP", wc, buffers, seed, progress, report);
    }
  }

  if (cmd.ndk && (cmd.roce || cmd.iwarp)) {
    NdkDemoOptions no;
    no.loss = cmd.loss_percent / 100.0;
    no.loopback = cmd.wire == "loopback" || report.roce_wire.find("loopback") != std::string::npos;
    no.roce = cmd.roce;
    no.iwarp = cmd.iwarp && report.skipped.empty();
    no.payload = wc.bytes;
    no.scenario = cmd.scenario;
    no.scenario_log = cmd.scenario_log;
    run_ndk_demo(no, progress, report);
  }

  if (sink) {
    const auto closed = sink->close();
    const capture::CaptureSinkStats st = sink->stats();
    report.capture_frames = st.written;
    report.capture_over_limit = st.over_limit;
    const std::string what = "--capture " + cmd.capture + ": ";
    if (!closed) report.failures.push_back(what + closed.error().message);
    if (st.write_errors != 0)
      report.failures.push_back(what + std::to_string(st.write_errors) +
                                " frames could not be written");
  }
  if (cmd.json) {
    print_json(report, out);
  } else {
    print_table(report, out);
  }
  if (!report.ok()) {
    for (const auto& f : report.failures) err << "softrnic demo: " << f << '\n';
    for (const auto& p : report.phases) {
      if (!p.ok()) {
        err << "softrnic demo: " << p.transport << " " << p.operation << ": "
            << (p.error.empty() ? "data differs" : p.error) << '\n';
      }
    }
  }
  return report.ok() ? 0 : 1;
}

void add_demo_command(CLI::App& app, CommandList& list) {
  auto cmd = std::make_shared<DemoCommand>();
  auto no_roce = std::make_shared<bool>(false), no_iwarp = std::make_shared<bool>(false),
       no_ndk = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand(
      "demo",
      "Two soft RNICs in one process, no hugepages, no root-only set-up: RoCEv2 over IPv4 and "
      "IPv6 on an in-memory DPDK net_ring pair (the in-memory loopback wire if DPDK cannot "
      "start), connected by the RoCEv2 CM, and iWARP over the kernel's loopback TCP "
      "(127.0.0.1 and ::1, io_uring). On each: a Send ping-pong, RDMA Writes of a large buffer "
      "and RDMA Reads of it back through the engine's verbs; then the SMB-Direct-like NDK "
      "consumer through the NDK shim on the same kinds of wire (negotiate, credits, a "
      "file-sized write done by RDMA Read and read back by RDMA Write, echoes). Every byte "
      "verified; then a table of bytes, throughput, latency p50/p99 and retransmits. Exits 1 "
      "if a phase fails or a byte differs");
  sub->add_option("--scenario", cmd->scenario,
                  "Consumer test mode: run the NDK part (the SMB-Direct-like consumer) under this "
                  "scenario file (scenarios/*.toml: link flaps, RNR storms, failing creates, "
                  "forced STATUS_PENDING, refused connects, ...) and print its event summary")
      ->check(CLI::ExistingFile);
  sub->add_option("--scenario-log", cmd->scenario_log,
                  "With --scenario: write every injected event and what the consumer saw as JSON "
                  "lines to this file");
  sub
      ->add_option("--loss", cmd->loss_percent,
                   "Drop this percentage of frames on each RoCEv2 port (fault injection) to "
                   "show recovery; iWARP is left alone (kernel TCP recovers its own losses)")
      ->check(CLI::Range(0.0, 50.0));
  sub->add_option("--capture", cmd->capture,
                  "Write the engine phases' traffic to this capture file (pcapng when it ends "
                  "in .pcapng, else pcap): the RoCEv2 frames as device a saw them, and device "
                  "ia's iWARP TCP streams with synthesized Ethernet/IP/TCP headers (iWARP runs "
                  "on kernel TCP, whose segments the engine never sees; in pcapng each such "
                  "frame carries a comment saying so). A new file (mode 0600): an existing one "
                  "is refused unless --capture-overwrite");
  sub->add_flag("--capture-overwrite", cmd->capture_overwrite,
                "Let --capture (and --output of --codec) replace an existing regular file; a "
                "symbolic link is refused either way");
  sub->add_option("--capture-max-bytes", cmd->capture_max_bytes,
                  "Stop writing --capture's file before it passes this many bytes; the frames "
                  "left out are counted in the report");
  sub
      ->add_option("--wire", cmd->wire,
                   "RoCEv2 wire: ring (DPDK net_ring pair, no hugepages; falls back to loopback "
                   "when DPDK cannot start) or loopback (in-memory, no DPDK)")
      ->check(CLI::IsMember({"ring", "loopback"}))
      ->capture_default_str();
  sub->add_flag("--json", cmd->json, "Results as one JSON document on stdout");
  sub
      ->add_option("--size", cmd->size_mib,
                   "MiB written and read back per transport (default " +
                       std::to_string(kSizeMib) + ", with --loss " +
                       std::to_string(kLossySizeMib) + ")")
      ->check(CLI::Range(1, 1024));
  sub
      ->add_option("--chunk", cmd->chunk_kib,
                   "KiB per RDMA Write and Read (default " +
                       std::to_string(kChunkKib) + ", with --loss " +
                       std::to_string(kLossyChunkKib) + ")")
      ->check(CLI::Range(1, 16384));
  sub
      ->add_option("--pingpongs", cmd->pingpongs,
                   "Send round trips per transport (default " +
                       std::to_string(kPingpongs) + ", with --loss " +
                       std::to_string(kLossyPingpongs) + ")")
      ->check(CLI::Range(1, 1000000));
  auto* no_roce_flag = sub->add_flag("--no-roce", *no_roce, "Leave out the RoCEv2 part");
  sub->add_flag("--no-iwarp", *no_iwarp, "Leave out the iWARP part")->excludes(no_roce_flag);
  sub->add_flag("--no-ndk", *no_ndk,
                "Leave out the SMB-Direct-like NDK consumer (MS-SMBD negotiate, credits, RDMA "
                "Read/Write of fast-registered buffers) run through the NDK shim");
  auto* codec_flag = sub->add_flag(
      "--codec", cmd->codec,
      "Instead: the codec round trip (build a frame for every opcode, write a pcap, decode it "
      "back and compare)");
  sub
      ->add_option("-o,--output", cmd->output,
                   "With --codec: where to write the capture (default: demo.pcap in a new temp "
                   "directory)")
      ->needs(codec_flag);

  list.push_back({sub, [cmd, no_roce, no_iwarp, no_ndk](std::ostream& out, std::ostream& err) {
                    cmd->roce = !*no_roce;
                    cmd->iwarp = !*no_iwarp;
                    cmd->ndk = !*no_ndk;
                    return run_demo(*cmd, out, err);
                  }});
}

}  // namespace softrnic::cli
