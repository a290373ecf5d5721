// Logical address mappings (NdkBuildLam / NdkReleaseLam) and the privileged token (NDKPI
// reference 2.3, 2.4). In user space there are no bus addresses: the logical address of a byte
// is its virtual address, and the LAM's page array lists the virtual addresses of its pages.
// The privileged token lets SGEs name LAM memory without a registration of their own: each LAM
// is registered, for local access only, in every PD of its adapter, and an SGE carrying the
// token is given the key of the LAM that holds its whole range. Nothing else is reachable
// through the token, and never from a peer: the per-LAM keys grant no remote rights and the token
// itself resolves to nothing in any engine.
#include <algorithm>
#include <cstddef>

#include "objects.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

constexpr std::uint64_t kPage = SOFTRNIC_NDK_PAGE_SIZE;
// Local access only: receives, RDMA read sinks and send sources.
constexpr std::uint32_t kLamAccess = verbs::kLocalWrite;

Adapter* adapter_of(NDK_ADAPTER* p) { return from_ndk<Adapter>(p, NdkObjectTypeAdapter); }

[[nodiscard]] Result<std::uint32_t> register_lam(Pd& pd, const Lam& lam) {
  return pd.adapter->backend().memory().register_mr(pd.handle, reinterpret_cast<void*>(lam.base),
                                                    lam.length, lam.base, kLamAccess);
}

// Drops the keys of one LAM (or of every LAM when lam is nullptr) from a PD.
void drop_keys(Pd& pd, const Lam* lam) {
  std::vector<LamKey> gone;
  {
    std::lock_guard lock(pd.lam_mu);
    auto keep = std::stable_partition(pd.lam_keys.begin(), pd.lam_keys.end(),
                                      [&](const LamKey& k) { return lam && k.lam != lam; });
    gone.assign(keep, pd.lam_keys.end());
    pd.lam_keys.erase(keep, pd.lam_keys.end());
  }
  for (const LamKey& k : gone) (void)pd.adapter->backend().memory().deregister(k.key);
}

void add_key(Pd& pd, const Lam& lam, std::uint32_t key) {
  std::lock_guard lock(pd.lam_mu);
  pd.lam_keys.push_back({&lam, lam.base, lam.length, key});
}

NTSTATUS build_lam(NDK_ADAPTER* p, MDL* mdl, SIZE_T length, NDK_FN_REQUEST_COMPLETION cb, PVOID ctx,
                   NDK_LOGICAL_ADDRESS_MAPPING* out, ULONG* out_size, ULONG* fbo) {
  Adapter* a = adapter_of(p);
  if (a == nullptr || mdl == nullptr || length == 0 || out_size == nullptr || fbo == nullptr)
    return STATUS_INVALID_PARAMETER;
  std::byte* base = nullptr;
  if (NTSTATUS st = mdl_range(mdl, length, &base); st != STATUS_SUCCESS) return st;
  if (length > a->backend().limits().max_mr_size) return STATUS_INVALID_PARAMETER;
  const auto va = reinterpret_cast<std::uintptr_t>(base);
  const std::uint64_t offset = va % kPage;
  const std::uint64_t pages = (offset + length + kPage - 1) / kPage;
  const std::uint64_t need =
      offsetof(NDK_LOGICAL_ADDRESS_MAPPING, AdapterPageArray) + pages * sizeof(NDK_LOGICAL_ADDRESS);
  if (need > MAXULONG) return STATUS_INVALID_PARAMETER;
  // Reference 2.4: a buffer too small is answered at once with the size it needs.
  if (out == nullptr || *out_size < need) {
    *out_size = static_cast<ULONG>(need);
    return STATUS_BUFFER_TOO_SMALL;
  }
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkBuildLam"),
               [a, va, length, offset, pages, need, out, out_size, fbo](const Done& done) {
                 auto* lam = new Lam{a, va, length};
                 for (std::size_t i = 0; i < a->pds.size(); ++i) {
                   auto key = register_lam(*a->pds[i], *lam);
                   if (!key) {
                     // Nothing of a failed build stays behind.
                     for (std::size_t j = 0; j < i; ++j) drop_keys(*a->pds[j], lam);
                     delete lam;
                     done->finish(error_status(key.error()));
                     return;
                   }
                   add_key(*a->pds[i], *lam, *key);
                 }
                 a->lams.push_back(lam);
                 out->AdapterContext = lam;
                 out->AdapterPageCount = static_cast<ULONG>(pages);
                 const std::uint64_t first = va - offset;
                 for (std::uint64_t i = 0; i < pages; ++i)
                   out->AdapterPageArray[i].QuadPart = static_cast<LONGLONG>(first + i * kPage);
                 *fbo = static_cast<ULONG>(offset);
                 *out_size = static_cast<ULONG>(need);
                 done->finish(STATUS_SUCCESS);
               });
}

// Reference 1.5: synchronous. The consumer releases a LAM only once every work request that
// used it has completed, so its keys can go at once.
VOID release_lam(NDK_ADAPTER* p, NDK_LOGICAL_ADDRESS_MAPPING* mapping) {
  Adapter* a = adapter_of(p);
  if (a == nullptr || mapping == nullptr) return;
  auto* lam = static_cast<Lam*>(mapping->AdapterContext);
  a->rt->run_and_wait([a, lam] {
    const auto it = std::find(a->lams.begin(), a->lams.end(), lam);
    if (it == a->lams.end()) return;  // not a LAM of this adapter, or released already
    for (Pd* pd : a->pds) drop_keys(*pd, lam);
    a->lams.erase(it);
    delete lam;
  });
  mapping->AdapterContext = nullptr;
}

}  // namespace

NTSTATUS attach_lams(Pd& pd) {
  Adapter& a = *pd.adapter;
  for (const Lam* lam : a.lams) {
    auto key = register_lam(pd, *lam);
    if (!key) {
      drop_keys(pd, nullptr);
      return error_status(key.error());
    }
    add_key(pd, *lam, *key);
  }
  a.pds.push_back(&pd);
  return STATUS_SUCCESS;
}

void detach_lams(Pd& pd) {
  drop_keys(pd, nullptr);
  std::erase(pd.adapter->pds, &pd);
}

bool local_key(Pd& pd, std::uint64_t addr, std::uint64_t length, UINT32 token, std::uint32_t& key) {
  if (token != kPrivilegedToken) {
    key = token;
    return true;
  }
  std::lock_guard lock(pd.lam_mu);
  for (const LamKey& k : pd.lam_keys) {
    if (addr >= k.base && addr - k.base <= k.length && length <= k.length - (addr - k.base)) {
      key = k.key;
      return true;
    }
  }
  return false;
}

VOID pd_get_privileged_token(NDK_PD* p, UINT32* token) {
  if (token == nullptr) return;
  *token = from_ndk<Pd>(p, NdkObjectTypePd) != nullptr ? kPrivilegedToken : 0;
}

NTSTATUS adapter_build_lam(NDK_ADAPTER* p, MDL* mdl, SIZE_T length, NDK_FN_REQUEST_COMPLETION cb,
                           PVOID ctx, NDK_LOGICAL_ADDRESS_MAPPING* out, ULONG* out_size,
                           ULONG* fbo) {
  return build_lam(p, mdl, length, cb, ctx, out, out_size, fbo);
}

VOID adapter_release_lam(NDK_ADAPTER* p, NDK_LOGICAL_ADDRESS_MAPPING* mapping) {
  release_lam(p, mapping);
}

}  // namespace softrnic::ndk
