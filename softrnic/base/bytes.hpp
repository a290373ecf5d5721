// Big-endian (network order) and little-endian loads/stores over byte spans. Callers check bounds
// once per header (views are built over spans of the exact header size); these helpers only assert.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace softrnic {

using ByteSpan = std::span<std::byte>;
using ConstByteSpan = std::span<const std::byte>;

namespace detail {
template <class T>
constexpr T to_big(T v) {
  if constexpr (std::endian::native == std::endian::little && sizeof(T) > 1) {
    return std::byteswap(v);
  } else {
    return v;
  }
}
template <class T>
constexpr T to_little(T v) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    return std::byteswap(v);
  } else {
    return v;
  }
}
template <class T>
inline T load_raw(ConstByteSpan b, std::size_t off) {
  assert(off + sizeof(T) <= b.size());
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}
template <class T>
inline void store_raw(ByteSpan b, std::size_t off, T v) {
  assert(off + sizeof(T) <= b.size());
  std::memcpy(b.data() + off, &v, sizeof(T));
}
}  // namespace detail

inline std::uint8_t load_u8(ConstByteSpan b, std::size_t off) {
  assert(off < b.size());
  return static_cast<std::uint8_t>(b[off]);
}
inline std::uint16_t load_be16(ConstByteSpan b, std::size_t off) {
  return detail::to_big(detail::load_raw<std::uint16_t>(b, off));
}
inline std::uint32_t load_be24(ConstByteSpan b, std::size_t off) {
  return (std::uint32_t{load_u8(b, off)} << 16) | (std::uint32_t{load_u8(b, off + 1)} << 8) |
         std::uint32_t{load_u8(b, off + 2)};
}
inline std::uint32_t load_be32(ConstByteSpan b, std::size_t off) {
  return detail::to_big(detail::load_raw<std::uint32_t>(b, off));
}
inline std::uint64_t load_be64(ConstByteSpan b, std::size_t off) {
  return detail::to_big(detail::load_raw<std::uint64_t>(b, off));
}
inline std::uint32_t load_le32(ConstByteSpan b, std::size_t off) {
  return detail::to_little(detail::load_raw<std::uint32_t>(b, off));
}

inline void store_u8(ByteSpan b, std::size_t off, std::uint8_t v) {
  assert(off < b.size());
  b[off] = std::byte{v};
}
inline void store_be16(ByteSpan b, std::size_t off, std::uint16_t v) {
  detail::store_raw(b, off, detail::to_big(v));
}
inline void store_be24(ByteSpan b, std::size_t off, std::uint32_t v) {
  store_u8(b, off, static_cast<std::uint8_t>(v >> 16));
  store_u8(b, off + 1, static_cast<std::uint8_t>(v >> 8));
  store_u8(b, off + 2, static_cast<std::uint8_t>(v));
}
inline void store_be32(ByteSpan b, std::size_t off, std::uint32_t v) {
  detail::store_raw(b, off, detail::to_big(v));
}
inline void store_be64(ByteSpan b, std::size_t off, std::uint64_t v) {
  detail::store_raw(b, off, detail::to_big(v));
}
inline void store_le32(ByteSpan b, std::size_t off, std::uint32_t v) {
  detail::store_raw(b, off, detail::to_little(v));
}

// Copies src into dst at off; the caller has checked that it fits.
inline void store_bytes(ByteSpan dst, std::size_t off, ConstByteSpan src) {
  assert(off + src.size() <= dst.size());
  if (!src.empty()) std::memcpy(dst.data() + off, src.data(), src.size());
}

inline ConstByteSpan as_bytes_of(const void* p, std::size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

}  // namespace softrnic
