#include "uring/uring_udp_port.hpp"

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "uring/udp_frame.hpp"
#include "uring/udp_socket.hpp"

namespace softrnic::transport {

std::string_view counter_name(UringCounter c) {
  switch (c) {
#define SOFTRNIC_X(n)   \
  case UringCounter::n: \
    return #n;
    SOFTRNIC_URING_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
    case UringCounter::count_:
      break;
  }
  return "unknown";
}

namespace {
constexpr std::uint64_t kRxTag = ~std::uint64_t{0};
constexpr std::uint64_t kCancelTag = kRxTag - 1;
constexpr std::uint16_t kBufferGroup = 0;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kMinRoce = 12 + 4;  // BTH + ICRC
constexpr std::size_t kCqeBatch = 64;

std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }

std::string errno_text(int e) { return std::string(std::strerror(e)); }
}  // namespace

struct UringUdpPort::TxSlot {
  msghdr msg{};
  iovec iov{};
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))]{};
};

struct UringUdpPort::RxTemplate {
  msghdr msg{};
};

// ---- setup and teardown ----

UringUdpPort::UringUdpPort(const UringUdpConfig& config) : config_(config) {}

UringUdpPort::~UringUdpPort() { close_all(); }

Result<std::unique_ptr<UringUdpPort>> UringUdpPort::create(const UringUdpConfig& config) {
  std::unique_ptr<UringUdpPort> port(new UringUdpPort(config));
  if (auto r = port->open(); !r) return std::unexpected(r.error());
  return port;
}

