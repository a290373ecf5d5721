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

/*
 * Consumer test mode (README "Consumer test mode"): a scenario file of timed or triggered events
 * the shim injects (wire drops, link flaps, RNR storms, failing creates, forced async modes,
 * delayed callbacks, refused connects, peer disconnects, bad remote tokens, CQ overflow), and a
 * JSON-lines log of every injected event next to what the consumer saw.
 *
 * Without these calls the shim loads SOFTRNIC_SCENARIO=FILE (log: SOFTRNIC_SCENARIO_LOG=FILE)
 * when its devices are built, and SOFTRNIC_FAULTS=KEY=V:... (fault/link_faults.hpp grammar) puts
 * wire faults on every RoCEv2 device whose spec has none.
 *
 * SoftrnicNdkLoadScenario: loads FILE (Text: the TOML itself), ending the active scenario first.
 * LogPath may be NULL (no log). On error returns STATUS_INVALID_PARAMETER (bad scenario:
 * FILE:LINE and the accepted values in Error) or the status the devices failed with. Time 0 of
 * the scenario is the next NdkOpenAdapter. A scenario's `faults` apply only when the devices are
 * built by this call (the first use of the shim in the process).
 * SoftrnicNdkEndScenario: ends the active scenario (its owed callbacks run at once), writes its
 * summary line and copies that summary (JSON, NUL-terminated) into Summary; *pLength is its size
 * with the NUL. STATUS_BUFFER_TOO_SMALL when it does not fit: call again (the last summary is
 * kept). STATUS_INVALID_DEVICE_STATE when no scenario ever ran.
 */
SOFTRNIC_NDK_API NTSTATUS SoftrnicNdkLoadScenario(const char* Path, const char* LogPath,
                                                  char* Error, ULONG ErrorLength);
SOFTRNIC_NDK_API NTSTATUS SoftrnicNdkLoadScenarioText(const char* Text, const char* LogPath,
                                                      char* Error, ULONG ErrorLength);
SOFTRNIC_NDK_API NTSTATUS SoftrnicNdkEndScenario(char* Summary, ULONG* pLength);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_NDK_EXT_H_ */
