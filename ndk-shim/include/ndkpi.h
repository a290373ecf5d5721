/*
 * ndkpi.h: the Network Direct Kernel Provider Interface (NDKPI) re-created for Linux: object
 * types, dispatch tables (slot order is ABI), NDK_FN_* function types, work-request, memory
 * registration and CQ arm flags, NDK_SGE, NDK_RESULT[_EX] and the consumer callback types, with
 * the Windows names, values and x64 layouts. Consumer code written against NDKPI compiles
 * unchanged: every object is `{ NDK_OBJECT_HEADER Header; const XXX_DISPATCH* Dispatch; }` and is
 * used as `obj->Dispatch->NdkFn(obj, ...)`.
 *
 * How the softrnic shim runs these (the NDK rules, in user-space terms):
 * - Asynchrony: a function taking a completion callback either returns STATUS_PENDING and then
 *   calls that callback exactly once, possibly before the call itself has returned and possibly
 *   on another thread, or returns anything else and never calls it. A pending create delivers the
 *   object only through the create completion, never through its pp<Obj> argument.
 * - Callbacks (completions, CQ/SRQ notifications, connect and disconnect events) run in the
 *   engine's completion context, the user-space analogue of DISPATCH_LEVEL: they must not block,
 *   sleep or wait for another callback. They may call any provider function, including closing
 *   the object the callback is about, as the NDK lifetime rules allow.
 * - Adapter open/close (wskndk.h) and NdkQueryAdapterInfo may block (PASSIVE_LEVEL on Windows);
 *   never call them from a callback. NdkCloseAdapter returns only after every callback on every
 *   object of the adapter has returned.
 */
#ifndef SOFTRNIC_NDKPI_H_
#define SOFTRNIC_NDKPI_H_

#include "ndk_windows_types.h"
#include "ndkinfo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions (reference section 1.3) ----
 * The consumer asks for a major version and the lowest minor it accepts; the shim answers with
 * its highest minor of that major, or NDIS_STATUS_BAD_VERSION. 1.1 is the base interface, 1.2
 * adds DEFER, RDMA_READ_LOCAL_INVALIDATE, NdkSendAndInvalidate and NdkGetCqResultsEx, 2.1 adds
 * NdkCompleteConnectEx/NdkAcceptEx and NDK_RESULT_EX.ProviderErrorCode. */
#define SOFTRNIC_NDK_VERSION_INIT(major, minor) \
  { SOFTRNIC_NDK_CAST(USHORT, (major)), SOFTRNIC_NDK_CAST(USHORT, (minor)) }
#define SOFTRNIC_NDK_V1_MAJOR 1
#define SOFTRNIC_NDK_V1_MINOR 2 /* what the shim reports when major 1 is asked for */
#define SOFTRNIC_NDK_V2_MAJOR 2
#define SOFTRNIC_NDK_V2_MINOR 1 /* what the shim reports when major 2 is asked for */

/* ---- Objects (reference sections 1.2 and 1.3) ---- */
typedef enum _NDK_OBJECT_TYPE {
  NdkObjectTypeUndefined = 0,
  NdkObjectTypeAdapter = 1,
  NdkObjectTypeQp = 2,
  NdkObjectTypeCq = 3,
  NdkObjectTypeMr = 4,
  NdkObjectTypeMw = 5,
  NdkObjectTypePd = 6,
  NdkObjectTypeSharedEndpoint = 7,
  NdkObjectTypeConnector = 8,
  NdkObjectTypeListener = 9,
  NdkObjectTypeSrq = 10,
  NdkObjectTypeMax = 11
} NDK_OBJECT_TYPE;

typedef struct _NDK_OBJECT_HEADER_RESERVED_BLOCK {
  PVOID rf[4];
} NDK_OBJECT_HEADER_RESERVED_BLOCK;

typedef struct _NDK_OBJECT_HEADER {
  NDK_VERSION Version;                          /* version in effect on the adapter instance */
  NDK_OBJECT_TYPE ObjectType;                   /* never NdkObjectTypeUndefined */
  NDK_OBJECT_HEADER_RESERVED_BLOCK NdkReserved; /* zeroed by the provider, then left alone */
} NDK_OBJECT_HEADER;

