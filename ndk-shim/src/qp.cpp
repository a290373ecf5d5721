// NDK_QP: creation and close, and the data path. Work requests go straight from the consumer's
// thread into the engine's rings (one producer per queue, as NDK's posting rules guarantee);
// their outcome arrives as a CQ entry unless the post fails inline (NDKPI reference 2.5).
#include <cstring>

#include "guard.hpp"
#include "objects.hpp"
#include "qp_internal.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

Qp* qp_of(NDK_QP* p) { return from_ndk<Qp>(p, NdkObjectTypeQp); }
Backend& backend_of(Qp& q) { return q.pd->adapter->backend(); }

std::uint64_t wr_id_of(PVOID ctx) { return reinterpret_cast<std::uintptr_t>(ctx); }

std::uint32_t send_flags(ULONG flags) {
  std::uint32_t f = 0;
  if ((flags & NDK_OP_FLAG_SILENT_SUCCESS) == 0) f |= verbs::kSignaled;
  if (flags & NDK_OP_FLAG_READ_FENCE) f |= verbs::kFence;
  if (flags & NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT) f |= verbs::kSolicited;
  return f;
}

// The SGE list of a send-queue WR: copied into the WR when INLINE (bounded by the QP's inline
// size, not its SGE count), else checked against the QP's SGE limit and the transfer limit.
NTSTATUS fill_sges(Qp& q, roce::SendWr& wr, const NDK_SGE* sgl, ULONG n, ULONG flags,
                   std::uint32_t max_sge) {
  if (n != 0 && sgl == nullptr) return STATUS_INVALID_PARAMETER;
  std::uint64_t total = 0;
  for (ULONG i = 0; i < n; ++i) total += sgl[i].Length;
  if (total > backend_of(q).limits().max_msg_size) return STATUS_INVALID_BUFFER_SIZE;
  if (flags & NDK_OP_FLAG_INLINE) {
    if (total > q.max_inline || total > wr.inline_data.size()) return STATUS_INVALID_PARAMETER;
    std::size_t at = 0;
    for (ULONG i = 0; i < n; ++i) {
      if (sgl[i].Length == 0) continue;
      std::memcpy(wr.inline_data.data() + at, sgl[i].VirtualAddress, sgl[i].Length);
      at += sgl[i].Length;
    }
    wr.inline_len = static_cast<std::uint16_t>(at);
    wr.flags |= verbs::kInline;
    wr.num_sge = 0;
    return STATUS_SUCCESS;
  }
  if (n > max_sge || n > roce::kMaxSge) return STATUS_DATA_OVERRUN;
  for (ULONG i = 0; i < n; ++i) {
    const auto addr = reinterpret_cast<std::uintptr_t>(sgl[i].VirtualAddress);
    std::uint32_t key = 0;
    // The privileged token names LAM memory only (reference 2.3).
    if (!local_key(*q.pd, addr, sgl[i].Length, sgl[i].MemoryRegionToken, key))
      return STATUS_ACCESS_VIOLATION;
    wr.sg[i] = {addr, sgl[i].Length, key};
  }
  wr.num_sge = static_cast<std::uint8_t>(n);
  return STATUS_SUCCESS;
}

NTSTATUS post(Qp& q, const roce::SendWr& wr) {
  NTSTATUS st = STATUS_CONNECTION_INVALID;
  if (backend_of(q).can_send(q.eqp)) {
    auto r = backend_of(q).post_send(q.eqp, wr);
    if (r) return STATUS_SUCCESS;
    st = error_status(r.error());
  }
  if (ScenarioRun* run = active_scenario()) run->post_failed("send_queue", st);
  return st;
}

NTSTATUS send_common(NDK_QP* p, PVOID ctx, const NDK_SGE* sgl, ULONG n, ULONG flags,
                     verbs::WrOpcode op, std::uint64_t remote_addr, UINT32 token) {
  Qp* q = qp_of(p);
  if (q == nullptr) return STATUS_INVALID_PARAMETER;
  roce::SendWr wr;
  wr.wr_id = wr_id_of(ctx);
  wr.opcode = op;
  wr.flags = send_flags(flags);
  wr.remote_addr = remote_addr;
  if (op == verbs::WrOpcode::send_with_inv) {
    wr.imm = token;
  } else {
    wr.rkey = token;
    // Consumer test mode's bad_token: corrupted at post time, so the peer answers with a remote
    // access error exactly as for a wrong token on the wire.
    if (op != verbs::WrOpcode::send)
      if (ScenarioRun* run = active_scenario()) wr.rkey = run->remote_token(token);
  }
  // Reads land in local memory: INLINE has no meaning for them.
  const ULONG effective = op == verbs::WrOpcode::rdma_read ? (flags & ~NDK_OP_FLAG_INLINE) : flags;
  if (NTSTATUS st = fill_sges(*q, wr, sgl, n, effective, q->max_initiator_sge); st != STATUS_SUCCESS)
    return st;
  return post(*q, wr);
}

