// Opening and closing adapters (wskndk.h), listing them, the adapter's dispatch table and the
// softrnic extension.
#include <algorithm>
#include <cstring>

#include "address.hpp"
#include "guard.hpp"
#include "objects.hpp"
#include "softrnic_ndk_ext.h"
#include "wskndk.h"

namespace softrnic::ndk {

namespace {

constexpr GUID kExtensionGuid = SOFTRNIC_NDK_EXTENSION_GUID_INIT;

// Adapter flags, each a deliberate choice:
//  IN_ORDER_DMA: RoCE RC accepts packets only in PSN order and iWARP rides on TCP, so bytes of a
//    message land in increasing address order.
//  CQ_INTERRUPT_MODERATION: the CQ honours the moderation count (the interval is not timed).
//  not RDMA_READ_SINK_NOT_REQUIRED: read sinks need local-write rights (LAM memory named by the
//    privileged token has them, registered regions only with the flags that grant them).
//  not MULTI_ENGINE: one engine thread serves every connection.
//  not RDMA_READ_LOCAL_INVALIDATE, not CQ_RESIZE: not implemented.
//  not LOOPBACK_CONNECTIONS: a device does not connect to its own address.
constexpr ULONG kAdapterFlags =
    NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED | NDK_ADAPTER_FLAG_CQ_INTERRUPT_MODERATION_SUPPORTED;

ULONG clamp32(std::uint64_t v) { return static_cast<ULONG>(std::min<std::uint64_t>(v, MAXULONG)); }

void fill_info(const Adapter& a, NDK_ADAPTER_INFO& info) {
  const Backend& b = a.backend();
  const verbs::DeviceLimits& l = b.limits();
  info = {};
  info.Version = a.version;
  info.VendorId = 0;  // no IEEE OUI of its own
  info.DeviceId = 0x5352;
  info.MaxRegistrationSize = l.max_mr_size;
  // A window spans at most its region; no windows at all (iWARP) is reported as size 0.
  info.MaxWindowSize = b.has_memory_windows() && l.max_mw != 0 ? l.max_mr_size : 0;
  info.FRMRPageCount = l.max_fast_reg_pages;
  info.MaxInitiatorRequestSge = l.max_sge;
  info.MaxReceiveRequestSge = l.max_sge;
  info.MaxReadRequestSge = l.max_sge;
  info.MaxTransferLength = clamp32(l.max_msg_size);
  info.MaxInlineDataSize = l.max_inline;
  info.MaxInboundReadLimit = l.max_ird;
  info.MaxOutboundReadLimit = l.max_ord;
  info.MaxReceiveQueueDepth = l.max_qp_wr;
  info.MaxInitiatorQueueDepth = l.max_qp_wr;
  // The engine's SRQ depth; 0 (no SRQs, reference 1.6) on backends without them (iWARP).
  info.MaxSrqDepth = l.max_srq == 0 ? 0 : l.max_srq_wr;
  info.MaxCqDepth = l.max_cqe;
  info.LargeRequestThreshold = 4096;
  info.MaxCallerData = b.max_caller_data();
  info.MaxCalleeData = b.max_callee_data();
  info.AdapterFlags = kAdapterFlags;
  // NdkRoCEv2 or NdkiWarp by device. On iWARP, NdkAccept completes when the initiator's RTR has
  // arrived and the passive side may send from then on (connection.cpp says more).
  // NDK_ADAPTER_INFO has no field for shared endpoints: on iWARP NdkCreateSharedEndpoint fails
  // with STATUS_NOT_SUPPORTED (backend_iwarp.cpp says why), as does NdkCreateSrq.
  info.RdmaTechnology = b.technology();
}

// NDIS_NDK_CAPABILITIES (reference 4) from the same limits.
void fill_capabilities(const Adapter& a, NDIS_NDK_CAPABILITIES& caps) {
  const Backend& b = a.backend();
  const verbs::DeviceLimits& l = b.limits();
  caps = {};
  caps.Header.Type = NDIS_OBJECT_TYPE_DEFAULT;
  caps.Header.Revision = NDIS_NDK_CAPABILITIES_REVISION_1;
  caps.Header.Size = static_cast<USHORT>(sizeof(NDIS_NDK_CAPABILITIES));
  caps.MaxQpCount = l.max_qp;
  caps.MaxCqCount = l.max_cq;
  caps.MaxMrCount = l.max_mr;
  caps.MaxPdCount = l.max_pd;
  caps.MaxInboundReadLimit = 0;  // per QP only (MaxInboundReadLimit of the adapter info)
  caps.MaxOutboundReadLimit = 0;
  caps.MaxMwCount = b.has_memory_windows() ? l.max_mw : 0;
  caps.MaxSrqCount = l.max_srq_wr == 0 ? 0 : l.max_srq;
  // Reserved01..20 (bits 5..24) are always 0; the others are counted.
  caps.MissingCounterMask = 0;
}

Adapter* adapter(NDK_ADAPTER* p) { return from_ndk<Adapter>(p, NdkObjectTypeAdapter); }

NTSTATUS query_adapter_info(NDK_ADAPTER* p, NDK_ADAPTER_INFO* info, ULONG* size) {
  Adapter* a = adapter(p);
  if (a == nullptr || size == nullptr) return STATUS_INVALID_PARAMETER;
  if (info == nullptr || *size < sizeof(NDK_ADAPTER_INFO)) {
    *size = sizeof(NDK_ADAPTER_INFO);
    return STATUS_BUFFER_TOO_SMALL;
  }
  fill_info(*a, *info);
  *size = sizeof(NDK_ADAPTER_INFO);
  return STATUS_SUCCESS;
}

NTSTATUS create_pd(NDK_ADAPTER* p, NDK_FN_CREATE_COMPLETION cb, PVOID ctx, NDK_PD** out) {
  Adapter* a = adapter(p);
  if (a == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(*a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreatePd"),
      [a](const Done& done) {
        if (NTSTATUS f = scenario_failure(scenario::Call::create_pd); f != STATUS_SUCCESS) {
          done->finish(f);
          return;
        }
        auto h = a->backend().memory().alloc_pd();
        if (!h) {
          done->finish(STATUS_INSUFFICIENT_RESOURCES);
          return;
        }
        auto* pd = new Pd();
        init_header(pd->ndk.Header, NdkObjectTypePd, a->version);
        pd->ndk.Dispatch = &kPdDispatch;
        pd->adapter = a;
        pd->handle = *h;
        // The privileged token reaches the LAMs built so far (and later ones) through this PD.
        if (NTSTATUS lams = attach_lams(*pd); lams != STATUS_SUCCESS) {
          (void)a->backend().memory().free_pd(pd->handle);
          delete pd;
          done->finish(lams);
          return;
        }
        depend(pd->node, a->node);
        pd->node.destroy = [pd] {
          detach_lams(*pd);
          (void)pd->adapter->backend().memory().free_pd(pd->handle);
          delete pd;
        };
        done->finish(STATUS_SUCCESS, &pd->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_PD*>(made);
  return st;
}

NTSTATUS ext_set_async_mode(NDK_ADAPTER* p, ULONG mode) {
  Adapter* a = adapter(p);
  if (a == nullptr || mode > SOFTRNIC_NDK_ASYNC_ALWAYS_INLINE) return STATUS_INVALID_PARAMETER;
  a->mode.store(static_cast<AsyncMode>(mode));
  return STATUS_SUCCESS;
}

NTSTATUS ext_query_counters(NDK_ADAPTER* p, NDIS_NDK_PERFORMANCE_COUNTERS* out) {
  Adapter* a = adapter(p);
  if (a == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  NDIS_NDK_PERFORMANCE_COUNTERS c{};
  const ConnectionCounters& k = a->dev->counters;
  c.Connect = k.connect.load();
  c.Accept = k.accept.load();
  c.ConnectFailure = k.connect_failure.load();
  c.ConnectionError = k.connection_error.load();
  c.ActiveConnection = k.active.load();
  c.CQError = k.cq_error.load();
  Backend::Traffic t;
  a->rt->run_and_wait([&] { t = a->backend().traffic(); });
  c.RDMAInOctets = t.in_octets;
  c.RDMAOutOctets = t.out_octets;
  c.RDMAInFrames = t.in_frames;
  c.RDMAOutFrames = t.out_frames;
  *out = c;
  return STATUS_SUCCESS;
}

NTSTATUS ext_query_capabilities(NDK_ADAPTER* p, NDIS_NDK_CAPABILITIES* out,
                                NDK_ADAPTER_INFO* info) {
  Adapter* a = adapter(p);
  if (a == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  fill_capabilities(*a, *out);
  if (info != nullptr) fill_info(*a, *info);
  out->NdkInfo = info;
  return STATUS_SUCCESS;
}

const SOFTRNIC_NDK_EXTENSION_DISPATCH kExtension = {
    guarded<ext_set_async_mode>,
    guarded<ext_query_counters>,
    guarded<ext_query_capabilities>,
};

NTSTATUS open_adapter(NDK_VERSION version, NET_IFINDEX ifindex, NDK_ADAPTER** out) {
  if (out == nullptr) return STATUS_INVALID_PARAMETER;
  NDK_VERSION granted{};
  if (version.Major == SOFTRNIC_NDK_V1_MAJOR && version.Minor <= SOFTRNIC_NDK_V1_MINOR) {
    granted = {SOFTRNIC_NDK_V1_MAJOR, SOFTRNIC_NDK_V1_MINOR};
  } else if (version.Major == SOFTRNIC_NDK_V2_MAJOR && version.Minor <= SOFTRNIC_NDK_V2_MINOR) {
    granted = {SOFTRNIC_NDK_V2_MAJOR, SOFTRNIC_NDK_V2_MINOR};
  } else {
    return NDIS_STATUS_BAD_VERSION;
  }
  NTSTATUS st = STATUS_SUCCESS;
  Runtime* rt = Runtime::instance(&st);
  if (rt == nullptr) return st;
  DeviceEntry* dev = rt->find(ifindex);
  if (dev == nullptr) return STATUS_INVALID_ADDRESS;
  if (ScenarioRun* run = active_scenario()) run->adapter_opened();
  auto* a = new Adapter();
  init_header(a->ndk.Header, NdkObjectTypeAdapter, granted);
  a->ndk.Dispatch = &kAdapterDispatch;
  a->rt = rt;
  a->dev = dev;
  a->version = granted;
  *out = &a->ndk;
  return STATUS_SUCCESS;
}

VOID close_adapter(NDK_ADAPTER* p) {
  Adapter* a = adapter(p);
  if (a == nullptr) return;
  // Every callback runs on the engine thread: once this runs there, none of this adapter's is
  // still running. Objects the consumer left open stay with the engine until the process ends.
  a->rt->run_and_wait([] {});
  a->ndk.Header.ObjectType = NdkObjectTypeUndefined;
  if (a->node.successors == 0) delete a;
}

NTSTATUS wsk_open(PWSK_CLIENT, NDK_VERSION version, NET_IFINDEX ifindex, NDK_ADAPTER** out) {
  return open_adapter(version, ifindex, out);
}

VOID wsk_close(PWSK_CLIENT, NDK_ADAPTER* p) { close_adapter(p); }

}  // namespace

NTSTATUS query_extension(NDK_OBJECT_HEADER* obj, GUID* id, NDK_VERSION version,
                         NDK_EXTENSION_INTERFACE* out) {
  if (obj == nullptr || id == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  if (std::memcmp(id, &kExtensionGuid, sizeof(GUID)) != 0 || version.Major != 1)
    return STATUS_NOT_SUPPORTED;
  out->Dispatch = &kExtension;
  return STATUS_SUCCESS;
}

NTSTATUS adapter_create_cq(NDK_ADAPTER*, ULONG, NDK_FN_CQ_NOTIFICATION_CALLBACK, PVOID,
                           GROUP_AFFINITY*, NDK_FN_CREATE_COMPLETION, PVOID, NDK_CQ**);
NTSTATUS adapter_create_connector(NDK_ADAPTER*, NDK_FN_CREATE_COMPLETION, PVOID,
                                  NDK_CONNECTOR**);
NTSTATUS adapter_create_listener(NDK_ADAPTER*, NDK_FN_CONNECT_EVENT_CALLBACK, PVOID,
                                 NDK_FN_CREATE_COMPLETION, PVOID, NDK_LISTENER**);
NTSTATUS adapter_create_shared_endpoint(NDK_ADAPTER*, CONST PSOCKADDR, ULONG,
                                        NDK_FN_CREATE_COMPLETION, PVOID, NDK_SHARED_ENDPOINT**);
NTSTATUS adapter_build_lam(NDK_ADAPTER*, MDL*, SIZE_T, NDK_FN_REQUEST_COMPLETION, PVOID,
                           NDK_LOGICAL_ADDRESS_MAPPING*, ULONG*, ULONG*);
VOID adapter_release_lam(NDK_ADAPTER*, NDK_LOGICAL_ADDRESS_MAPPING*);

const NDK_ADAPTER_DISPATCH kAdapterDispatch = {
    guarded<query_extension>,
    guarded<query_adapter_info>,
    guarded<adapter_create_cq>,
    guarded<create_pd>,
    guarded<adapter_create_shared_endpoint>,
    guarded<adapter_create_connector>,
    guarded<adapter_create_listener>,
    guarded<adapter_build_lam>,
    guarded<adapter_release_lam>,
};

}  // namespace softrnic::ndk

extern "C" {

NTSTATUS NdkOpenAdapter(NDK_VERSION Version, NET_IFINDEX IfIndex, NDK_ADAPTER** ppAdapter) {
  return softrnic::ndk::guarded_call(
      __func__, [&] { return softrnic::ndk::open_adapter(Version, IfIndex, ppAdapter); });
}

VOID NdkCloseAdapter(NDK_ADAPTER* pAdapter) {
  softrnic::ndk::guarded_call(__func__, [&] { softrnic::ndk::close_adapter(pAdapter); });
}

NTSTATUS NdkListAdapters(SOFTRNIC_NDK_ADAPTER_ENTRY* Entries, ULONG* pCount) {
  using namespace softrnic::ndk;
  return guarded_call(__func__, [&]() -> NTSTATUS {
    if (pCount == nullptr || (Entries == nullptr && *pCount != 0)) return STATUS_INVALID_PARAMETER;
    NTSTATUS st = STATUS_SUCCESS;
    Runtime* rt = Runtime::instance(&st);
    if (rt == nullptr) return st;
    const auto devs = rt->devices();
    const ULONG room = *pCount;
    for (ULONG i = 0; i < devs.size() && i < room; ++i) {
      SOFTRNIC_NDK_ADAPTER_ENTRY& e = Entries[i];
      e = {};
      e.IfIndex = devs[i]->ifindex;
      e.RdmaTechnology = devs[i]->backend->technology();
      std::strncpy(e.Name, devs[i]->name.c_str(), SOFTRNIC_NDK_ADAPTER_NAME_MAX - 1);
      for (const auto& ip : devs[i]->backend->addresses()) {
        if (e.AddressCount == SOFTRNIC_NDK_ADAPTER_ADDRESSES_MAX) break;
        ULONG len = sizeof(SOCKADDR_INET);
        if (to_sockaddr({ip, 0}, reinterpret_cast<SOCKADDR*>(&e.Addresses[e.AddressCount]),
                        &len) == STATUS_SUCCESS)
          ++e.AddressCount;
      }
    }
    *pCount = static_cast<ULONG>(devs.size());
    return devs.size() <= room ? STATUS_SUCCESS : STATUS_BUFFER_TOO_SMALL;
  });
}

VOID SoftrnicGetWskProviderNdkDispatch(WSK_PROVIDER_NDK_DISPATCH* Dispatch) {
  using namespace softrnic::ndk;
  if (Dispatch == nullptr) return;
  Dispatch->WskOpenNdkAdapter = guarded<wsk_open>;
  Dispatch->WskCloseNdkAdapter = guarded<wsk_close>;
}

}  // extern "C"