typedef struct _NDK_ADAPTER NDK_ADAPTER;
typedef struct _NDK_PD NDK_PD;
typedef struct _NDK_CQ NDK_CQ;
typedef struct _NDK_MR NDK_MR;
typedef struct _NDK_MW NDK_MW;
typedef struct _NDK_SRQ NDK_SRQ;
typedef struct _NDK_QP NDK_QP;
typedef struct _NDK_SHARED_ENDPOINT NDK_SHARED_ENDPOINT;
typedef struct _NDK_CONNECTOR NDK_CONNECTOR;
typedef struct _NDK_LISTENER NDK_LISTENER;

typedef struct _NDK_EXTENSION_INTERFACE {
  CONST VOID* Dispatch;
} NDK_EXTENSION_INTERFACE;

/* ---- Data-path structures (reference section 2.1) ---- */
typedef PHYSICAL_ADDRESS NDK_LOGICAL_ADDRESS;

typedef struct _NDK_LOGICAL_ADDRESS_MAPPING {
  PVOID AdapterContext; /* provider-private */
  ULONG AdapterPageCount;
  NDK_LOGICAL_ADDRESS AdapterPageArray[1]; /* AdapterPageCount entries of SOFTRNIC_NDK_PAGE_SIZE */
} NDK_LOGICAL_ADDRESS_MAPPING;

typedef struct _NDK_SGE {
  union {
    PVOID VirtualAddress;               /* with a local MR token */
    NDK_LOGICAL_ADDRESS LogicalAddress; /* with the privileged token */
  };
  ULONG Length;
  UINT32 MemoryRegionToken; /* a local token */
} NDK_SGE;

typedef struct _NDK_RESULT {
  NTSTATUS Status;
  ULONG BytesTransferred; /* defined for receive completions only */
  PVOID QPContext;
  PVOID RequestContext;
} NDK_RESULT;

typedef enum _NDK_OPERATION_TYPE {
  NdkOperationTypeReceive = 1,
  NdkOperationTypeReceiveAndInvalidate = 0x8001, /* 32769 */
  NdkOperationTypeSend = 2,
  NdkOperationTypeFastRegister = 4,
  NdkOperationTypeBind = 8,
  NdkOperationTypeInvalidate = 16,
  NdkOperationTypeRead = 32,
  NdkOperationTypeWrite = 64
} NDK_OPERATION_TYPE;

typedef struct _NDK_RESULT_EX {
  NTSTATUS Status;
  ULONG BytesTransferred;
  PVOID QPContext;
  PVOID RequestContext;
  NDK_OPERATION_TYPE Type;
  ULONG ProviderErrorCode;                /* NDKPI 2.1, in what was padding; 0 on success */
  ULONG_PTR TypeSpecificCompletionOutput; /* invalidated token for ReceiveAndInvalidate */
} NDK_RESULT_EX;

/* ---- Work-request flags (reference section 2.2) ---- */
#define NDK_OP_FLAG_SILENT_SUCCESS 0x00000001
#define NDK_OP_FLAG_READ_FENCE 0x00000002
#define NDK_OP_FLAG_SEND_AND_SOLICIT_EVENT 0x00000004
#define NDK_OP_FLAG_ALLOW_REMOTE_READ 0x00000008
#define NDK_OP_FLAG_ALLOW_LOCAL_WRITE 0x00000010
#define NDK_OP_FLAG_ALLOW_REMOTE_WRITE 0x00000030 /* includes ALLOW_LOCAL_WRITE */
#define NDK_OP_FLAG_INLINE 0x00000040
#define NDK_OP_FLAG_RDMA_READ_SINK 0x00000080
/* 1.2. The header's value; one DDI page gives 0x200, which is DEFER's. */
#define NDK_OP_FLAG_RDMA_READ_LOCAL_INVALIDATE 0x00000100
#define NDK_OP_FLAG_DEFER 0x00000200 /* 1.2 */

