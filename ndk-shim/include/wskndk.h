/*
 * wskndk.h: how a consumer obtains an NDK_ADAPTER. On Windows an NDK consumer registers with
 * Winsock Kernel, asks it for WSK_PROVIDER_NDK_DISPATCH (control code 'NDKD') and calls
 * WskOpenNdkAdapter(Client, Version, IfIndex, &adapter). The same dispatch type is provided here
 * for code written against it, next to plain functions that do the same without WSK:
 *   NdkOpenAdapter / NdkCloseAdapter   open and close an adapter by interface index
 *   NdkListAdapters                    which adapters exist (IfIndex, name, technology, addresses)
 *   SoftrnicGetWskProviderNdkDispatch  fills a WSK_PROVIDER_NDK_DISPATCH with the same two
 *
 * Version negotiation (NDKPI reference section 1.3): Version.Major is the major the consumer
 * speaks and Version.Minor the lowest minor it accepts. A different major, or a minor above the
 * shim's highest for that major (SOFTRNIC_NDK_V1_MINOR, SOFTRNIC_NDK_V2_MINOR), fails with
 * NDIS_STATUS_BAD_VERSION; otherwise the adapter runs at the shim's highest minor of that major,
 * reported in NDK_ADAPTER_INFO.Version and in every object header.
 *
 * Open, close and listing may block (PASSIVE_LEVEL on Windows): never call them from an NDK
 * callback. NdkCloseAdapter returns only once every callback on every object of that adapter has
 * returned, which makes it the consumer's "safe to unload" point.
 *
 * Which adapters exist is read from SOFTRNIC_DEVICES (device specs separated by ';') or from the
 * file named by SOFTRNIC_CONFIG, on first use. An adapter on a kernel interface has that
 * interface's ifindex; the others get indices from a range kernel ifindexes never reach (shown
 * by `softrnic devinfo`), unless their spec pins one.
 */
#ifndef SOFTRNIC_WSKNDK_H_
#define SOFTRNIC_WSKNDK_H_

#include "ndk_windows_types.h"
#include "ndkinfo.h"
#include "ndkpi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The WSK extension (wskndk.h) ---- */
typedef VOID WSK_CLIENT, *PWSK_CLIENT; /* any value, NULL included: the shim ignores it */

typedef NTSTATUS (*PFN_WSK_NDK_OPEN_ADAPTER)(PWSK_CLIENT Client, NDK_VERSION NdkVersion,
                                             NET_IFINDEX IfIndex, NDK_ADAPTER** ppNdkAdapter);
typedef VOID (*PFN_WSK_NDK_CLOSE_ADAPTER)(PWSK_CLIENT Client, NDK_ADAPTER* pNdkAdapter);

typedef struct _WSK_PROVIDER_NDK_DISPATCH {
  PFN_WSK_NDK_OPEN_ADAPTER WskOpenNdkAdapter;
  PFN_WSK_NDK_CLOSE_ADAPTER WskCloseNdkAdapter;
} WSK_PROVIDER_NDK_DISPATCH, *PWSK_PROVIDER_NDK_DISPATCH;

/* Windows spells it ((ULONG)'NDKD'), a multi-character constant: 'N' in the top byte. */
#define WSKNDK_GET_WSK_PROVIDER_NDK_DISPATCH 0x4E444B44u /* a ULONG */

/* ---- The shim's entry points ---- */

/* Opens adapter IfIndex at the negotiated version. Returns STATUS_SUCCESS with *ppAdapter set,
 * NDIS_STATUS_BAD_VERSION, STATUS_INVALID_PARAMETER (NULL ppAdapter), STATUS_INVALID_ADDRESS (no
 * adapter has that index), NDIS_STATUS_ADAPTER_NOT_READY (the device cannot start) or
 * STATUS_INSUFFICIENT_RESOURCES. Several instances of one adapter may be open at once. */
SOFTRNIC_NDK_API NTSTATUS NdkOpenAdapter(NDK_VERSION Version, NET_IFINDEX IfIndex,
                                         NDK_ADAPTER** ppAdapter);

/* Closes an adapter from NdkOpenAdapter; blocks until every callback of every object created on
 * it has returned. The consumer closes the adapter's objects first (NDKPI lifetime rules). */
SOFTRNIC_NDK_API VOID NdkCloseAdapter(NDK_ADAPTER* pAdapter);

#define SOFTRNIC_NDK_ADAPTER_NAME_MAX 64
#define SOFTRNIC_NDK_ADAPTER_ADDRESSES_MAX 8

typedef struct _SOFTRNIC_NDK_ADAPTER_ENTRY {
  NET_IFINDEX IfIndex;                      /* what NdkOpenAdapter takes */
  NDK_RDMA_TECHNOLOGY RdmaTechnology;       /* NdkRoCEv2 or NdkiWarp */
  CHAR Name[SOFTRNIC_NDK_ADAPTER_NAME_MAX]; /* the device spec's name, NUL-terminated */
  ULONG AddressCount;                       /* entries of Addresses in use */
  SOCKADDR_INET Addresses[SOFTRNIC_NDK_ADAPTER_ADDRESSES_MAX]; /* port 0; Linux family values */
} SOFTRNIC_NDK_ADAPTER_ENTRY;

/* Lists the adapters. On entry *pCount is how many entries Entries holds (Entries may be NULL
 * when it is 0); on return it is how many adapters exist. Returns STATUS_SUCCESS when they all
 * fit, STATUS_BUFFER_TOO_SMALL (the first *pCount-on-entry filled) when they do not. */
SOFTRNIC_NDK_API NTSTATUS NdkListAdapters(SOFTRNIC_NDK_ADAPTER_ENTRY* Entries, ULONG* pCount);

/* Fills *Dispatch with WskOpenNdkAdapter/WskCloseNdkAdapter, which behave as NdkOpenAdapter and
 * NdkCloseAdapter and ignore their Client argument. */
SOFTRNIC_NDK_API VOID SoftrnicGetWskProviderNdkDispatch(WSK_PROVIDER_NDK_DISPATCH* Dispatch);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_WSKNDK_H_ */
