#include "record_format.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace softrnic::cli {

namespace {

using capture::CrcVerdict;
using capture::DecodeRecord;
using capture::RecordProto;

// A malformed frame has no protocol it could be shown as.
std::string proto_column(const DecodeRecord& r) {
  if (r.is_malformed() && r.proto == RecordProto::other) return "malformed";
  return std::string(capture::record_proto_name(r.proto));
}

std::string hex24(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%06x", v);
  return buf;
}
std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

std::string format_record_text(const DecodeRecord& r) {
  char head[96];
  const std::string proto = proto_column(r);
  const std::string& what = r.opcode.empty() && r.is_malformed() ? r.malformed : r.opcode;
  std::snprintf(head, sizeof head, "%6llu  %-11s  %-33s", static_cast<unsigned long long>(r.frame),
                proto.c_str(), what.c_str());
  std::string line = head;
  // Fixed widths keep the columns of a listing aligned.
  const auto field = [&](const std::string& s, std::size_t width) {
    line += "  " + s;
    if (s.size() < width) line.append(width - s.size(), ' ');
  };
  if (r.qpn) field("qpn=" + hex24(*r.qpn), 12);
  if (r.psn) field("psn=" + std::to_string(*r.psn), 12);
  if (r.msn) field("msn=" + std::to_string(*r.msn), 12);
  if (r.stag) field("stag=" + hex32(*r.stag), 15);
  if (r.proto != RecordProto::other || r.length != 0) field("len=" + std::to_string(r.length), 8);
  if (r.icrc != CrcVerdict::none)
    field("icrc=" + std::string(capture::crc_verdict_name(r.icrc)), 0);
  if (r.crc != CrcVerdict::none) field("crc=" + std::string(capture::crc_verdict_name(r.crc)), 0);
  if (r.is_malformed() && !r.opcode.empty()) field("malformed=" + r.malformed, 0);
  if (!r.note.empty()) field(r.note, 0);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string format_record_json(const DecodeRecord& r) {
  nlohmann::ordered_json j;
  j["frame"] = r.frame;
  j["proto"] = proto_column(r);
  if (!r.opcode.empty()) j["opcode"] = r.opcode;
  if (r.qpn) j["qpn"] = *r.qpn;
  if (r.psn) j["psn"] = *r.psn;
  if (r.msn) j["msn"] = *r.msn;
  if (r.stag) j["stag"] = *r.stag;
  if (!r.is_malformed()) j["len"] = r.length;
  if (r.icrc != CrcVerdict::none) j["icrc"] = capture::crc_verdict_name(r.icrc);
  if (r.crc != CrcVerdict::none) j["crc"] = capture::crc_verdict_name(r.crc);
  if (r.is_malformed()) j["malformed"] = r.malformed;
  if (r.snapped) j["snapped"] = true;
  if (!r.note.empty()) j["note"] = r.note;
  return j.dump();
}

std::string format_summary(const capture::DecodeSummary& s) {
  std::string line = std::to_string(s.frames) + " frames, " + std::to_string(s.records) +
                     " records: RoCEv2 " + std::to_string(s.roce) + " (ICRC ok " +
                     std::to_string(s.icrc_ok) + ", bad " + std::to_string(s.icrc_bad) +
                     "), iWARP " + std::to_string(s.iwarp) + " (CRC bad " +
                     std::to_string(s.crc_bad) + "), ARP " + std::to_string(s.arp) + ", ND " +
                     std::to_string(s.nd) + ", other " + std::to_string(s.other) + ", malformed " +
                     std::to_string(s.malformed);
  if (s.snapped != 0) line += ", cut by snap length (not checked) " + std::to_string(s.snapped);
  return line;
}

}  // namespace softrnic::cli
