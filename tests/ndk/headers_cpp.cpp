// The NDK headers as a C++23 consumer sees them (project warnings, -Wpedantic, as errors).
// Built twice: SOFTRNIC_TEST_SYSTEM_HEADERS_FIRST=1 includes <sys/socket.h> and <netinet/in.h>
// before the NDK headers, =0 after them. The layout checks are shared with the C11 test; here
// every NDK_FN_* type is compared with the signature the NDKPI reference gives (section 1.5),
// and a consumer-style sequence runs through a dispatch table filled with lambdas.
// The include order is what this test is about.
// clang-format off
#if SOFTRNIC_TEST_SYSTEM_HEADERS_FIRST
#include <netinet/in.h>
#include <sys/socket.h>
#include "ndk_ndis.h"  // self-contained on its own
#include "wskndk.h"
#else
#include "ndkpi.h"  // self-contained on its own
#include "ndk_ndis.h"
#include "wskndk.h"
#include <netinet/in.h>
#include <sys/socket.h>
#endif
// clang-format on

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "ndk_layout_checks.h"

namespace {

template <typename A, typename B>
constexpr bool kSame = std::is_same_v<A, B>;

// ---- Windows scalar mapping (LLP64) ----
static_assert(kSame<ULONG, std::uint32_t> && kSame<LONG, std::int32_t>);
static_assert(kSame<NTSTATUS, std::int32_t> && kSame<USHORT, std::uint16_t>);
static_assert(kSame<UINT64, std::uint64_t> && kSame<ULONG_PTR, std::uintptr_t>);
static_assert(kSame<SIZE_T, std::size_t> && kSame<BOOLEAN, std::uint8_t>);
static_assert(kSame<NDK_LOGICAL_ADDRESS, PHYSICAL_ADDRESS>);
static_assert(kSame<SOCKADDR_IN6, sockaddr_in6> && kSame<PSOCKADDR, sockaddr*>);

// ---- Consumer callbacks ----
static_assert(kSame<NDK_FN_CLOSE_COMPLETION, void (*)(void*)>);
static_assert(kSame<NDK_FN_CREATE_COMPLETION, void (*)(void*, NTSTATUS, NDK_OBJECT_HEADER*)>);
static_assert(kSame<NDK_FN_REQUEST_COMPLETION, void (*)(void*, NTSTATUS)>);
static_assert(kSame<NDK_FN_CQ_NOTIFICATION_CALLBACK, void (*)(void*, NTSTATUS)>);
static_assert(kSame<NDK_FN_SRQ_NOTIFICATION_CALLBACK, void (*)(void*, NTSTATUS)>);
static_assert(kSame<NDK_FN_CONNECT_EVENT_CALLBACK, void (*)(void*, NDK_CONNECTOR*)>);
static_assert(kSame<NDK_FN_DISCONNECT_EVENT_CALLBACK, void (*)(void*)>);
static_assert(kSame<NDK_FN_DISCONNECT_EVENT_CALLBACK_EX, void (*)(void*, ULONG)>);

// ---- Provider functions, parameter by parameter ----
using CreateDone = NDK_FN_CREATE_COMPLETION;
using RequestDone = NDK_FN_REQUEST_COMPLETION;
static_assert(
    kSame<NDK_FN_CLOSE_OBJECT, NTSTATUS (*)(NDK_OBJECT_HEADER*, NDK_FN_CLOSE_COMPLETION, void*)>);
static_assert(
    kSame<NDK_FN_QUERY_EXTENSION_INTERFACE,
          NTSTATUS (*)(NDK_OBJECT_HEADER*, GUID*, NDK_VERSION, NDK_EXTENSION_INTERFACE*)>);
// Adapter.
static_assert(
    kSame<NDK_FN_QUERY_ADAPTER_INFO, NTSTATUS (*)(NDK_ADAPTER*, NDK_ADAPTER_INFO*, ULONG*)>);
static_assert(kSame<NDK_FN_QUERY_ADAPTER_INFO_EX,
                    NTSTATUS (*)(NDK_ADAPTER*, NDK_VERSION, NDK_ADAPTER_INFO*, ULONG*)>);
static_assert(
    kSame<NDK_FN_CREATE_CQ, NTSTATUS (*)(NDK_ADAPTER*, ULONG, NDK_FN_CQ_NOTIFICATION_CALLBACK,
                                         void*, GROUP_AFFINITY*, CreateDone, void*, NDK_CQ**)>);
static_assert(kSame<NDK_FN_CREATE_PD, NTSTATUS (*)(NDK_ADAPTER*, CreateDone, void*, NDK_PD**)>);
static_assert(
    kSame<NDK_FN_CREATE_SHARED_ENDPOINT,
          NTSTATUS (*)(NDK_ADAPTER*, sockaddr*, ULONG, CreateDone, void*, NDK_SHARED_ENDPOINT**)>);
static_assert(
    kSame<NDK_FN_CREATE_CONNECTOR, NTSTATUS (*)(NDK_ADAPTER*, CreateDone, void*, NDK_CONNECTOR**)>);
static_assert(
    kSame<NDK_FN_CREATE_LISTENER, NTSTATUS (*)(NDK_ADAPTER*, NDK_FN_CONNECT_EVENT_CALLBACK, void*,
                                               CreateDone, void*, NDK_LISTENER**)>);
static_assert(kSame<NDK_FN_BUILD_LAM, NTSTATUS (*)(NDK_ADAPTER*, MDL*, SIZE_T, RequestDone, void*,
                                                   NDK_LOGICAL_ADDRESS_MAPPING*, ULONG*, ULONG*)>);
static_assert(kSame<NDK_FN_RELEASE_LAM, void (*)(NDK_ADAPTER*, NDK_LOGICAL_ADDRESS_MAPPING*)>);
// PD.
static_assert(kSame<NDK_FN_CREATE_MR, NTSTATUS (*)(NDK_PD*, BOOLEAN, CreateDone, void*, NDK_MR**)>);
static_assert(kSame<NDK_FN_CREATE_MW, NTSTATUS (*)(NDK_PD*, CreateDone, void*, NDK_MW**)>);
static_assert(kSame<NDK_FN_CREATE_SRQ,
                    NTSTATUS (*)(NDK_PD*, ULONG, ULONG, ULONG, NDK_FN_SRQ_NOTIFICATION_CALLBACK,
                                 void*, GROUP_AFFINITY*, CreateDone, void*, NDK_SRQ**)>);
static_assert(
    kSame<NDK_FN_CREATE_QP, NTSTATUS (*)(NDK_PD*, NDK_CQ*, NDK_CQ*, void*, ULONG, ULONG, ULONG,
                                         ULONG, ULONG, CreateDone, void*, NDK_QP**)>);
static_assert(
    kSame<NDK_FN_CREATE_QP_WITH_SRQ, NTSTATUS (*)(NDK_PD*, NDK_CQ*, NDK_CQ*, NDK_SRQ*, void*, ULONG,
                                                  ULONG, ULONG, CreateDone, void*, NDK_QP**)>);
static_assert(kSame<NDK_FN_GET_PRIVILEGED_MEMORY_REGION_TOKEN, void (*)(NDK_PD*, UINT32*)>);
// CQ.
static_assert(kSame<NDK_FN_RESIZE_CQ, NTSTATUS (*)(NDK_CQ*, ULONG, RequestDone, void*)>);
static_assert(kSame<NDK_FN_ARM_CQ, void (*)(NDK_CQ*, ULONG)>);
static_assert(kSame<NDK_FN_GET_CQ_RESULTS, ULONG (*)(NDK_CQ*, NDK_RESULT*, ULONG)>);
static_assert(kSame<NDK_FN_GET_CQ_RESULTS_EX, ULONG (*)(NDK_CQ*, NDK_RESULT_EX*, ULONG)>);
static_assert(kSame<NDK_FN_CONTROL_CQ_INTERRUPT_MODERATION, NTSTATUS (*)(NDK_CQ*, ULONG, ULONG)>);
// MR, MW, SRQ.
static_assert(
    kSame<NDK_FN_REGISTER_MR, NTSTATUS (*)(NDK_MR*, MDL*, SIZE_T, ULONG, RequestDone, void*)>);
static_assert(kSame<NDK_FN_DEREGISTER_MR, NTSTATUS (*)(NDK_MR*, RequestDone, void*)>);
static_assert(kSame<NDK_FN_INITIALIZE_FAST_REGISTER_MR,
                    NTSTATUS (*)(NDK_MR*, ULONG, BOOLEAN, RequestDone, void*)>);
static_assert(kSame<NDK_FN_GET_REMOTE_TOKEN_FROM_MR, UINT32 (*)(NDK_MR*)>);
static_assert(kSame<NDK_FN_GET_LOCAL_TOKEN_FROM_MR, UINT32 (*)(NDK_MR*)>);
static_assert(kSame<NDK_FN_GET_REMOTE_TOKEN_FROM_MW, UINT32 (*)(NDK_MW*)>);
static_assert(kSame<NDK_FN_MODIFY_SRQ, NTSTATUS (*)(NDK_SRQ*, ULONG, ULONG, RequestDone, void*)>);
static_assert(kSame<NDK_FN_SRQ_RECEIVE, NTSTATUS (*)(NDK_SRQ*, void*, const NDK_SGE*, ULONG)>);
// QP.
static_assert(kSame<NDK_FN_FLUSH, void (*)(NDK_QP*)>);
static_assert(kSame<NDK_FN_SEND, NTSTATUS (*)(NDK_QP*, void*, const NDK_SGE*, ULONG, ULONG)>);
static_assert(kSame<NDK_FN_RECEIVE, NTSTATUS (*)(NDK_QP*, void*, const NDK_SGE*, ULONG)>);
static_assert(
    kSame<NDK_FN_BIND, NTSTATUS (*)(NDK_QP*, void*, NDK_MR*, NDK_MW*, void*, SIZE_T, ULONG)>);
static_assert(kSame<NDK_FN_FAST_REGISTER,
                    NTSTATUS (*)(NDK_QP*, void*, NDK_MR*, ULONG, const NDK_LOGICAL_ADDRESS*, ULONG,
                                 SIZE_T, void*, ULONG)>);
static_assert(kSame<NDK_FN_INVALIDATE, NTSTATUS (*)(NDK_QP*, void*, NDK_OBJECT_HEADER*, ULONG)>);
static_assert(
    kSame<NDK_FN_READ, NTSTATUS (*)(NDK_QP*, void*, const NDK_SGE*, ULONG, UINT64, UINT32, ULONG)>);
static_assert(kSame<NDK_FN_WRITE,
                    NTSTATUS (*)(NDK_QP*, void*, const NDK_SGE*, ULONG, UINT64, UINT32, ULONG)>);
static_assert(kSame<NDK_FN_SEND_AND_INVALIDATE,
                    NTSTATUS (*)(NDK_QP*, void*, const NDK_SGE*, ULONG, ULONG, UINT32)>);
// Shared endpoint, listener.
static_assert(kSame<NDK_FN_GET_SHARED_ENDPOINT_LOCAL_ADDRESS,
                    NTSTATUS (*)(NDK_SHARED_ENDPOINT*, sockaddr*, ULONG*)>);
static_assert(
    kSame<NDK_FN_LISTEN, NTSTATUS (*)(NDK_LISTENER*, sockaddr*, ULONG, RequestDone, void*)>);
static_assert(
    kSame<NDK_FN_GET_LISTENER_LOCAL_ADDRESS, NTSTATUS (*)(NDK_LISTENER*, sockaddr*, ULONG*)>);
static_assert(kSame<NDK_FN_CONTROL_CONNECT_EVENTS, void (*)(NDK_LISTENER*, BOOLEAN)>);
// Connector.
static_assert(
    kSame<NDK_FN_CONNECT, NTSTATUS (*)(NDK_CONNECTOR*, NDK_QP*, sockaddr*, ULONG, sockaddr*, ULONG,
                                       ULONG, ULONG, void*, ULONG, RequestDone, void*)>);
static_assert(kSame<NDK_FN_CONNECT_WITH_SHARED_ENDPOINT,
                    NTSTATUS (*)(NDK_CONNECTOR*, NDK_QP*, NDK_SHARED_ENDPOINT*, sockaddr*, ULONG,
                                 ULONG, ULONG, void*, ULONG, RequestDone, void*)>);
static_assert(
    kSame<NDK_FN_COMPLETE_CONNECT, NTSTATUS (*)(NDK_CONNECTOR*, NDK_FN_DISCONNECT_EVENT_CALLBACK,
                                                void*, RequestDone, void*)>);
static_assert(kSame<NDK_FN_COMPLETE_CONNECT_EX,
                    NTSTATUS (*)(NDK_CONNECTOR*, NDK_FN_DISCONNECT_EVENT_CALLBACK_EX, void*,
                                 RequestDone, void*)>);
static_assert(kSame<NDK_FN_ACCEPT,
                    NTSTATUS (*)(NDK_CONNECTOR*, NDK_QP*, ULONG, ULONG, void*, ULONG,
                                 NDK_FN_DISCONNECT_EVENT_CALLBACK, void*, RequestDone, void*)>);
static_assert(kSame<NDK_FN_ACCEPT_EX,
                    NTSTATUS (*)(NDK_CONNECTOR*, NDK_QP*, ULONG, ULONG, void*, ULONG,
                                 NDK_FN_DISCONNECT_EVENT_CALLBACK_EX, void*, RequestDone, void*)>);
static_assert(kSame<NDK_FN_REJECT, NTSTATUS (*)(NDK_CONNECTOR*, void*, ULONG)>);
static_assert(
    kSame<NDK_FN_GET_CONNECTION_DATA, NTSTATUS (*)(NDK_CONNECTOR*, ULONG*, ULONG*, void*, ULONG*)>);
static_assert(kSame<NDK_FN_GET_LOCAL_ADDRESS, NTSTATUS (*)(NDK_CONNECTOR*, sockaddr*, ULONG*)>);
static_assert(kSame<NDK_FN_GET_PEER_ADDRESS, NTSTATUS (*)(NDK_CONNECTOR*, sockaddr*, ULONG*)>);
static_assert(kSame<NDK_FN_DISCONNECT, NTSTATUS (*)(NDK_CONNECTOR*, RequestDone, void*)>);
static_assert(
    kSame<NDK_FN_DISCONNECT_EX, NTSTATUS (*)(NDK_CONNECTOR*, BOOLEAN, RequestDone, void*)>);
// Every close slot is NDK_FN_CLOSE_OBJECT; the three GetLocalAddress slots are distinct types.
static_assert(kSame<decltype(NDK_QP_DISPATCH::NdkCloseQp), NDK_FN_CLOSE_OBJECT>);
static_assert(
    kSame<decltype(NDK_LISTENER_DISPATCH::NdkGetLocalAddress), NDK_FN_GET_LISTENER_LOCAL_ADDRESS>);
static_assert(kSame<decltype(NDK_SHARED_ENDPOINT_DISPATCH::NdkGetLocalAddress),
                    NDK_FN_GET_SHARED_ENDPOINT_LOCAL_ADDRESS>);

// ---- WSK and the shim's entry points (declared now, implemented later) ----
static_assert(
    kSame<PFN_WSK_NDK_OPEN_ADAPTER, NTSTATUS (*)(void*, NDK_VERSION, NET_IFINDEX, NDK_ADAPTER**)>);
static_assert(kSame<PFN_WSK_NDK_CLOSE_ADAPTER, void (*)(void*, NDK_ADAPTER*)>);
static_assert(kSame<decltype(&NdkOpenAdapter), NTSTATUS (*)(NDK_VERSION, ULONG, NDK_ADAPTER**)>);
static_assert(kSame<decltype(&NdkCloseAdapter), void (*)(NDK_ADAPTER*)>);
static_assert(kSame<decltype(&NdkListAdapters), NTSTATUS (*)(SOFTRNIC_NDK_ADAPTER_ENTRY*, ULONG*)>);
static_assert(
    kSame<decltype(&SoftrnicGetWskProviderNdkDispatch), void (*)(WSK_PROVIDER_NDK_DISPATCH*)>);

// Status macros are constant expressions usable in switch labels, as consumers use them.
constexpr const char* describe(NTSTATUS status) {
  switch (status) {
    case STATUS_SUCCESS:
      return "success";
    case STATUS_PENDING:
      return "pending";
    case STATUS_CANCELLED:
      return "cancelled";
    default:
      return "other";
  }
}
static_assert(describe(STATUS_CANCELLED)[0] == 'c');

int failures = 0;
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)

