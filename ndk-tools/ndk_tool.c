/* ndk_tool.c: the plumbing ndkping and ndkperf share (see ndk_tool.h). */
#define _GNU_SOURCE

#include "ndk_tool.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "softrnic_ndk_ext.h"

const char* ndk_tool_name = "ndk-tool";
long ndk_timeout_ms = 10000;

/* ---- Errors ---- */

const char* ndk_status_name(NTSTATUS status) {
  static const struct {
    NTSTATUS status;
    const char* name;
  } kNames[] = {
      {STATUS_SUCCESS, "STATUS_SUCCESS"},
      {STATUS_TIMEOUT, "STATUS_TIMEOUT"},
      {STATUS_PENDING, "STATUS_PENDING"},
      {STATUS_BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW"},
      {STATUS_UNSUCCESSFUL, "STATUS_UNSUCCESSFUL"},
      {STATUS_ACCESS_VIOLATION, "STATUS_ACCESS_VIOLATION"},
      {STATUS_INVALID_PARAMETER, "STATUS_INVALID_PARAMETER"},
      {STATUS_BUFFER_TOO_SMALL, "STATUS_BUFFER_TOO_SMALL"},
      {STATUS_INVALID_PARAMETER_MIX, "STATUS_INVALID_PARAMETER_MIX"},
      {STATUS_DATA_OVERRUN, "STATUS_DATA_OVERRUN"},
      {STATUS_SHARING_VIOLATION, "STATUS_SHARING_VIOLATION"},
      {STATUS_INSUFFICIENT_RESOURCES, "STATUS_INSUFFICIENT_RESOURCES"},
      {STATUS_IO_TIMEOUT, "STATUS_IO_TIMEOUT"},
      {STATUS_NOT_SUPPORTED, "STATUS_NOT_SUPPORTED"},
      {STATUS_INTERNAL_ERROR, "STATUS_INTERNAL_ERROR"},
      {STATUS_CANCELLED, "STATUS_CANCELLED"},
      {STATUS_REMOTE_RESOURCES, "STATUS_REMOTE_RESOURCES"},
      {STATUS_INVALID_ADDRESS, "STATUS_INVALID_ADDRESS"},
      {STATUS_INVALID_DEVICE_STATE, "STATUS_INVALID_DEVICE_STATE"},
      {STATUS_INVALID_BUFFER_SIZE, "STATUS_INVALID_BUFFER_SIZE"},
      {STATUS_TOO_MANY_ADDRESSES, "STATUS_TOO_MANY_ADDRESSES"},
      {STATUS_ADDRESS_ALREADY_EXISTS, "STATUS_ADDRESS_ALREADY_EXISTS"},
      {STATUS_CONNECTION_DISCONNECTED, "STATUS_CONNECTION_DISCONNECTED"},
      {STATUS_CONNECTION_RESET, "STATUS_CONNECTION_RESET"},
      {STATUS_CONNECTION_REFUSED, "STATUS_CONNECTION_REFUSED"},
      {STATUS_CONNECTION_INVALID, "STATUS_CONNECTION_INVALID"},
      {STATUS_NETWORK_UNREACHABLE, "STATUS_NETWORK_UNREACHABLE"},
      {STATUS_HOST_UNREACHABLE, "STATUS_HOST_UNREACHABLE"},
      {STATUS_CONNECTION_ABORTED, "STATUS_CONNECTION_ABORTED"},
      {STATUS_IMPLEMENTATION_LIMIT, "STATUS_IMPLEMENTATION_LIMIT"},
      {NDIS_STATUS_BAD_VERSION, "NDIS_STATUS_BAD_VERSION"},
      {NDIS_STATUS_ADAPTER_NOT_READY, "NDIS_STATUS_ADAPTER_NOT_READY"},
  };
  for (size_t i = 0; i < sizeof kNames / sizeof kNames[0]; ++i)
    if (kNames[i].status == status) return kNames[i].name;
  return "unknown NTSTATUS";
}

_Noreturn void ndk_exit(int code) {
  /* A scenario loaded from SOFTRNIC_SCENARIO writes its summary line now: _Exit skips the
   * shim's exit handler. */
  ULONG length = 0;
  (void)SoftrnicNdkEndScenario(NULL, &length);
  fflush(stdout);
  fflush(stderr);
  _Exit(code);
}

_Noreturn void ndk_fail(const char* call, NTSTATUS status) {
  fflush(stdout);
  fprintf(stderr, "%s: %s failed: %s (0x%08x)\n", ndk_tool_name, call, ndk_status_name(status),
          (unsigned)status);
  ndk_exit(1);
}

_Noreturn void ndk_die(const char* format, ...) {
  fflush(stdout);
  va_list ap;
  va_start(ap, format);
  fprintf(stderr, "%s: ", ndk_tool_name);
  vfprintf(stderr, format, ap);
  fputc('\n', stderr);
  va_end(ap);
  ndk_exit(1);
}

void ndk_check(const char* call, NTSTATUS status) {
  if (status != STATUS_SUCCESS) ndk_fail(call, status);
}

/* ---- Time ---- */

uint64_t ndk_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ndk_sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static int compare_doubles(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

double ndk_percentile(double* v, size_t n, double p) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, compare_doubles);
  size_t i = (size_t)(p / 100.0 * (double)n);
  if (i >= n) i = n - 1;
  return v[i];
}

