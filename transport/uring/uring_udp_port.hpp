// A Port over one kernel UDP socket driven by io_uring: RoCEv2 next to the kernel's own stack, no
// root, no DPDK. The UDP payload on the wire is BTH .. ICRC; the engine still speaks whole Ethernet
// frames, so this port adds and removes the Ethernet/IP/UDP headers.
//
// Receive: one multishot recvmsg (IORING_RECV_MULTISHOT, kernel 6.0+) picks buffers from a
// provided-buffer ring. Each buffer is laid out as
//   [io_uring_recvmsg_out][source sockaddr][control messages][UDP payload ...]
// and the payload starts far enough in that the port writes a synthetic Ethernet + IP + UDP header
// right in front of it, over the consumed name and control bytes: no copy. The synthetic header:
//   - Ethernet: destination = this port's MAC, source = kSyntheticPeerMac (02:00:00:75:64:70, a
//     locally administered address that stands for "whoever sent the datagram").
//   - IPv4: ID 0, DF, TTL 64, TOS as received (IP_RECVTOS, so ECN CE reaches the engine),
//     source and destination from the socket (IP_PKTINFO). A socket never reports the sender's
//     IP ID, which the IPv4 ICRC covers, so IPv4 frames carry Packet::kIcrcUnverifiable: the
//     engine still checks the ICRC against ID 0 and counts a mismatch as rx_icrc_unverified
//     instead of dropping (a peer like this port sends ID 0 and verifies; rxe's IDs do not).
//   - IPv6: traffic class as received (IPV6_RECVTCLASS), flow label 0, hop limit 64; every
//     field the ICRC covers is known, so IPv6 frames are fully verified (no flag).
//   - UDP: the sender's real source port, destination port 4791 (the port the engine parses for,
//     whatever port the socket is bound to), checksum 0 (the kernel has already checked it).
//
// Transmit: the engine's frame is checked (Ethernet, optional 802.1Q tag, IPv4 without options or
// IPv6 without extension headers, UDP) and its UDP payload goes out with one sendmsg SQE per frame
// to the frame's destination address and UDP port, or to peer_udp_port when set (two ports on one
// host cannot both bind 4791). The IP TOS / traffic class rides along as a control message, so
// ECT(0) marks survive. One io_uring_submit per tx_burst or rx_burst call at most.
//
// ICRC on transmit. The kernel writes the IP and UDP headers, and the ICRC covers some of their
// fields, so before sending the port makes the frame agree with what goes on the wire and
// recomputes the ICRC when anything changed:
//   - UDP source port: the socket's port. One socket sends from one port, so every QP of the device
//     shares this source port (no per-QP ECMP entropy; a second socket per entropy value would be
//     needed for that). The engine picks a per-QP port, hence in practice every frame is re-CRCed.
//   - IP source: the bound local address.
//   - IPv4 ID 0 and DF: IP_PMTUDISC_DO is set, and an unconnected UDP socket then sends DF with
//     ID 0 (checked on the wire by the uring_ports test through a raw socket).
// The UDP destination port in the ICRC stays the frame's (4791) even when peer_udp_port redirects
// the datagram: the receiving port presents 4791, so two ports on one host agree; on the wire such
// test traffic does not verify against the real destination port (deployments use 4791 and do).
//
// IPv6 sockets set IPV6_V6ONLY, IPV6_PMTUDISC_DO and UDP_NO_CHECK6_RX (accept the zero UDP checksum
// rxe and hardware RNICs send; the kernel computes the checksum of what this port sends).
//
// Buffers: one fixed pool, allocated at create(). A buffer is in exactly one place: free, lent to
// the kernel for receive, waiting in the receive queue, with the caller, or in flight on transmit.
// Nothing is allocated per packet. Counters, not log lines.
//
// Lifetime: the destructor cancels the pending receive and sends, waits for their completions,
// unregisters the buffer ring and closes the ring and the socket. Packets still held by the caller
// must not be used afterwards. Single-threaded, like every port: one engine thread calls it all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "base/counters.hpp"
#include "base/result.hpp"
#include "engine/port.hpp"
#include "wire/ethernet.hpp"
#include "wire/ip.hpp"

