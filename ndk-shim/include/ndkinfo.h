/*
 * ndkinfo.h: NDK_VERSION, NDK_RDMA_TECHNOLOGY, NDK_ADAPTER_INFO and the adapter flags, with the
 * Windows names, values and x64 layout (NDKPI reference section 1.7).
 */
#ifndef SOFTRNIC_NDKINFO_H_
#define SOFTRNIC_NDKINFO_H_

#include "ndk_windows_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  USHORT Major;
  USHORT Minor;
} NDK_VERSION;

typedef enum _NDK_RDMA_TECHNOLOGY {
  NdkUndefined = 0,
  NdkiWarp = 1,
  NdkInfiniBand = 2,
  NdkRoCE = 3,
  NdkRoCEv2 = 4,
  NdkMaxTechnology = 5
} NDK_RDMA_TECHNOLOGY;

typedef struct _NDK_ADAPTER_INFO {
  NDK_VERSION Version;
  UINT32 VendorId; /* IEEE OUI */
  UINT32 DeviceId;
  SIZE_T MaxRegistrationSize; /* bytes per memory registration */
  SIZE_T MaxWindowSize;       /* bytes per memory window */
  ULONG FRMRPageCount;        /* FRMR size in pages that yields the most FRMRs; >= 16 */
  ULONG MaxInitiatorRequestSge;
  ULONG MaxReceiveRequestSge;
  ULONG MaxReadRequestSge; /* overrides MaxInitiatorRequestSge for reads */
  ULONG MaxTransferLength; /* sum of the SGE lengths of one request */
  ULONG MaxInlineDataSize;
  ULONG MaxInboundReadLimit;  /* IRD per QP */
  ULONG MaxOutboundReadLimit; /* ORD per QP */
  ULONG MaxReceiveQueueDepth;
  ULONG MaxInitiatorQueueDepth;
  ULONG MaxSrqDepth; /* 0: no SRQ support */
  ULONG MaxCqDepth;
  ULONG LargeRequestThreshold; /* hint: above this size read/write beats send/receive */
  ULONG MaxCallerData;         /* private data bytes on connect */
  ULONG MaxCalleeData;         /* private data bytes on accept and reject */
  ULONG AdapterFlags;          /* NDK_ADAPTER_FLAG_* */
  NDK_RDMA_TECHNOLOGY RdmaTechnology;
} NDK_ADAPTER_INFO;

#define NDK_ADAPTER_FLAG_IN_ORDER_DMA_SUPPORTED 0x00000001
#define NDK_ADAPTER_FLAG_RDMA_READ_SINK_NOT_REQUIRED 0x00000002
#define NDK_ADAPTER_FLAG_CQ_INTERRUPT_MODERATION_SUPPORTED 0x00000004
#define NDK_ADAPTER_FLAG_MULTI_ENGINE_SUPPORTED 0x00000008
#define NDK_ADAPTER_FLAG_RDMA_READ_LOCAL_INVALIDATE_SUPPORTED 0x00000010 /* NDKPI 1.2 */
#define NDK_ADAPTER_FLAG_CQ_RESIZE_SUPPORTED 0x00000100
#define NDK_ADAPTER_FLAG_LOOPBACK_CONNECTIONS_SUPPORTED 0x00010000

SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDK_VERSION) == 4, "NDK_VERSION is two USHORTs");

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_NDKINFO_H_ */
