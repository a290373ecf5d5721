// The bytes on the wire: MS-SMBD 2.2 (Negotiate Request/Response, Data Transfer, Buffer
// Descriptor V1; all little-endian) and the small SMB2-like request layer carried inside data
// transfer messages. Encoders write into caller buffers; decoders read from spans and never trust
// a length they have not checked. Public so that tests can build malformed messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace smbd::wire {

inline constexpr std::uint16_t kVersion = 0x0100;            // MS-SMBD 2.2.1: the only version
inline constexpr std::uint16_t kResponseRequested = 0x0001;  // SMB_DIRECT_RESPONSE_REQUESTED

// MS-SMBD 2.2.1 (20 bytes).
struct NegotiateRequest {
  static constexpr std::size_t kSize = 20;
  std::uint16_t min_version = kVersion;
  std::uint16_t max_version = kVersion;
  std::uint16_t credits_requested = 0;
  std::uint32_t preferred_send_size = 0;
  std::uint32_t max_receive_size = 0;
  std::uint32_t max_fragmented_size = 0;
};

// MS-SMBD 2.2.2 (32 bytes).
struct NegotiateResponse {
  static constexpr std::size_t kSize = 32;
  std::uint16_t min_version = kVersion;
  std::uint16_t max_version = kVersion;
  std::uint16_t negotiated_version = kVersion;
  std::uint16_t credits_requested = 0;
  std::uint16_t credits_granted = 0;
  std::uint32_t status = 0;  // an NTSTATUS
  std::uint32_t max_read_write_size = 0;
  std::uint32_t preferred_send_size = 0;
  std::uint32_t max_receive_size = 0;
  std::uint32_t max_fragmented_size = 0;
};

// MS-SMBD 2.2.3: a 20-byte header, 4 bytes of padding, then the data at DataOffset 24.
struct DataTransfer {
  static constexpr std::size_t kHeaderSize = 20;
  static constexpr std::size_t kDataOffset = 24;  // 8-byte aligned, right after the padding
  std::uint16_t credits_requested = 0;
  std::uint16_t credits_granted = 0;
  std::uint16_t flags = 0;
  std::uint32_t remaining_data_length = 0;
  std::uint32_t data_offset = 0;
  std::uint32_t data_length = 0;
};

// MS-SMB2 2.2.3.1.1 SMB2_BUFFER_DESCRIPTOR_V1 (16 bytes).
struct BufferDescriptor {
  static constexpr std::size_t kSize = 16;
  std::uint64_t offset = 0;  // the registered virtual address
  std::uint32_t token = 0;   // remote token
  std::uint32_t length = 0;
};

std::size_t encode(const NegotiateRequest& m, std::span<std::byte> out);
std::size_t encode(const NegotiateResponse& m, std::span<std::byte> out);
// Writes the header and the padding (kDataOffset bytes); the caller puts the data after it.
std::size_t encode(const DataTransfer& m, std::span<std::byte> out);
std::size_t encode(const BufferDescriptor& m, std::span<std::byte> out);

// nullopt when the bytes are shorter than the fixed part.
std::optional<NegotiateRequest> decode_negotiate_request(std::span<const std::byte> in);
std::optional<NegotiateResponse> decode_negotiate_response(std::span<const std::byte> in);
std::optional<DataTransfer> decode_data_transfer(std::span<const std::byte> in);
std::optional<BufferDescriptor> decode_buffer_descriptor(std::span<const std::byte> in);

// ---- The request layer: one upper-layer message per request or response, possibly fragmented
// over several data transfer messages. A 32-byte header, then either Buffer Descriptors (RDMA
// channels) or the inline data.
enum class Command : std::uint16_t { write = 1, read = 2, echo = 3 };
enum class Channel : std::uint16_t {  // MS-SMB2 SMB2_CHANNEL_* values
  none = 0,
  rdma_v1 = 1,
  rdma_v1_invalidate = 2,
};
inline constexpr std::uint16_t kFlagResponse = 0x0001;

struct RequestHeader {
  static constexpr std::size_t kSize = 32;
  Command command = Command::echo;
  std::uint16_t flags = 0;
  std::uint32_t status = 0;  // responses: an NTSTATUS
  std::uint64_t message_id = 0;
  std::uint64_t offset = 0;  // file offset
  std::uint32_t length = 0;  // bytes to move
  Channel channel = Channel::none;
  std::uint16_t descriptor_count = 0;
};

std::size_t encode(const RequestHeader& h, std::span<std::byte> out);
std::optional<RequestHeader> decode_request_header(std::span<const std::byte> in);

}  // namespace smbd::wire
