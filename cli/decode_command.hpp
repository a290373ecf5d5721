// `softrnic decode FILE [--json]`: one line per record of a pcap/pcapng capture, a summary on the
// error stream, and an exit status a script can test.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "capture/tcp_stream_consumer.hpp"

namespace softrnic::cli {

// Exit statuses of `decode`.
inline constexpr int kExitClean = 0;
inline constexpr int kExitWireProblem = 1;  // a bad ICRC/CRC or a malformed frame
inline constexpr int kExitCannotRead = 2;   // missing file, not a capture, damaged capture

struct DecodeCommand {
  std::string path;
  bool json = false;
};

// The consumers that decode protocols carried on TCP. iWARP (MPA/DDP/RDMAP) plugs in here; until
// it does this returns null and TCP segments are listed as plain TCP.
std::unique_ptr<capture::TcpConsumerFactory> make_tcp_consumers();

int run_decode(const DecodeCommand& cmd, std::ostream& out, std::ostream& err);

}  // namespace softrnic::cli