/* ---- Calls that may pend ---- */

void ndk_op_init(NdkOp* op) {
  atomic_init(&op->calls, 0);
  atomic_init(&op->status, STATUS_SUCCESS);
  atomic_init(&op->object, NULL);
}

VOID ndk_on_create(PVOID context, NTSTATUS status, NDK_OBJECT_HEADER* object) {
  NdkOp* op = (NdkOp*)context;
  atomic_store(&op->status, status);
  atomic_store(&op->object, object);
  atomic_fetch_add(&op->calls, 1);
}

VOID ndk_on_request(PVOID context, NTSTATUS status) {
  NdkOp* op = (NdkOp*)context;
  atomic_store(&op->status, status);
  atomic_fetch_add(&op->calls, 1);
}

VOID ndk_on_close(PVOID context) { atomic_fetch_add(&((NdkOp*)context)->calls, 1); }

NTSTATUS ndk_op_wait(NdkOp* op, const char* call, NTSTATUS status) {
  if (status != STATUS_PENDING) {
    if (atomic_load(&op->calls) != 0)
      ndk_die("%s returned %s but also called its completion", call, ndk_status_name(status));
    return status;
  }
  const uint64_t until = ndk_now_ns() + (uint64_t)ndk_timeout_ms * 1000000u;
  while (atomic_load(&op->calls) == 0) {
    if (ndk_now_ns() > until) ndk_die("%s pended and never completed", call);
    ndk_sleep_us(50);
  }
  return atomic_load(&op->status);
}

void ndk_op_finish(NdkOp* op, const char* call, NTSTATUS status) {
  ndk_check(call, ndk_op_wait(op, call, status));
}

NDK_OBJECT_HEADER* ndk_op_created(NdkOp* op, const char* call, NTSTATUS status, void* direct) {
  ndk_op_finish(op, call, status);
  NDK_OBJECT_HEADER* h =
      status == STATUS_PENDING ? atomic_load(&op->object) : *(NDK_OBJECT_HEADER**)direct;
  if (h == NULL) ndk_die("%s succeeded without an object", call);
  return h;
}

/* ---- Addresses ---- */

int ndk_addr_parse(const char* text, uint16_t default_port, NdkAddr* out) {
  char host[INET6_ADDRSTRLEN + 2];
  const char* port_text = NULL;
  memset(out, 0, sizeof *out);
  if (text[0] == '[') {
    const char* close = strchr(text, ']');
    if (close == NULL || (size_t)(close - text - 1) >= sizeof host) return -1;
    memcpy(host, text + 1, (size_t)(close - text - 1));
    host[close - text - 1] = '\0';
    if (close[1] == ':')
      port_text = close + 2;
    else if (close[1] != '\0')
      return -1;
  } else {
    const char* colon = strchr(text, ':');
    const int one_colon = colon != NULL && strchr(colon + 1, ':') == NULL;
    const size_t n = one_colon ? (size_t)(colon - text) : strlen(text);
    if (n >= sizeof host) return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    if (one_colon) port_text = colon + 1;
  }
  unsigned long port = default_port;
  if (port_text != NULL) {
    char* end = NULL;
    port = strtoul(port_text, &end, 10);
    if (*port_text == '\0' || *end != '\0' || port > 65535) return -1;
  }
  if (inet_pton(AF_INET, host, &out->sa.Ipv4.sin_addr) == 1) {
    out->sa.Ipv4.sin_family = AF_INET;
    out->sa.Ipv4.sin_port = htons((uint16_t)port);
    out->len = sizeof(SOCKADDR_IN);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &out->sa.Ipv6.sin6_addr) == 1) {
    out->sa.Ipv6.sin6_family = AF_INET6;
    out->sa.Ipv6.sin6_port = htons((uint16_t)port);
    out->len = sizeof(SOCKADDR_IN6);
    return 0;
  }
  return -1;
}

