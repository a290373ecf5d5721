/*
 * The NDK headers as a plain C11 consumer sees them (-std=c11 -pedantic, warnings as errors).
 * Built twice: SOFTRNIC_TEST_SYSTEM_HEADERS_FIRST=1 includes <sys/socket.h> and <netinet/in.h>
 * before the NDK headers, =0 after them. Compiling is most of the test: the layout checks are
 * static assertions, and fake_provider.c stores a function spelled with the reference's
 * signature (section 1.5) in every dispatch slot, so a typedef that drifts from the reference is
 * an incompatible-pointer error. The program then runs a consumer-style sequence through the
 * fake provider's tables and the MDL routines and exits 0 when every check holds.
 */
/* The include order is what this test is about. */
/* clang-format off */
#if SOFTRNIC_TEST_SYSTEM_HEADERS_FIRST
#include <netinet/in.h>
#include <sys/socket.h>
#include "wskndk.h" /* self-contained: brings ndkpi.h, ndkinfo.h, ndk_windows_types.h */
#include "ndk_ndis.h"
#else
#include "ndkinfo.h" /* self-contained on its own */
#include "ndk_ndis.h"
#include "ndkpi.h"
#include "wskndk.h"
#include <netinet/in.h>
#include <sys/socket.h>
#endif
/* clang-format on */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "fake_provider.h"
#include "ndk_layout_checks.h"

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* The shim's own entry points, declared but implemented later: check their types without
 * referring to the symbols (the controlling expression of _Generic is not evaluated). */
EXPECT_LAYOUT(_Generic(&NdkOpenAdapter, NTSTATUS (*)(NDK_VERSION, NET_IFINDEX, NDK_ADAPTER**) : 1,
                       default : 0));
EXPECT_LAYOUT(_Generic(&NdkCloseAdapter, VOID (*)(NDK_ADAPTER*) : 1, default : 0));
EXPECT_LAYOUT(_Generic(&NdkListAdapters, NTSTATUS (*)(SOFTRNIC_NDK_ADAPTER_ENTRY*, ULONG*) : 1,
                       default : 0));
EXPECT_LAYOUT(_Generic(&SoftrnicGetWskProviderNdkDispatch, VOID (*)(WSK_PROVIDER_NDK_DISPATCH*) : 1,
                       default : 0));

/* What the consumer's callbacks saw. */
static struct {
  int calls;
  NTSTATUS status;
  NDK_OBJECT_HEADER* object;
} create_done, close_done, request_done;

static VOID OnCreate(PVOID Context, NTSTATUS Status, NDK_OBJECT_HEADER* pNdkObject) {
  CHECK(Context == &create_done);
  ++create_done.calls;
  create_done.status = Status;
  create_done.object = pNdkObject;
}
static VOID OnClose(PVOID Context) {
  CHECK(Context == &close_done);
  ++close_done.calls;
}
static VOID OnRequest(PVOID Context, NTSTATUS Status) {
  CHECK(Context == &request_done);
  ++request_done.calls;
  request_done.status = Status;
}

static void init_object(NDK_OBJECT_HEADER* h, NDK_OBJECT_TYPE type) {
  memset(h, 0, sizeof *h);
  h->Version.Major = SOFTRNIC_NDK_V1_MAJOR;
  h->Version.Minor = SOFTRNIC_NDK_V1_MINOR;
  h->ObjectType = type;
}