/* Memory registration flags (NdkRegisterMr). */
#define NDK_MR_FLAG_ALLOW_LOCAL_READ 0x00000000 /* always implied */
#define NDK_MR_FLAG_ALLOW_LOCAL_WRITE 0x00000001
#define NDK_MR_FLAG_ALLOW_REMOTE_READ 0x00000002
#define NDK_MR_FLAG_ALLOW_REMOTE_WRITE 0x00000005 /* includes ALLOW_LOCAL_WRITE */
#define NDK_MR_FLAG_RDMA_READ_SINK 0x00000008

/* NdkArmCq types. Re-arming before a notification keeps the broader type:
 * ANY > SOLICITED > ERRORS. */
#define NDK_CQ_NOTIFY_ERRORS 0
#define NDK_CQ_NOTIFY_ANY 1
#define NDK_CQ_NOTIFY_SOLICITED 2 /* also fires on any completion with an error status */

/* ---- Consumer callbacks (implemented by the consumer, called by the provider) ---- */
typedef VOID (*NDK_FN_CLOSE_COMPLETION)(PVOID Context);
typedef VOID (*NDK_FN_CREATE_COMPLETION)(PVOID Context, NTSTATUS Status,
                                         NDK_OBJECT_HEADER* pNdkObject);
typedef VOID (*NDK_FN_REQUEST_COMPLETION)(PVOID Context, NTSTATUS Status);
typedef VOID (*NDK_FN_CQ_NOTIFICATION_CALLBACK)(PVOID CqNotificationContext, NTSTATUS CqStatus);
typedef VOID (*NDK_FN_SRQ_NOTIFICATION_CALLBACK)(PVOID SrqNotificationContext, NTSTATUS SrqStatus);
typedef VOID (*NDK_FN_CONNECT_EVENT_CALLBACK)(PVOID ConnectEventContext,
                                              NDK_CONNECTOR* pNdkConnector);
typedef VOID (*NDK_FN_DISCONNECT_EVENT_CALLBACK)(PVOID DisconnectEventContext);
typedef VOID (*NDK_FN_DISCONNECT_EVENT_CALLBACK_EX)(PVOID DisconnectEventContext,
                                                    ULONG ProviderDisconnectReason); /* 2.1 */

/* ---- Provider functions (reference section 1.5). "Async" = may return STATUS_PENDING. ---- */
/* Generic: every NdkCloseXxx slot (async) and every NdkQueryExtension slot (sync). */
typedef NTSTATUS (*NDK_FN_CLOSE_OBJECT)(NDK_OBJECT_HEADER* pNdkObject,
                                        NDK_FN_CLOSE_COMPLETION CloseCompletion,
                                        PVOID RequestContext);
typedef NTSTATUS (*NDK_FN_QUERY_EXTENSION_INTERFACE)(NDK_OBJECT_HEADER* pNdkObject,
                                                     GUID* ExtensionInterfaceID,
                                                     NDK_VERSION ExtensionInterfaceVersion,
                                                     NDK_EXTENSION_INTERFACE* pExtensionInterface);

/* Adapter. */
typedef NTSTATUS (*NDK_FN_QUERY_ADAPTER_INFO)(NDK_ADAPTER* pNdkAdapter, NDK_ADAPTER_INFO* pInfo,
                                              ULONG* pBufferSize); /* sync, may block */
typedef NTSTATUS (*NDK_FN_QUERY_ADAPTER_INFO_EX)(NDK_ADAPTER* pNdkAdapter, NDK_VERSION Version,
                                                 NDK_ADAPTER_INFO* pInfo,
                                                 ULONG* pBufferSize); /* in no table */
typedef NTSTATUS (*NDK_FN_CREATE_CQ)(NDK_ADAPTER* pNdkAdapter, ULONG CqDepth,
                                     NDK_FN_CQ_NOTIFICATION_CALLBACK CqNotification,
                                     PVOID CqNotificationContext, GROUP_AFFINITY* Affinity,
                                     NDK_FN_CREATE_COMPLETION CreateCompletion,
                                     PVOID RequestContext, NDK_CQ** ppNdkCq); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_PD)(NDK_ADAPTER* pNdkAdapter,
                                     NDK_FN_CREATE_COMPLETION CreateCompletion,
                                     PVOID RequestContext, NDK_PD** ppNdkPd); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_SHARED_ENDPOINT)(
    NDK_ADAPTER* pNdkAdapter, CONST PSOCKADDR pAddress, ULONG AddressLength,
    NDK_FN_CREATE_COMPLETION CreateCompletion, PVOID RequestContext,
    NDK_SHARED_ENDPOINT** ppNdkSharedEndpoint); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_CONNECTOR)(NDK_ADAPTER* pNdkAdapter,
                                            NDK_FN_CREATE_COMPLETION CreateCompletion,
                                            PVOID RequestContext,
                                            NDK_CONNECTOR** ppNdkConnector); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_LISTENER)(NDK_ADAPTER* pNdkAdapter,
                                           NDK_FN_CONNECT_EVENT_CALLBACK ConnectEvent,
                                           PVOID ConnectEventContext,
                                           NDK_FN_CREATE_COMPLETION CreateCompletion,
                                           PVOID RequestContext,
                                           NDK_LISTENER** ppNdkListener); /* async */
