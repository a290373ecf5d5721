// `softrnic demo`: for now a codec round trip (build frames, write a pcap, decode it back,
// compare). Later issues turn it into two soft RNICs talking to each other.
#pragma once

#include <iosfwd>
#include <string>

namespace softrnic::cli {

struct DemoCommand {
  std::string output;  // pcap to write; empty: demo.pcap in a fresh temporary directory
};

// 0 when every frame decodes back to what was built, 1 when one does not, 2 on an I/O error.
int run_demo(const DemoCommand& cmd, std::ostream& out, std::ostream& err);

}  // namespace softrnic::cli
