// NDK_MW over the engines' type 2 memory windows (RoCEv2 and iWARP; a backend without them makes
// NdkCreateMw fail with STATUS_NOT_SUPPORTED). A window is created empty, bound to part of a
// region by an NdkBind work request and invalidated by NdkInvalidate (both in qp.cpp); its remote
// token then names that part of the region, over the QP that bound it only (IBA 10.6.7.2.2).
// A bound window keeps its region from closing until the window closes or is bound elsewhere:
// an invalidation is only known to have happened once its completion has been read.
#include "guard.hpp"
#include "objects.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

Mw* mw_of(NDK_MW* p) { return from_ndk<Mw>(p, NdkObjectTypeMw); }

NTSTATUS close_mw(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Mw* mw = h ? mw_of(reinterpret_cast<NDK_MW*>(h)) : nullptr;
  if (mw == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = mw->pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseMw"),
               [mw](const Done& done) { close_node(mw->node, done); });
}

UINT32 remote_token_mw(NDK_MW* p) {
  Mw* mw = mw_of(p);
  return mw ? mw->token.load() : 0;
}

}  // namespace

void run_soon(Runtime& rt, std::function<void()> fn) {
  if (rt.on_engine_thread())
    fn();
  else
    rt.post(std::move(fn));
}

void window_bound(Mw& mw, Mr& mr) {
  if (mw.bound_to == &mr) return;
  if (Mr* before = mw.bound_to) release(mw.node, before->node);
  depend(mw.node, mr.node);
  mw.bound_to = &mr;
}

NTSTATUS pd_create_mw(NDK_PD* p, NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_MW** out) {
  Pd* pd = from_ndk<Pd>(p, NdkObjectTypePd);
  if (pd == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = pd->adapter;
  if (!a->backend().has_memory_windows() || a->backend().limits().max_mw == 0)
    return STATUS_NOT_SUPPORTED;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(
      *a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateMw"),
      [a, pd](const Done& done) {
        auto key = a->backend().memory().alloc_mw(pd->handle);
        if (!key) {
          done->finish(error_status(key.error()));
          return;
        }
        auto* mw = new Mw();
        init_header(mw->ndk.Header, NdkObjectTypeMw, a->version);
        mw->ndk.Dispatch = &kMwDispatch;
        mw->pd = pd;
        mw->token.store(*key);
        depend(mw->node, pd->node);
        mw->node.destroy = [mw] {
          // A window still bound gives its region back here (the engine unbinds it). A bind
          // that failed in the engine left the window at the key before the shim's.
          verbs::MemoryTable& mt = mw->pd->adapter->backend().memory();
          const UINT32 t = mw->token.load();
          if (!mt.deregister(t)) (void)mt.deregister((t & ~0xffu) | ((t - 1u) & 0xffu));
          delete mw;
        };
        done->finish(STATUS_SUCCESS, &mw->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_MW*>(made);
  return st;
}

const NDK_MW_DISPATCH kMwDispatch = {
    guarded<close_mw>,
    guarded<query_extension>,
    guarded<remote_token_mw>,
};

}  // namespace softrnic::ndk