typedef NTSTATUS (*NDK_FN_BUILD_LAM)(NDK_ADAPTER* pNdkAdapter, MDL* Mdl, SIZE_T Length,
                                     NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                     PVOID RequestContext, NDK_LOGICAL_ADDRESS_MAPPING* pNdkLAM,
                                     ULONG* pLAMSize, ULONG* pFBO); /* async */
typedef VOID (*NDK_FN_RELEASE_LAM)(NDK_ADAPTER* pNdkAdapter, NDK_LOGICAL_ADDRESS_MAPPING* pNdkLAM);

/* PD. */
typedef NTSTATUS (*NDK_FN_CREATE_MR)(NDK_PD* pNdkPd, BOOLEAN FastRegister,
                                     NDK_FN_CREATE_COMPLETION CreateCompletion,
                                     PVOID RequestContext, NDK_MR** ppNdkMr); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_MW)(NDK_PD* pNdkPd, NDK_FN_CREATE_COMPLETION CreateCompletion,
                                     PVOID RequestContext, NDK_MW** ppNdkMw); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_SRQ)(NDK_PD* pNdkPd, ULONG SrqDepth, ULONG MaxReceiveRequestSge,
                                      ULONG NotifyThreshold,
                                      NDK_FN_SRQ_NOTIFICATION_CALLBACK SrqNotification,
                                      PVOID SrqNotificationContext, GROUP_AFFINITY* Affinity,
                                      NDK_FN_CREATE_COMPLETION CreateCompletion,
                                      PVOID RequestContext, NDK_SRQ** ppNdkSrq); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_QP)(NDK_PD* pNdkPd, NDK_CQ* pReceiveCq, NDK_CQ* pInitiatorCq,
                                     PVOID QPContext, ULONG ReceiveQueueDepth,
                                     ULONG InitiatorQueueDepth, ULONG MaxReceiveRequestSge,
                                     ULONG MaxInitiatorRequestSge, ULONG InlineDataSize,
                                     NDK_FN_CREATE_COMPLETION CreateCompletion,
                                     PVOID RequestContext, NDK_QP** ppNdkQp); /* async */
typedef NTSTATUS (*NDK_FN_CREATE_QP_WITH_SRQ)(NDK_PD* pNdkPd, NDK_CQ* pReceiveCq,
                                              NDK_CQ* pInitiatorCq, NDK_SRQ* pSrq, PVOID QPContext,
                                              ULONG InitiatorQueueDepth,
                                              ULONG MaxInitiatorRequestSge, ULONG InlineDataSize,
                                              NDK_FN_CREATE_COMPLETION CreateCompletion,
                                              PVOID RequestContext, NDK_QP** ppNdkQp); /* async */
typedef VOID (*NDK_FN_GET_PRIVILEGED_MEMORY_REGION_TOKEN)(NDK_PD* pNdkPd, UINT32* pToken);

/* CQ. */
typedef NTSTATUS (*NDK_FN_RESIZE_CQ)(NDK_CQ* pNdkCq, ULONG CqDepth,
                                     NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                     PVOID RequestContext); /* async */
typedef VOID (*NDK_FN_ARM_CQ)(NDK_CQ* pNdkCq, ULONG Type);
typedef ULONG (*NDK_FN_GET_CQ_RESULTS)(NDK_CQ* pNdkCq, NDK_RESULT Results[], ULONG nResults);
typedef NTSTATUS (*NDK_FN_CONTROL_CQ_INTERRUPT_MODERATION)(NDK_CQ* pNdkCq, ULONG ModerationInterval,
                                                           ULONG ModerationCount);
