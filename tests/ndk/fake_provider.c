/*
 * The fake provider of fake_provider.h, compiled as C11 like the test. Every function is spelled
 * with the reference's signature; storing it in its dispatch slot is the check.
 */
#include "fake_provider.h"

#include <string.h>

/* Unused parameters are the point here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"

FakeSeen fake_seen;

static NTSTATUS FakeClose(NDK_OBJECT_HEADER* pNdkObject, NDK_FN_CLOSE_COMPLETION CloseCompletion,
                          PVOID RequestContext) {
  /* Pend, and complete before returning: the NDK rule allows it. */
  CloseCompletion(RequestContext);
  return STATUS_PENDING;
}
static NTSTATUS FakeQueryExtension(NDK_OBJECT_HEADER* pNdkObject, GUID* ExtensionInterfaceID,
                                   NDK_VERSION ExtensionInterfaceVersion,
                                   NDK_EXTENSION_INTERFACE* pExtensionInterface) {
  return STATUS_NOT_SUPPORTED;
}

/* Adapter. */
static NTSTATUS FakeQueryAdapterInfo(NDK_ADAPTER* a, NDK_ADAPTER_INFO* pInfo, ULONG* pBufferSize) {
  if (*pBufferSize < sizeof(NDK_ADAPTER_INFO)) {
    *pBufferSize = sizeof(NDK_ADAPTER_INFO);
    return STATUS_BUFFER_TOO_SMALL;
  }
  memset(pInfo, 0, sizeof *pInfo);
  pInfo->Version = a->Header.Version;
  pInfo->RdmaTechnology = NdkRoCEv2;
  pInfo->AdapterFlags = NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED;
  return STATUS_SUCCESS;
}
static NTSTATUS FakeCreateCq(NDK_ADAPTER* a, ULONG CqDepth,
                             NDK_FN_CQ_NOTIFICATION_CALLBACK CqNotification,
                             PVOID CqNotificationContext, GROUP_AFFINITY* Affinity,
                             NDK_FN_CREATE_COMPLETION CreateCompletion, PVOID RequestContext,
                             NDK_CQ** ppNdkCq) {
  return STATUS_NOT_SUPPORTED;
}
NDK_PD fake_pd;
static NTSTATUS FakeCreatePd(NDK_ADAPTER* a, NDK_FN_CREATE_COMPLETION CreateCompletion,
                             PVOID RequestContext, NDK_PD** ppNdkPd) {
  /* A pending create delivers the object through the completion only. */
  CreateCompletion(RequestContext, STATUS_SUCCESS, &fake_pd.Header);
  return STATUS_PENDING;
}
static NTSTATUS FakeCreateSharedEndpoint(NDK_ADAPTER* a, CONST PSOCKADDR pAddress,
                                         ULONG AddressLength,
                                         NDK_FN_CREATE_COMPLETION CreateCompletion,
                                         PVOID RequestContext,
                                         NDK_SHARED_ENDPOINT** ppNdkSharedEndpoint) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCreateConnector(NDK_ADAPTER* a, NDK_FN_CREATE_COMPLETION CreateCompletion,
                                    PVOID RequestContext, NDK_CONNECTOR** ppNdkConnector) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCreateListener(NDK_ADAPTER* a, NDK_FN_CONNECT_EVENT_CALLBACK ConnectEvent,
                                   PVOID ConnectEventContext,
                                   NDK_FN_CREATE_COMPLETION CreateCompletion, PVOID RequestContext,
                                   NDK_LISTENER** ppNdkListener) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeBuildLam(NDK_ADAPTER* a, MDL* Mdl, SIZE_T Length,
                             NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext,
                             NDK_LOGICAL_ADDRESS_MAPPING* pNdkLAM, ULONG* pLAMSize, ULONG* pFBO) {
  return STATUS_NOT_SUPPORTED;
}
static VOID FakeReleaseLam(NDK_ADAPTER* a, NDK_LOGICAL_ADDRESS_MAPPING* pNdkLAM) {}