int ndk_addr_is_ipv6(const NdkAddr* a) { return a->sa.si_family != AF_INET; }

uint16_t ndk_addr_port(const NdkAddr* a) {
  return ntohs(ndk_addr_is_ipv6(a) ? a->sa.Ipv6.sin6_port : a->sa.Ipv4.sin_port);
}

void ndk_addr_set_port(NdkAddr* a, uint16_t port) {
  if (ndk_addr_is_ipv6(a))
    a->sa.Ipv6.sin6_port = htons(port);
  else
    a->sa.Ipv4.sin_port = htons(port);
}

const char* ndk_addr_format(const NdkAddr* a, char* buf, size_t len) {
  char host[INET6_ADDRSTRLEN];
  if (ndk_addr_is_ipv6(a)) {
    inet_ntop(AF_INET6, &a->sa.Ipv6.sin6_addr, host, sizeof host);
    snprintf(buf, len, "[%s]:%u", host, (unsigned)ndk_addr_port(a));
  } else {
    inet_ntop(AF_INET, &a->sa.Ipv4.sin_addr, host, sizeof host);
    snprintf(buf, len, "%s:%u", host, (unsigned)ndk_addr_port(a));
  }
  return buf;
}

/* Whether an adapter's listed address (Linux family values) is the host part of a. */
static int same_host(const SOCKADDR_INET* listed, const NdkAddr* a) {
  if (!ndk_addr_is_ipv6(a))
    return listed->si_family == AF_INET &&
           memcmp(&listed->Ipv4.sin_addr, &a->sa.Ipv4.sin_addr, 4) == 0;
  return listed->si_family != AF_INET &&
         memcmp(&listed->Ipv6.sin6_addr, &a->sa.Ipv6.sin6_addr, 16) == 0;
}

/* ---- Adapters ---- */

#define NDK_TOOL_MAX_ADAPTERS 32

ULONG ndk_adapters(SOFTRNIC_NDK_ADAPTER_ENTRY* out, ULONG max) {
  ULONG count = max;
  const NTSTATUS st = NdkListAdapters(out, &count);
  if (st != STATUS_SUCCESS && st != STATUS_BUFFER_TOO_SMALL) ndk_fail("NdkListAdapters", st);
  return count;
}

NET_IFINDEX ndk_adapter_lookup(const char* text) {
  static SOFTRNIC_NDK_ADAPTER_ENTRY list[NDK_TOOL_MAX_ADAPTERS];
  const ULONG n = ndk_adapters(list, NDK_TOOL_MAX_ADAPTERS);
  char* end = NULL;
  const unsigned long number = strtoul(text, &end, 0);
  for (ULONG i = 0; i < n && i < NDK_TOOL_MAX_ADAPTERS; ++i) {
    if (strcmp(list[i].Name, text) == 0) return list[i].IfIndex;
    if (*text != '\0' && *end == '\0' && list[i].IfIndex == number) return list[i].IfIndex;
  }
  ndk_die("no adapter named or numbered '%s' (SOFTRNIC_DEVICES lists the devices)", text);
}

NET_IFINDEX ndk_adapter_with_address(const NdkAddr* a) {
  static SOFTRNIC_NDK_ADAPTER_ENTRY list[NDK_TOOL_MAX_ADAPTERS];
  const ULONG n = ndk_adapters(list, NDK_TOOL_MAX_ADAPTERS);
  for (ULONG i = 0; i < n && i < NDK_TOOL_MAX_ADAPTERS; ++i)
    for (ULONG k = 0; k < list[i].AddressCount; ++k)
      if (same_host(&list[i].Addresses[k], a)) return list[i].IfIndex;
  return 0;
}

