/*
 * ndk_windows_types.h: the few Windows kernel types, values and routines an NDK consumer touches,
 * re-created for Linux so that NDKPI code compiles unchanged. Plain C11 and C++ (C++23 is tested).
 *
 * Data model: Windows is LLP64, Linux x86-64 is LP64. Every Windows integer type below is mapped
 * by width, never through Linux `long`: ULONG and LONG are 32 bits here exactly as on Windows.
 * Only 64-bit targets are supported (the NDK structures are reproduced in their x64 layout).
 *
 * The Windows subset provided (nothing else from the WDK is declared):
 *   scalars     VOID, PVOID, CONST, CHAR, UCHAR, SHORT, CSHORT, USHORT, LONG, ULONG, LONGLONG,
 *               ULONGLONG, ULONG64, UINT32, UINT64, SIZE_T, ULONG_PTR, KAFFINITY, BOOLEAN
 *               (TRUE/FALSE), MAXULONG, NTSTATUS, NDIS_STATUS, NET_IFINDEX, ADDRESS_FAMILY
 *   structures  GUID, LARGE_INTEGER and PHYSICAL_ADDRESS (LowPart/HighPart, u, QuadPart),
 *               GROUP_AFFINITY
 *   statuses    NT_SUCCESS and the STATUS_* / NDIS_STATUS_* values the NDKPI reference lists
 *               (section 3.4), with their Windows numbers
 *   memory      MDL/PMDL with IoAllocateMdl, MmBuildMdlForNonPagedPool, IoFreeMdl,
 *               MmGetMdlVirtualAddress, MmGetMdlByteCount, MmGetMdlByteOffset; PIRP exists only as
 *               an incomplete type for IoAllocateMdl's last parameter (pass NULL)
 *   sockets     SOCKADDR, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_INET, IN_ADDR, IN6_ADDR and their
 *               P* pointer types, in the Windows layouts (16, 16, 28, 28 bytes); AF_INET and
 *               AF_INET6 only where the system has not defined them
 *
 * Sockets: this header includes <sys/socket.h> and <netinet/in.h> itself, so it builds next to
 * them in either include order, and SOCKADDR_IN/SOCKADDR_IN6 are Linux's own sockaddr_in and
 * sockaddr_in6, whose layouts equal Windows' (asserted below). A Linux consumer may therefore
 * fill them with inet_pton and htons as usual. What differs is the IPv6 family number: AF_INET6
 * is 23 on Windows and 10 on Linux; AF_INET6 here is Linux's value (the system defines it first),
 * and the shim accepts both 10 and SOFTRNIC_AF_INET6_WINDOWS (23) in every address it is given.
 * Windows-only member spellings (IN_ADDR.S_un, IN6_ADDR.u.Byte, sin6_scope_struct) are not
 * provided; use s_addr and s6_addr.
 *
 * Not provided: SAL annotations (_In_, ...), calling-convention macros (NTAPI, WSKAPI), IRPs,
 * pool allocation, the rest of wdm.h/ntddk.h/ndis.h.
 */
#ifndef SOFTRNIC_NDK_WINDOWS_TYPES_H_
#define SOFTRNIC_NDK_WINDOWS_TYPES_H_

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#if !defined(__LP64__)
#error "the softrnic NDK headers reproduce the x64 NDKPI layouts and need a 64-bit target"
#endif

#ifdef __cplusplus
#define SOFTRNIC_NDK_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
/* A cast that stays quiet under -Wold-style-cast when the header is compiled as C++. */
#define SOFTRNIC_NDK_CAST(type, value) static_cast<type>(value)
#else
#define SOFTRNIC_NDK_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define SOFTRNIC_NDK_CAST(type, value) ((type)(value))
#endif

/* Functions the shim library exports. */
#define SOFTRNIC_NDK_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Scalars (LLP64 widths) ---- */
#ifndef VOID
#define VOID void
#endif
#ifndef CONST
#define CONST const
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#ifndef MAXULONG
#define MAXULONG 0xFFFFFFFFu
#endif

typedef void* PVOID;
typedef char CHAR;
typedef uint8_t UCHAR;
typedef int16_t SHORT;
typedef int16_t CSHORT;
typedef uint16_t USHORT;
typedef int32_t LONG;   /* 32 bits: Windows is LLP64 */
typedef uint32_t ULONG; /* 32 bits: Windows is LLP64 */
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef uint64_t ULONG64;
typedef uint32_t UINT32;
typedef uint64_t UINT64;
typedef size_t SIZE_T; /* pointer-sized, like Windows' ULONG_PTR-based SIZE_T */
typedef uintptr_t ULONG_PTR;
typedef ULONG_PTR KAFFINITY;
typedef uint8_t BOOLEAN;
typedef int32_t NTSTATUS;
typedef int NDIS_STATUS;
typedef ULONG NET_IFINDEX;
typedef USHORT ADDRESS_FAMILY;