/* PD. */
static NTSTATUS FakeCreateMr(NDK_PD* pd, BOOLEAN FastRegister,
                             NDK_FN_CREATE_COMPLETION CreateCompletion, PVOID RequestContext,
                             NDK_MR** ppNdkMr) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCreateMw(NDK_PD* pd, NDK_FN_CREATE_COMPLETION CreateCompletion,
                             PVOID RequestContext, NDK_MW** ppNdkMw) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCreateSrq(NDK_PD* pd, ULONG SrqDepth, ULONG MaxReceiveRequestSge,
                              ULONG NotifyThreshold,
                              NDK_FN_SRQ_NOTIFICATION_CALLBACK SrqNotification,
                              PVOID SrqNotificationContext, GROUP_AFFINITY* Affinity,
                              NDK_FN_CREATE_COMPLETION CreateCompletion, PVOID RequestContext,
                              NDK_SRQ** ppNdkSrq) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCreateQp(NDK_PD* pd, NDK_CQ* pReceiveCq, NDK_CQ* pInitiatorCq, PVOID QPContext,
                             ULONG ReceiveQueueDepth, ULONG InitiatorQueueDepth,
                             ULONG MaxReceiveRequestSge, ULONG MaxInitiatorRequestSge,
                             ULONG InlineDataSize, NDK_FN_CREATE_COMPLETION CreateCompletion,
                             PVOID RequestContext, NDK_QP** ppNdkQp) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCreateQpWithSrq(NDK_PD* pd, NDK_CQ* pReceiveCq, NDK_CQ* pInitiatorCq,
                                    NDK_SRQ* pSrq, PVOID QPContext, ULONG InitiatorQueueDepth,
                                    ULONG MaxInitiatorRequestSge, ULONG InlineDataSize,
                                    NDK_FN_CREATE_COMPLETION CreateCompletion, PVOID RequestContext,
                                    NDK_QP** ppNdkQp) {
  return STATUS_NOT_SUPPORTED;
}
static VOID FakeGetPrivilegedToken(NDK_PD* pd, UINT32* pToken) { *pToken = 0x50524956u; }

