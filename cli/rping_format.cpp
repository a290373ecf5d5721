#include "rping_format.hpp"

#include <cstdio>

#include "base/bytes.hpp"

namespace softrnic::cli {

std::array<std::byte, kRpingInfoSize> encode_rping_info(const RpingInfo& i) {
  std::array<std::byte, kRpingInfoSize> b{};
  store_be64(b, 0, i.buf);
  store_be32(b, 8, i.rkey);
  store_be32(b, 12, i.size);
  return b;
}

RpingInfo decode_rping_info(std::span<const std::byte, kRpingInfoSize> b) {
  return {load_be64(b, 0), load_be32(b, 8), load_be32(b, 12)};
}

void fill_rping_data(std::span<char> buf, int ping) {
  if (buf.empty()) return;
  constexpr int kFirst = 'A', kLast = 'z';  // 65..122, the range rping cycles through
  const int n = std::snprintf(buf.data(), buf.size(), "rdma-ping-%d: ", ping);
  int c = kFirst + ping % (kLast - kFirst + 1);
  for (std::size_t i = n < 0 ? 0 : static_cast<std::size_t>(n); i < buf.size(); ++i) {
    buf[i] = static_cast<char>(c);
    if (++c > kLast) c = kFirst;
  }
  buf[buf.size() - 1] = '\0';
}

}  // namespace softrnic::cli
