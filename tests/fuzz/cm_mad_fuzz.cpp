// libFuzzer target for the CM MAD decoder (wire/cm_mad.hpp), the bytes a peer's QP1 hands us.
//
// Oracles, besides AddressSanitizer and UBSan:
//  - a decoded MAD re-encodes to exactly the 256 bytes it came from (every field, reserved bits
//    included, is kept), and decodes again to the same message;
//  - a REQ's private data either yields an IP addressing header with IP version 4 or 6, or an
//    error; never anything in between.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "wire/cm_mad.hpp"

using namespace softrnic;
using namespace softrnic::wire::cm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ConstByteSpan in(reinterpret_cast<const std::byte*>(data), size);
  auto m = decode_cm_mad(in);
  if (!m) return 0;
  const auto out = encode_cm_mad(*m);
  if (std::memcmp(out.data(), data, kMadSize) != 0) {
    std::fprintf(stderr, "cm_mad: a decoded MAD does not re-encode to its bytes\n");
    std::abort();
  }
  auto again = decode_cm_mad(out);
  if (!again || again->hdr != m->hdr || again->msg != m->msg) {
    std::fprintf(stderr, "cm_mad: the re-encoded MAD decodes differently\n");
    std::abort();
  }
  if (const auto* req = std::get_if<Req>(&m->msg)) {
    auto ip = read_ip_cm_header(std::span<const std::byte, kReqPrivateData>(req->private_data));
    if (ip && ip->ip_version != wire::IpVersion::v4 && ip->ip_version != wire::IpVersion::v6) std::abort();
  }
  return 0;
}
