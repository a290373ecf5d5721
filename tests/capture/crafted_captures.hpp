// Small captures of a known exchange, made with the project's own frame builders, for the tests
// of `softrnic decode` that need a defect in a known place: a bad ICRC, a damaged MPA CRC, an MPA
// Rev 1 connection without CRC. (The golden captures in tests/data/pcaps prove the builders
// against other stacks; these only need to be right where the test says.)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace softrnic::test {

// RoCEv2 between 198.18.0.1 and 198.18.0.2, 13 frames:
//   1 RC SEND ONLY   2 ACK   3..5 RC RDMA WRITE FIRST/MIDDLE/LAST (2100 bytes)   6 ACK
//   7 RC RDMA READ REQUEST   8..9 RC RDMA READ RESPONSE FIRST/LAST   10 RC FETCH_ADD
//   11 RC ATOMIC ACKNOWLEDGE   12 UD SEND ONLY over IPv6 in an 802.1Q tag   13 CNP
// With bad_icrc_frame = N (1-based), frame N's ICRC has its last byte flipped. Fails the calling
// test (ADD_FAILURE) and returns false when the file cannot be made.
bool write_crafted_roce(const std::string& path, std::size_t bad_icrc_frame = 0);

// iWARP over TCP between 198.18.1.1:40001 and 198.18.1.2:7174, 12 frames:
//   1..3 TCP handshake   4 MPA Request   5 MPA Reply   6 SEND   7 RDMA WRITE (64 bytes)
//   8 RDMA READ REQUEST   9 RDMA READ RESPONSE   10 SEND with Invalidate   11 SEND with SE
//   12 TERMINATE (responder to initiator)
// mpa_revision 2: enhanced (IRD/ORD) Request and Reply; 1: plain. crc: the C flag on both
// frames and a CRC32c in every FPDU; else the CRC fields are zero.
bool write_crafted_iwarp(const std::string& path, int mpa_revision, bool crc);

// What an ordinary host's capture holds next to RDMA traffic, 7 frames:
//   1 MLDv2 report with a Hop-by-Hop router alert (fe80::1 -> ff02::16)
//   2 ICMPv6 router solicitation   3 ARP request   4 ND neighbour solicitation
//   5 RC SEND ONLY over IPv6 behind a Hop-by-Hop header (ICRC over the 40-byte IPv6 header)
//   6 a DNS query over UDP/IPv4   7 RC SEND ONLY over IPv6 behind Hop-by-Hop + Destination options
// With bad_icrc set, frame 5's ICRC has its last byte flipped.
bool write_host_chatter(const std::string& path, bool bad_icrc = false);

// Recomputes the UDP checksum of the datagram at udp_off in an Ethernet + IPv6 frame (after a
// test changed its bytes, such as the ICRC).
void fix_udp_checksum_v6(std::vector<std::byte>& frame, std::size_t udp_off);

}  // namespace softrnic::test