typedef ULONG (*NDK_FN_GET_CQ_RESULTS_EX)(NDK_CQ* pNdkCq, NDK_RESULT_EX Results[],
                                          ULONG nResults); /* 1.2 */

/* MR and MW. */
typedef NTSTATUS (*NDK_FN_REGISTER_MR)(NDK_MR* pNdkMr, MDL* Mdl, SIZE_T Length, ULONG Flags,
                                       NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                       PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_DEREGISTER_MR)(NDK_MR* pNdkMr,
                                         NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                         PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_INITIALIZE_FAST_REGISTER_MR)(NDK_MR* pNdkMr, ULONG AdapterPageCount,
                                                       BOOLEAN RemoteAccess,
                                                       NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                                       PVOID RequestContext); /* async */
typedef UINT32 (*NDK_FN_GET_REMOTE_TOKEN_FROM_MR)(NDK_MR* pNdkMr);
typedef UINT32 (*NDK_FN_GET_LOCAL_TOKEN_FROM_MR)(NDK_MR* pNdkMr);
typedef UINT32 (*NDK_FN_GET_REMOTE_TOKEN_FROM_MW)(NDK_MW* pNdkMw);

/* SRQ. */
typedef NTSTATUS (*NDK_FN_MODIFY_SRQ)(NDK_SRQ* pNdkSrq, ULONG SrqDepth, ULONG NotifyThreshold,
                                      NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                      PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_SRQ_RECEIVE)(NDK_SRQ* pNdkSrq, PVOID RequestContext, CONST NDK_SGE* pSgl,
                                       ULONG nSge);

/* QP work requests: posted synchronously; the outcome arrives as a CQ entry unless the post fails
 * inline (then there is no CQ entry). */
typedef VOID (*NDK_FN_FLUSH)(NDK_QP* pNdkQp);
typedef NTSTATUS (*NDK_FN_SEND)(NDK_QP* pNdkQp, PVOID RequestContext, CONST NDK_SGE* pSgl,
                                ULONG nSge, ULONG Flags);
typedef NTSTATUS (*NDK_FN_RECEIVE)(NDK_QP* pNdkQp, PVOID RequestContext, CONST NDK_SGE* pSgl,
                                   ULONG nSge);
typedef NTSTATUS (*NDK_FN_BIND)(NDK_QP* pNdkQp, PVOID RequestContext, NDK_MR* pMr, NDK_MW* pMw,
                                PVOID VirtualAddress, SIZE_T Length, ULONG Flags);
typedef NTSTATUS (*NDK_FN_FAST_REGISTER)(NDK_QP* pNdkQp, PVOID RequestContext, NDK_MR* pMr,
                                         ULONG AdapterPageCount,
                                         CONST NDK_LOGICAL_ADDRESS* AdapterPageArray, ULONG FBO,
                                         SIZE_T Length, PVOID BaseVirtualAddress, ULONG Flags);
typedef NTSTATUS (*NDK_FN_INVALIDATE)(NDK_QP* pNdkQp, PVOID RequestContext,
                                      NDK_OBJECT_HEADER* pNdkMrOrMw, ULONG Flags);
typedef NTSTATUS (*NDK_FN_READ)(NDK_QP* pNdkQp, PVOID RequestContext, CONST NDK_SGE* pSgl,
                                ULONG nSge, UINT64 RemoteAddress, UINT32 RemoteToken, ULONG Flags);
typedef NTSTATUS (*NDK_FN_WRITE)(NDK_QP* pNdkQp, PVOID RequestContext, CONST NDK_SGE* pSgl,
                                 ULONG nSge, UINT64 RemoteAddress, UINT32 RemoteToken, ULONG Flags);
/* 1.2; note Flags comes before RemoteToken, unlike NdkRead/NdkWrite. */
typedef NTSTATUS (*NDK_FN_SEND_AND_INVALIDATE)(NDK_QP* pNdkQp, PVOID RequestContext,
                                               CONST NDK_SGE* pSgl, ULONG nSge, ULONG Flags,
                                               UINT32 RemoteToken);