// What the lambdas of the fake QP and CQ saw.
struct Seen {
  const NDK_SGE* sgl = nullptr;
  ULONG nsge = 0;
  ULONG flags = 0;
  void* context = nullptr;
  int flushes = 0;
  ULONG armed = 99;
};
Seen seen;

void ConsumerPostsThroughTheQpAndDrainsTheCq() {
  NDK_QP_DISPATCH qp_dispatch{};
  qp_dispatch.NdkSend = [](NDK_QP*, PVOID context, const NDK_SGE* sgl, ULONG nsge,
                           ULONG flags) -> NTSTATUS {
    seen = Seen{sgl, nsge, flags, context, seen.flushes, seen.armed};
    return STATUS_SUCCESS;
  };
  qp_dispatch.NdkFlush = [](NDK_QP*) { ++seen.flushes; };
  NDK_QP qp{};
  qp.Header.Version = SOFTRNIC_NDK_VERSION_INIT(SOFTRNIC_NDK_V2_MAJOR, SOFTRNIC_NDK_V2_MINOR);
  qp.Header.ObjectType = NdkObjectTypeQp;
  qp.Dispatch = &qp_dispatch;

  std::array<unsigned char, 64> buffer{};
  std::array<NDK_SGE, 1> sgl{};
  sgl[0].VirtualAddress = buffer.data();
  sgl[0].Length = static_cast<ULONG>(buffer.size());
  sgl[0].MemoryRegionToken = 0x1234;
  int context = 0;
  const NTSTATUS status =
      qp.Dispatch->NdkSend(&qp, &context, sgl.data(), 1, NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT);
  CHECK(NT_SUCCESS(status));
  CHECK(seen.sgl == sgl.data() && seen.nsge == 1 && seen.context == &context);
  CHECK(seen.flags == NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT);
  qp.Dispatch->NdkFlush(&qp);
  CHECK(seen.flushes == 1);

  NDK_CQ_DISPATCH cq_dispatch{};
  cq_dispatch.NdkGetCqResults = [](NDK_CQ*, NDK_RESULT results[], ULONG n) -> ULONG {
    if (n == 0) return 0;
    results[0] = NDK_RESULT{STATUS_CANCELLED, 0, nullptr, seen.context};
    return 1;
  };
  cq_dispatch.NdkArmCq = [](NDK_CQ*, ULONG type) { seen.armed = type; };
  NDK_CQ cq{};
  cq.Header.ObjectType = NdkObjectTypeCq;
  cq.Dispatch = &cq_dispatch;
  std::array<NDK_RESULT, 8> results{};
  const ULONG n =
      cq.Dispatch->NdkGetCqResults(&cq, results.data(), static_cast<ULONG>(results.size()));
  CHECK(n == 1);
  CHECK(results[0].Status == STATUS_CANCELLED && !NT_SUCCESS(results[0].Status));
  CHECK(results[0].RequestContext == &context);
  CHECK(std::strcmp(describe(results[0].Status), "cancelled") == 0);
  cq.Dispatch->NdkArmCq(&cq, NDK_CQ_NOTIFY_SOLICITED);
  CHECK(seen.armed == NDK_CQ_NOTIFY_SOLICITED);
}