int ndk_adapter_address(NET_IFINDEX ifindex, int ipv6, NdkAddr* out) {
  static SOFTRNIC_NDK_ADAPTER_ENTRY list[NDK_TOOL_MAX_ADAPTERS];
  const ULONG n = ndk_adapters(list, NDK_TOOL_MAX_ADAPTERS);
  for (ULONG i = 0; i < n && i < NDK_TOOL_MAX_ADAPTERS; ++i) {
    if (list[i].IfIndex != ifindex) continue;
    for (ULONG k = 0; k < list[i].AddressCount; ++k) {
      const SOCKADDR_INET* s = &list[i].Addresses[k];
      if ((s->si_family == AF_INET) == (ipv6 != 0)) continue;
      memset(out, 0, sizeof *out);
      if (ipv6) {
        out->sa.Ipv6.sin6_family = AF_INET6;
        out->sa.Ipv6.sin6_addr = s->Ipv6.sin6_addr;
        out->len = sizeof(SOCKADDR_IN6);
      } else {
        out->sa.Ipv4.sin_family = AF_INET;
        out->sa.Ipv4.sin_addr = s->Ipv4.sin_addr;
        out->len = sizeof(SOCKADDR_IN);
      }
      return 0;
    }
  }
  return -1;
}

const char* ndk_technology_name(NDK_RDMA_TECHNOLOGY t) {
  switch (t) {
    case NdkiWarp:
      return "iWARP";
    case NdkInfiniBand:
      return "InfiniBand";
    case NdkRoCE:
      return "RoCE";
    case NdkRoCEv2:
      return "RoCEv2";
    default:
      return "undefined";
  }
}

void ndk_print_adapters(void) {
  static SOFTRNIC_NDK_ADAPTER_ENTRY list[NDK_TOOL_MAX_ADAPTERS];
  const ULONG n = ndk_adapters(list, NDK_TOOL_MAX_ADAPTERS);
  for (ULONG i = 0; i < n && i < NDK_TOOL_MAX_ADAPTERS; ++i) {
    printf("%-12s ifindex %#x  %-7s", list[i].Name, (unsigned)list[i].IfIndex,
           ndk_technology_name(list[i].RdmaTechnology));
    for (ULONG k = 0; k < list[i].AddressCount; ++k) {
      const SOCKADDR_INET* a = &list[i].Addresses[k];
      char text[INET6_ADDRSTRLEN];
      if (a->si_family == AF_INET)
        inet_ntop(AF_INET, &a->Ipv4.sin_addr, text, sizeof text);
      else
        inet_ntop(AF_INET6, &a->Ipv6.sin6_addr, text, sizeof text);
      printf(" %s", text);
    }
    printf("\n");
  }
}

/* ---- One endpoint ---- */

void ndk_endpoint_open(NdkEndpoint* e, const char* role, NET_IFINDEX ifindex) {
  memset(e, 0, sizeof *e);
  e->role = role;
  e->ifindex = ifindex;
  atomic_init(&e->incoming, NULL);
  atomic_init(&e->disconnected, 0);
  atomic_init(&e->notifications, 0);
  atomic_init(&e->listening, 0);
  const NDK_VERSION v = {1, 0};
  ndk_check("NdkOpenAdapter", NdkOpenAdapter(v, ifindex, &e->adapter));
  ULONG size = sizeof e->info;
  ndk_check("NdkQueryAdapterInfo",
            e->adapter->Dispatch->NdkQueryAdapterInfo(e->adapter, &e->info, &size));
}

static VOID count_notification(PVOID context, NTSTATUS status) {
  (void)status;
  atomic_fetch_add(&((NdkEndpoint*)context)->notifications, 1);
}

