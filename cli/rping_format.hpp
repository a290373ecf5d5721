// What rdmacm-utils' rping (librdmacm/examples/rping.c of rdma-core) puts on the wire and in its
// buffers, so either side can be the real rping:
//
//   The only Send messages are 16 bytes, struct rping_rdma_info { __be64 buf; __be32 rkey;
//   __be32 size; }: a buffer's address, its rkey and its length, big-endian. A receive of any
//   other length is "bogus data".
//
//   One ping, client C and server S (C's source and sink buffers are registered with local write,
//   remote read and remote write):
//     C: Send {source buffer, rkey, size}         S: RDMA Read of it into S's buffer
//     S: Send (16 bytes: the go-ahead)            C: Send {sink buffer, rkey, size}
//     S: RDMA Write of strlen(data) + 1 bytes     S: Send (the go-ahead)
//   then C compares source and sink (-V) and prints "ping data: <sink>" (-v); S prints
//   "server ping data: <data>" (-v) after its read.
//
//   The source of ping N: "rdma-ping-N: " then letters from 'A' + (N mod 58) counting up and
//   wrapping from 'z' (122) back to 'A' (65), the last byte of the buffer NUL.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace softrnic::cli {

struct RpingInfo {
  std::uint64_t buf = 0;
  std::uint32_t rkey = 0;
  std::uint32_t size = 0;
  bool operator==(const RpingInfo&) const = default;
};

inline constexpr std::size_t kRpingInfoSize = 16;
inline constexpr std::uint16_t kRpingDefaultPort = 7174;
inline constexpr int kRpingDefaultSize = 64;
// The size limits rping enforces: room for "rdma-ping-2147483647: " with its NUL, and 64 KiB - 1.
inline constexpr int kRpingMinSize = sizeof "2147483647" + sizeof "rdma-ping-%d: ";
inline constexpr int kRpingMaxSize = 64 * 1024 - 1;

std::array<std::byte, kRpingInfoSize> encode_rping_info(const RpingInfo& i);
RpingInfo decode_rping_info(std::span<const std::byte, kRpingInfoSize> b);

// Fills buf with ping number `ping`'s data (see above).
void fill_rping_data(std::span<char> buf, int ping);

}  // namespace softrnic::cli
