// NDK_PD and NDK_MR over the engine's MemoryTable: protection domains, registration from an MDL,
// fast-register MRs. Memory windows are mw.cpp, SRQs srq.cpp, LAMs and the privileged token
// lam.cpp.
#include "guard.hpp"
#include "objects.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

Pd* pd_of(NDK_PD* p) { return from_ndk<Pd>(p, NdkObjectTypePd); }
Mr* mr_of(NDK_MR* p) { return from_ndk<Mr>(p, NdkObjectTypeMr); }

std::uint32_t access_of(ULONG flags) {
  std::uint32_t a = 0;
  if (flags & NDK_MR_FLAG_ALLOW_LOCAL_WRITE) a |= verbs::kLocalWrite;
  if (flags & NDK_MR_FLAG_ALLOW_REMOTE_READ) a |= verbs::kRemoteRead;
  if ((flags & NDK_MR_FLAG_ALLOW_REMOTE_WRITE) == NDK_MR_FLAG_ALLOW_REMOTE_WRITE ||
      (flags & 0x4u))
    a |= verbs::kRemoteWrite | verbs::kLocalWrite;
  // An RDMA read sink is written by the engine on the consumer's behalf.
  if (flags & NDK_MR_FLAG_RDMA_READ_SINK) a |= verbs::kLocalWrite;
  // NDK has no "allow window binds" flag: any registered region may carry windows (NdkBind).
  return a | verbs::kMwBind;
}

NTSTATUS close_pd(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Pd* pd = h ? pd_of(reinterpret_cast<NDK_PD*>(h)) : nullptr;
  if (pd == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkClosePd"),
               [pd](const Done& done) { close_node(pd->node, done); });
}

NTSTATUS create_mr(NDK_PD* p, BOOLEAN fast, NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_MR** out) {
  Pd* pd = pd_of(p);
  if (pd == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = pd->adapter;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(*a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateMr"),
      [pd, fast](const Done& done) {
        if (NTSTATUS f = scenario_failure(scenario::Call::create_mr); f != STATUS_SUCCESS) {
          done->finish(f);
          return;
        }
        auto* mr = new Mr();
        init_header(mr->ndk.Header, NdkObjectTypeMr, pd->adapter->version);
        mr->ndk.Dispatch = &kMrDispatch;
        mr->pd = pd;
        mr->fast = fast != FALSE;
        depend(mr->node, pd->node);
        mr->node.destroy = [mr] {
          if (const UINT32 t = mr->token.load(); t != 0)
            (void)mr->pd->adapter->backend().memory().deregister(t);
          delete mr;
        };
        done->finish(STATUS_SUCCESS, &mr->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_MR*>(made);
  return st;
}

NTSTATUS close_mr(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Mr* mr = h ? mr_of(reinterpret_cast<NDK_MR*>(h)) : nullptr;
  if (mr == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = mr->pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseMr"),
               [mr](const Done& done) { close_node(mr->node, done); });
}

NTSTATUS register_mr(NDK_MR* p, MDL* mdl, SIZE_T length, ULONG flags,
                     NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Mr* mr = mr_of(p);
  if (mr == nullptr || mdl == nullptr || length == 0 || mr->fast) return STATUS_INVALID_PARAMETER;
  std::byte* base = nullptr;
  if (NTSTATUS st = mdl_range(mdl, length, &base); st != STATUS_SUCCESS) return st;
  if (length > mr->pd->adapter->backend().limits().max_mr_size) return STATUS_INVALID_PARAMETER;
  Adapter* a = mr->pd->adapter;
  const std::uint32_t access = access_of(flags);
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkRegisterMr"),
               [mr, base, length, access](const Done& done) {
                 if (mr->token.load() != 0) {
                   done->finish(STATUS_INVALID_DEVICE_STATE);
                   return;
                 }
                 if (NTSTATUS f = scenario_failure(scenario::Call::register_mr); f != STATUS_SUCCESS) {
                   done->finish(f);
                   return;
                 }
                 const auto va = reinterpret_cast<std::uintptr_t>(base);
                 auto key = mr->pd->adapter->backend().memory().register_mr(
                     mr->pd->handle, base, length, va, access);
                 if (!key) {
                   done->finish(error_status(key.error()));
                   return;
                 }
                 mr->access.store(access);
                 mr->token.store(*key);
                 done->finish(STATUS_SUCCESS);
               });
}

NTSTATUS deregister_mr(NDK_MR* p, NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Mr* mr = mr_of(p);
  if (mr == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = mr->pd->adapter;
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkDeregisterMr"), [mr](const Done& done) {
    const UINT32 t = mr->token.load();
    if (t == 0) {
      done->finish(STATUS_INVALID_DEVICE_STATE);
      return;
    }
    // Refused while a window is bound to it: the region stays registered (and its token valid).
    auto r = mr->pd->adapter->backend().memory().deregister(t);
    if (!r) {
      done->finish(r.error().code == Errc::busy ? STATUS_INVALID_DEVICE_STATE
                                                : error_status(r.error()));
      return;
    }
    mr->token.store(0);
    mr->access.store(0);
    done->finish(STATUS_SUCCESS);
  });
}

NTSTATUS init_fast_register_mr(NDK_MR* p, ULONG pages, BOOLEAN remote,
                               NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Mr* mr = mr_of(p);
  if (mr == nullptr || !mr->fast || pages == 0) return STATUS_INVALID_PARAMETER;
  Adapter* a = mr->pd->adapter;
  if (pages > a->backend().limits().max_fast_reg_pages) return STATUS_IMPLEMENTATION_LIMIT;
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkInitializeFastRegisterMr"),
               [mr, pages, remote](const Done& done) {
                 verbs::MemoryTable& mt = mr->pd->adapter->backend().memory();
                 if (const UINT32 old = mr->token.exchange(0); old != 0) (void)mt.deregister(old);
                 auto key = mt.alloc_frmr(mr->pd->handle, pages);
                 if (!key) {
                   done->finish(error_status(key.error()));
                   return;
                 }
                 mr->remote_access = remote != FALSE;
                 mr->pages.assign(pages, nullptr);
                 mr->token.store(*key);
                 done->finish(STATUS_SUCCESS);
               });
}

UINT32 remote_token(NDK_MR* p) {
  Mr* mr = mr_of(p);
  return mr ? mr->token.load() : 0;
}

UINT32 local_token(NDK_MR* p) {
  Mr* mr = mr_of(p);
  return mr ? mr->token.load() : 0;
}

}  // namespace