typedef struct _GUID {
  ULONG Data1;
  USHORT Data2;
  USHORT Data3;
  UCHAR Data4[8];
} GUID;

typedef union _LARGE_INTEGER {
  __extension__ struct {
    ULONG LowPart;
    LONG HighPart;
  };
  struct {
    ULONG LowPart;
    LONG HighPart;
  } u;
  LONGLONG QuadPart;
} LARGE_INTEGER;
typedef LARGE_INTEGER PHYSICAL_ADDRESS;

typedef struct _GROUP_AFFINITY {
  KAFFINITY Mask;
  USHORT Group;
  USHORT Reserved[3];
} GROUP_AFFINITY;

SOFTRNIC_NDK_STATIC_ASSERT(sizeof(ULONG) == 4, "ULONG is 32 bits (LLP64)");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(LONG) == 4, "LONG is 32 bits (LLP64)");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(ULONG_PTR) == 8 && sizeof(SIZE_T) == 8, "x64 pointer width");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(LARGE_INTEGER) == 8, "LARGE_INTEGER is 8 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(GUID) == 16, "GUID is 16 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(GROUP_AFFINITY) == 16, "x64 GROUP_AFFINITY is 16 bytes");

/* ---- NTSTATUS (ntstatus.h numbers; reference section 3.4) ---- */
#define NT_SUCCESS(Status) (SOFTRNIC_NDK_CAST(NTSTATUS, (Status)) >= 0)

#define STATUS_SUCCESS SOFTRNIC_NDK_CAST(NTSTATUS, 0x00000000u)
#define STATUS_TIMEOUT SOFTRNIC_NDK_CAST(NTSTATUS, 0x00000102u)
#define STATUS_PENDING SOFTRNIC_NDK_CAST(NTSTATUS, 0x00000103u)
#define STATUS_BUFFER_OVERFLOW SOFTRNIC_NDK_CAST(NTSTATUS, 0x80000005u)
#define STATUS_UNSUCCESSFUL SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000001u)
#define STATUS_ACCESS_VIOLATION SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000005u)
#define STATUS_INVALID_PARAMETER SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000000Du)
#define STATUS_BUFFER_TOO_SMALL SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000023u)
#define STATUS_INVALID_PARAMETER_MIX SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000030u)
#define STATUS_DATA_OVERRUN SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000003Cu)
#define STATUS_SHARING_VIOLATION SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000043u)
#define STATUS_INSUFFICIENT_RESOURCES SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000009Au)
#define STATUS_IO_TIMEOUT SOFTRNIC_NDK_CAST(NTSTATUS, 0xC00000B5u)
#define STATUS_NOT_SUPPORTED SOFTRNIC_NDK_CAST(NTSTATUS, 0xC00000BBu)
#define STATUS_INTERNAL_ERROR SOFTRNIC_NDK_CAST(NTSTATUS, 0xC00000E5u)
#define STATUS_CANCELLED SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000120u)
#define STATUS_REMOTE_RESOURCES SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000013Du)
#define STATUS_INVALID_ADDRESS SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000141u)
#define STATUS_INVALID_DEVICE_STATE SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000184u)
#define STATUS_INVALID_BUFFER_SIZE SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000206u)
#define STATUS_TOO_MANY_ADDRESSES SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000209u)
#define STATUS_ADDRESS_ALREADY_EXISTS SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000020Au)
#define STATUS_CONNECTION_DISCONNECTED SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000020Cu)
#define STATUS_CONNECTION_RESET SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000020Du)
#define STATUS_CONNECTION_REFUSED SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000236u)
#define STATUS_CONNECTION_INVALID SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000023Au)
#define STATUS_NETWORK_UNREACHABLE SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000023Cu)
#define STATUS_HOST_UNREACHABLE SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000023Du)
#define STATUS_CONNECTION_ABORTED SOFTRNIC_NDK_CAST(NTSTATUS, 0xC0000241u)
#define STATUS_IMPLEMENTATION_LIMIT SOFTRNIC_NDK_CAST(NTSTATUS, 0xC000042Bu)

/* NDIS statuses returned by adapter open (reference sections 3.4 and 4). */
#define NDIS_STATUS_SUCCESS SOFTRNIC_NDK_CAST(NDIS_STATUS, 0x00000000u)
/* NDIS_STATUS_RESOURCES has STATUS_INSUFFICIENT_RESOURCES' number. */
#define NDIS_STATUS_RESOURCES SOFTRNIC_NDK_CAST(NDIS_STATUS, 0xC000009Au)
#define NDIS_STATUS_BAD_VERSION SOFTRNIC_NDK_CAST(NDIS_STATUS, 0xC0010004u)
#define NDIS_STATUS_ADAPTER_NOT_READY SOFTRNIC_NDK_CAST(NDIS_STATUS, 0xC0010011u)