void ndk_endpoint_resources(NdkEndpoint* e, ULONG cq_depth, NDK_FN_CQ_NOTIFICATION_CALLBACK notify,
                            PVOID notify_context, size_t buf_len) {
  if (cq_depth > e->info.MaxCqDepth)
    ndk_die("%s: a CQ of %u entries is deeper than the adapter's %u", e->role, (unsigned)cq_depth,
            (unsigned)e->info.MaxCqDepth);
  NdkOp op;
  ndk_op_init(&op);
  NDK_PD* pd = NULL;
  e->pd = (NDK_PD*)ndk_op_created(
      &op, "NdkCreatePd", e->adapter->Dispatch->NdkCreatePd(e->adapter, ndk_on_create, &op, &pd),
      &pd);
  ndk_op_init(&op);
  NDK_CQ* cq = NULL;
  if (notify == NULL) {
    notify = count_notification;
    notify_context = e;
  }
  e->cq = (NDK_CQ*)ndk_op_created(
      &op, "NdkCreateCq",
      e->adapter->Dispatch->NdkCreateCq(e->adapter, cq_depth, notify, notify_context, NULL,
                                        ndk_on_create, &op, &cq),
      &cq);
  ndk_op_init(&op);
  NDK_MR* mr = NULL;
  e->mr = (NDK_MR*)ndk_op_created(
      &op, "NdkCreateMr", e->pd->Dispatch->NdkCreateMr(e->pd, FALSE, ndk_on_create, &op, &mr), &mr);
  if (buf_len > 0xFFFFFFFFu) ndk_die("%s: a buffer of %zu bytes is too large", e->role, buf_len);
  /* Page-aligned, as registered memory usually is. */
  e->buf_len = buf_len;
  e->buf = aligned_alloc(4096, (buf_len + 4095) / 4096 * 4096);
  if (e->buf == NULL) ndk_die("%s: out of memory for a %zu-byte buffer", e->role, buf_len);
  memset(e->buf, 0, buf_len);
  e->mdl = IoAllocateMdl(e->buf, (ULONG)buf_len, FALSE, FALSE, NULL);
  if (e->mdl == NULL) ndk_die("%s: IoAllocateMdl failed", e->role);
  MmBuildMdlForNonPagedPool(e->mdl);
  ndk_op_init(&op);
  const ULONG flags = NDK_MR_FLAG_ALLOW_LOCAL_WRITE | NDK_MR_FLAG_ALLOW_REMOTE_READ |
                      NDK_MR_FLAG_ALLOW_REMOTE_WRITE;
  ndk_op_finish(&op, "NdkRegisterMr",
                e->mr->Dispatch->NdkRegisterMr(e->mr, e->mdl, buf_len, flags, ndk_on_request, &op));
  e->local_token = e->mr->Dispatch->NdkGetLocalTokenFromMr(e->mr);
  e->remote_token = e->mr->Dispatch->NdkGetRemoteTokenFromMr(e->mr);
}

void ndk_endpoint_qp(NdkEndpoint* e, PVOID qp_context, ULONG receive_depth, ULONG initiator_depth,
                     ULONG inline_size) {
  if (receive_depth > e->info.MaxReceiveQueueDepth ||
      initiator_depth > e->info.MaxInitiatorQueueDepth)
    ndk_die("%s: queue depths %u/%u exceed the adapter's %u/%u", e->role, (unsigned)receive_depth,
            (unsigned)initiator_depth, (unsigned)e->info.MaxReceiveQueueDepth,
            (unsigned)e->info.MaxInitiatorQueueDepth);
  if (inline_size > e->info.MaxInlineDataSize) inline_size = e->info.MaxInlineDataSize;
  NdkOp op;
  ndk_op_init(&op);
  NDK_QP* qp = NULL;
  e->qp = (NDK_QP*)ndk_op_created(
      &op, "NdkCreateQp",
      e->pd->Dispatch->NdkCreateQp(e->pd, e->cq, e->cq, qp_context, receive_depth, initiator_depth,
                                   1, 1, inline_size, ndk_on_create, &op, &qp),
      &qp);
}

static void close_object(const char* call, NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_OBJECT fn) {
  NdkOp op;
  ndk_op_init(&op);
  ndk_op_finish(&op, call, fn(h, ndk_on_close, &op));
}