NTSTATUS send(NDK_QP* p, PVOID ctx, CONST NDK_SGE* sgl, ULONG n, ULONG flags) {
  return send_common(p, ctx, sgl, n, flags, verbs::WrOpcode::send, 0, 0);
}

NTSTATUS send_and_invalidate(NDK_QP* p, PVOID ctx, CONST NDK_SGE* sgl, ULONG n, ULONG flags,
                             UINT32 remote_token) {
  return send_common(p, ctx, sgl, n, flags, verbs::WrOpcode::send_with_inv, 0, remote_token);
}

NTSTATUS read(NDK_QP* p, PVOID ctx, CONST NDK_SGE* sgl, ULONG n, UINT64 remote_addr,
              UINT32 remote_token, ULONG flags) {
  return send_common(p, ctx, sgl, n, flags, verbs::WrOpcode::rdma_read, remote_addr, remote_token);
}

NTSTATUS write(NDK_QP* p, PVOID ctx, CONST NDK_SGE* sgl, ULONG n, UINT64 remote_addr,
               UINT32 remote_token, ULONG flags) {
  return send_common(p, ctx, sgl, n, flags, verbs::WrOpcode::rdma_write, remote_addr, remote_token);
}

NTSTATUS receive(NDK_QP* p, PVOID ctx, CONST NDK_SGE* sgl, ULONG n) {
  Qp* q = qp_of(p);
  if (q == nullptr || (n != 0 && sgl == nullptr)) return STATUS_INVALID_PARAMETER;
  // Its receives come from its SRQ (NdkSrqReceive).
  if (q->srq != nullptr) return STATUS_INVALID_DEVICE_STATE;
  if (n > q->max_receive_sge || n > roce::kMaxSge) return STATUS_DATA_OVERRUN;
  std::uint64_t total = 0;
  roce::RecvWr wr;
  wr.wr_id = wr_id_of(ctx);
  wr.num_sge = static_cast<std::uint8_t>(n);
  for (ULONG i = 0; i < n; ++i) {
    const auto addr = reinterpret_cast<std::uintptr_t>(sgl[i].VirtualAddress);
    std::uint32_t key = 0;
    if (!local_key(*q->pd, addr, sgl[i].Length, sgl[i].MemoryRegionToken, key))
      return STATUS_ACCESS_VIOLATION;
    wr.sg[i] = {addr, sgl[i].Length, key};
    total += sgl[i].Length;
  }
  if (total > backend_of(*q).limits().max_msg_size) return STATUS_INVALID_BUFFER_SIZE;
  if (q->held.load(std::memory_order_acquire)) {
    std::lock_guard lock(q->held_mu);
    if (q->held.load(std::memory_order_relaxed)) {
      if (q->held_wrs.size() >= q->receive_depth) return STATUS_INSUFFICIENT_RESOURCES;
      q->held_wrs.push_back(wr);
      return STATUS_SUCCESS;
    }
  }
  auto r = backend_of(*q).post_recv(q->eqp, wr);
  return r ? STATUS_SUCCESS : error_status(r.error());
}

std::uint32_t fast_register_access(ULONG flags) {
  std::uint32_t a = 0;
  if (flags & NDK_OP_FLAG_ALLOW_REMOTE_READ) a |= verbs::kRemoteRead;
  if (flags & NDK_OP_FLAG_ALLOW_LOCAL_WRITE) a |= verbs::kLocalWrite;
  if (flags & (NDK_OP_FLAG_ALLOW_REMOTE_WRITE & ~NDK_OP_FLAG_ALLOW_LOCAL_WRITE))
    a |= verbs::kRemoteWrite | verbs::kLocalWrite;
  if (flags & NDK_OP_FLAG_RDMA_READ_SINK) a |= verbs::kLocalWrite;
  // As for registered regions (memory.cpp): windows may be bound to any region.
  return a | verbs::kMwBind;
}