Result<void> UringUdpPort::open() {
  const UringUdpConfig& c = config_;
  ipv6_ = !udp_socket::is_ipv4_mapped(c.local_address);
  const wire::Ipv6Addr unspecified{};
  if (c.local_address == unspecified || c.local_address == wire::ipv4_mapped({0, 0, 0, 0}))
    return make_error(Errc::invalid_argument,
                      "the UDP port needs a specific local address: the ICRC covers the source");
  if (c.pool_packets == 0 || c.pool_packets > 65536)
    return make_error(Errc::out_of_range, "pool_packets must be 1..65536 (16-bit buffer ids)");
  if (c.rx_buffers == 0 || !std::has_single_bit(c.rx_buffers) || c.rx_buffers > 32768)
    return make_error(Errc::invalid_argument, "rx_buffers must be a power of two up to 32768");
  if (std::size_t{c.pool_packets} < std::size_t{c.rx_buffers} + kBurst)
    return make_error(Errc::invalid_argument,
                      "pool_packets must exceed rx_buffers by a burst, or nothing is left to send");
  if (c.ring_depth < 2 * kBurst)
    return make_error(Errc::invalid_argument, "ring_depth must be at least 2 * kBurst (64)");
  // RFC 791 / RFC 8200 5: minimum link MTUs; 65535 is the largest IP datagram.
  const std::uint32_t min_mtu = ipv6_ ? 1280 : 68;
  if (c.mtu < min_mtu || c.mtu > 65535)
    return make_error(Errc::out_of_range, "MTU " + std::to_string(c.mtu) + " is outside " +
                                              std::to_string(min_mtu) + "..65535");

  // Buffer layout of a multishot recvmsg: out header, name, control, then the payload.
  rx_name_len_ = udp_socket::name_size(ipv6_);
  rx_control_len_ = udp_socket::control_size(ipv6_);
  rx_payload_off_ =
      static_cast<std::uint32_t>(sizeof(io_uring_recvmsg_out)) + rx_name_len_ + rx_control_len_;
  const auto version = ipv6_ ? wire::IpVersion::v6 : wire::IpVersion::v4;
  const std::size_t ip_udp = udp_frame::header_size(version) - wire::EthView::kSize;
  if (rx_payload_off_ < udp_frame::header_size(version))
    return make_error(Errc::buffer_too_small, "no headroom for the synthetic headers");
  const std::size_t want_rx = rx_payload_off_ + c.mtu - ip_udp;
  const std::size_t want_frame = max_frame();
  if (c.buffer_size == 0) {
    buffer_size_ = static_cast<std::uint32_t>(round_up(std::max(want_rx, want_frame), 64));
  } else if (c.buffer_size < want_rx || c.buffer_size < want_frame) {
    return make_error(Errc::buffer_too_small,
                      "buffer_size " + std::to_string(c.buffer_size) + " cannot hold a datagram " +
                          "of MTU " + std::to_string(c.mtu) + " after its " +
                          std::to_string(rx_payload_off_) + "-byte receive header");
  } else {
    buffer_size_ = c.buffer_size;
  }

  // The pool.
  storage_bytes_ = round_up(std::size_t{c.pool_packets} * buffer_size_, kPage);
  storage_ = static_cast<std::byte*>(std::aligned_alloc(kPage, storage_bytes_));
  if (storage_ == nullptr) return make_error(Errc::io_error, "cannot allocate the buffer pool");
  packets_.resize(c.pool_packets);
  state_.assign(c.pool_packets, State::free);
  free_.resize(c.pool_packets);
  rx_ready_.resize(c.pool_packets);
  tx_slots_ = std::make_unique<TxSlot[]>(c.pool_packets);
  for (std::uint32_t i = 0; i < c.pool_packets; ++i) {
    packets_[i].port_private = i;
    free_[i] = c.pool_packets - 1 - i;  // the first alloc() hands out buffer 0
  }
  free_count_ = c.pool_packets;

  // The socket.
  auto sock = udp_socket::open(c.local_address, c.udp_port, c.socket_buffer_bytes);
  if (!sock) return std::unexpected(sock.error());
  fd_ = sock->fd;
  zero_csum6_rx_ = sock->zero_checksum6_rx;

  // The ring. The CQ holds a completion for every buffer at once, so it never overflows.
  ring_ = std::make_unique<io_uring>();
  io_uring_params params{};
  // SUBMIT_ALL: an SQE refused at submission does not hold back the ones after it.
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                 IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries = std::bit_ceil(2 * c.pool_packets + 2);
  int rc = io_uring_queue_init_params(c.ring_depth, ring_.get(), &params);
  if (rc == -EINVAL) {  // kernels before 5.19 know no COOP_TASKRUN or SUBMIT_ALL
    params = {};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = std::bit_ceil(2 * c.pool_packets + 2);
    rc = io_uring_queue_init_params(c.ring_depth, ring_.get(), &params);
  }
  if (rc < 0) return make_error(Errc::unsupported, "io_uring_queue_init: " + errno_text(-rc));
  ring_ready_ = true;

  // The provided-buffer ring (kernel 5.19+).
  buf_ring_bytes_ = round_up(std::size_t{c.rx_buffers} * sizeof(io_uring_buf), kPage);
  buf_ring_ = static_cast<io_uring_buf_ring*>(std::aligned_alloc(kPage, buf_ring_bytes_));
  if (buf_ring_ == nullptr) return make_error(Errc::io_error, "cannot allocate the buffer ring");
  std::memset(buf_ring_, 0, buf_ring_bytes_);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
  reg.ring_entries = c.rx_buffers;
  reg.bgid = kBufferGroup;
  rc = io_uring_register_buf_ring(ring_.get(), &reg, 0);
  if (rc < 0)
    return make_error(Errc::unsupported, "io_uring_register_buf_ring: " + errno_text(-rc));
  buf_ring_registered_ = true;

  rx_template_ = std::make_unique<RxTemplate>();
  rx_template_->msg.msg_namelen = rx_name_len_;
  rx_template_->msg.msg_controllen = rx_control_len_;
  lend_rx_buffers();
  if (!arm_rx() || !submit_pending())
    return make_error(Errc::unsupported, "cannot submit the multishot recvmsg");
  reap();  // a kernel without multishot recvmsg fails the request at once
  if (rx_failed_)
    return make_error(Errc::unsupported, "the kernel refused a multishot recvmsg (needs 6.0+)");
  return {};
}

