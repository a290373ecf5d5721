// The builder test matrix: every opcode of the table x IPv4/IPv6 x with/without 802.1Q x payload
// lengths 0, 1, 255, 256, 4095, 4096 (every pad count) for opcodes that carry payload, 0 otherwise.
// Field values differ from case to case so that a field read from the wrong place shows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wire/build.hpp"

namespace softrnic::test {

struct MatrixCase {
  std::size_t index = 0;
  std::uint8_t opcode = 0;
  wire::IpVersion version = wire::IpVersion::v4;
  bool vlan = false;
  std::size_t payload_len = 0;

  std::string name() const;
};

std::vector<MatrixCase> frame_matrix();

// The payload bytes of a case (a pattern that depends on the case).
std::vector<std::byte> matrix_payload(const MatrixCase& c);

// The spec of a case; its payload span points into `payload`, which must outlive it.
wire::RoceSpec matrix_spec(const MatrixCase& c, ConstByteSpan payload);

}  // namespace softrnic::test
