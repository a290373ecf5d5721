// NDK_SRQ over the engine's shared receive queues (RoCE; the iWARP engine has none, and there
// NdkCreateSrq fails with STATUS_NOT_SUPPORTED while the adapter reports MaxSrqDepth 0).
//
// Receives go from the posting thread straight into the engine's ring, like NdkReceive; each is
// taken by whichever QP of the SRQ receives a message next and completes on that QP's receive
// CQ with its QPContext. A QP that fails or is flushed gives back nothing it has not started:
// what is queued in the SRQ stays there for the other QPs (IBA 10.2.9.5; NdkFlush cancels the
// QP's own work). Closing the SRQ waits for its QPs (reference 3.2); receives still queued then
// are dropped with it, as there is no QP left whose CQ could report them.
//
// The notification (reference 2.9): a non-zero NotifyThreshold arms a one-shot callback for when
// fewer receives than that remain queued, made at once (after the arming call has completed) when
// that is already so. It is disarmed once made until NdkModifySrq gives a non-zero threshold
// again; a zero SrqDepth or NotifyThreshold there keeps the current value.
#include <algorithm>

#include "guard.hpp"
#include "objects.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

// Ring slots are cheap: a small SRQ gets room to grow through NdkModifySrq.
constexpr std::uint32_t kMinCapacity = 256;

Srq* srq_of(NDK_SRQ* p) { return from_ndk<Srq>(p, NdkObjectTypeSrq); }
Backend& backend_of(Srq& s) { return s.pd->adapter->backend(); }

void notify(const std::shared_ptr<SrqRef>& ref) {
  Srq* s = ref->object;
  if (s == nullptr || s->notify == nullptr) return;
  s->threshold = 0;
  s->notify(s->notify_ctx, STATUS_SUCCESS);
}

// Engine thread. True when the threshold is already undercut: the caller notifies once its own
// call has completed.
bool arm(Srq& s, std::uint32_t threshold) {
  Backend& b = backend_of(s);
  s.threshold = s.notify != nullptr ? threshold : 0;
  if (s.threshold != 0 && b.srq_queued(s.esrq) < s.threshold) {
    b.arm_srq_limit(s.esrq, 0);
    return true;
  }
  b.arm_srq_limit(s.esrq, s.threshold);
  return false;
}

NTSTATUS close_srq(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Srq* s = h ? srq_of(reinterpret_cast<NDK_SRQ*>(h)) : nullptr;
  if (s == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = s->pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseSrq"), [s](const Done& done) {
    // No notification once the consumer has started closing it.
    s->closed = true;
    s->self->object = nullptr;
    backend_of(*s).arm_srq_limit(s->esrq, 0);
    s->node.destroy = [s] {
      backend_of(*s).destroy_srq(s->esrq);
      delete s;
    };
    close_node(s->node, done);
  });
}

NTSTATUS modify_srq(NDK_SRQ* p, ULONG depth, ULONG threshold, NDK_FN_REQUEST_COMPLETION cb,
                    PVOID ctx) {
  Srq* s = srq_of(p);
  if (s == nullptr) return STATUS_INVALID_PARAMETER;
  if (depth > backend_of(*s).limits().max_srq_wr) return STATUS_INVALID_PARAMETER;
  Adapter* a = s->pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkModifySrq"),
               [s, depth, threshold](const Done& done) {
                 if (s->closed) {
                   done->finish(STATUS_INVALID_DEVICE_STATE);
                   return;
                 }
                 if (depth != 0) {
                   // The engine's ring cannot grow: beyond it there is no room to give.
                   if (depth > s->capacity) {
                     done->finish(STATUS_INSUFFICIENT_RESOURCES);
                     return;
                   }
                   if (depth < backend_of(*s).srq_queued(s->esrq)) {
                     done->finish(STATUS_INVALID_PARAMETER);
                     return;
                   }
                   s->depth.store(depth);
                 }
                 const bool below = threshold != 0 && arm(*s, threshold);
                 const auto ref = s->self;
                 done->finish(STATUS_SUCCESS);
                 if (below) notify(ref);
               });
}

