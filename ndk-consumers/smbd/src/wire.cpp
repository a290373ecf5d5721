#include "smbd/wire.hpp"

#include <cstring>

namespace smbd::wire {

namespace {

// Little-endian field access (MS-SMBD 2.2: every field is little-endian).
void put16(std::span<std::byte> b, std::size_t at, std::uint16_t v) {
  for (std::size_t i = 0; i < 2; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}
void put32(std::span<std::byte> b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}
void put64(std::span<std::byte> b, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint64_t get(std::span<const std::byte> b, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::to_integer<std::uint64_t>(b[at + i]) << (8 * i);
  return v;
}
std::uint16_t get16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>(get(b, at, 2));
}
std::uint32_t get32(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint32_t>(get(b, at, 4));
}

}  // namespace

std::size_t encode(const NegotiateRequest& m, std::span<std::byte> out) {
  if (out.size() < NegotiateRequest::kSize) return 0;
  put16(out, 0, m.min_version);
  put16(out, 2, m.max_version);
  put16(out, 4, 0);
  put16(out, 6, m.credits_requested);
  put32(out, 8, m.preferred_send_size);
  put32(out, 12, m.max_receive_size);
  put32(out, 16, m.max_fragmented_size);
  return NegotiateRequest::kSize;
}

std::size_t encode(const NegotiateResponse& m, std::span<std::byte> out) {
  if (out.size() < NegotiateResponse::kSize) return 0;
  put16(out, 0, m.min_version);
  put16(out, 2, m.max_version);
  put16(out, 4, m.negotiated_version);
  put16(out, 6, 0);
  put16(out, 8, m.credits_requested);
  put16(out, 10, m.credits_granted);
  put32(out, 12, m.status);
  put32(out, 16, m.max_read_write_size);
  put32(out, 20, m.preferred_send_size);
  put32(out, 24, m.max_receive_size);
  put32(out, 28, m.max_fragmented_size);
  return NegotiateResponse::kSize;
}

std::size_t encode(const DataTransfer& m, std::span<std::byte> out) {
  if (out.size() < DataTransfer::kDataOffset) return 0;
  put16(out, 0, m.credits_requested);
  put16(out, 2, m.credits_granted);
  put16(out, 4, m.flags);
  put16(out, 6, 0);
  put32(out, 8, m.remaining_data_length);
  put32(out, 12, m.data_offset);
  put32(out, 16, m.data_length);
  put32(out, 20, 0);
  return DataTransfer::kDataOffset;
}

std::size_t encode(const BufferDescriptor& m, std::span<std::byte> out) {
  if (out.size() < BufferDescriptor::kSize) return 0;
  put64(out, 0, m.offset);
  put32(out, 8, m.token);
  put32(out, 12, m.length);
  return BufferDescriptor::kSize;
}

std::optional<NegotiateRequest> decode_negotiate_request(std::span<const std::byte> in) {
  if (in.size() < NegotiateRequest::kSize) return std::nullopt;
  NegotiateRequest m;
  m.min_version = get16(in, 0);
  m.max_version = get16(in, 2);
  m.credits_requested = get16(in, 6);
  m.preferred_send_size = get32(in, 8);
  m.max_receive_size = get32(in, 12);
  m.max_fragmented_size = get32(in, 16);
  return m;
}

std::optional<NegotiateResponse> decode_negotiate_response(std::span<const std::byte> in) {
  if (in.size() < NegotiateResponse::kSize) return std::nullopt;
  NegotiateResponse m;
  m.min_version = get16(in, 0);
  m.max_version = get16(in, 2);
  m.negotiated_version = get16(in, 4);
  m.credits_requested = get16(in, 8);
  m.credits_granted = get16(in, 10);
  m.status = get32(in, 12);
  m.max_read_write_size = get32(in, 16);
  m.preferred_send_size = get32(in, 20);
  m.max_receive_size = get32(in, 24);
  m.max_fragmented_size = get32(in, 28);
  return m;
}

std::optional<DataTransfer> decode_data_transfer(std::span<const std::byte> in) {
  if (in.size() < DataTransfer::kHeaderSize) return std::nullopt;
  DataTransfer m;
  m.credits_requested = get16(in, 0);
  m.credits_granted = get16(in, 2);
  m.flags = get16(in, 4);
  m.remaining_data_length = get32(in, 8);
  m.data_offset = get32(in, 12);
  m.data_length = get32(in, 16);
  return m;
}

std::optional<BufferDescriptor> decode_buffer_descriptor(std::span<const std::byte> in) {
  if (in.size() < BufferDescriptor::kSize) return std::nullopt;
  BufferDescriptor m;
  m.offset = get(in, 0, 8);
  m.token = get32(in, 8);
  m.length = get32(in, 12);
  return m;
}

std::size_t encode(const RequestHeader& h, std::span<std::byte> out) {
  if (out.size() < RequestHeader::kSize) return 0;
  put16(out, 0, static_cast<std::uint16_t>(h.command));
  put16(out, 2, h.flags);
  put32(out, 4, h.status);
  put64(out, 8, h.message_id);
  put64(out, 16, h.offset);
  put32(out, 24, h.length);
  put16(out, 28, static_cast<std::uint16_t>(h.channel));
  put16(out, 30, h.descriptor_count);
  return RequestHeader::kSize;
}

std::optional<RequestHeader> decode_request_header(std::span<const std::byte> in) {
  if (in.size() < RequestHeader::kSize) return std::nullopt;
  RequestHeader h;
  h.command = static_cast<Command>(get16(in, 0));
  h.flags = get16(in, 2);
  h.status = get32(in, 4);
  h.message_id = get(in, 8, 8);
  h.offset = get(in, 16, 8);
  h.length = get32(in, 24);
  h.channel = static_cast<Channel>(get16(in, 28));
  h.descriptor_count = get16(in, 30);
  return h;
}

}  // namespace smbd::wire
