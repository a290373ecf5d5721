/*
 * ndk_tool.h: what ndkping and ndkperf share. Both are plain C11 NDK consumers written only
 * against the NDKPI headers (ndkpi.h, wskndk.h); this file holds their plumbing:
 *   - status names and fatal errors ("NdkConnect failed: STATUS_CONNECTION_REFUSED (0xc0000236)");
 *   - waiting for calls that may pend, applying the NDK rule (a call that returned
 *     STATUS_PENDING calls its completion exactly once, any other return never does);
 *   - adapters (by interface index, by address, from NdkListAdapters) and Windows SOCKADDRs;
 *   - one endpoint: adapter, PD, CQ, one registered buffer, QP, connector or listener;
 *   - the tools' own connection data and control messages (ndk_tool_proto.h).
 * Fatal errors end the process with _Exit(1) after flushing stdio: exit() would run the shim's
 * teardown while other threads may still be inside it.
 */
#ifndef SOFTRNIC_NDK_TOOL_H_
#define SOFTRNIC_NDK_TOOL_H_

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ndkpi.h"
#include "wskndk.h"

/* ---- Errors ---- */
extern const char* ndk_tool_name; /* the program's name, first word of every message */

/* "STATUS_CONNECTION_REFUSED" and the like; "unknown NTSTATUS" for numbers it does not know. */
const char* ndk_status_name(NTSTATUS status);
/* Prints "<tool>: <call> failed: <NAME> (0x...)" and ends the process with status 1. */
_Noreturn void ndk_fail(const char* call, NTSTATUS status);
/* Prints "<tool>: <message>" and ends the process with status 1. */
_Noreturn void ndk_die(const char* format, ...) __attribute__((format(printf, 1, 2)));
/* Ends the process with `code`, flushing stdio first (never runs atexit teardown). */
_Noreturn void ndk_exit(int code);
/* Fails unless status is STATUS_SUCCESS. */
void ndk_check(const char* call, NTSTATUS status);

/* How long any single wait may last, in milliseconds (--timeout); 10 s by default. */
extern long ndk_timeout_ms;

/* ---- Time ---- */
uint64_t ndk_now_ns(void);
void ndk_sleep_us(long us);
/* Sorts v and returns its p-th percentile (0..100); 0 for an empty array. */
double ndk_percentile(double* v, size_t n, double p);

/* ---- Calls that may pend ---- */
typedef struct {
  atomic_int calls;
  _Atomic NTSTATUS status;
  _Atomic(NDK_OBJECT_HEADER*) object;
} NdkOp;

void ndk_op_init(NdkOp* op);
VOID ndk_on_create(PVOID context, NTSTATUS status, NDK_OBJECT_HEADER* object);
VOID ndk_on_request(PVOID context, NTSTATUS status);
VOID ndk_on_close(PVOID context);
/* The final status of a call that returned `status`; fails when a call that did not pend called
 * its completion, or when a pending call does not complete in time. */
NTSTATUS ndk_op_wait(NdkOp* op, const char* call, NTSTATUS status);
/* ndk_op_wait, then ndk_check. */
void ndk_op_finish(NdkOp* op, const char* call, NTSTATUS status);
/* The object a create call made: from its completion when it pended, else *direct. */
NDK_OBJECT_HEADER* ndk_op_created(NdkOp* op, const char* call, NTSTATUS status, void* direct);

/* ---- Addresses ---- */
typedef struct {
  SOCKADDR_INET sa; /* Windows layout; family AF_INET or AF_INET6 */
  ULONG len;        /* sizeof(SOCKADDR_IN) or sizeof(SOCKADDR_IN6) */
} NdkAddr;

/* "A.B.C.D[:PORT]", "[V6]:PORT" or "V6" (no port: default_port). 0 on success, -1 otherwise. */
int ndk_addr_parse(const char* text, uint16_t default_port, NdkAddr* out);
/* "198.18.0.2:9000" / "[fd00:5052::2]:9000" into buf. */
const char* ndk_addr_format(const NdkAddr* a, char* buf, size_t len);
uint16_t ndk_addr_port(const NdkAddr* a);
void ndk_addr_set_port(NdkAddr* a, uint16_t port);
int ndk_addr_is_ipv6(const NdkAddr* a);

/* ---- Adapters ---- */
/* Every adapter (at most max); the count of adapters that exist. Fails when the list fails. */
ULONG ndk_adapters(SOFTRNIC_NDK_ADAPTER_ENTRY* out, ULONG max);
/* The adapter named by text: an interface index (decimal or 0x...) or an adapter name. */
NET_IFINDEX ndk_adapter_lookup(const char* text);
/* The adapter that has the address (its port ignored); 0 when none. */
NET_IFINDEX ndk_adapter_with_address(const NdkAddr* a);
/* The adapter's first address of the family (AF_INET or AF_INET6); -1 when it has none. */
int ndk_adapter_address(NET_IFINDEX ifindex, int ipv6, NdkAddr* out);
/* "RoCEv2" or "iWARP". */
const char* ndk_technology_name(NDK_RDMA_TECHNOLOGY t);
/* Prints the adapter list (name, index, technology, addresses). */
void ndk_print_adapters(void);

