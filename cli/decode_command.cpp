#include "decode_command.hpp"

#include <ostream>

#include "capture/decoder.hpp"
#include "capture/iwarp_consumer.hpp"
#include "capture/pcap_file.hpp"
#include "command.hpp"
#include "record_format.hpp"

namespace softrnic::cli {

std::unique_ptr<capture::TcpConsumerFactory> make_tcp_consumers() {
  return capture::make_iwarp_consumers();
}

int run_decode(const DecodeCommand& cmd, std::ostream& out, std::ostream& err) {
  auto reader = capture::PcapReader::open(cmd.path);
  if (!reader) {
    err << "softrnic decode: " << reader.error().message << '\n';
    return kExitCannotRead;
  }
  const auto tcp_consumers = make_tcp_consumers();
  const auto summary =
      capture::decode_capture(*reader, tcp_consumers.get(), [&](const capture::DecodeRecord& r) {
        out << (cmd.json ? format_record_json(r) : format_record_text(r)) << '\n';
      });
  out.flush();
  if (!summary) {
    err << "softrnic decode: " << summary.error().message << '\n';
    return kExitCannotRead;
  }
  err << "softrnic decode: " << cmd.path << ": " << format_summary(*summary)
      << (summary->clean() ? "" : " -- FAILED") << '\n';
  return summary->clean() ? kExitClean : kExitWireProblem;
}

void add_decode_command(CLI::App& app, CommandList& list) {
  auto cmd = std::make_shared<DecodeCommand>();
  auto* sub = app.add_subcommand(
      "decode",
      "List the RoCEv2, iWARP, ARP and ND packets of a pcap/pcapng capture, checking "
      "every ICRC/CRC; exits 1 if one is bad or a frame is malformed");
  sub->add_option("FILE", cmd->path, "Capture file (pcap or pcapng)")->required();
  sub->add_flag("--json", cmd->json, "One JSON object per line instead of text");
  list.push_back({sub, [cmd](std::ostream& out, std::ostream& err) { return run_decode(*cmd, out, err); }});
}

}  // namespace softrnic::cli
