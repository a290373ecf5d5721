#include "demo_command.hpp"

#include <unistd.h>

#include <ostream>

#include "base/clock.hpp"
#include "demo_codec.hpp"
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
  if (cmd.codec) return run_codec_demo(cmd.output, out, err);

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

  if (cmd.roce) {
    RoceRigOptions ro;
    ro.loss = cmd.loss_percent / 100.0;
    ro.capture = cmd.capture;
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
    auto rig = make_iwarp_rig(clock);
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

}  // namespace softrnic::cli