NTSTATUS srq_receive(NDK_SRQ* p, PVOID ctx, CONST NDK_SGE* sgl, ULONG n) {
  Srq* s = srq_of(p);
  if (s == nullptr || (n != 0 && sgl == nullptr)) return STATUS_INVALID_PARAMETER;
  if (n > s->max_sge || n > roce::kMaxSge) return STATUS_DATA_OVERRUN;
  Backend& b = backend_of(*s);
  roce::RecvWr wr;
  wr.wr_id = reinterpret_cast<std::uintptr_t>(ctx);
  wr.num_sge = static_cast<std::uint8_t>(n);
  std::uint64_t total = 0;
  for (ULONG i = 0; i < n; ++i) {
    const auto addr = reinterpret_cast<std::uintptr_t>(sgl[i].VirtualAddress);
    std::uint32_t key = 0;
    if (!local_key(*s->pd, addr, sgl[i].Length, sgl[i].MemoryRegionToken, key))
      return STATUS_ACCESS_VIOLATION;
    wr.sg[i] = {addr, sgl[i].Length, key};
    total += sgl[i].Length;
  }
  if (total > b.limits().max_msg_size) return STATUS_INVALID_BUFFER_SIZE;
  if (b.srq_queued(s->esrq) >= s->depth.load(std::memory_order_relaxed))
    return STATUS_INSUFFICIENT_RESOURCES;
  auto r = b.post_srq_recv(s->esrq, wr);
  return r ? STATUS_SUCCESS : error_status(r.error());
}

}  // namespace

NTSTATUS pd_create_srq(NDK_PD* p, ULONG depth, ULONG max_sge, ULONG threshold,
                       NDK_FN_SRQ_NOTIFICATION_CALLBACK notify_cb, PVOID notify_ctx,
                       GROUP_AFFINITY*, NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_SRQ** out) {
  Pd* pd = from_ndk<Pd>(p, NdkObjectTypePd);
  if (pd == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = pd->adapter;
  const verbs::DeviceLimits& l = a->backend().limits();
  if (l.max_srq == 0 || l.max_srq_wr == 0) return STATUS_NOT_SUPPORTED;  // MaxSrqDepth is 0
  if (depth == 0 || depth > l.max_srq_wr || max_sge > l.max_sge) return STATUS_INVALID_PARAMETER;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(
      *a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateSrq"),
      [=](const Done& done) {
        const std::uint32_t capacity =
            std::min<std::uint32_t>(l.max_srq_wr, std::max<std::uint32_t>(depth, kMinCapacity));
        auto* s = new Srq();
        s->self = std::make_shared<SrqRef>();
        s->self->object = s;
        const auto ref = s->self;
        auto esrq =
            a->backend().create_srq(capacity, std::max<ULONG>(max_sge, 1), [ref] { notify(ref); });
        if (!esrq) {
          delete s;
          done->finish(error_status(esrq.error()));
          return;
        }
        init_header(s->ndk.Header, NdkObjectTypeSrq, a->version);
        s->ndk.Dispatch = &kSrqDispatch;
        s->pd = pd;
        s->esrq = *esrq;
        s->capacity = capacity;
        s->depth.store(depth);
        s->max_sge = max_sge;
        s->notify = notify_cb;
        s->notify_ctx = notify_ctx;
        depend(s->node, pd->node);
        const bool below = threshold != 0 && arm(*s, threshold);
        done->finish(STATUS_SUCCESS, &s->ndk.Header);
        if (below) notify(ref);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_SRQ*>(made);
  return st;
}

const NDK_SRQ_DISPATCH kSrqDispatch = {
    guarded<close_srq>,
    guarded<query_extension>,
    guarded<modify_srq>,
    guarded<srq_receive>,
};

}  // namespace softrnic::ndk