/* Shared endpoint and listener. */
typedef NTSTATUS (*NDK_FN_GET_SHARED_ENDPOINT_LOCAL_ADDRESS)(
    NDK_SHARED_ENDPOINT* pNdkSharedEndpoint, PSOCKADDR pAddress, ULONG* pAddressLength);
typedef NTSTATUS (*NDK_FN_LISTEN)(NDK_LISTENER* pNdkListener, CONST PSOCKADDR pAddress,
                                  ULONG AddressLength, NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                  PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_GET_LISTENER_LOCAL_ADDRESS)(NDK_LISTENER* pNdkListener,
                                                      PSOCKADDR pAddress, ULONG* pAddressLength);
typedef VOID (*NDK_FN_CONTROL_CONNECT_EVENTS)(NDK_LISTENER* pNdkListener, BOOLEAN Pause);

/* Connector. */
typedef NTSTATUS (*NDK_FN_CONNECT)(NDK_CONNECTOR* pNdkConnector, NDK_QP* pNdkQp,
                                   CONST PSOCKADDR pSrcAddress, ULONG SrcAddressLength,
                                   CONST PSOCKADDR pDestAddress, ULONG DestAddressLength,
                                   ULONG InboundReadLimit, ULONG OutboundReadLimit,
                                   CONST PVOID pPrivateData, ULONG PrivateDataLength,
                                   NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                   PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_CONNECT_WITH_SHARED_ENDPOINT)(
    NDK_CONNECTOR* pNdkConnector, NDK_QP* pNdkQp, NDK_SHARED_ENDPOINT* pNdkSharedEndpoint,
    CONST PSOCKADDR pDestAddress, ULONG DestAddressLength, ULONG InboundReadLimit,
    ULONG OutboundReadLimit, CONST PVOID pPrivateData, ULONG PrivateDataLength,
    NDK_FN_REQUEST_COMPLETION RequestCompletion, PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_COMPLETE_CONNECT)(NDK_CONNECTOR* pNdkConnector,
                                            NDK_FN_DISCONNECT_EVENT_CALLBACK DisconnectEvent,
                                            PVOID DisconnectEventContext,
                                            NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                            PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_COMPLETE_CONNECT_EX)(NDK_CONNECTOR* pNdkConnector,
                                               NDK_FN_DISCONNECT_EVENT_CALLBACK_EX DisconnectEvent,
                                               PVOID DisconnectEventContext,
                                               NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                               PVOID RequestContext); /* async, 2.1 */
typedef NTSTATUS (*NDK_FN_ACCEPT)(NDK_CONNECTOR* pNdkConnector, NDK_QP* pNdkQp,
                                  ULONG InboundReadLimit, ULONG OutboundReadLimit,
                                  CONST PVOID pPrivateData, ULONG PrivateDataLength,
                                  NDK_FN_DISCONNECT_EVENT_CALLBACK DisconnectEvent,
                                  PVOID DisconnectEventContext,
                                  NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                  PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_ACCEPT_EX)(NDK_CONNECTOR* pNdkConnector, NDK_QP* pNdkQp,
                                     ULONG InboundReadLimit, ULONG OutboundReadLimit,
                                     CONST PVOID pPrivateData, ULONG PrivateDataLength,
                                     NDK_FN_DISCONNECT_EVENT_CALLBACK_EX DisconnectEvent,
                                     PVOID DisconnectEventContext,
                                     NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                     PVOID RequestContext); /* async, 2.1 */
typedef NTSTATUS (*NDK_FN_REJECT)(NDK_CONNECTOR* pNdkConnector, CONST PVOID pPrivateData,
                                  ULONG PrivateDataLength);
typedef NTSTATUS (*NDK_FN_GET_CONNECTION_DATA)(NDK_CONNECTOR* pNdkConnector,
                                               ULONG* pInboundReadLimit, ULONG* pOutboundReadLimit,
                                               PVOID pPrivateData, ULONG* pPrivateDataLength);
typedef NTSTATUS (*NDK_FN_GET_LOCAL_ADDRESS)(NDK_CONNECTOR* pNdkConnector, PSOCKADDR pAddress,
                                             ULONG* pAddressLength);
