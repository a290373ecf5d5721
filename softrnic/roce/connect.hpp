// Bringing an RC or UC QP from RESET to RTS toward a known peer: what connection management or an
// out-of-band exchange provides, applied in the order IBA 10.3.1 requires (INIT, RTR, RTS).
#pragma once

#include <cstdint>

#include "base/result.hpp"
#include "roce/device.hpp"

namespace softrnic::roce {

struct QpPeer {
  std::uint32_t qpn = 0;
  Psn psn{};               // the peer's first send PSN: our expected receive PSN
  wire::Ipv6Addr gid{};
  wire::MacAddr mac{};     // zero: the device resolves it (ARP / IPv6 ND)
};

struct QpConnectOptions {
  std::uint32_t pmtu = 1024;
  std::uint32_t access = verbs::kRemoteWrite | verbs::kRemoteRead | verbs::kRemoteAtomic;
  Psn sq_psn{};            // our first send PSN (the peer's expected receive PSN)
  std::uint8_t rd_atomic = 16;  // both ORD and IRD, unless one of the two below is set
  std::uint8_t ord = 0;         // initiator depth (max_rd_atomic); 0: rd_atomic
  std::uint8_t ird = 0;         // responder resources (max_dest_rd_atomic); 0: rd_atomic
  std::uint8_t timeout = 14;
  std::uint8_t retry_cnt = 7;
  std::uint8_t rnr_retry = 7;
  std::uint8_t min_rnr_timer = 14;
};

[[nodiscard]] Result<void> connect_qp(Device& dev, Qp& qp, const wire::Ipv6Addr& local_gid,
                                      const QpPeer& peer, const QpConnectOptions& o = {});

}  // namespace softrnic::roce