NTSTATUS fast_register(NDK_QP* p, PVOID ctx, NDK_MR* mr_p, ULONG npages,
                       CONST NDK_LOGICAL_ADDRESS* pages, ULONG fbo, SIZE_T length, PVOID base_va,
                       ULONG flags) {
  Qp* q = qp_of(p);
  Mr* mr = from_ndk<Mr>(mr_p, NdkObjectTypeMr);
  if (q == nullptr || mr == nullptr || !mr->fast || pages == nullptr || npages == 0)
    return STATUS_INVALID_PARAMETER;
  const UINT32 token = mr->token.load();
  if (token == 0) return STATUS_INVALID_DEVICE_STATE;  // InitializeFastRegisterMr first
  if (npages > mr->pages.size()) return STATUS_IMPLEMENTATION_LIMIT;
  constexpr std::uint64_t kPage = SOFTRNIC_NDK_PAGE_SIZE;
  const auto va = reinterpret_cast<std::uintptr_t>(base_va);
  // NDKPI reference 2.4: Length <= pages * PAGE_SIZE - FBO, base VA = FBO + n * PAGE_SIZE.
  if (fbo >= kPage || length == 0 || length > npages * kPage - fbo || va % kPage != fbo)
    return STATUS_INVALID_PARAMETER;
  const std::uint32_t access = fast_register_access(flags);
  if ((access & (verbs::kRemoteRead | verbs::kRemoteWrite)) && !mr->remote_access)
    return STATUS_ACCESS_VIOLATION;
  for (ULONG i = 0; i < npages; ++i)
    mr->pages[i] = reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(pages[i].QuadPart));
  roce::SendWr wr;
  wr.wr_id = wr_id_of(ctx);
  wr.opcode = verbs::WrOpcode::fast_reg_mr;
  wr.flags = send_flags(flags);
  wr.num_sge = 0;
  wr.local_key = token;
  const auto new_key = static_cast<std::uint8_t>((token & 0xffu) + 1u);
  wr.mem.new_key = new_key;
  wr.mem.pages = mr->pages.data();
  wr.mem.npages = npages;
  wr.mem.page_size = static_cast<std::uint32_t>(kPage);
  wr.mem.first_page_offset = fbo;
  wr.mem.va = va;
  wr.mem.length = length;
  wr.mem.access = access;
  const NTSTATUS st = post(*q, wr);
  // The consumer re-reads the tokens once NdkFastRegister has returned (reference 2.3).
  if (st == STATUS_SUCCESS) {
    mr->access.store(access);
    mr->token.store((token & ~0xffu) | new_key);
  }
  return st;
}

NTSTATUS invalidate(NDK_QP* p, PVOID ctx, NDK_OBJECT_HEADER* target, ULONG flags) {
  Qp* q = qp_of(p);
  if (q == nullptr || target == nullptr) return STATUS_INVALID_PARAMETER;
  roce::SendWr wr;
  wr.wr_id = wr_id_of(ctx);
  wr.opcode = verbs::WrOpcode::local_inv;
  wr.flags = send_flags(flags);
  wr.num_sge = 0;
  if (target->ObjectType == NdkObjectTypeMw) {
    Mw* mw = from_ndk<Mw>(reinterpret_cast<NDK_MW*>(target), NdkObjectTypeMw);
    if (!backend_of(*q).has_memory_windows()) return STATUS_NOT_SUPPORTED;
    if (mw->pd != q->pd) return STATUS_INVALID_PARAMETER;
    wr.local_key = mw->token.load();
    // The window keeps holding its region until it is closed or bound to another (mw.cpp).
    return post(*q, wr);
  }
  Mr* mr = from_ndk<Mr>(reinterpret_cast<NDK_MR*>(target), NdkObjectTypeMr);
  // NdkRegisterMr regions are undone by NdkDeregisterMr, not invalidated.
  if (mr == nullptr || !mr->fast) return STATUS_INVALID_PARAMETER;
  wr.local_key = mr->token.load();
  return post(*q, wr);
}