typedef NTSTATUS (*NDK_FN_GET_PEER_ADDRESS)(NDK_CONNECTOR* pNdkConnector, PSOCKADDR pAddress,
                                            ULONG* pAddressLength);
typedef NTSTATUS (*NDK_FN_DISCONNECT)(NDK_CONNECTOR* pNdkConnector,
                                      NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                      PVOID RequestContext); /* async */
typedef NTSTATUS (*NDK_FN_DISCONNECT_EX)(NDK_CONNECTOR* pNdkConnector, BOOLEAN Abortive,
                                         NDK_FN_REQUEST_COMPLETION RequestCompletion,
                                         PVOID RequestContext); /* in no table */

/* ---- Dispatch tables and objects (reference section 1.4; slot order is ABI) ---- */
typedef struct _NDK_ADAPTER_DISPATCH {
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_QUERY_ADAPTER_INFO NdkQueryAdapterInfo;
  NDK_FN_CREATE_CQ NdkCreateCq;
  NDK_FN_CREATE_PD NdkCreatePd;
  NDK_FN_CREATE_SHARED_ENDPOINT NdkCreateSharedEndpoint;
  NDK_FN_CREATE_CONNECTOR NdkCreateConnector;
  NDK_FN_CREATE_LISTENER NdkCreateListener;
  NDK_FN_BUILD_LAM NdkBuildLAM;
  NDK_FN_RELEASE_LAM NdkReleaseLAM;
} NDK_ADAPTER_DISPATCH; /* no close slot: adapters are closed through wskndk.h */

typedef struct _NDK_PD_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkClosePd;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_CREATE_MR NdkCreateMr;
  NDK_FN_CREATE_MW NdkCreateMw;
  NDK_FN_CREATE_SRQ NdkCreateSrq;
  NDK_FN_CREATE_QP NdkCreateQp;
  NDK_FN_CREATE_QP_WITH_SRQ NdkCreateQpWithSrq;
  NDK_FN_GET_PRIVILEGED_MEMORY_REGION_TOKEN NdkGetPrivilegedMemoryRegionToken;
} NDK_PD_DISPATCH;

typedef struct _NDK_CQ_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseCq;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_RESIZE_CQ NdkResizeCq;
  NDK_FN_ARM_CQ NdkArmCq;
  NDK_FN_GET_CQ_RESULTS NdkGetCqResults;
  NDK_FN_CONTROL_CQ_INTERRUPT_MODERATION NdkControlCqInterruptModeration;
  NDK_FN_GET_CQ_RESULTS_EX NdkGetCqResultsEx;
} NDK_CQ_DISPATCH;

typedef struct _NDK_MR_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseMr;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_REGISTER_MR NdkRegisterMr;
  NDK_FN_DEREGISTER_MR NdkDeregisterMr;
  NDK_FN_INITIALIZE_FAST_REGISTER_MR NdkInitializeFastRegisterMr;
  NDK_FN_GET_REMOTE_TOKEN_FROM_MR NdkGetRemoteTokenFromMr;
  NDK_FN_GET_LOCAL_TOKEN_FROM_MR NdkGetLocalTokenFromMr;
} NDK_MR_DISPATCH;

typedef struct _NDK_MW_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseMw;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_GET_REMOTE_TOKEN_FROM_MW NdkGetRemoteTokenFromMw;
} NDK_MW_DISPATCH;

typedef struct _NDK_SRQ_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseSrq;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_MODIFY_SRQ NdkModifySrq;
  NDK_FN_SRQ_RECEIVE NdkSrqReceive;
} NDK_SRQ_DISPATCH;

typedef struct _NDK_QP_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseQp;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_FLUSH NdkFlush;
  NDK_FN_SEND NdkSend;
  NDK_FN_RECEIVE NdkReceive;
  NDK_FN_BIND NdkBind;
  NDK_FN_FAST_REGISTER NdkFastRegister;
  NDK_FN_INVALIDATE NdkInvalidate;
  NDK_FN_READ NdkRead;
  NDK_FN_WRITE NdkWrite;
  NDK_FN_SEND_AND_INVALIDATE NdkSendAndInvalidate;
} NDK_QP_DISPATCH;