void UringUdpPort::close_all() {
  if (ring_ready_) {
    if (rx_armed_ || tx_in_flight_ > 0) {
      (void)submit_pending();  // an empty submission queue has room for the cancel
      if (io_uring_sqe* sqe = io_uring_get_sqe(ring_.get())) {
        // Cancel everything in flight: the multishot receive and any send still waiting.
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, kCancelTag);
        ++sqes_pending_;
        (void)submit_pending();
      }
      // Bounded wait: each round either reaps a completion or times out after 10 ms.
      for (int round = 0; round < 200 && (rx_armed_ || tx_in_flight_ > 0); ++round) {
        __kernel_timespec ts{0, 10'000'000};
        io_uring_cqe* cqe = nullptr;
        (void)io_uring_wait_cqe_timeout(ring_.get(), &cqe, &ts);
        reap();
      }
    }
    if (buf_ring_registered_) (void)io_uring_unregister_buf_ring(ring_.get(), kBufferGroup);
    io_uring_queue_exit(ring_.get());  // cancels whatever is left before the buffers go
    ring_ready_ = false;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::free(buf_ring_);
  buf_ring_ = nullptr;
  std::free(storage_);
  storage_ = nullptr;
}

// ---- the pool ----

std::uint32_t UringUdpPort::index_of(const Packet* p) const {
  const Packet* first = packets_.data();
  const Packet* end = first + packets_.size();
  // std::less gives a total order even for pointers into unrelated objects.
  if (p == nullptr || std::less<const Packet*>{}(p, first) || !std::less<const Packet*>{}(p, end))
    return static_cast<std::uint32_t>(packets_.size());
  return static_cast<std::uint32_t>(p - first);
}

Packet* UringUdpPort::pool_take() {
  if (free_count_ == 0) return nullptr;
  const std::uint32_t i = free_[--free_count_];
  Packet& p = packets_[i];
  p.data = buffer(i);
  p.capacity = buffer_size_;
  p.len = 0;
  p.flags = 0;
  p.port_private = i;
  state_[i] = State::with_caller;
  return &p;
}

void UringUdpPort::pool_give(std::uint32_t i) {
  state_[i] = State::free;
  free_[free_count_++] = i;  // never past the pool size: each buffer is in one place
}

Packet* UringUdpPort::alloc() {
  if (free_count_ == 0) reap();  // finished sends give their buffers back
  Packet* p = pool_take();
  if (p == nullptr) counters_.add(UringCounter::alloc_fail);
  return p;
}

void UringUdpPort::free(Packet* p) {
  const std::uint32_t i = index_of(p);
  if (i == packets_.size() || state_[i] != State::with_caller) {
    counters_.add(UringCounter::free_invalid);
    return;
  }
  pool_give(i);
}

// ---- receive ----

void UringUdpPort::lend_rx_buffers() {
  const int mask = io_uring_buf_ring_mask(config_.rx_buffers);
  int added = 0;
  while (rx_lent_ < config_.rx_buffers && free_count_ > 0) {
    const std::uint32_t i = free_[--free_count_];
    state_[i] = State::rx_lent;
    io_uring_buf_ring_add(buf_ring_, buffer(i), buffer_size_, static_cast<unsigned short>(i), mask,
                          added++);
    ++rx_lent_;
  }
  if (added > 0) io_uring_buf_ring_advance(buf_ring_, added);
}

bool UringUdpPort::arm_rx() {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) return false;
  io_uring_prep_recvmsg_multishot(sqe, fd_, &rx_template_->msg, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, kRxTag);
  ++sqes_pending_;
  rx_armed_ = true;
  return true;
}

bool UringUdpPort::submit_pending() {
  if (sqes_pending_ == 0) return true;
  counters_.add(UringCounter::submits);
  const int rc = io_uring_submit(ring_.get());
  if (rc < 0) return false;
  sqes_pending_ = 0;
  return true;
}

void UringUdpPort::reap() {
  std::array<io_uring_cqe*, kCqeBatch> cqes;
  for (;;) {
    // Also runs deferred task work (COOP_TASKRUN) when the kernel flagged some and no CQE is ready.
    const unsigned n = io_uring_peek_batch_cqe(ring_.get(), cqes.data(), kCqeBatch);
    for (unsigned k = 0; k < n; ++k) {
      const std::uint64_t tag = io_uring_cqe_get_data64(cqes[k]);
      if (tag == kRxTag) {
        on_rx(cqes[k]->res, cqes[k]->flags);
      } else if (tag != kCancelTag) {
        on_tx(tag, cqes[k]->res);
      }
    }
    io_uring_cq_advance(ring_.get(), n);
    if (n < kCqeBatch) return;
  }
}