static void test_adapter_open_query_and_async_create(void) {
  init_object(&fake_adapter.Header, NdkObjectTypeAdapter);
  fake_adapter.Dispatch = &fake_adapter_dispatch;
  init_object(&fake_pd.Header, NdkObjectTypePd);
  fake_pd.Dispatch = &fake_pd_dispatch;

  NDK_VERSION too_new = SOFTRNIC_NDK_VERSION_INIT(1, SOFTRNIC_NDK_V1_MINOR + 1);
  NDK_ADAPTER* adapter = NULL;
  CHECK(fake_wsk_dispatch.WskOpenNdkAdapter(NULL, too_new, 1, &adapter) == NDIS_STATUS_BAD_VERSION);
  NDK_VERSION v10 = SOFTRNIC_NDK_VERSION_INIT(1, 0);
  CHECK(fake_wsk_dispatch.WskOpenNdkAdapter(NULL, v10, 1, &adapter) == STATUS_SUCCESS);
  CHECK(adapter == &fake_adapter);

  NDK_ADAPTER_INFO info;
  ULONG size = 0;
  CHECK(adapter->Dispatch->NdkQueryAdapterInfo(adapter, &info, &size) == STATUS_BUFFER_TOO_SMALL);
  CHECK(size == sizeof(NDK_ADAPTER_INFO));
  CHECK(adapter->Dispatch->NdkQueryAdapterInfo(adapter, &info, &size) == STATUS_SUCCESS);
  CHECK(info.RdmaTechnology == NdkRoCEv2);
  CHECK(info.Version.Minor == SOFTRNIC_NDK_V1_MINOR);

  NDK_PD* pd = NULL;
  NTSTATUS st = adapter->Dispatch->NdkCreatePd(adapter, OnCreate, &create_done, &pd);
  CHECK(st == STATUS_PENDING);
  CHECK(pd == NULL); /* a pending create never writes ppNdkPd */
  CHECK(create_done.calls == 1 && NT_SUCCESS(create_done.status));
  CHECK(create_done.object == &fake_pd.Header);
  pd = (NDK_PD*)create_done.object; /* Header is at offset 0 of every object */
  UINT32 privileged = 0;
  pd->Dispatch->NdkGetPrivilegedMemoryRegionToken(pd, &privileged);
  CHECK(privileged == 0x50524956u);
  CHECK(pd->Dispatch->NdkClosePd(&pd->Header, OnClose, &close_done) == STATUS_PENDING);
  CHECK(close_done.calls == 1);

  GUID guid = {0x12345678u, 0x1234, 0x5678, {1, 2, 3, 4, 5, 6, 7, 8}};
  NDK_EXTENSION_INTERFACE ext = {NULL};
  CHECK(adapter->Dispatch->NdkQueryExtension(&adapter->Header, &guid, v10, &ext) ==
        STATUS_NOT_SUPPORTED);
  ULONG isize = sizeof info;
  CHECK(fake_query_adapter_info_ex(adapter, v10, &info, &isize) == STATUS_NOT_SUPPORTED);
  fake_wsk_dispatch.WskCloseNdkAdapter(NULL, adapter);
}

static void test_data_path_through_the_qp_table(void) {
  NDK_QP qp;
  init_object(&qp.Header, NdkObjectTypeQp);
  qp.Dispatch = &fake_qp_dispatch;
  static UCHAR buffer[256];
  NDK_SGE sgl[2];
  sgl[0].VirtualAddress = buffer;
  sgl[0].Length = 128;
  sgl[0].MemoryRegionToken = 0xAABBCCDDu;
  sgl[1].LogicalAddress.QuadPart = 0x1000;
  sgl[1].Length = 64;
  sgl[1].MemoryRegionToken = 0x50524956u;
  int context = 0;

  NDK_FN_SEND send = qp.Dispatch->NdkSend;
  CHECK(send(&qp, &context, sgl, 2, NDK_OP_FLAG_INLINE | NDK_OP_FLAG_DEFER) == STATUS_SUCCESS);
  CHECK(fake_seen.sgl == sgl && fake_seen.nsge == 2 && fake_seen.request_context == &context);
  CHECK(fake_seen.flags == 0x240u);
  CHECK(fake_seen.sgl[1].LogicalAddress.LowPart == 0x1000 &&
        fake_seen.sgl[1].LogicalAddress.HighPart == 0);

  CHECK(qp.Dispatch->NdkRead(&qp, &context, sgl, 1, 0x1122334455667788ull, 0x99u,
                             NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE) == STATUS_SUCCESS);
  CHECK(fake_seen.remote_address == 0x1122334455667788ull && fake_seen.remote_token == 0x99u);
  CHECK(fake_seen.flags == NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE);
  /* Flags before RemoteToken in NdkSendAndInvalidate. */
  CHECK(qp.Dispatch->NdkSendAndInvalidate(&qp, &context, sgl, 1, NDK_OP_FLAG_SILENT_SUCCESS,
                                          0x77u) == STATUS_SUCCESS);
  CHECK(fake_seen.flags == NDK_OP_FLAG_SILENT_SUCCESS && fake_seen.remote_token == 0x77u);

  NDK_CQ cq;
  init_object(&cq.Header, NdkObjectTypeCq);
  cq.Dispatch = &fake_cq_dispatch;
  NDK_RESULT_EX results[4];
  ULONG n = cq.Dispatch->NdkGetCqResultsEx(&cq, results, 4);
  CHECK(n == 1);
  CHECK(results[0].Type == NdkOperationTypeReceiveAndInvalidate);
  CHECK(results[0].TypeSpecificCompletionOutput == 0x1234);
  CHECK(results[0].RequestContext == &context && NT_SUCCESS(results[0].Status));
  cq.Dispatch->NdkArmCq(&cq, NDK_CQ_NOTIFY_ANY);
}