typedef struct _NDK_SHARED_ENDPOINT_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseSharedEndpoint;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_GET_SHARED_ENDPOINT_LOCAL_ADDRESS NdkGetLocalAddress;
} NDK_SHARED_ENDPOINT_DISPATCH;

typedef struct _NDK_CONNECTOR_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseConnector;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_CONNECT NdkConnect;
  NDK_FN_CONNECT_WITH_SHARED_ENDPOINT NdkConnectWithSharedEndpoint;
  NDK_FN_COMPLETE_CONNECT NdkCompleteConnect;
  NDK_FN_ACCEPT NdkAccept;
  NDK_FN_REJECT NdkReject;
  NDK_FN_GET_CONNECTION_DATA NdkGetConnectionData;
  NDK_FN_GET_LOCAL_ADDRESS NdkGetLocalAddress;
  NDK_FN_GET_PEER_ADDRESS NdkGetPeerAddress;
  NDK_FN_DISCONNECT NdkDisconnect;
  NDK_FN_COMPLETE_CONNECT_EX NdkCompleteConnectEx; /* 2.1, appended */
  NDK_FN_ACCEPT_EX NdkAcceptEx;                    /* 2.1, appended */
} NDK_CONNECTOR_DISPATCH;

typedef struct _NDK_LISTENER_DISPATCH {
  NDK_FN_CLOSE_OBJECT NdkCloseListener;
  NDK_FN_QUERY_EXTENSION_INTERFACE NdkQueryExtension;
  NDK_FN_LISTEN NdkListen;
  NDK_FN_GET_LISTENER_LOCAL_ADDRESS NdkGetLocalAddress;
  NDK_FN_CONTROL_CONNECT_EVENTS NdkControlConnectEvents;
} NDK_LISTENER_DISPATCH;

struct _NDK_ADAPTER {
  NDK_OBJECT_HEADER Header;
  CONST NDK_ADAPTER_DISPATCH* Dispatch;
};
struct _NDK_PD {
  NDK_OBJECT_HEADER Header;
  CONST NDK_PD_DISPATCH* Dispatch;
};
struct _NDK_CQ {
  NDK_OBJECT_HEADER Header;
  CONST NDK_CQ_DISPATCH* Dispatch;
};
struct _NDK_MR {
  NDK_OBJECT_HEADER Header;
  CONST NDK_MR_DISPATCH* Dispatch;
};
struct _NDK_MW {
  NDK_OBJECT_HEADER Header;
  CONST NDK_MW_DISPATCH* Dispatch;
};
struct _NDK_SRQ {
  NDK_OBJECT_HEADER Header;
  CONST NDK_SRQ_DISPATCH* Dispatch;
};
struct _NDK_QP {
  NDK_OBJECT_HEADER Header;
  CONST NDK_QP_DISPATCH* Dispatch;
};
struct _NDK_SHARED_ENDPOINT {
  NDK_OBJECT_HEADER Header;
  CONST NDK_SHARED_ENDPOINT_DISPATCH* Dispatch;
};
struct _NDK_CONNECTOR {
  NDK_OBJECT_HEADER Header;
  CONST NDK_CONNECTOR_DISPATCH* Dispatch;
};
struct _NDK_LISTENER {
  NDK_OBJECT_HEADER Header;
  CONST NDK_LISTENER_DISPATCH* Dispatch;
};

/* Sizes the reference takes from Windows headers and PDB layout dumps (x64). */
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDK_OBJECT_HEADER) == 0x28, "x64 NDK_OBJECT_HEADER is 0x28");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(NDK_ADAPTER, Dispatch) == 0x28, "Dispatch follows the header");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDK_ADAPTER_DISPATCH) == 0x48, "NDK_ADAPTER_DISPATCH: 9 slots");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(NDK_ADAPTER_DISPATCH, NdkQueryExtension) == 0,
                           "adapter table starts with NdkQueryExtension, not a close slot");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDK_SGE) == 16, "x64 NDK_SGE is 16 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDK_RESULT) == 24, "x64 NDK_RESULT is 24 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDK_RESULT_EX) == 40, "x64 NDK_RESULT_EX is 40 bytes");

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_NDKPI_H_ */