// Reference 2.4: binds the window to [va, va + length) of the region, with remote read and/or
// write rights; remote write needs a region the consumer may write locally.
NTSTATUS bind(NDK_QP* p, PVOID ctx, NDK_MR* mr_p, NDK_MW* mw_p, PVOID va_p, SIZE_T length,
              ULONG flags) {
  Qp* q = qp_of(p);
  Mr* mr = from_ndk<Mr>(mr_p, NdkObjectTypeMr);
  Mw* mw = from_ndk<Mw>(mw_p, NdkObjectTypeMw);
  if (q == nullptr || mr == nullptr || mw == nullptr || length == 0)
    return STATUS_INVALID_PARAMETER;
  if (!backend_of(*q).has_memory_windows()) return STATUS_NOT_SUPPORTED;
  if (mw->pd != q->pd || mr->pd != q->pd) return STATUS_INVALID_PARAMETER;
  const UINT32 region = mr->token.load();
  if (region == 0) return STATUS_INVALID_DEVICE_STATE;  // not registered
  std::uint32_t access = 0;
  if (flags & NDK_OP_FLAG_ALLOW_REMOTE_READ) access |= verbs::kRemoteRead;
  if (flags & (NDK_OP_FLAG_ALLOW_REMOTE_WRITE & ~NDK_OP_FLAG_ALLOW_LOCAL_WRITE))
    access |= verbs::kRemoteWrite;
  if ((access & verbs::kRemoteWrite) && !(mr->access.load() & verbs::kLocalWrite))
    return STATUS_ACCESS_VIOLATION;
  const UINT32 window = mw->token.load();
  const auto new_key = static_cast<std::uint8_t>((window & 0xffu) + 1u);
  roce::SendWr wr;
  wr.wr_id = wr_id_of(ctx);
  wr.opcode = verbs::WrOpcode::bind_mw;
  wr.flags = send_flags(flags);
  wr.num_sge = 0;
  wr.local_key = window;
  wr.mem.new_key = new_key;
  wr.mem.mr_key = region;
  wr.mem.va = reinterpret_cast<std::uintptr_t>(va_p);
  wr.mem.length = length;
  wr.mem.access = access;
  const NTSTATUS st = post(*q, wr);
  if (st != STATUS_SUCCESS) return st;
  // The remote token is valid once NdkBind has returned (reference 2.3).
  mw->token.store((window & ~0xffu) | new_key);
  run_soon(*q->pd->adapter->rt, [mw, mr] { window_bound(*mw, *mr); });
  return STATUS_SUCCESS;
}

VOID flush(NDK_QP* p) {
  Qp* q = qp_of(p);
  if (q == nullptr) return;
  q->pd->adapter->rt->post([q] { flush_engine_qp(*q); });
}

NTSTATUS close_qp(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Qp* q = h ? qp_of(reinterpret_cast<NDK_QP*>(h)) : nullptr;
  if (q == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = q->pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseQp"), [q](const Done& done) {
    flush_engine_qp(*q);
    close_node(q->node, done);
  });
}

}  // namespace

void flush_engine_qp(Qp& q) {
  backend_of(q).flush(q.eqp);
  release_held_receives(q);
}

void release_held_receives(Qp& q) {
  std::lock_guard lock(q.held_mu);
  if (!q.held.load(std::memory_order_relaxed)) return;
  // Engine thread: the only producer of the receive ring until `held` turns false.
  for (const auto& wr : q.held_wrs) {
    if (auto r = backend_of(q).post_recv(q.eqp, wr); !r) break;
  }
  q.held_wrs.clear();
  q.held.store(false, std::memory_order_release);
}

