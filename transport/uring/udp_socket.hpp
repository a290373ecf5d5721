// The kernel UDP socket under the io_uring port (see uring_udp_port.hpp for why each option is
// set), and the reading of what recvmsg reports about a datagram: its source address and port
// (msg_name), destination address and TOS / traffic class (control messages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/result.hpp"
#include "uring/udp_frame.hpp"
#include "wire/ip.hpp"

namespace softrnic::transport::udp_socket {

using wire::is_ipv4_mapped;

struct Opened {
  int fd = -1;
  bool zero_checksum6_rx = false;  // IPv6: UDP_NO_CHECK6_RX took
};

// A UDP socket bound to local (IPv4-mapped: an IPv4 socket) and port, with packet info, TOS /
// traffic class reporting and path MTU discovery "do" (DF, and IPv4 ID 0 on an unconnected
// socket). The caller closes the descriptor.
[[nodiscard]] Result<Opened> open(const wire::Ipv6Addr& local, std::uint16_t port,
                                  int buffer_bytes);

// The MTU of the interface that holds address `local` in this thread's network namespace, for a
// socket port whose spec names none (its path MTU then follows the link). 0 when no interface
// holds it, or when that is a loopback interface: lo's 64 KiB MTU says nothing about a link.
std::uint32_t link_mtu_of(const wire::Ipv6Addr& local);

// Sizes of the name and control areas a recvmsg needs for this socket's family.
std::uint32_t name_size(bool ipv6);
std::uint32_t control_size(bool ipv6);

// Fills m.src, m.src_port, and (when the control messages carry them) m.dst and m.tclass from the
// name and control bytes of a received datagram. False when the name is too short.
bool read_meta(bool ipv6, const std::byte* name, std::size_t name_len, const std::byte* control,
               std::size_t control_len, udp_frame::DatagramMeta& m);

}  // namespace softrnic::transport::udp_socket
