#include "roce/connect.hpp"

namespace softrnic::roce {

Result<void> connect_qp(Device& dev, Qp& qp, const wire::Ipv6Addr& local_gid, const QpPeer& peer,
                        const QpConnectOptions& o) {
  using namespace verbs;
  if (qp.type == QpType::ud)
    return make_error(Errc::invalid_argument, "connect_qp is for RC and UC QPs; UD QPs have no peer");
  const bool rc = qp.type == QpType::rc;
  QpAttrs x;
  x.state = QpState::init;
  x.access_flags = o.access;
  if (auto r = dev.modify_qp(qp, x, kAttrState | kAttrPkeyIndex | kAttrPort | kAttrAccessFlags); !r) return r;
  x.state = QpState::rtr;
  x.pmtu = o.pmtu;
  x.av.src_gid = local_gid;
  x.av.dst_gid = peer.gid;
  x.av.dst_mac = peer.mac;
  x.dest_qpn = peer.qpn;
  x.rq_psn = peer.psn;
  x.max_dest_rd_atomic = o.ird ? o.ird : o.rd_atomic;
  x.min_rnr_timer = o.min_rnr_timer;
  const std::uint32_t rtr = kAttrState | kAttrAv | kAttrPathMtu | kAttrDestQpn | kAttrRqPsn |
                            (rc ? kAttrMaxDestRdAtomic | kAttrMinRnrTimer : 0u);
  if (auto r = dev.modify_qp(qp, x, rtr); !r) return r;
  x.state = QpState::rts;
  x.sq_psn = o.sq_psn;
  x.max_rd_atomic = o.ord ? o.ord : o.rd_atomic;
  x.timeout = o.timeout;
  x.retry_cnt = o.retry_cnt;
  x.rnr_retry = o.rnr_retry;
  const std::uint32_t rts =
      kAttrState | kAttrSqPsn |
      (rc ? kAttrTimeout | kAttrRetryCnt | kAttrRnrRetry | kAttrMaxRdAtomic : 0u);
  return dev.modify_qp(qp, x, rts);
}

}  // namespace softrnic::roce