/* ---- Memory descriptor lists ----
 * A Windows MDL describes locked pages of a virtually contiguous buffer. In user space the engine
 * reaches consumer memory by virtual address, so an MDL here is just the buffer's page-aligned
 * start, byte offset and length; nothing is locked and there is no page-frame array after the
 * structure. MDLs may be chained through Next; the shim treats a chain as one contiguous range.
 * The field names are Windows'; the layout is not Windows' and nothing may depend on it. */
#define SOFTRNIC_NDK_PAGE_SIZE 4096u /* the page NDK LAMs, FRMR page lists and MDLs count in */

typedef struct _IRP IRP, *PIRP; /* never defined: user space has no IRPs */

typedef struct _MDL {
  struct _MDL* Next;
  CSHORT Size;     /* bytes of this structure */
  CSHORT MdlFlags; /* MDL_SOURCE_IS_NONPAGED_POOL once built */
  PVOID Process;   /* always NULL */
  PVOID MappedSystemVa;
  PVOID StartVa; /* page-aligned start of the buffer */
  ULONG ByteCount;
  ULONG ByteOffset; /* offset of the buffer in its first page */
} MDL, *PMDL;

#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004

/* Returns a new MDL for [VirtualAddress, VirtualAddress + Length), or NULL when memory is short,
 * the range wraps the address space, or Irp is not NULL (there is no IRP to attach it to).
 * SecondaryBuffer and ChargeQuota are accepted and ignored. */
SOFTRNIC_NDK_API PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer,
                                    BOOLEAN ChargeQuota, PIRP Irp);
/* Marks the MDL as describing resident memory and sets MappedSystemVa; NdkRegisterMr and
 * NdkBuildLam accept only built MDLs. */
SOFTRNIC_NDK_API VOID MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList);
/* Frees an MDL from IoAllocateMdl (not the buffer it describes); NULL is ignored. */
SOFTRNIC_NDK_API VOID IoFreeMdl(PMDL Mdl);

static inline PVOID MmGetMdlVirtualAddress(const MDL* Mdl) {
  return SOFTRNIC_NDK_CAST(UCHAR*, Mdl->StartVa) + Mdl->ByteOffset;
}
static inline ULONG MmGetMdlByteCount(const MDL* Mdl) { return Mdl->ByteCount; }
static inline ULONG MmGetMdlByteOffset(const MDL* Mdl) { return Mdl->ByteOffset; }

/* ---- Socket addresses (ws2def.h / ws2ipdef.h layouts) ---- */
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 23
#endif
/* Windows' number for IPv6; the shim accepts it as well as AF_INET6 (10 on Linux). */
#define SOFTRNIC_AF_INET6_WINDOWS 23

typedef struct in_addr IN_ADDR, *PIN_ADDR;
typedef struct in6_addr IN6_ADDR, *PIN6_ADDR;
typedef struct sockaddr SOCKADDR, *PSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN, *PSOCKADDR_IN;
typedef struct sockaddr_in6 SOCKADDR_IN6, *PSOCKADDR_IN6;

typedef union _SOCKADDR_INET {
  SOCKADDR_IN Ipv4;
  SOCKADDR_IN6 Ipv6;
  ADDRESS_FAMILY si_family;
} SOCKADDR_INET, *PSOCKADDR_INET;

/* The Windows layouts: family and port first, IPv4 address at 4, IPv6 address at 8, scope at 24. */
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(SOCKADDR) == 16, "Windows SOCKADDR is 16 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(SOCKADDR_IN) == 16, "Windows SOCKADDR_IN is 16 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(SOCKADDR_IN, sin_port) == 2, "SOCKADDR_IN.sin_port at 2");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(SOCKADDR_IN, sin_addr) == 4, "SOCKADDR_IN.sin_addr at 4");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(SOCKADDR_IN6) == 28, "Windows SOCKADDR_IN6 is 28 bytes");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(SOCKADDR_IN6, sin6_flowinfo) == 4, "sin6_flowinfo at 4");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(SOCKADDR_IN6, sin6_addr) == 8, "sin6_addr at 8");
SOFTRNIC_NDK_STATIC_ASSERT(offsetof(SOCKADDR_IN6, sin6_scope_id) == 24, "sin6_scope_id at 24");
SOFTRNIC_NDK_STATIC_ASSERT(sizeof(SOCKADDR_INET) == 28, "Windows SOCKADDR_INET is 28 bytes");

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SOFTRNIC_NDK_WINDOWS_TYPES_H_ */
