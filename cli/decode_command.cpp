#include "decode_command.hpp"

#include <ostream>

#include "capture/decoder.hpp"
#include "capture/iwarp_consumer.hpp"
#include "capture/pcap_file.hpp"
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

}  // namespace softrnic::cli
