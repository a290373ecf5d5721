// Terminate error types and codes (RFC 5040 section 7.2, RFC 5041 section 7.2, RFC 5044 section 8
// and RFC 6581 for the enhanced connection setup ones).
#pragma once

#include <cstdint>

namespace softrnic::iwarp::term {

// Layer 0, RDMAP.
inline constexpr std::uint8_t kRdmapCatastrophic = 0x0;
inline constexpr std::uint8_t kRdmapRemoteProtection = 0x1;
inline constexpr std::uint8_t kRdmapRemoteOperation = 0x2;
inline constexpr std::uint8_t kRdmapInvalidStag = 0x00;
inline constexpr std::uint8_t kRdmapBaseBounds = 0x01;
inline constexpr std::uint8_t kRdmapAccessRights = 0x02;
inline constexpr std::uint8_t kRdmapStagNotAssociated = 0x03;
inline constexpr std::uint8_t kRdmapVersion = 0x05;
inline constexpr std::uint8_t kRdmapOpcode = 0x06;
inline constexpr std::uint8_t kRdmapCatastrophicStream = 0x07;
inline constexpr std::uint8_t kRdmapCannotInvalidate = 0x09;
inline constexpr std::uint8_t kRdmapUnspecified = 0xff;

// Layer 1, DDP.
inline constexpr std::uint8_t kDdpCatastrophic = 0x0;
inline constexpr std::uint8_t kDdpTaggedBuffer = 0x1;
inline constexpr std::uint8_t kDdpUntaggedBuffer = 0x2;
inline constexpr std::uint8_t kDdpInvalidStag = 0x00;  // tagged
inline constexpr std::uint8_t kDdpBaseBounds = 0x01;   // tagged
inline constexpr std::uint8_t kDdpTaggedVersion = 0x04;
inline constexpr std::uint8_t kDdpInvalidQn = 0x01;       // untagged
inline constexpr std::uint8_t kDdpNoBuffer = 0x02;        // untagged: invalid MSN, no buffer
inline constexpr std::uint8_t kDdpMsnRange = 0x03;        // untagged: MSN out of range
inline constexpr std::uint8_t kDdpInvalidMo = 0x04;       // untagged
inline constexpr std::uint8_t kDdpMessageTooLong = 0x05;  // untagged
inline constexpr std::uint8_t kDdpUntaggedVersion = 0x06;

// Layer 2, LLP (MPA), EType 0.
inline constexpr std::uint8_t kLlpMpa = 0x0;
inline constexpr std::uint8_t kLlpStreamLost = 0x01;
inline constexpr std::uint8_t kLlpCrc = 0x02;
inline constexpr std::uint8_t kLlpFpduStart = 0x03;
inline constexpr std::uint8_t kLlpInvalidRequestReply = 0x04;
inline constexpr std::uint8_t kLlpInsufficientIrd = 0x06;
inline constexpr std::uint8_t kLlpNoMatchingRtr = 0x07;

}  // namespace softrnic::iwarp::term