struct io_uring;
struct io_uring_buf_ring;

namespace softrnic::transport {

// Source MAC of every received frame: the socket hides the sender's MAC.
inline constexpr wire::MacAddr kSyntheticPeerMac = {0x02, 0x00, 0x00, 0x75, 0x64, 0x70};

struct UringUdpConfig {
  // The address the socket binds to, as a GID: IPv4 as ::ffff:a.b.c.d (IPv4 socket), anything else
  // IPv6. Must be a specific address (the ICRC covers the source address the kernel will use).
  wire::Ipv6Addr local_address = wire::ipv4_mapped({127, 0, 0, 1});
  std::uint16_t udp_port = 4791;
  // 0: datagrams go to the frame's UDP destination port (4791). Otherwise every datagram goes to
  // this port: two ports on one host (tests) cannot both bind 4791.
  std::uint16_t peer_udp_port = 0;
  wire::MacAddr mac = {0x02, 0x00, 0x00, 0x75, 0x64, 0x01};  // reported to the engine
  std::uint32_t mtu = 1500;           // IP MTU; the engine derives each QP's path MTU limit from it
  std::uint32_t ring_depth = 256;     // submission queue entries (at least 2 * kBurst)
  std::uint32_t pool_packets = 1024;  // every buffer the port owns, receive and transmit
  std::uint32_t rx_buffers = 256;     // lent to the kernel for receive; a power of two
  std::uint32_t buffer_size = 0;      // 0: derived from the MTU
  int socket_buffer_bytes = 4 << 20;  // SO_RCVBUF/SO_SNDBUF request (the kernel may cap it)
};

#define SOFTRNIC_URING_COUNTERS(X)                                                               \
  X(rx_packets)           /* frames handed to the caller */                                      \
  X(rx_bytes)             /* UDP payload bytes of those */                                       \
  X(rx_icrc_unverifiable) /* IPv4 frames flagged Packet::kIcrcUnverifiable */                    \
  X(rx_truncated)         /* datagrams larger than a buffer: dropped */                          \
  X(rx_not_roce)          /* datagrams too short for BTH + ICRC */                               \
  X(rx_errors)            /* recvmsg completions with an error other than ENOBUFS */             \
  X(rx_no_buffer)         /* the multishot receive stopped: no buffer was lent to the kernel */  \
  X(rx_rearms)            /* multishot receive armed again */                                    \
  X(tx_packets)           /* datagrams the kernel accepted */                                    \
  X(tx_bytes)             /* UDP payload bytes of those */                                       \
  X(tx_errors)            /* sendmsg completions with an error (EMSGSIZE, ENETUNREACH, ...) */   \
  X(tx_drop_not_udp)      /* frames that are not IPv4/IPv6 UDP with room for BTH + ICRC */       \
  X(tx_drop_family)       /* IPv4 frames on an IPv6 port or the reverse */                       \
  X(tx_drop_no_sqe)       /* submission queue full: left with the caller */                      \
  X(tx_icrc_rewritten)    /* frames whose headers were aligned with the socket's */              \
  X(alloc_fail)           /* alloc() found the pool empty */                                     \
  X(free_invalid)         /* free() of a packet not from this pool, or not held by the caller */ \
  X(submits)              /* io_uring_submit calls */

enum class UringCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_URING_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
      count_
};
std::string_view counter_name(UringCounter c);

class UringUdpPort final : public Port {
 public:
  // Fails with Errc::unsupported when io_uring or multishot recvmsg is unavailable (old kernel,
  // seccomp, kernel.io_uring_disabled), with Errc::io_error when the socket cannot be bound, and
  // with invalid_argument / buffer_too_small on a configuration that cannot work.
  [[nodiscard]] static Result<std::unique_ptr<UringUdpPort>> create(const UringUdpConfig& config);