void ndk_endpoint_close(NdkEndpoint* e) {
  if (e->conn)
    close_object("NdkCloseConnector", &e->conn->Header, e->conn->Dispatch->NdkCloseConnector);
  if (e->listener)
    close_object("NdkCloseListener", &e->listener->Header, e->listener->Dispatch->NdkCloseListener);
  if (e->qp) close_object("NdkCloseQp", &e->qp->Header, e->qp->Dispatch->NdkCloseQp);
  if (e->mr) close_object("NdkCloseMr", &e->mr->Header, e->mr->Dispatch->NdkCloseMr);
  if (e->cq) close_object("NdkCloseCq", &e->cq->Header, e->cq->Dispatch->NdkCloseCq);
  if (e->pd) close_object("NdkClosePd", &e->pd->Header, e->pd->Dispatch->NdkClosePd);
  e->conn = NULL;
  e->listener = NULL;
  e->qp = NULL;
  e->mr = NULL;
  e->cq = NULL;
  e->pd = NULL;
  if (e->mdl) IoFreeMdl(e->mdl);
  e->mdl = NULL;
  free(e->buf);
  e->buf = NULL;
  if (e->adapter) NdkCloseAdapter(e->adapter);
  e->adapter = NULL;
}

NDK_SGE ndk_sge(const NdkEndpoint* e, size_t offset, ULONG length) {
  NDK_SGE s;
  memset(&s, 0, sizeof s);
  s.VirtualAddress = e->buf + offset;
  s.Length = length;
  s.MemoryRegionToken = e->local_token;
  return s;
}

void ndk_post_receive(NdkEndpoint* e, PVOID context, size_t offset, ULONG length) {
  const NDK_SGE s = ndk_sge(e, offset, length);
  ndk_check("NdkReceive", e->qp->Dispatch->NdkReceive(e->qp, context, &s, 1));
}

/* ---- Connections ---- */

static VOID close_done(PVOID context) { (void)context; }

static VOID on_connect_event(PVOID context, NDK_CONNECTOR* c) {
  NdkEndpoint* e = (NdkEndpoint*)context;
  NDK_CONNECTOR* expected = NULL;
  /* One client at a time: a second request is refused by closing its connector (an implicit
   * reject), which a callback may do. */
  if (!atomic_compare_exchange_strong(&e->incoming, &expected, c))
    (void)c->Dispatch->NdkCloseConnector(&c->Header, close_done, NULL);
}

static VOID on_disconnect_event(PVOID context) {
  atomic_fetch_add(&((NdkEndpoint*)context)->disconnected, 1);
}

void ndk_listen(NdkEndpoint* e, const NdkAddr* at) {
  NdkOp op;
  ndk_op_init(&op);
  NDK_LISTENER* l = NULL;
  e->listener =
      (NDK_LISTENER*)ndk_op_created(&op, "NdkCreateListener",
                                    e->adapter->Dispatch->NdkCreateListener(
                                        e->adapter, on_connect_event, e, ndk_on_create, &op, &l),
                                    &l);
  ndk_op_init(&op);
  ndk_op_finish(&op, "NdkListen",
                e->listener->Dispatch->NdkListen(e->listener, (PSOCKADDR)&at->sa, at->len,
                                                 ndk_on_request, &op));
  atomic_store(&e->listening, 1);
}

NDK_CONNECTOR* ndk_take_connector(NdkEndpoint* e, long wait_ms) {
  const uint64_t until = ndk_now_ns() + (uint64_t)wait_ms * 1000000u;
  NDK_CONNECTOR* c;
  while ((c = atomic_exchange(&e->incoming, NULL)) == NULL) {
    if (ndk_now_ns() > until) ndk_die("server: no client connected within %ld ms", wait_ms);
    ndk_sleep_us(200);
  }
  return c;
}

void ndk_connection_data(NDK_CONNECTOR* c, ULONG* inbound, ULONG* outbound, void* buf, ULONG* len) {
  ULONG need = 0;
  ndk_check("NdkGetConnectionData (size)",
            c->Dispatch->NdkGetConnectionData(c, NULL, NULL, NULL, &need));
  if (need > *len)
    ndk_die("connection data of %u bytes does not fit %u", (unsigned)need, (unsigned)*len);
  ULONG got = *len;
  ndk_check("NdkGetConnectionData",
            c->Dispatch->NdkGetConnectionData(c, inbound, outbound, buf, &got));
  *len = got;
}

