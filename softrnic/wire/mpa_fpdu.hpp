// MPA framing of one ULPDU (RFC 5044, FPDU format; markers are never negotiated here):
//   ULPDU_LENGTH (2) | ULPDU | pad to a multiple of 4 | CRC (4)
// The CRC field is always there: CRC32c over ULPDU_LENGTH..pad when CRC was negotiated, sent least
// significant byte first; zero otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "wire/ddp_rdmap.hpp"
#include "wire/iwarp_error.hpp"

namespace softrnic::wire {

inline constexpr std::size_t kFpduLengthSize = 2;
inline constexpr std::size_t kFpduCrcSize = 4;
inline constexpr std::size_t kMaxUlpduLength = 0xffff;

constexpr std::size_t fpdu_pad_size(std::size_t ulpdu_length) {
  return (4 - (kFpduLengthSize + ulpdu_length) % 4) % 4;
}
constexpr std::size_t fpdu_size(std::size_t ulpdu_length) {
  return kFpduLengthSize + ulpdu_length + fpdu_pad_size(ulpdu_length) + kFpduCrcSize;
}
inline constexpr std::size_t kMaxFpduSize = fpdu_size(kMaxUlpduLength);
static_assert(kMaxFpduSize == 2 + 65535 + 3 + 4);

// How many bytes the FPDU starting at b[0] occupies: kFpduLengthSize while b holds fewer than
// that, the whole FPDU size once ULPDU_LENGTH is there. Above b.size() means "need more bytes".
inline std::size_t fpdu_size_at(ConstByteSpan b) {
  if (b.size() < kFpduLengthSize) return kFpduLengthSize;
  return fpdu_size(load_be16(b, 0));
}

enum class CrcVerdict : std::uint8_t { off, ok, bad };

// CRC32c of ULPDU_LENGTH..pad, the value for the CRC field.
std::uint32_t fpdu_crc(ConstByteSpan length_to_pad);

struct ParsedFpdu {
  ConstByteSpan bytes;  // the whole FPDU, CRC included
  ParsedUlpdu ulpdu;
  std::uint32_t crc_field = 0;  // as read (least significant byte first)
  CrcVerdict crc = CrcVerdict::off;

  ConstByteSpan pad() const {
    const std::size_t n = ulpdu.bytes.size();
    return bytes.subspan(kFpduLengthSize + n, fpdu_pad_size(n));
  }
};

// Parses the FPDU at the start of b (later bytes are not looked at). With crc_on the CRC field is
// checked: a mismatch is reported as crc == bad when the ULPDU still parses (the caller decides;
// RFC 5044 makes it fatal for a connection), as fpdu_bad_crc when it does not. With CRC off the
// field is not looked at (siw ignores it too). Pad bytes are not checked (RFC 5044: ignored on
// receive).
[[nodiscard]] std::expected<ParsedFpdu, IwarpError> parse_fpdu(ConstByteSpan b, bool crc_on);

// Writes the FPDU carrying s to out; returns its size (fpdu_size(ulpdu_size(s))). The pad is
// zeros unless pad_bytes is given (exactly the pad size): re-emitting a capture needs what the
// sender put there, and siw sends whatever its trailer buffer held.
[[nodiscard]] Result<std::size_t> build_fpdu(const UlpduSpec& s, bool crc_on, ByteSpan out,
                                             ConstByteSpan pad_bytes = {});

}  // namespace softrnic::wire
