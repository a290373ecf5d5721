// How `softrnic decode` and `softrnic demo` print decode records: an aligned text line, or one JSON
// object per line (keys frame, proto, opcode, qpn, psn, msn, stag, len, icrc, crc, malformed,
// note).
#pragma once

#include <string>

#include "capture/decode_record.hpp"

namespace softrnic::cli {

std::string format_record_text(const capture::DecodeRecord& r);
std::string format_record_json(const capture::DecodeRecord& r);
// One line: frames, records, RoCEv2 ICRC verdicts, iWARP CRC verdicts, malformed and snapped.
std::string format_summary(const capture::DecodeSummary& s);

}  // namespace softrnic::cli