void ndk_accept(NdkEndpoint* e, ULONG ird, ULONG ord, const void* data, ULONG len) {
  NdkOp op;
  ndk_op_init(&op);
  ndk_op_finish(&op, "NdkAccept",
                e->conn->Dispatch->NdkAccept(e->conn, e->qp, ird, ord, (PVOID)data, len,
                                             on_disconnect_event, e, ndk_on_request, &op));
}

void ndk_connect(NdkEndpoint* e, const NdkAddr* to, ULONG ird, ULONG ord, const void* data,
                 ULONG len) {
  NdkOp op;
  ndk_op_init(&op);
  NDK_CONNECTOR* c = NULL;
  e->conn = (NDK_CONNECTOR*)ndk_op_created(
      &op, "NdkCreateConnector",
      e->adapter->Dispatch->NdkCreateConnector(e->adapter, ndk_on_create, &op, &c), &c);
  ndk_op_init(&op);
  ndk_op_finish(&op, "NdkConnect",
                e->conn->Dispatch->NdkConnect(e->conn, e->qp, NULL, 0, (PSOCKADDR)&to->sa, to->len,
                                              ird, ord, (PVOID)data, len, ndk_on_request, &op));
}

void ndk_complete_connect(NdkEndpoint* e) {
  NdkOp op;
  ndk_op_init(&op);
  ndk_op_finish(
      &op, "NdkCompleteConnect",
      e->conn->Dispatch->NdkCompleteConnect(e->conn, on_disconnect_event, e, ndk_on_request, &op));
}

void ndk_disconnect(NdkEndpoint* e) {
  NdkOp op;
  ndk_op_init(&op);
  ndk_op_finish(&op, "NdkDisconnect",
                e->conn->Dispatch->NdkDisconnect(e->conn, ndk_on_request, &op));
}

int ndk_wait_disconnect(NdkEndpoint* e, long wait_ms) {
  const uint64_t until = ndk_now_ns() + (uint64_t)wait_ms * 1000000u;
  while (atomic_load(&e->disconnected) == 0) {
    if (ndk_now_ns() > until) return 0;
    ndk_sleep_us(200);
  }
  return 1;
}

/* ---- Completions ---- */

NDK_RESULT ndk_next_result(NdkEndpoint* e, NdkWaitStyle style) {
  if (e->pending_at == e->pending_count) {
    e->pending_at = e->pending_count = 0;
    uint64_t until = 0;
    for (;;) {
      e->pending_count = e->cq->Dispatch->NdkGetCqResults(e->cq, e->pending, 64);
      if (e->pending_count > 0) break;
      if (until == 0) until = ndk_now_ns() + (uint64_t)ndk_timeout_ms * 1000000u;
      if (ndk_now_ns() > until) ndk_die("%s: no completion within %ld ms", e->role, ndk_timeout_ms);
      if (style == NDK_WAIT_NOTIFY) {
        /* One-shot: the notification comes for a completion that arrives after the arm, or at
         * once for one that arrived since the last notification. */
        const int seen = atomic_load(&e->notifications);
        e->cq->Dispatch->NdkArmCq(e->cq, NDK_CQ_NOTIFY_ANY);
        while (atomic_load(&e->notifications) == seen && ndk_now_ns() <= until) {
        }
      }
    }
  }
  const NDK_RESULT r = e->pending[e->pending_at++];
  if (r.Status != STATUS_SUCCESS) {
    char call[64];
    snprintf(call, sizeof call, "%s work request (context kind %u)", e->role,
             NDK_CTX_KIND(r.RequestContext));
    ndk_fail(call, r.Status);
  }
  return r;
}

/* ---- Data patterns and fields ---- */

void ndk_pattern_fill(unsigned char* p, size_t len, uint64_t seq) {
  unsigned char b = (unsigned char)(seq * 31u + 1u);
  for (size_t i = 0; i < len; ++i, b = (unsigned char)(b + 7u)) p[i] = b;
}

size_t ndk_pattern_check(const unsigned char* p, size_t len, uint64_t seq) {
  unsigned char b = (unsigned char)(seq * 31u + 1u);
  for (size_t i = 0; i < len; ++i, b = (unsigned char)(b + 7u))
    if (p[i] != b) return i;
  return len;
}

void ndk_put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
void ndk_put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
uint32_t ndk_get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t ndk_get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