/* ---- One endpoint ---- */
typedef struct NdkEndpoint {
  const char* role; /* "server" or "client", in messages */
  NET_IFINDEX ifindex;
  NDK_ADAPTER* adapter;
  NDK_ADAPTER_INFO info;
  NDK_PD* pd;
  NDK_CQ* cq;
  NDK_MR* mr;
  MDL* mdl;
  unsigned char* buf;
  size_t buf_len;
  UINT32 local_token, remote_token;
  NDK_QP* qp;
  NDK_LISTENER* listener;
  NDK_CONNECTOR* conn;
  _Atomic(NDK_CONNECTOR*) incoming; /* a connect event not yet taken by the server's thread */
  atomic_int disconnected;          /* disconnect events */
  atomic_int notifications;         /* CQ notifications (when no handler of its own is given) */
  atomic_int listening;
  /* Results polled but not yet handed out by ndk_next_result. */
  NDK_RESULT pending[64];
  ULONG pending_count, pending_at;
} NdkEndpoint;

/* Opens the adapter and reads its NDK_ADAPTER_INFO. */
void ndk_endpoint_open(NdkEndpoint* e, const char* role, NET_IFINDEX ifindex);
/* PD, CQ (notify may be NULL: notifications are then counted in e->notifications) and one buffer
 * of buf_len bytes, registered for local write, remote read and remote write. */
void ndk_endpoint_resources(NdkEndpoint* e, ULONG cq_depth, NDK_FN_CQ_NOTIFICATION_CALLBACK notify,
                            PVOID notify_context, size_t buf_len);
void ndk_endpoint_qp(NdkEndpoint* e, PVOID qp_context, ULONG receive_depth, ULONG initiator_depth,
                     ULONG inline_size);
/* Closes every object the endpoint holds (connector, listener, QP, MR, CQ, PD), then the adapter.
 */
void ndk_endpoint_close(NdkEndpoint* e);

/* An SGE over [offset, offset + length) of the endpoint's buffer. */
NDK_SGE ndk_sge(const NdkEndpoint* e, size_t offset, ULONG length);
/* Posts a receive of [offset, offset + length) with the given request context. */
void ndk_post_receive(NdkEndpoint* e, PVOID context, size_t offset, ULONG length);

/* Server: a listener on `at`; connect events are kept in e->incoming for ndk_take_connector. */
void ndk_listen(NdkEndpoint* e, const NdkAddr* at);
/* Server: waits up to wait_ms for a connect event; fails when none comes. */
NDK_CONNECTOR* ndk_take_connector(NdkEndpoint* e, long wait_ms);
/* The private data of the connection (what the peer sent), into buf (at most *len bytes); *len
 * is then the size the transport reports, which may be padded. */
void ndk_connection_data(NDK_CONNECTOR* c, ULONG* inbound, ULONG* outbound, void* buf, ULONG* len);
/* Server: accepts e->conn on e->qp and waits for the accept to complete. */
void ndk_accept(NdkEndpoint* e, ULONG ird, ULONG ord, const void* data, ULONG len);
/* Client: connects e->qp to `to` with private data; waits for the peer's accept. */
void ndk_connect(NdkEndpoint* e, const NdkAddr* to, ULONG ird, ULONG ord, const void* data,
                 ULONG len);
void ndk_complete_connect(NdkEndpoint* e);
/* Graceful disconnect (pending work is flushed); waits for it to complete. */
void ndk_disconnect(NdkEndpoint* e);
/* Waits until the peer's disconnect event has arrived; 0 when it did not within wait_ms. */
int ndk_wait_disconnect(NdkEndpoint* e, long wait_ms);

/* ---- Completions, polled by the consumer's thread ----
 * Polling style: NdkGetCqResults until a result is there. Notification style: when the CQ is
 * empty, arm it (NDK_CQ_NOTIFY_ANY) and wait for the notification callback before polling again.
 * Fails after ndk_timeout_ms without a result, and on any result whose status is not success. */
typedef enum { NDK_WAIT_POLL = 0, NDK_WAIT_NOTIFY = 1 } NdkWaitStyle;
NDK_RESULT ndk_next_result(NdkEndpoint* e, NdkWaitStyle style);

/* ---- Data patterns ----
 * Byte i of message `seq` is (seq * 31 + i * 7 + 1) mod 256: every byte depends on the message,
 * and no 8 of them in a row ever spell the control magic (whose steps are not all 7). */
void ndk_pattern_fill(unsigned char* p, size_t len, uint64_t seq);
/* The index of the first byte that differs from the pattern, or len when all match. */
size_t ndk_pattern_check(const unsigned char* p, size_t len, uint64_t seq);

/* Little-endian fields of the tools' messages. */
void ndk_put_u32(unsigned char* p, uint32_t v);
void ndk_put_u64(unsigned char* p, uint64_t v);
uint32_t ndk_get_u32(const unsigned char* p);
uint64_t ndk_get_u64(const unsigned char* p);

/* Request contexts: a kind in the top byte and a slot number below, so that a result says what
 * it completes without a lookup. */
#define NDK_CTX(kind, slot) ((PVOID)(uintptr_t)(((uint64_t)(kind) << 56) | (uint64_t)(slot)))
#define NDK_CTX_KIND(p) ((unsigned)((uint64_t)(uintptr_t)(p) >> 56))
#define NDK_CTX_SLOT(p) ((size_t)((uint64_t)(uintptr_t)(p)&0x00FFFFFFFFFFFFFFull))

#endif /* SOFTRNIC_NDK_TOOL_H_ */
