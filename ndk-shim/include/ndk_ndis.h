/*
 * ndk_ndis.h: the NDIS-side NDK structures of Windows' ntddndis.h that the shim reports per
 * adapter: NDIS_OBJECT_HEADER, NDIS_NDK_CAPABILITIES, NDIS_NDK_PERFORMANCE_COUNTERS and
 * NDIS_NDK_STATISTICS_INFO (NDKPI reference section 4), in their x64 layouts.
 */
#ifndef SOFTRNIC_NDK_NDIS_H_
#define SOFTRNIC_NDK_NDIS_H_

#include "ndk_windows_types.h"
#include "ndkinfo.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _NDIS_OBJECT_HEADER {
  UCHAR Type;
  UCHAR Revision;
  USHORT Size;
} NDIS_OBJECT_HEADER, *PNDIS_OBJECT_HEADER;

#define NDIS_OBJECT_TYPE_DEFAULT 0x80
#define NDIS_NDK_CAPABILITIES_REVISION_1 1

typedef struct _NDIS_NDK_CAPABILITIES {
  NDIS_OBJECT_HEADER Header; /* Type NDIS_OBJECT_TYPE_DEFAULT, Revision 1 */
  ULONG Flags;               /* in the PDB layout though not in every DDI syntax block; 0 */
  ULONG MaxQpCount;          /* adapter-wide totals */
  ULONG MaxCqCount;
  ULONG MaxMrCount;
  ULONG MaxPdCount;
  ULONG MaxInboundReadLimit; /* adapter-wide; 0 = no adapter-wide cap */
  ULONG MaxOutboundReadLimit;
  ULONG MaxMwCount;
  ULONG MaxSrqCount;
  ULONG64 MissingCounterMask; /* bit i: counter i of NDIS_NDK_PERFORMANCE_COUNTERS unsupported */
  NDK_ADAPTER_INFO* NdkInfo;  /* the per-consumer limits NdkQueryAdapterInfo returns */
} NDIS_NDK_CAPABILITIES, *PNDIS_NDK_CAPABILITIES;

/* Field i is bit i of MissingCounterMask. "RDMA" counts include L2 overhead. */
typedef struct _NDIS_NDK_PERFORMANCE_COUNTERS {
  ULONG64 Connect;          /* 0: outbound connections established */
  ULONG64 Accept;           /* 1: inbound connections established */
  ULONG64 ConnectFailure;   /* 2: failed connect attempts, both directions */
  ULONG64 ConnectionError;  /* 3: connections that failed before the consumer disconnected */
  ULONG64 ActiveConnection; /* 4 */
  ULONG64 Reserved01;       /* 5..24: always 0 */
  ULONG64 Reserved02;
  ULONG64 Reserved03;
  ULONG64 Reserved04;
  ULONG64 Reserved05;
  ULONG64 Reserved06;
  ULONG64 Reserved07;
  ULONG64 Reserved08;
  ULONG64 Reserved09;
  ULONG64 Reserved10;
  ULONG64 Reserved11;
  ULONG64 Reserved12;
  ULONG64 Reserved13;
  ULONG64 Reserved14;
  ULONG64 Reserved15;
  ULONG64 Reserved16;
  ULONG64 Reserved17;
  ULONG64 Reserved18;
  ULONG64 Reserved19;
  ULONG64 Reserved20;
  ULONG64 CQError;       /* 25 */
  ULONG64 RDMAInOctets;  /* 26 */
  ULONG64 RDMAOutOctets; /* 27 */
  ULONG64 RDMAInFrames;  /* 28 */
  ULONG64 RDMAOutFrames; /* 29 */
} NDIS_NDK_PERFORMANCE_COUNTERS, *PNDIS_NDK_PERFORMANCE_COUNTERS;

typedef struct _NDIS_NDK_STATISTICS_INFO {
  NDIS_OBJECT_HEADER Header;
  ULONG Flags; /* newer DDI pages list it; it sits in what is padding otherwise */
  NDIS_NDK_PERFORMANCE_COUNTERS CounterSet;
} NDIS_NDK_STATISTICS_INFO, *PNDIS_NDK_STATISTICS_INFO;

SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDIS_OBJECT_HEADER) == 4, "NDIS_OBJECT_HEADER is 4 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDIS_NDK_CAPABILITIES) == 0x38,
                           "x64 NDIS_NDK_CAPABILITIES is 0x38 (PDB layout)");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(NDIS_NDK_CAPABILITIES, MissingCounterMask) == 0x28,
                           "MissingCounterMask at 0x28 (PDB layout)");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(NDIS_NDK_CAPABILITIES, NdkInfo) == 0x30,
                           "NdkInfo at 0x30 (PDB layout)");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(NDIS_NDK_PERFORMANCE_COUNTERS) == 30 * 8,
                           "NDIS_NDK_PERFORMANCE_COUNTERS is 30 ULONG64 counters");

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_NDK_NDIS_H_ */
