#include "demo_codec.hpp"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <vector>

#include "capture/decoder.hpp"
#include "capture/pcap_file.hpp"
#include "record_format.hpp"
#include "sample_traffic.hpp"

namespace softrnic::cli {

namespace {

constexpr int kExitMismatch = 1;
constexpr int kExitIo = 2;

Result<std::string> default_output() {
  const char* tmp = secure_getenv("TMPDIR");  // not a privileged caller's environment
  std::string dir =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/softrnic-demo-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    return make_error(Errc::io_error,
                      "cannot create a directory under " + dir + " (" + std::strerror(errno) + ")");
  }
  return dir + "/demo.pcap";
}

// What differs between the record that was decoded and the one expected; empty when equal.
std::string difference(const capture::DecodeRecord& got, const capture::DecodeRecord& want) {
  std::string d;
  const auto check = [&](bool same, const char* what) {
    if (!same) d += std::string(d.empty() ? "" : ", ") + what;
  };
  check(got.proto == want.proto, "proto");
  check(got.opcode == want.opcode, "opcode");
  check(got.qpn == want.qpn, "qpn");
  check(got.psn == want.psn, "psn");
  check(got.msn == want.msn, "msn");
  check(got.stag == want.stag, "stag");
  check(got.length == want.length, "len");
  check(got.icrc == want.icrc, "icrc");
  check(got.crc == want.crc, "crc");
  check(got.malformed == want.malformed, "malformed");
  return d;
}

}  // namespace

int run_codec_demo(const std::string& output, bool overwrite, std::ostream& out,
                   std::ostream& err) {
  out << "softrnic demo --codec -- codec round trip (no devices involved): it builds one\n"
         "RoCEv2 frame for every opcode of the opcode table (IPv4 and IPv6, some 802.1Q-tagged),\n"
         "ARP and ND frames, writes them to a pcap, decodes that file with the decoder behind\n"
         "`softrnic decode`, and checks every record against what was built.\n\n";

  auto frames = make_sample_traffic();
  if (!frames) {
    err << "softrnic demo: cannot build frames: " << frames.error().to_string() << '\n';
    return kExitMismatch;
  }
  std::string path = output;
  if (path.empty()) {
    auto p = default_output();
    if (!p) {
      err << "softrnic demo: " << p.error().message << '\n';
      return kExitIo;
    }
    path = *p;
  }

  auto writer = capture::PcapWriter::create(path, {.overwrite = overwrite});
  if (!writer) {
    err << "softrnic demo: " << writer.error().message << '\n';
    return kExitIo;
  }
  for (std::size_t i = 0; i < frames->size(); ++i) {
    const capture::Timestamp ts{.seconds = 0, .nanoseconds = static_cast<std::uint32_t>(i) * 1000};
    if (auto w = writer->write((*frames)[i].bytes, ts); !w) {
      err << "softrnic demo: " << w.error().message << '\n';
      return kExitIo;
    }
  }
  if (auto c = writer->close(); !c) {
    err << "softrnic demo: " << c.error().message << '\n';
    return kExitIo;
  }
  spdlog::info("wrote {} frames to {}", frames->size(), path);

  auto reader = capture::PcapReader::open(path);
  if (!reader) {
    err << "softrnic demo: " << reader.error().message << '\n';
    return kExitIo;
  }
  std::vector<capture::DecodeRecord> records;
  const auto summary = capture::decode_capture(
      *reader, nullptr, [&](const capture::DecodeRecord& r) { records.push_back(r); });
  if (!summary) {
    err << "softrnic demo: " << summary.error().message << '\n';
    return kExitIo;
  }

  std::size_t roce = 0;
  std::size_t matched = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    out << format_record_text(records[i]);
    if (i < frames->size()) {
      const auto diff = difference(records[i], (*frames)[i].expected);
      if (diff.empty()) {
        ++matched;
      } else {
        out << "  <-- MISMATCH: " << diff;
      }
    }
    out << '\n';
  }
  for (const auto& f : *frames) {
    const auto p = f.expected.proto;
    roce += p == capture::RecordProto::roce_v4 || p == capture::RecordProto::roce_v6;
  }
  const bool ok = matched == frames->size() && records.size() == frames->size() &&
                  summary->icrc_ok == roce && summary->clean();
  out << "\nframes built " << frames->size() << " (RoCEv2 " << roce << ", ARP/ND "
      << frames->size() - roce << "), decoded " << records.size() << ", matching " << matched
      << ", ICRC ok " << summary->icrc_ok << " of " << roce << ": "
      << (ok ? "round trip OK" : "round trip FAILED") << '\n';
  out << "capture: " << path << " (open it with Wireshark, or run `softrnic decode " << path
      << "`)\n";
  return ok ? 0 : kExitMismatch;
}

}  // namespace softrnic::cli
