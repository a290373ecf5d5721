// The one table of device limits. The CLI's devinfo, the NDK shim's adapter info and the CM's
// negotiation all read it; nothing else hard-codes a limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.hpp"

namespace softrnic::verbs {

struct DeviceLimits {
  std::uint32_t max_qp = 4096;
  std::uint32_t max_qp_wr = 16384;     // SQ/RQ depth
  std::uint32_t max_srq = 1024;
  std::uint32_t max_srq_wr = 16384;
  std::uint32_t max_cq = 4096;
  std::uint32_t max_cqe = 65536;
  std::uint32_t max_sge = 16;          // per send or receive WR
  std::uint32_t max_inline = 256;      // bytes of inline send data
  std::uint32_t max_mr = 65536;
  std::uint64_t max_mr_size = 1ull << 32;
  std::uint64_t max_msg_size = 1ull << 31;  // IBA: 2^31
  std::uint32_t max_fast_reg_pages = 512;
  std::uint32_t max_mw = 65536;
  std::uint32_t max_pd = 4096;
  std::uint32_t max_ird = 128;  // responder resources (max_dest_rd_atomic), <= 255
  std::uint32_t max_ord = 128;  // initiator depth (max_rd_atomic), <= 255
  std::uint32_t min_pmtu = 256;
  std::uint32_t max_pmtu = 4096;
  std::uint32_t page_size = 4096;
  // Connection private data a consumer may send (RoCEv2 CM, IBA 12.6): the REQ's 92 bytes less
  // the 36-byte RDMA-CM IP header, the REP's 196, the REJ's 148, the DREQ's 220.
  std::uint32_t max_connect_private_data = 56;
  std::uint32_t max_accept_private_data = 196;
  std::uint32_t max_reject_private_data = 148;
  std::uint32_t max_disconnect_private_data = 220;
};

inline constexpr DeviceLimits kDefaultLimits{};

// A QPN's low bits are the slot of its QP in the device's table, large enough for max_qp QPs
// beside QPNs 0 and 1; the bits above are drawn at random when the QP is made (RoCEv2), so a
// peer cannot guess other connections' QPNs from its own. Whoever keeps a table by QPN (the NDK
// shim's QP contexts) indexes it by qpn & qpn_slot_mask and compares the whole QPN.
constexpr std::uint32_t qpn_slot_mask(const DeviceLimits& l) {
  std::uint32_t bits = 8;
  while (bits < 20 && (std::uint64_t{1} << bits) < std::uint64_t{l.max_qp} + 2) ++bits;
  return (1u << bits) - 1;
}
static_assert(kDefaultLimits.max_ird <= 255 && kDefaultLimits.max_ord <= 255);

// The checks every wire makes, the same way, when a consumer creates a CQ or a QP. live: how many
// the device has now.
[[nodiscard]] inline Result<void> check_new_cq(const DeviceLimits& l, std::uint32_t depth, std::size_t live) {
  if (depth == 0 || depth > l.max_cqe)
    return make_error(Errc::invalid_argument, "CQ depth must be 1.." + std::to_string(l.max_cqe));
  if (live >= l.max_cq) return make_error(Errc::busy, "too many CQs (max " + std::to_string(l.max_cq) + ")");
  return {};
}

struct QpShape {
  std::uint32_t sq_depth = 0, rq_depth = 0;
  std::uint32_t max_send_sge = 0, max_recv_sge = 0;
  std::uint32_t max_inline = 0;
};
// sge_cap / inline_cap: what the work-request layout itself holds, when below the limits.
[[nodiscard]] inline Result<void> check_new_qp(const DeviceLimits& l, const QpShape& s, std::uint32_t sge_cap,
                                               std::uint32_t inline_cap, std::size_t live) {
  if (s.sq_depth == 0 || s.sq_depth > l.max_qp_wr || s.rq_depth > l.max_qp_wr)
    return make_error(Errc::invalid_argument, "queue depth out of range (max " + std::to_string(l.max_qp_wr) + ")");
  const std::uint32_t max_sge = l.max_sge < sge_cap ? l.max_sge : sge_cap;
  if (s.max_send_sge > max_sge || s.max_recv_sge > max_sge)
    return make_error(Errc::invalid_argument, "max SGE is " + std::to_string(max_sge));
  const std::uint32_t max_inline = l.max_inline < inline_cap ? l.max_inline : inline_cap;
  if (s.max_inline > max_inline) return make_error(Errc::invalid_argument, "max inline is " + std::to_string(max_inline));
  if (live >= l.max_qp) return make_error(Errc::busy, "too many QPs (max " + std::to_string(l.max_qp) + ")");
  return {};
}

}  // namespace softrnic::verbs
