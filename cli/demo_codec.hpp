// `softrnic demo --codec`: the codec round trip. One RoCEv2 frame for every opcode (IPv4 and
// IPv6, some 802.1Q-tagged) plus ARP and ND frames are built, written to a pcap, decoded back with
// the decoder behind `softrnic decode`, and compared with what was built. No device is involved.
#pragma once

#include <iosfwd>
#include <string>

namespace softrnic::cli {

// output: the pcap to write; empty: demo.pcap in a fresh temporary directory. An existing output
// is replaced only with overwrite (capture/pcap_file.hpp).
// 0 when every frame decodes back to what was built, 1 when one does not, 2 on an I/O error.
int run_codec_demo(const std::string& output, bool overwrite, std::ostream& out,
                   std::ostream& err);

}  // namespace softrnic::cli