void UringUdpPort::on_rx(std::int32_t res, std::uint32_t cqe_flags) {
  if ((cqe_flags & IORING_CQE_F_MORE) == 0) rx_armed_ = false;
  if (res < 0) {
    if (res == -ENOBUFS) {
      counters_.add(UringCounter::rx_no_buffer);
    } else if (res == -EINVAL || res == -EOPNOTSUPP) {
      rx_failed_ = true;  // the request itself is refused: arming it again would spin
    } else if (res != -ECANCELED) {
      counters_.add(UringCounter::rx_errors);
    }
    return;
  }
  if ((cqe_flags & IORING_CQE_F_BUFFER) == 0) return;
  const std::uint32_t i = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
  if (i >= packets_.size() || state_[i] != State::rx_lent) {
    counters_.add(UringCounter::rx_errors);
    return;
  }
  --rx_lent_;
  std::byte* buf = buffer(i);
  io_uring_recvmsg_out out;
  if (static_cast<std::uint32_t>(res) < rx_payload_off_) {
    counters_.add(UringCounter::rx_errors);
    pool_give(i);
    return;
  }
  std::memcpy(&out, buf, sizeof out);
  const std::size_t payload_len = static_cast<std::uint32_t>(res) - rx_payload_off_;
  if ((out.flags & MSG_TRUNC) != 0 || out.payloadlen > payload_len) {
    counters_.add(UringCounter::rx_truncated);
    pool_give(i);
    return;
  }
  if (payload_len < kMinRoce) {
    counters_.add(UringCounter::rx_not_roce);
    pool_give(i);
    return;
  }
  udp_frame::DatagramMeta m;
  m.dst = config_.local_address;  // the bound address, unless the packet info says otherwise
  const std::byte* name = buf + sizeof out;
  if (!udp_socket::read_meta(ipv6_, name, out.namelen, name + rx_name_len_,
                             std::min<std::size_t>(out.controllen, rx_control_len_), m)) {
    counters_.add(UringCounter::rx_errors);
    pool_give(i);
    return;
  }
  // The headers go right in front of the payload, over the name and control bytes just read.
  const std::size_t hdr = udp_frame::header_size(m.version);
  std::byte* frame = buf + rx_payload_off_ - hdr;
  udp_frame::write_headers(ByteSpan(frame, hdr), m, config_.mac, kSyntheticPeerMac, payload_len);
  Packet& p = packets_[i];
  p.data = frame;
  p.len = static_cast<std::uint32_t>(hdr + payload_len);
  p.capacity = static_cast<std::uint32_t>(buffer_size_ - (rx_payload_off_ - hdr));
  p.flags = ipv6_ ? 0 : Packet::kIcrcUnverifiable;
  p.port_private = i;
  if (!ipv6_) counters_.add(UringCounter::rx_icrc_unverifiable);
  state_[i] = State::rx_ready;
  rx_ready_[(rx_head_ + rx_count_) % rx_ready_.size()] = i;  // room: one slot per buffer
  ++rx_count_;
}

int UringUdpPort::wait_fd() const { return ring_ready_ ? ring_->ring_fd : -1; }

std::size_t UringUdpPort::rx_burst(std::span<Packet*> out) {
  reap();
  lend_rx_buffers();
  if (!rx_armed_ && !rx_failed_ && rx_lent_ > 0) {
    if (arm_rx()) counters_.add(UringCounter::rx_rearms);
  }
  (void)submit_pending();
  std::size_t n = 0;
  while (n < out.size() && rx_count_ > 0) {
    const std::uint32_t i = rx_ready_[rx_head_];
    rx_head_ = (rx_head_ + 1) % rx_ready_.size();
    --rx_count_;
    state_[i] = State::with_caller;
    Packet* p = &packets_[i];
    counters_.add(UringCounter::rx_packets);
    counters_.add(
        UringCounter::rx_bytes,
        p->len - udp_frame::header_size(ipv6_ ? wire::IpVersion::v6 : wire::IpVersion::v4));
    out[n++] = p;
  }
  return n;
}

