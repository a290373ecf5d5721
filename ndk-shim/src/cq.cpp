// NDK_CQ over the engine's verbs::Cq: results mapped to NDK_RESULT[_EX], one-shot arming and the
// notification callback from the engine thread, interrupt moderation by count.
#include <array>

#include "guard.hpp"
#include "objects.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

Cq* cq_of(NDK_CQ* p) { return from_ndk<Cq>(p, NdkObjectTypeCq); }

void on_notify(void* context, verbs::Cq& engine_cq) {
  auto* c = static_cast<Cq*>(context);
  if (c->closed || c->notify == nullptr) return;
  // A CQ that overflowed is dead with all its QPs (NDKPI reference 2.9).
  if (engine_cq.in_error()) c->adapter->dev->counters.cq_error.fetch_add(1);
  const NTSTATUS st = engine_cq.in_error() ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS;
  if (ScenarioRun* run = active_scenario()) run->cq_notified(st);
  c->notify(c->notify_ctx, st);
}

NTSTATUS close_cq(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Cq* c = h ? cq_of(reinterpret_cast<NDK_CQ*>(h)) : nullptr;
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  return start(*c->adapter->rt, c->adapter->mode.load(), Completion::close(cb, ctx, "NdkCloseCq"),
               [c](const Done& done) {
                 c->closed = true;
                 // The engine keeps its CQ (it has no destroy); it is silent from now on.
                 c->cq->set_handler(nullptr, nullptr);
                 c->node.destroy = [c] { delete c; };
                 close_node(c->node, done);
               });
}

NTSTATUS resize_cq(NDK_CQ* p, ULONG, NDK_FN_REQUEST_COMPLETION, PVOID) {
  if (cq_of(p) == nullptr) return STATUS_INVALID_PARAMETER;
  return STATUS_NOT_SUPPORTED;  // NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED is not reported
}

VOID arm_cq(NDK_CQ* p, ULONG type) {
  Cq* c = cq_of(p);
  if (c == nullptr) return;
  switch (type) {
    case NDK_CQ_NOTIFY_ERRORS: c->cq->arm(verbs::ArmType::errors); break;
    case NDK_CQ_NOTIFY_ANY: c->cq->arm(verbs::ArmType::any); break;
    case NDK_CQ_NOTIFY_SOLICITED: c->cq->arm(verbs::ArmType::solicited); break;
    default: break;
  }
}

template <class R>
ULONG get_results(NDK_CQ* p, R* results, ULONG n) {
  Cq* c = cq_of(p);
  if (c == nullptr || results == nullptr) return 0;
  DeviceEntry& dev = *c->adapter->dev;
  std::array<verbs::Cqe, 32> batch;
  ULONG done = 0;
  ScenarioRun* const run = active_scenario();  // consumer test mode: one load per call
  while (done < n) {
    const std::size_t want = std::min<std::size_t>(batch.size(), n - done);
    const std::size_t got = c->cq->poll(std::span(batch.data(), want));
    for (std::size_t i = 0; i < got; ++i) {
      const verbs::Cqe& e = batch[i];
      R& r = results[done++];
      r = {};
      r.Status = completion_status(e);
      r.BytesTransferred = e.byte_len;
      r.QPContext = dev.qp_context_of(e.qp_num);
      r.RequestContext = reinterpret_cast<PVOID>(static_cast<std::uintptr_t>(e.wr_id));
      if constexpr (std::is_same_v<R, NDK_RESULT_EX>) {
        r.Type = operation_type(e);
        r.ProviderErrorCode = e.status == verbs::WcStatus::success
                                  ? 0u
                                  : static_cast<ULONG>(e.status);
        if (e.flags & verbs::Cqe::kWithInv) r.TypeSpecificCompletionOutput = e.invalidated;
      }
      if (run != nullptr) run->completion(operation_name(e), r.Status, e.byte_len);
    }
    if (got < want) break;
  }
  return done;
}

ULONG get_cq_results(NDK_CQ* p, NDK_RESULT results[], ULONG n) { return get_results(p, results, n); }

ULONG get_cq_results_ex(NDK_CQ* p, NDK_RESULT_EX results[], ULONG n) {
  return get_results(p, results, n);
}

NTSTATUS control_moderation(NDK_CQ* p, ULONG interval, ULONG count) {
  Cq* c = cq_of(p);
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  if (interval == MAXULONG && count == MAXULONG) return STATUS_INVALID_PARAMETER_MIX;
  // Only the count is honoured: interval 0 or count 0/1 is off, count MAXULONG (or above the
  // depth) asks for the interval alone, which is not timed here, so it is off as well.
  std::uint32_t effective = 1;
  if (interval != 0 && count > 1 && count != MAXULONG && count <= c->cq->depth()) effective = count;
  verbs::Cq* engine_cq = c->cq;
  c->adapter->rt->post([engine_cq, effective] { engine_cq->set_moderation(effective); });
  return STATUS_SUCCESS;
}

}  // namespace

NTSTATUS adapter_create_cq(NDK_ADAPTER* p, ULONG depth, NDK_FN_CQ_NOTIFICATION_CALLBACK notify,
                           PVOID notify_ctx, GROUP_AFFINITY*, NDK_FN_CREATE_COMPLETION cb,
                           PVOID ctx, NDK_CQ** out) {
  Adapter* a = from_ndk<Adapter>(p, NdkObjectTypeAdapter);
  if (a == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  if (depth == 0 || depth > a->backend().limits().max_cqe) return STATUS_INVALID_PARAMETER;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(*a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateCq"),
      [=](const Done& done) {
        if (NTSTATUS f = scenario_failure(scenario::Call::create_cq); f != STATUS_SUCCESS) {
          done->finish(f);
          return;
        }
        // A scenario's cq_overflow makes the engine CQ smaller than asked, so it overflows.
        ScenarioRun* run = active_scenario();
        auto engine_cq = a->backend().create_cq(run != nullptr ? run->cq_depth(depth) : depth);
        if (!engine_cq) {
          done->finish(error_status(engine_cq.error()));
          return;
        }
        auto* c = new Cq();
        init_header(c->ndk.Header, NdkObjectTypeCq, a->version);
        c->ndk.Dispatch = &kCqDispatch;
        c->adapter = a;
        c->cq = *engine_cq;
        c->notify = notify;
        c->notify_ctx = notify_ctx;
        c->cq->set_handler(on_notify, c);
        depend(c->node, a->node);
        done->finish(STATUS_SUCCESS, &c->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_CQ*>(made);
  return st;
}

const NDK_CQ_DISPATCH kCqDispatch = {
    guarded<close_cq>,
    guarded<query_extension>,
    guarded<resize_cq>,
    guarded<arm_cq>,
    guarded<get_cq_results>,
    guarded<control_moderation>,
    guarded<get_cq_results_ex>,
};

}  // namespace softrnic::ndk