void SockaddrsKeepTheWindowsLayout() {
  SOCKADDR_INET address{};
  address.Ipv4.sin_family = AF_INET;
  address.Ipv4.sin_port = htons(5445);
  CHECK(inet_pton(AF_INET, "198.18.0.2", &address.Ipv4.sin_addr) == 1);
  CHECK(address.si_family == AF_INET);
  std::array<unsigned char, sizeof(SOCKADDR_IN)> bytes{};
  std::memcpy(bytes.data(), &address.Ipv4, bytes.size());
  CHECK(bytes[2] == 0x15 && bytes[3] == 0x45);  // port, network order, at offset 2
  CHECK(bytes[4] == 198 && bytes[7] == 2);      // address at offset 4
  const PSOCKADDR generic = reinterpret_cast<PSOCKADDR>(&address.Ipv4);
  CHECK(generic->sa_family == AF_INET);
}

void MdlDescribesTheBuffer() {
  alignas(4096) static std::array<unsigned char, 2 * 4096> pages{};
  PMDL mdl = IoAllocateMdl(pages.data() + 4096 + 8, 100, FALSE, FALSE, nullptr);
  CHECK(mdl != nullptr);
  if (mdl == nullptr) return;
  CHECK(mdl->StartVa == pages.data() + 4096);
  CHECK(MmGetMdlByteOffset(mdl) == 8 && MmGetMdlByteCount(mdl) == 100);
  CHECK(MmGetMdlVirtualAddress(mdl) == pages.data() + 4096 + 8);
  MmBuildMdlForNonPagedPool(mdl);
  CHECK(mdl->MappedSystemVa == pages.data() + 4096 + 8);
  IoFreeMdl(mdl);
}

}  // namespace

int main() {
  ConsumerPostsThroughTheQpAndDrainsTheCq();
  SockaddrsKeepTheWindowsLayout();
  MdlDescribesTheBuffer();
  if (failures != 0) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("NDK headers (C++, system headers %s): all checks passed\n",
              SOFTRNIC_TEST_SYSTEM_HEADERS_FIRST ? "first" : "last");
  return 0;
}