namespace {

// NdkCreateQp, or NdkCreateQpWithSrq when srq_p is given (its receive limits are the SRQ's).
NTSTATUS create_qp(NDK_PD* p, NDK_CQ* rcq_p, NDK_CQ* icq_p, NDK_SRQ* srq_p, PVOID qp_ctx,
                   ULONG rq_depth, ULONG iq_depth, ULONG rq_sge, ULONG iq_sge, ULONG inline_size,
                   NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_QP** out) {
  Pd* pd = from_ndk<Pd>(p, NdkObjectTypePd);
  Cq* rcq = from_ndk<Cq>(rcq_p, NdkObjectTypeCq);
  Cq* icq = from_ndk<Cq>(icq_p, NdkObjectTypeCq);
  if (pd == nullptr || rcq == nullptr || icq == nullptr || out == nullptr)
    return STATUS_INVALID_PARAMETER;
  Adapter* a = pd->adapter;
  if (rcq->adapter != a || icq->adapter != a) return STATUS_INVALID_PARAMETER;
  const verbs::DeviceLimits& l = a->backend().limits();
  Srq* srq = nullptr;
  if (srq_p != nullptr) {
    if (l.max_srq == 0) return STATUS_NOT_SUPPORTED;
    srq = from_ndk<Srq>(srq_p, NdkObjectTypeSrq);
    // The SRQ's receives are checked in its PD, which must be the QP's.
    if (srq == nullptr || srq->pd != pd) return STATUS_INVALID_PARAMETER;
    rq_depth = 0;
    rq_sge = srq->max_sge;
  } else if (rq_depth == 0 || rq_depth > l.max_qp_wr || rq_sge > l.max_sge) {
    return STATUS_INVALID_PARAMETER;
  }
  if (iq_depth == 0 || iq_depth > l.max_qp_wr || iq_sge > l.max_sge || inline_size > l.max_inline)
    return STATUS_INVALID_PARAMETER;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(
      *a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateQp"),
      [=](const Done& done) {
        if (srq != nullptr && srq->closed) {
          done->finish(STATUS_INVALID_DEVICE_STATE);
          return;
        }
        if (NTSTATUS f = scenario_failure(scenario::Call::create_qp); f != STATUS_SUCCESS) {
          done->finish(f);
          return;
        }
        roce::QpInit init;
        init.type = verbs::QpType::rc;
        init.pd = pd->handle;
        init.send_cq = icq->cq;
        init.recv_cq = rcq->cq;
        init.sq_depth = iq_depth;
        init.rq_depth = rq_depth;
        init.max_send_sge = std::max<ULONG>(iq_sge, 1);
        init.max_recv_sge = std::max<ULONG>(rq_sge, 1);
        init.max_inline = inline_size;
        auto eqp = a->backend().create_qp(init, srq != nullptr ? srq->esrq : nullptr);
        if (!eqp) {
          done->finish(error_status(eqp.error()));
          return;
        }
        auto* q = new Qp();
        init_header(q->ndk.Header, NdkObjectTypeQp, a->version);
        q->ndk.Dispatch = &kQpDispatch;
        q->pd = pd;
        q->receive_cq = rcq;
        q->initiator_cq = icq;
        q->context = qp_ctx;
        q->eqp = *eqp;
        q->receive_depth = rq_depth;
        q->initiator_depth = iq_depth;
        q->max_receive_sge = rq_sge;
        q->max_initiator_sge = iq_sge;
        q->max_inline = inline_size;
        q->srq = srq;
        // Nothing to hold with an SRQ: its receives never pass through the QP.
        q->held.store(srq == nullptr && !a->backend().takes_receives_before_connection());
        DeviceEntry& dev = *a->dev;
        const std::uint32_t qpn = a->backend().qpn(q->eqp);
        dev.set_qp_context(qpn, qp_ctx);
        depend(q->node, pd->node);
        depend(q->node, rcq->node);
        depend(q->node, icq->node);
        if (srq != nullptr) depend(q->node, srq->node);
        if (ScenarioRun* run = active_scenario()) run->qp_created(*q);
        q->node.destroy = [q, qpn] {
          Adapter* ad = q->pd->adapter;
          DeviceEntry& d = *ad->dev;
          if (ScenarioRun* run = active_scenario()) run->qp_destroyed(*q);
          // Later: the engine still has to flush the QP's work into its CQs (and a connection
          // record may still name it).
          ad->rt->retire_qp(d, q->eqp);
          d.clear_qp_context(qpn);
          delete q;
        };
        done->finish(STATUS_SUCCESS, &q->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_QP*>(made);
  return st;
}

}  // namespace

NTSTATUS pd_create_qp(NDK_PD* p, NDK_CQ* rcq, NDK_CQ* icq, PVOID qp_ctx, ULONG rq_depth,
                      ULONG iq_depth, ULONG rq_sge, ULONG iq_sge, ULONG inline_size,
                      NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_QP** out) {
  return create_qp(p, rcq, icq, nullptr, qp_ctx, rq_depth, iq_depth, rq_sge, iq_sge, inline_size,
                   cb, ctx, out);
}

NTSTATUS pd_create_qp_with_srq(NDK_PD* p, NDK_CQ* rcq, NDK_CQ* icq, NDK_SRQ* srq, PVOID qp_ctx,
                               ULONG iq_depth, ULONG iq_sge, ULONG inline_size,
                               NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_QP** out) {
  // Without SRQs (iWARP) no SRQ can exist: the answer is the same whatever srq is.
  if (Pd* pd = from_ndk<Pd>(p, NdkObjectTypePd); pd && pd->adapter->backend().limits().max_srq == 0)
    return STATUS_NOT_SUPPORTED;
  if (srq == nullptr) return STATUS_INVALID_PARAMETER;
  return create_qp(p, rcq, icq, srq, qp_ctx, 0, iq_depth, 0, iq_sge, inline_size, cb, ctx, out);
}

const NDK_QP_DISPATCH kQpDispatch = {
    guarded<close_qp>,
    guarded<query_extension>,
    guarded<flush>,
    guarded<send>,
    guarded<receive>,
    guarded<bind>,
    guarded<fast_register>,
    guarded<invalidate>,
    guarded<read>,
    guarded<write>,
    guarded<send_and_invalidate>,
};

}  // namespace softrnic::ndk