static void test_connect_takes_a_windows_layout_sockaddr(void) {
  NDK_CONNECTOR connector;
  init_object(&connector.Header, NdkObjectTypeConnector);
  connector.Dispatch = &fake_connector_dispatch;
  NDK_QP qp;
  init_object(&qp.Header, NdkObjectTypeQp);
  qp.Dispatch = &fake_qp_dispatch;

  SOCKADDR_IN6 dst;
  memset(&dst, 0, sizeof dst);
  dst.sin6_family = AF_INET6;
  dst.sin6_port = htons(445);
  CHECK(inet_pton(AF_INET6, "fd00:5052::2", &dst.sin6_addr) == 1);
  SOCKADDR_IN src;
  memset(&src, 0, sizeof src);
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0xC6120001u); /* 198.18.0.1 */

  const UCHAR private_data[8] = {0, 0, 0, 8, 0, 0, 0, 8};
  NTSTATUS st = connector.Dispatch->NdkConnect(
      &connector, &qp, (PSOCKADDR)&src, sizeof src, (PSOCKADDR)&dst, sizeof dst, 8, 8,
      (PVOID)private_data, sizeof private_data, OnRequest, &request_done);
  CHECK(st == STATUS_CONNECTION_REFUSED);
  CHECK(request_done.calls == 0); /* not pending: no callback */
  CHECK(fake_seen.dest_length == 28);
  CHECK(fake_seen.dest.sin6_family == AF_INET6 && ntohs(fake_seen.dest.sin6_port) == 445);
  CHECK(fake_seen.dest.sin6_addr.s6_addr[0] == 0xfd && fake_seen.dest.sin6_addr.s6_addr[15] == 2);

  SOCKADDR_INET any;
  memset(&any, 0, sizeof any);
  any.Ipv6 = dst;
  CHECK(any.si_family == AF_INET6);
  CHECK(fake_disconnect_ex(&connector, TRUE, OnRequest, &request_done) == STATUS_NOT_SUPPORTED);
}

static void test_mdl_describes_the_buffer(void) {
  static _Alignas(4096) UCHAR pages[3 * 4096];
  PMDL mdl = IoAllocateMdl(pages + 100, 5000, FALSE, FALSE, NULL);
  CHECK(mdl != NULL);
  if (mdl == NULL) return;
  CHECK(mdl->StartVa == (PVOID)pages);
  CHECK(MmGetMdlByteOffset(mdl) == 100);
  CHECK(MmGetMdlByteCount(mdl) == 5000);
  CHECK(MmGetMdlVirtualAddress(mdl) == (PVOID)(pages + 100));
  CHECK(mdl->Next == NULL && mdl->MappedSystemVa == NULL);
  CHECK((mdl->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) == 0);
  MmBuildMdlForNonPagedPool(mdl);
  CHECK(mdl->MappedSystemVa == (PVOID)(pages + 100));
  CHECK((mdl->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) != 0);
  IoFreeMdl(mdl);

  int not_an_irp = 0;
  CHECK(IoAllocateMdl(pages, 16, FALSE, FALSE, (PIRP)(void*)&not_an_irp) == NULL);
  CHECK(IoAllocateMdl((PVOID)(UINTPTR_MAX - 10), 100, FALSE, FALSE, NULL) == NULL);
  IoFreeMdl(NULL);
}

int main(void) {
  test_adapter_open_query_and_async_create();
  test_data_path_through_the_qp_table();
  test_connect_takes_a_windows_layout_sockaddr();
  test_mdl_describes_the_buffer();
  /* Tables that the sequences above do not call still had to compile with the fakes. */
  CHECK(fake_mr_dispatch.NdkGetLocalTokenFromMr != NULL &&
        fake_mw_dispatch.NdkGetRemoteTokenFromMw != NULL);
  CHECK(fake_srq_dispatch.NdkSrqReceive != NULL && fake_listener_dispatch.NdkListen != NULL);
  CHECK(fake_shared_endpoint_dispatch.NdkGetLocalAddress != NULL);
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("NDK headers (C11, system headers %s): all checks passed\n",
         SOFTRNIC_TEST_SYSTEM_HEADERS_FIRST ? "first" : "last");
  return 0;
}