  UringUdpPort(const UringUdpPort&) = delete;
  UringUdpPort& operator=(const UringUdpPort&) = delete;
  ~UringUdpPort() override;

  std::size_t rx_burst(std::span<Packet*> out) override;
  std::size_t tx_burst(std::span<Packet*> pkts) override;
  Packet* alloc() override;
  void free(Packet* p) override;

  std::uint32_t mtu() const override { return config_.mtu; }
  wire::MacAddr mac() const override { return config_.mac; }
  // False once the kernel has refused the receive itself (it is not armed again).
  bool link_up() const override { return !rx_failed_; }
  bool has_link_layer() const override { return false; }  // the kernel resolves neighbours
  // The io_uring's own fd: readable while completions (a received datagram, a finished send)
  // wait to be reaped.
  int wait_fd() const override;

  const Counters<UringCounter>& counters() const { return counters_; }
  const UringUdpConfig& config() const { return config_; }
  bool is_ipv6() const { return ipv6_; }
  std::size_t pool_available() const { return free_count_; }
  std::size_t rx_buffers_lent() const { return rx_lent_; }
  std::uint32_t buffer_size() const { return buffer_size_; }
  // Sends accepted by tx_burst whose completion has not been reaped yet.
  std::size_t tx_in_flight() const { return tx_in_flight_; }
  // IPv6: whether UDP_NO_CHECK6_RX took, i.e. datagrams with a zero UDP checksum are accepted.
  bool accepts_zero_udp6_checksum() const { return zero_csum6_rx_; }

 private:
  enum class State : std::uint8_t { free, rx_lent, rx_ready, with_caller, tx_in_flight };
  struct TxSlot;      // per-buffer sendmsg state (msghdr, iovec, address, control)
  struct RxTemplate;  // the multishot recvmsg's msghdr (name and control sizes)

  explicit UringUdpPort(const UringUdpConfig& config);
  [[nodiscard]] Result<void> open();
  void close_all();

  std::uint32_t index_of(const Packet* p) const;  // pool size when p is not from the pool
  std::byte* buffer(std::uint32_t i) const { return storage_ + std::size_t{i} * buffer_size_; }
  Packet* pool_take();
  void pool_give(std::uint32_t i);
  void lend_rx_buffers();
  bool arm_rx();
  void reap();
  void on_rx(std::int32_t res, std::uint32_t cqe_flags);
  void on_tx(std::uint64_t index, std::int32_t res);
  bool submit_pending();

  UringUdpConfig config_;
  bool ipv6_ = false;
  int fd_ = -1;
  std::unique_ptr<io_uring> ring_;
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  bool buf_ring_registered_ = false;
  std::uint32_t buffer_size_ = 0;
  std::uint32_t rx_name_len_ = 0;
  std::uint32_t rx_control_len_ = 0;
  std::uint32_t rx_payload_off_ = 0;  // from the buffer start
  std::byte* storage_ = nullptr;      // pool_packets * buffer_size_, page aligned
  std::size_t storage_bytes_ = 0;
  std::vector<Packet> packets_;
  std::vector<State> state_;
  std::vector<std::uint32_t> free_;  // stack of free buffer indices, capacity pool size
  std::size_t free_count_ = 0;
  std::vector<std::uint32_t> rx_ready_;  // FIFO of received buffer indices, capacity pool size
  std::size_t rx_head_ = 0;
  std::size_t rx_count_ = 0;
  std::unique_ptr<TxSlot[]> tx_slots_;
  std::unique_ptr<RxTemplate> rx_template_;
  std::uint32_t rx_lent_ = 0;
  bool rx_armed_ = false;
  bool rx_failed_ = false;  // the kernel refused the multishot receive itself
  bool zero_csum6_rx_ = false;
  std::size_t tx_in_flight_ = 0;
  std::uint32_t sqes_pending_ = 0;
  Counters<UringCounter> counters_;
};

}  // namespace softrnic::transport