/* CQ. */
static NTSTATUS FakeResizeCq(NDK_CQ* cq, ULONG CqDepth, NDK_FN_REQUEST_COMPLETION RequestCompletion,
                             PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static VOID FakeArmCq(NDK_CQ* cq, ULONG Type) {}
static ULONG FakeGetCqResults(NDK_CQ* cq, NDK_RESULT Results[], ULONG nResults) { return 0; }
static NTSTATUS FakeControlCqModeration(NDK_CQ* cq, ULONG ModerationInterval,
                                        ULONG ModerationCount) {
  return STATUS_NOT_SUPPORTED;
}
static ULONG FakeGetCqResultsEx(NDK_CQ* cq, NDK_RESULT_EX Results[], ULONG nResults) {
  if (nResults == 0) return 0;
  Results[0].Status = STATUS_SUCCESS;
  Results[0].BytesTransferred = 64;
  Results[0].QPContext = NULL;
  Results[0].RequestContext = fake_seen.request_context;
  Results[0].Type = NdkOperationTypeReceiveAndInvalidate;
  Results[0].ProviderErrorCode = 0;
  Results[0].TypeSpecificCompletionOutput = 0x1234;
  return 1;
}

/* MR, MW, SRQ. */
static NTSTATUS FakeRegisterMr(NDK_MR* mr, MDL* Mdl, SIZE_T Length, ULONG Flags,
                               NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeDeregisterMr(NDK_MR* mr, NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                 PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeInitializeFastRegisterMr(NDK_MR* mr, ULONG AdapterPageCount,
                                             BOOLEAN RemoteAccess,
                                             NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                             PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static UINT32 FakeMrRemoteToken(NDK_MR* mr) { return 1; }
static UINT32 FakeMrLocalToken(NDK_MR* mr) { return 2; }
static UINT32 FakeMwRemoteToken(NDK_MW* mw) { return 3; }
static NTSTATUS FakeModifySrq(NDK_SRQ* srq, ULONG SrqDepth, ULONG NotifyThreshold,
                              NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeSrqReceive(NDK_SRQ* srq, PVOID RequestContext, CONST NDK_SGE* pSgl,
                               ULONG nSge) {
  return STATUS_NOT_SUPPORTED;
}

/* QP. */
static VOID FakeFlush(NDK_QP* qp) {}
static NTSTATUS FakeSend(NDK_QP* qp, PVOID RequestContext, CONST NDK_SGE* pSgl, ULONG nSge,
                         ULONG Flags) {
  fake_seen.request_context = RequestContext;
  fake_seen.sgl = pSgl;
  fake_seen.nsge = nSge;
  fake_seen.flags = Flags;
  return STATUS_SUCCESS;
}
static NTSTATUS FakeReceive(NDK_QP* qp, PVOID RequestContext, CONST NDK_SGE* pSgl, ULONG nSge) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeBind(NDK_QP* qp, PVOID RequestContext, NDK_MR* pMr, NDK_MW* pMw,
                         PVOID VirtualAddress, SIZE_T Length, ULONG Flags) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeFastRegister(NDK_QP* qp, PVOID RequestContext, NDK_MR* pMr,
                                 ULONG AdapterPageCount,
                                 CONST NDK_LOGICAL_ADDRESS* AdapterPageArray, ULONG FBO,
                                 SIZE_T Length, PVOID BaseVirtualAddress, ULONG Flags) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeInvalidate(NDK_QP* qp, PVOID RequestContext, NDK_OBJECT_HEADER* pNdkMrOrMw,
                               ULONG Flags) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeRead(NDK_QP* qp, PVOID RequestContext, CONST NDK_SGE* pSgl, ULONG nSge,
                         UINT64 RemoteAddress, UINT32 RemoteToken, ULONG Flags) {
  fake_seen.remote_address = RemoteAddress;
  fake_seen.remote_token = RemoteToken;
  fake_seen.flags = Flags;
  return STATUS_SUCCESS;
}
static NTSTATUS FakeWrite(NDK_QP* qp, PVOID RequestContext, CONST NDK_SGE* pSgl, ULONG nSge,
                          UINT64 RemoteAddress, UINT32 RemoteToken, ULONG Flags) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeSendAndInvalidate(NDK_QP* qp, PVOID RequestContext, CONST NDK_SGE* pSgl,
                                      ULONG nSge, ULONG Flags, UINT32 RemoteToken) {
  fake_seen.flags = Flags;
  fake_seen.remote_token = RemoteToken;
  return STATUS_SUCCESS;
}

/* Shared endpoint, listener. */
static NTSTATUS FakeSharedEndpointLocalAddress(NDK_SHARED_ENDPOINT* sep, PSOCKADDR pAddress,
                                               ULONG* pAddressLength) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeListen(NDK_LISTENER* l, CONST PSOCKADDR pAddress, ULONG AddressLength,
                           NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeListenerLocalAddress(NDK_LISTENER* l, PSOCKADDR pAddress,
                                         ULONG* pAddressLength) {
  return STATUS_NOT_SUPPORTED;
}
static VOID FakeControlConnectEvents(NDK_LISTENER* l, BOOLEAN Pause) {}

/* Connector. */
static NTSTATUS FakeConnect(NDK_CONNECTOR* c, NDK_QP* qp, CONST PSOCKADDR pSrcAddress,
                            ULONG SrcAddressLength, CONST PSOCKADDR pDestAddress,
                            ULONG DestAddressLength, ULONG InboundReadLimit,
                            ULONG OutboundReadLimit, CONST PVOID pPrivateData,
                            ULONG PrivateDataLength, NDK_FN_REQUEST_COMPLETION RequestCompletion,
                            PVOID RequestContext) {
  fake_seen.dest_length = DestAddressLength;
  if (DestAddressLength == sizeof fake_seen.dest)
    memcpy(&fake_seen.dest, pDestAddress, sizeof fake_seen.dest);
  return STATUS_CONNECTION_REFUSED; /* not pending: the callback must not run */
}
static NTSTATUS FakeConnectWithSharedEndpoint(NDK_CONNECTOR* c, NDK_QP* qp,
                                              NDK_SHARED_ENDPOINT* sep,
                                              CONST PSOCKADDR pDestAddress, ULONG DestAddressLength,
                                              ULONG InboundReadLimit, ULONG OutboundReadLimit,
                                              CONST PVOID pPrivateData, ULONG PrivateDataLength,
                                              NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                              PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCompleteConnect(NDK_CONNECTOR* c,
                                    NDK_FN_DISCONNECT_EVENT_CALLBACK DisconnectEvent,
                                    PVOID DisconnectEventContext,
                                    NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                    PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeAccept(NDK_CONNECTOR* c, NDK_QP* qp, ULONG InboundReadLimit,
                           ULONG OutboundReadLimit, CONST PVOID pPrivateData,
                           ULONG PrivateDataLength,
                           NDK_FN_DISCONNECT_EVENT_CALLBACK DisconnectEvent,
                           PVOID DisconnectEventContext,
                           NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeReject(NDK_CONNECTOR* c, CONST PVOID pPrivateData, ULONG PrivateDataLength) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeGetConnectionData(NDK_CONNECTOR* c, ULONG* pInboundReadLimit,
                                      ULONG* pOutboundReadLimit, PVOID pPrivateData,
                                      ULONG* pPrivateDataLength) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeGetLocalAddress(NDK_CONNECTOR* c, PSOCKADDR pAddress, ULONG* pAddressLength) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeGetPeerAddress(NDK_CONNECTOR* c, PSOCKADDR pAddress, ULONG* pAddressLength) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeDisconnect(NDK_CONNECTOR* c, NDK_FN_REQUEST_COMPLETION RequestCompletion,
                               PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeCompleteConnectEx(NDK_CONNECTOR* c,
                                      NDK_FN_DISCONNECT_EVENT_CALLBACK_EX DisconnectEvent,
                                      PVOID DisconnectEventContext,
                                      NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                      PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeAcceptEx(NDK_CONNECTOR* c, NDK_QP* qp, ULONG InboundReadLimit,
                             ULONG OutboundReadLimit, CONST PVOID pPrivateData,
                             ULONG PrivateDataLength,
                             NDK_FN_DISCONNECT_EVENT_CALLBACK_EX DisconnectEvent,
                             PVOID DisconnectEventContext,
                             NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}

/* Typedefs in no dispatch table, and the WSK pair. */
static NTSTATUS FakeQueryAdapterInfoEx(NDK_ADAPTER* a, NDK_VERSION Version, NDK_ADAPTER_INFO* pInfo,
                                       ULONG* pBufferSize) {
  return STATUS_NOT_SUPPORTED;
}
static NTSTATUS FakeDisconnectEx(NDK_CONNECTOR* c, BOOLEAN Abortive,
                                 NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                 PVOID RequestContext) {
  return STATUS_NOT_SUPPORTED;
}
NDK_ADAPTER fake_adapter;
static NTSTATUS FakeWskOpen(PWSK_CLIENT Client, NDK_VERSION NdkVersion, NET_IFINDEX IfIndex,
                            NDK_ADAPTER** ppNdkAdapter) {
  if (NdkVersion.Major != SOFTRNIC_NDK_V1_MAJOR || NdkVersion.Minor > SOFTRNIC_NDK_V1_MINOR) {
    return NDIS_STATUS_BAD_VERSION;
  }
  *ppNdkAdapter = &fake_adapter;
  return STATUS_SUCCESS;
}
static VOID FakeWskClose(PWSK_CLIENT Client, NDK_ADAPTER* pNdkAdapter) {}

#pragma GCC diagnostic pop

const NDK_ADAPTER_DISPATCH fake_adapter_dispatch = {
    .NdkQueryExtension = FakeQueryExtension,
    .NdkQueryAdapterInfo = FakeQueryAdapterInfo,
    .NdkCreateCq = FakeCreateCq,
    .NdkCreatePd = FakeCreatePd,
    .NdkCreateSharedEndpoint = FakeCreateSharedEndpoint,
    .NdkCreateConnector = FakeCreateConnector,
    .NdkCreateListener = FakeCreateListener,
    .NdkBuildLAM = FakeBuildLam,
    .NdkReleaseLAM = FakeReleaseLam,
};
const NDK_PD_DISPATCH fake_pd_dispatch = {
    .NdkClosePd = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkCreateMr = FakeCreateMr,
    .NdkCreateMw = FakeCreateMw,
    .NdkCreateSrq = FakeCreateSrq,
    .NdkCreateQp = FakeCreateQp,
    .NdkCreateQpWithSrq = FakeCreateQpWithSrq,
    .NdkGetPrivilegedMemoryRegionToken = FakeGetPrivilegedToken,
};
const NDK_CQ_DISPATCH fake_cq_dispatch = {
    .NdkCloseCq = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkResizeCq = FakeResizeCq,
    .NdkArmCq = FakeArmCq,
    .NdkGetCqResults = FakeGetCqResults,
    .NdkControlCqInterruptModeration = FakeControlCqModeration,
    .NdkGetCqResultsEx = FakeGetCqResultsEx,
};
const NDK_MR_DISPATCH fake_mr_dispatch = {
    .NdkCloseMr = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkRegisterMr = FakeRegisterMr,
    .NdkDeregisterMr = FakeDeregisterMr,
    .NdkInitializeFastRegisterMr = FakeInitializeFastRegisterMr,
    .NdkGetRemoteTokenFromMr = FakeMrRemoteToken,
    .NdkGetLocalTokenFromMr = FakeMrLocalToken,
};
const NDK_MW_DISPATCH fake_mw_dispatch = {
    .NdkCloseMw = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkGetRemoteTokenFromMw = FakeMwRemoteToken,
};
const NDK_SRQ_DISPATCH fake_srq_dispatch = {
    .NdkCloseSrq = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkModifySrq = FakeModifySrq,
    .NdkSrqReceive = FakeSrqReceive,
};
const NDK_QP_DISPATCH fake_qp_dispatch = {
    .NdkCloseQp = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkFlush = FakeFlush,
    .NdkSend = FakeSend,
    .NdkReceive = FakeReceive,
    .NdkBind = FakeBind,
    .NdkFastRegister = FakeFastRegister,
    .NdkInvalidate = FakeInvalidate,
    .NdkRead = FakeRead,
    .NdkWrite = FakeWrite,
    .NdkSendAndInvalidate = FakeSendAndInvalidate,
};
const NDK_SHARED_ENDPOINT_DISPATCH fake_shared_endpoint_dispatch = {
    .NdkCloseSharedEndpoint = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkGetLocalAddress = FakeSharedEndpointLocalAddress,
};
const NDK_CONNECTOR_DISPATCH fake_connector_dispatch = {
    .NdkCloseConnector = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkConnect = FakeConnect,
    .NdkConnectWithSharedEndpoint = FakeConnectWithSharedEndpoint,
    .NdkCompleteConnect = FakeCompleteConnect,
    .NdkAccept = FakeAccept,
    .NdkReject = FakeReject,
    .NdkGetConnectionData = FakeGetConnectionData,
    .NdkGetLocalAddress = FakeGetLocalAddress,
    .NdkGetPeerAddress = FakeGetPeerAddress,
    .NdkDisconnect = FakeDisconnect,
    .NdkCompleteConnectEx = FakeCompleteConnectEx,
    .NdkAcceptEx = FakeAcceptEx,
};
const NDK_LISTENER_DISPATCH fake_listener_dispatch = {
    .NdkCloseListener = FakeClose,
    .NdkQueryExtension = FakeQueryExtension,
    .NdkListen = FakeListen,
    .NdkGetLocalAddress = FakeListenerLocalAddress,
    .NdkControlConnectEvents = FakeControlConnectEvents,
};
const NDK_FN_QUERY_ADAPTER_INFO_EX fake_query_adapter_info_ex = FakeQueryAdapterInfoEx;
const NDK_FN_DISCONNECT_EX fake_disconnect_ex = FakeDisconnectEx;
const WSK_PROVIDER_NDK_DISPATCH fake_wsk_dispatch = {
    .WskOpenNdkAdapter = FakeWskOpen,
    .WskCloseNdkAdapter = FakeWskClose,
};
