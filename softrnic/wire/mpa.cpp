#include "wire/mpa.hpp"

#include <array>
#include <string>

namespace softrnic::wire {

namespace {

// RFC 5044 s.7: the ASCII keys, no terminating NUL.
constexpr std::array<char, kMpaKeySize> kRequestKey = {'M', 'P', 'A', ' ', 'I', 'D', ' ', 'R',
                                                       'e', 'q', ' ', 'F', 'r', 'a', 'm', 'e'};
constexpr std::array<char, kMpaKeySize> kReplyKey = {'M', 'P', 'A', ' ', 'I', 'D', ' ', 'R',
                                                     'e', 'p', ' ', 'F', 'r', 'a', 'm', 'e'};

bool key_is(ConstByteSpan b, const std::array<char, kMpaKeySize>& key) {
  for (std::size_t i = 0; i < kMpaKeySize; ++i)
    if (load_u8(b, i) != static_cast<std::uint8_t>(key[i])) return false;
  return true;
}

constexpr std::uint16_t kIrdOrdTopBit = 0x8000;
constexpr std::uint16_t kIrdOrdNextBit = 0x4000;

std::uint16_t ird_word(const MpaIrdOrd& v) {
  return static_cast<std::uint16_t>((v.p2p ? kIrdOrdTopBit : 0) |
                                    (v.rtr_zero_length_send ? kIrdOrdNextBit : 0) |
                                    (v.ird & MpaIrdOrd::kMaxDepth));
}
std::uint16_t ord_word(const MpaIrdOrd& v) {
  return static_cast<std::uint16_t>((v.rtr_write ? kIrdOrdTopBit : 0) |
                                    (v.rtr_read ? kIrdOrdNextBit : 0) |
                                    (v.ord & MpaIrdOrd::kMaxDepth));
}

}  // namespace

std::expected<std::size_t, IwarpError> mpa_frame_size(ConstByteSpan b) {
  if (b.size() < kMpaHeaderSize) return kMpaHeaderSize;
  if (!key_is(b, kRequestKey) && !key_is(b, kReplyKey))
    return std::unexpected(IwarpError::mpa_bad_key);
  const std::uint8_t rev = load_u8(b, 17);
  if (rev != 1 && rev != 2) return std::unexpected(IwarpError::mpa_bad_revision);
  const std::size_t pd_len = load_be16(b, 18);
  if (pd_len > kMpaMaxPrivateData) return std::unexpected(IwarpError::mpa_private_data_too_long);
  return kMpaHeaderSize + pd_len;
}

std::expected<MpaFrame, IwarpError> parse_mpa_frame(ConstByteSpan b) {
  const auto size = mpa_frame_size(b);
  if (!size) return std::unexpected(size.error());
  if (*size > b.size()) return std::unexpected(IwarpError::mpa_truncated);
  MpaFrame f;
  f.kind = key_is(b, kRequestKey) ? MpaKind::request : MpaKind::reply;
  const std::uint8_t flags = load_u8(b, 16);
  f.markers = (flags & mpa_flag::kMarkers) != 0;
  f.crc = (flags & mpa_flag::kCrc) != 0;
  f.reject = (flags & mpa_flag::kReject) != 0;
  f.enhanced = (flags & mpa_flag::kEnhanced) != 0;
  f.low_flags = flags & mpa_flag::kLowBits;
  f.revision = load_u8(b, 17);
  ConstByteSpan pd = b.subspan(kMpaHeaderSize, *size - kMpaHeaderSize);
  f.ird_ord.reset();
  if (f.has_ird_ord_block()) {
    // RFC 6581: with Enhanced set the block is mandatory.
    if (pd.size() < kMpaIrdOrdSize) return std::unexpected(IwarpError::mpa_ird_ord_missing);
    const std::uint16_t ird = load_be16(pd, 0);
    const std::uint16_t ord = load_be16(pd, 2);
    f.ird_ord = MpaIrdOrd{(ird & kIrdOrdTopBit) != 0,
                          (ird & kIrdOrdNextBit) != 0,
                          static_cast<std::uint16_t>(ird & MpaIrdOrd::kMaxDepth),
                          (ord & kIrdOrdTopBit) != 0,
                          (ord & kIrdOrdNextBit) != 0,
                          static_cast<std::uint16_t>(ord & MpaIrdOrd::kMaxDepth)};
    pd = pd.subspan(kMpaIrdOrdSize);
  }
  f.private_data = pd;
  return f;
}

Result<std::size_t> build_mpa_frame(const MpaFrame& f, ByteSpan out) {
  if (f.private_data_length() > kMpaMaxPrivateData) {
    return make_error(Errc::invalid_argument,
                      std::string(iwarp_error_name(IwarpError::mpa_private_data_too_long)) + ": " +
                          std::to_string(f.private_data_length()) + " bytes, RFC 5044 allows " +
                          std::to_string(kMpaMaxPrivateData));
  }
  if (f.has_ird_ord_block() != f.ird_ord.has_value()) {
    return make_error(Errc::invalid_argument,
                      f.ird_ord ? "IRD/ORD block given but the frame is not Rev 2 + Enhanced"
                                : std::string(iwarp_error_name(IwarpError::mpa_ird_ord_missing)) +
                                      ": Rev 2 + Enhanced needs an IRD/ORD block");
  }
  if (f.ird_ord && (f.ird_ord->ird > MpaIrdOrd::kMaxDepth || f.ird_ord->ord > MpaIrdOrd::kMaxDepth))
    return make_error(Errc::out_of_range, "IRD and ORD are 14-bit fields (RFC 6581)");
  const std::size_t size = f.wire_size();
  if (out.size() < size) {
    return make_error(Errc::buffer_too_small, "MPA frame needs " + std::to_string(size) +
                                                  " bytes, buffer has " +
                                                  std::to_string(out.size()));
  }
  const auto& key = f.kind == MpaKind::request ? kRequestKey : kReplyKey;
  for (std::size_t i = 0; i < kMpaKeySize; ++i) store_u8(out, i, static_cast<std::uint8_t>(key[i]));
  store_u8(out, 16,
           static_cast<std::uint8_t>(
               (f.markers ? mpa_flag::kMarkers : 0) | (f.crc ? mpa_flag::kCrc : 0) |
               (f.reject ? mpa_flag::kReject : 0) | (f.enhanced ? mpa_flag::kEnhanced : 0) |
               (f.low_flags & mpa_flag::kLowBits)));
  store_u8(out, 17, f.revision);
  store_be16(out, 18, static_cast<std::uint16_t>(f.private_data_length()));
  std::size_t off = kMpaHeaderSize;
  if (f.ird_ord) {
    store_be16(out, off, ird_word(*f.ird_ord));
    store_be16(out, off + 2, ord_word(*f.ird_ord));
    off += kMpaIrdOrdSize;
  }
  store_bytes(out, off, f.private_data);
  return size;
}

}  // namespace softrnic::wire
