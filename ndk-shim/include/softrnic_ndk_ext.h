/*
 * softrnic_ndk_ext.h: the shim's private NDK extension, obtained from any NDK object through
 * NdkQueryExtension(obj, &SOFTRNIC_NDK_EXTENSION_GUID, {1, 0}, &ext); ext.Dispatch then points to
 * a SOFTRNIC_NDK_EXTENSION_DISPATCH. Other GUIDs or versions give STATUS_NOT_SUPPORTED.
 *
 * Async modes (how calls that may return STATUS_PENDING behave on that adapter and its objects):
 *   NATURAL         pend when called outside a callback; complete inline inside callbacks when
 *                   the outcome is known at once (the default)
 *   ALWAYS_PENDING  every such call returns STATUS_PENDING and calls its completion
 *   ALWAYS_INLINE   the caller waits for the engine thread to run the call and gets its
 *                   outcome inline; only what is still unknown then (a peer's answer, a close
 *                   waiting for successors) pends
 */
#ifndef SOFTRNIC_NDK_EXT_H_
#define SOFTRNIC_NDK_EXT_H_

#include "ndk_ndis.h"
#include "ndkpi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* {5f1e0c1a-7b2d-4e8a-9c3f-736f6674726e} */
#define SOFTRNIC_NDK_EXTENSION_GUID_INIT \
  { 0x5f1e0c1au, 0x7b2d, 0x4e8a, { 0x9c, 0x3f, 0x73, 0x6f, 0x66, 0x74, 0x72, 0x6e } }

#define SOFTRNIC_NDK_ASYNC_NATURAL 0u
#define SOFTRNIC_NDK_ASYNC_ALWAYS_PENDING 1u
#define SOFTRNIC_NDK_ASYNC_ALWAYS_INLINE 2u

typedef NTSTATUS (*SOFTRNIC_NDK_FN_SET_ASYNC_MODE)(NDK_ADAPTER* pNdkAdapter, ULONG Mode);
/* The adapter's NDIS_NDK_PERFORMANCE_COUNTERS (unsupported ones are 0). */
typedef NTSTATUS (*SOFTRNIC_NDK_FN_QUERY_COUNTERS)(NDK_ADAPTER* pNdkAdapter,
                                                  NDIS_NDK_PERFORMANCE_COUNTERS* pCounters);

/* The adapter's NDIS_NDK_CAPABILITIES (MaxMwCount, MaxSrqCount, ...: 0 where the device has
 * none). pInfo (optional) receives the NDK_ADAPTER_INFO and becomes pCapabilities->NdkInfo. */
typedef NTSTATUS (*SOFTRNIC_NDK_FN_QUERY_CAPABILITIES)(NDK_ADAPTER* pNdkAdapter,
                                                      NDIS_NDK_CAPABILITIES* pCapabilities,
                                                      NDK_ADAPTER_INFO* pInfo);

/* Slots are only ever appended. */
typedef struct _SOFTRNIC_NDK_EXTENSION_DISPATCH {
  SOFTRNIC_NDK_FN_SET_ASYNC_MODE SetAsyncMode;
  SOFTRNIC_NDK_FN_QUERY_COUNTERS QueryCounters;
  SOFTRNIC_NDK_FN_QUERY_CAPABILITIES QueryCapabilities;
} SOFTRNIC_NDK_EXTENSION_DISPATCH;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_NDK_EXT_H_ */
