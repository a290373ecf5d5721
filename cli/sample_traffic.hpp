// Frames made by the wire builders for `softrnic demo` (and the tshark oracle test): one RoCEv2
// frame for every opcode of the opcode table over IPv4 and over IPv6, every other one
// 802.1Q-tagged, followed by an ARP request/reply and an ND solicitation/advertisement. Each frame
// comes with the record that decoding it must produce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/result.hpp"
#include "capture/decode_record.hpp"

namespace softrnic::cli {

struct SampleFrame {
  std::vector<std::byte> bytes;
  capture::DecodeRecord expected;  // frame is the 1-based position in the list
  bool vlan = false;
  std::uint8_t bth_opcode = 0;  // RoCEv2 frames
  std::size_t pad = 0;          // RoCEv2 PadCnt
};

[[nodiscard]] Result<std::vector<SampleFrame>> make_sample_traffic();

}  // namespace softrnic::cli
