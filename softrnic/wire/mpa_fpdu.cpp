#include "wire/mpa_fpdu.hpp"

#include <string>

#include "wire/crc.hpp"

namespace softrnic::wire {

std::uint32_t fpdu_crc(ConstByteSpan length_to_pad) { return crc32c(0, length_to_pad); }

std::expected<ParsedFpdu, IwarpError> parse_fpdu(ConstByteSpan b, bool crc_on) {
  const std::size_t size = fpdu_size_at(b);
  if (size > b.size()) return std::unexpected(IwarpError::fpdu_truncated);
  ParsedFpdu f;
  f.bytes = b.first(size);
  const std::size_t crc_off = size - kFpduCrcSize;
  f.crc_field = load_le32(f.bytes, crc_off);
  if (crc_on) {
    f.crc = fpdu_crc(f.bytes.first(crc_off)) == f.crc_field ? CrcVerdict::ok : CrcVerdict::bad;
  }
  auto u = parse_ulpdu(f.bytes.subspan(kFpduLengthSize, load_be16(f.bytes, 0)));
  if (!u) {
    // A corrupted FPDU usually fails to parse too; the CRC names the cause.
    return std::unexpected(f.crc == CrcVerdict::bad ? IwarpError::fpdu_bad_crc : u.error());
  }
  f.ulpdu = *u;
  return f;
}

Result<std::size_t> build_fpdu(const UlpduSpec& s, bool crc_on, ByteSpan out,
                               ConstByteSpan pad_bytes) {
  const std::size_t ulpdu_len = ulpdu_size(s);
  const std::size_t size = fpdu_size(ulpdu_len);
  const std::size_t pad = fpdu_pad_size(ulpdu_len);
  if (!pad_bytes.empty() && pad_bytes.size() != pad) {
    return make_error(
        Errc::invalid_argument,
        std::to_string(pad_bytes.size()) + " pad bytes given, the FPDU has " + std::to_string(pad));
  }
  if (ulpdu_len > kMaxUlpduLength) {
    return make_error(Errc::invalid_argument, "ULPDU of " + std::to_string(ulpdu_len) +
                                                  " bytes does not fit the 16-bit ULPDU_LENGTH");
  }
  if (out.size() < size) {
    return make_error(
        Errc::buffer_too_small,
        "FPDU needs " + std::to_string(size) + " bytes, buffer has " + std::to_string(out.size()));
  }
  // build_ulpdu checks the opcode and payload before anything else is written.
  auto written = build_ulpdu(s, out.subspan(kFpduLengthSize, ulpdu_len));
  if (!written) return std::unexpected(written.error());
  store_be16(out, 0, static_cast<std::uint16_t>(ulpdu_len));
  std::size_t off = kFpduLengthSize + ulpdu_len;
  for (std::size_t i = 0; i < pad; ++i, ++off) {
    store_u8(out, off, pad_bytes.empty() ? 0 : load_u8(pad_bytes, i));
  }
  store_le32(out, off, crc_on ? fpdu_crc(ConstByteSpan(out.data(), off)) : 0);
  return size;
}

}  // namespace softrnic::wire