NTSTATUS pd_create_qp(NDK_PD*, NDK_CQ*, NDK_CQ*, PVOID, ULONG, ULONG, ULONG, ULONG, ULONG,
                      NDK_FN_CREATE_COMPLETION, PVOID, NDK_QP**);
NTSTATUS pd_create_qp_with_srq(NDK_PD*, NDK_CQ*, NDK_CQ*, NDK_SRQ*, PVOID, ULONG, ULONG, ULONG,
                               NDK_FN_CREATE_COMPLETION, PVOID, NDK_QP**);
NTSTATUS pd_create_mw(NDK_PD*, NDK_FN_CREATE_COMPLETION, PVOID, NDK_MW**);
NTSTATUS pd_create_srq(NDK_PD*, ULONG, ULONG, ULONG, NDK_FN_SRQ_NOTIFICATION_CALLBACK, PVOID,
                       GROUP_AFFINITY*, NDK_FN_CREATE_COMPLETION, PVOID, NDK_SRQ**);
VOID pd_get_privileged_token(NDK_PD*, UINT32*);

Adapter* adapter_of(Pd& pd) { return pd.adapter; }

NTSTATUS mdl_range(const MDL* mdl, SIZE_T length, std::byte** base) {
  // NDKPI reference 2.4: the range must be virtually contiguous and resident (a built MDL); a
  // chain counts as one range when each MDL starts where the previous one ends.
  if (mdl == nullptr || base == nullptr) return STATUS_INVALID_PARAMETER;
  std::uint64_t total = 0;
  auto* const start = static_cast<std::byte*>(MmGetMdlVirtualAddress(mdl));
  for (const MDL* m = mdl; m != nullptr; m = m->Next) {
    if ((m->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) == 0) return STATUS_INVALID_PARAMETER;
    if (static_cast<std::byte*>(MmGetMdlVirtualAddress(m)) != start + total)
      return STATUS_INVALID_PARAMETER;
    total += MmGetMdlByteCount(m);
  }
  if (length > total) return STATUS_INVALID_PARAMETER;
  *base = start;
  return STATUS_SUCCESS;
}

const NDK_PD_DISPATCH kPdDispatch = {
    guarded<close_pd>,
    guarded<query_extension>,
    guarded<create_mr>,
    guarded<pd_create_mw>,
    guarded<pd_create_srq>,
    guarded<pd_create_qp>,
    guarded<pd_create_qp_with_srq>,
    guarded<pd_get_privileged_token>,
};

const NDK_MR_DISPATCH kMrDispatch = {
    guarded<close_mr>,
    guarded<query_extension>,
    guarded<register_mr>,
    guarded<deregister_mr>,
    guarded<init_fast_register_mr>,
    guarded<remote_token>,
    guarded<local_token>,
};

}  // namespace softrnic::ndk