// ---- transmit ----

std::size_t UringUdpPort::tx_burst(std::span<Packet*> pkts) {
  std::size_t n = 0;
  for (; n < pkts.size(); ++n) {
    Packet* p = pkts[n];
    const std::uint32_t i = index_of(p);
    if (i == packets_.size() || state_[i] != State::with_caller) {
      counters_.add(UringCounter::free_invalid);  // not ours to send or to free
      continue;
    }
    const ByteSpan frame = p->bytes();
    const auto l = udp_frame::locate(frame);
    if (!l) {
      counters_.add(UringCounter::tx_drop_not_udp);
      pool_give(i);
      continue;
    }
    if ((l->version == wire::IpVersion::v6) != ipv6_) {
      counters_.add(UringCounter::tx_drop_family);
      pool_give(i);
      continue;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
    if (sqe == nullptr) {
      counters_.add(UringCounter::tx_drop_no_sqe, pkts.size() - n);
      break;  // pkts[n..] stay with the caller
    }
    if (udp_frame::align_with_socket(frame, *l, config_.local_address, config_.udp_port))
      counters_.add(UringCounter::tx_icrc_rewritten);
    const std::uint16_t dst_port =
        config_.peer_udp_port != 0 ? config_.peer_udp_port : load_be16(frame, l->l4_off + 2);
    TxSlot& s = tx_slots_[i];
    s.msg = {};
    s.iov.iov_base = frame.data() + l->payload_off();
    s.iov.iov_len = l->payload_len();
    s.msg.msg_iov = &s.iov;
    s.msg.msg_iovlen = 1;
    int tclass;
    if (ipv6_) {
      const auto ip = wire::view_unchecked<wire::Ipv6View>(ConstByteSpan(frame), l->l3_off);
      s.v6.sin6_family = AF_INET6;
      s.v6.sin6_port = htons(dst_port);
      const wire::Ipv6Addr dst = ip.dst();
      std::memcpy(&s.v6.sin6_addr, dst.data(), 16);
      s.msg.msg_name = &s.v6;
      s.msg.msg_namelen = sizeof s.v6;
      tclass = ip.traffic_class();
    } else {
      const auto ip = wire::view_unchecked<wire::Ipv4View>(ConstByteSpan(frame), l->l3_off);
      s.v4.sin_family = AF_INET;
      s.v4.sin_port = htons(dst_port);
      const wire::Ipv4Addr dst = ip.dst();
      std::memcpy(&s.v4.sin_addr, dst.data(), 4);
      s.msg.msg_name = &s.v4;
      s.msg.msg_namelen = sizeof s.v4;
      tclass = ip.tos();
    }
    // TOS / traffic class per datagram, so ECT(0) from the engine reaches the wire.
    s.msg.msg_control = s.control;
    s.msg.msg_controllen = sizeof s.control;
    cmsghdr* cm = CMSG_FIRSTHDR(&s.msg);
    cm->cmsg_level = ipv6_ ? IPPROTO_IPV6 : IPPROTO_IP;
    cm->cmsg_type = ipv6_ ? IPV6_TCLASS : IP_TOS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &tclass, sizeof tclass);
    io_uring_prep_sendmsg(sqe, fd_, &s.msg, 0);
    io_uring_sqe_set_data64(sqe, i);
    ++sqes_pending_;
    state_[i] = State::tx_in_flight;
    ++tx_in_flight_;
  }
  (void)submit_pending();
  return n;
}

void UringUdpPort::on_tx(std::uint64_t index, std::int32_t res) {
  if (index >= packets_.size() || state_[index] != State::tx_in_flight) return;
  --tx_in_flight_;
  if (res < 0) {
    counters_.add(UringCounter::tx_errors);
  } else {
    counters_.add(UringCounter::tx_packets);
    counters_.add(UringCounter::tx_bytes, static_cast<std::uint64_t>(res));
  }
  pool_give(static_cast<std::uint32_t>(index));
}

}  // namespace softrnic::transport
