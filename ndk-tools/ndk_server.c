/* ndk_server.c: the callback-driven server of ndkping and ndkperf (see ndk_server.h). */
#define _GNU_SOURCE

#include "ndk_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndk_tool_proto.h"

enum { KIND_RECEIVE = 1, KIND_ECHO = 2, KIND_CONTROL = 3 };

typedef struct {
  NdkEndpoint ep;
  NdkConnectRequest req;
  /* Buffer layout: [target region][receive slots] */
  size_t target_len, slots_at, slot_size;
  uint32_t posted;     /* receives kept posted (the client's credits) */
  uint32_t slot_count; /* posted + spares (ping) */
  /* Engine-thread state: touched only by the CQ notification callback once accepted. */
  uint32_t* spares;
  uint32_t spare_count;
  uint32_t ungranted, grant_threshold;
  uint64_t expected_seq;
  uint64_t messages, bytes, errors;
  /* What the waiting thread reads. */
  atomic_int done;
  atomic_ullong progress;
  atomic_int failed;
  const char* failed_call;
  NTSTATUS failed_status;
} Server;

static void server_failed(Server* s, const char* call, NTSTATUS st) {
  int expected = 0;
  if (atomic_compare_exchange_strong(&s->failed, &expected, -1)) {
    s->failed_call = call;
    s->failed_status = st;
    atomic_store(&s->failed, 1);
  }
}

static unsigned char* slot(Server* s, size_t i) {
  return s->ep.buf + s->slots_at + i * s->slot_size;
}

static NTSTATUS post_slot(Server* s, size_t i) {
  const NDK_SGE sge = ndk_sge(&s->ep, s->slots_at + i * s->slot_size, (ULONG)s->slot_size);
  return s->ep.qp->Dispatch->NdkReceive(s->ep.qp, NDK_CTX(KIND_RECEIVE, i), &sge, 1);
}

/* A control message, copied into the work request (INLINE): no buffer to keep. */
static NTSTATUS send_control(Server* s, const NdkControl* c, ULONG flags) {
  unsigned char m[NDK_TOOL_CONTROL_SIZE];
  ndk_control_encode(c, m);
  NDK_SGE sge;
  memset(&sge, 0, sizeof sge);
  sge.VirtualAddress = m;
  sge.Length = sizeof m;
  return s->ep.qp->Dispatch->NdkSend(s->ep.qp, NDK_CTX(KIND_CONTROL, 0), &sge, 1,
                                     flags | NDK_OP_FLAG_INLINE);
}

static void on_done(Server* s, const NdkControl* c) {
  (void)c;
  if (s->req.test == NDK_TEST_WRITE) {
    /* RC ordering: the writes before DONE are placed before DONE's receive completes. */
    const size_t at = ndk_pattern_check(s->ep.buf, s->req.size, NDK_WRITE_SEED);
    if (at != s->req.size) {
      fprintf(stderr, "%s: server: byte %zu of the written region is wrong\n", ndk_tool_name, at);
      ++s->errors;
    }
  }
  NdkControl result = {NDK_CONTROL_RESULT, 0, s->messages, s->bytes, s->errors};
  const NTSTATUS st = send_control(s, &result, 0);
  if (st != STATUS_SUCCESS) server_failed(s, "NdkSend (RESULT)", st);
  atomic_store(&s->done, 1);
}

static void on_receive(Server* s, const NDK_RESULT_EX* r) {
  const size_t i = NDK_CTX_SLOT(r->RequestContext);
  const unsigned char* p = slot(s, i);
  NdkControl c;
  if (ndk_control_decode(p, r->BytesTransferred, &c) == 0) {
    if (c.kind != NDK_CONTROL_DONE) {
      fprintf(stderr, "%s: server: unexpected control message %u\n", ndk_tool_name, c.kind);
      ++s->errors;
    } else {
      on_done(s, &c);
    }
    return;
  }
  ++s->messages;
  s->bytes += r->BytesTransferred;
  atomic_store(&s->progress, s->messages);
  if (s->req.tool == NDK_TOOL_PING) {
    /* A spare takes this buffer's place before the echo leaves, so the next ping always finds a
     * receive (on iWARP a send without one ends the connection). */
    if (s->spare_count == 0) {
      server_failed(s, "echo (no spare receive buffer)", STATUS_INSUFFICIENT_RESOURCES);
      return;
    }
    NTSTATUS st = post_slot(s, s->spares[--s->spare_count]);
    if (st != STATUS_SUCCESS) {
      server_failed(s, "NdkReceive", st);
      return;
    }
    const NDK_SGE sge = ndk_sge(&s->ep, s->slots_at + i * s->slot_size, r->BytesTransferred);
    st = s->ep.qp->Dispatch->NdkSend(s->ep.qp, NDK_CTX(KIND_ECHO, i), &sge, 1, 0);
    if (st != STATUS_SUCCESS) server_failed(s, "NdkSend (echo)", st);
    return;
  }
  const size_t at = ndk_pattern_check(p, r->BytesTransferred, s->expected_seq);
  if (at != r->BytesTransferred) {
    if (s->errors == 0)
      fprintf(stderr, "%s: server: message %llu differs at byte %zu\n", ndk_tool_name,
              (unsigned long long)s->expected_seq, at);
    ++s->errors;
  }
  ++s->expected_seq;
  const NTSTATUS st = post_slot(s, i);
  if (st != STATUS_SUCCESS) {
    server_failed(s, "NdkReceive", st);
    return;
  }
  ++s->ungranted;
}

static void handle(Server* s, const NDK_RESULT_EX* r) {
  if (r->Status != STATUS_SUCCESS) {
    /* Work flushed by the disconnect at the end is expected. */
    if (r->Status == STATUS_CANCELLED && atomic_load(&s->done)) return;
    server_failed(
        s, r->Type == NdkOperationTypeReceive ? "NdkReceive (completion)" : "NdkSend (completion)",
        r->Status);
    return;
  }
  if (atomic_load(&s->done)) return;
  switch (NDK_CTX_KIND(r->RequestContext)) {
    case KIND_RECEIVE:
      on_receive(s, r);
      break;
    case KIND_ECHO:
      s->spares[s->spare_count++] = (uint32_t)NDK_CTX_SLOT(r->RequestContext);
      break;
    default:
      break;
  }
}

/* The CQ notification: drain, answer, grant, re-arm. Runs in the engine's completion context:
 * it never blocks, and reports failures to the waiting thread instead of ending the process. */
static VOID on_cq(PVOID context, NTSTATUS cq_status) {
  Server* s = (Server*)context;
  if (atomic_load(&s->failed)) return;
  if (cq_status != STATUS_SUCCESS) {
    server_failed(s, "CQ notification", cq_status);
    return;
  }
  NDK_RESULT_EX r[32];
  ULONG n;
  while ((n = s->ep.cq->Dispatch->NdkGetCqResultsEx(s->ep.cq, r, 32)) > 0)
    for (ULONG i = 0; i < n; ++i) handle(s, &r[i]);
  if (s->ungranted >= s->grant_threshold && !atomic_load(&s->done)) {
    NdkControl g = {NDK_CONTROL_GRANT, s->ungranted, 0, 0, 0};
    const NTSTATUS st = send_control(s, &g, NDK_OP_FLAG_SILENT_SUCCESS);
    if (st == STATUS_SUCCESS)
      s->ungranted = 0;
    else if (st != STATUS_INSUFFICIENT_RESOURCES) /* a full send queue: grant on the next one */
      server_failed(s, "NdkSend (GRANT)", st);
  }
  if (!atomic_load(&s->failed)) s->ep.cq->Dispatch->NdkArmCq(s->ep.cq, NDK_CQ_NOTIFY_ANY);
}

static void check_failed(Server* s) {
  if (atomic_load(&s->failed) == 1) ndk_fail(s->failed_call, s->failed_status);
}

/* Sizes everything from the client's request; 0 when the request cannot be served. */
static int plan(Server* s, const NdkConnectRequest* q) {
  const NDK_ADAPTER_INFO* in = &s->ep.info;
  if (q->size == 0 || q->size > in->MaxTransferLength || q->depth == 0) return 0;
  const size_t small = NDK_TOOL_CONTROL_SIZE > 64 ? NDK_TOOL_CONTROL_SIZE : 64;
  s->target_len = 0;
  s->slot_size = small;
  if (q->test == NDK_TEST_WRITE || q->test == NDK_TEST_READ) {
    s->target_len = ((q->size > 64 ? q->size : 64u) + 4095u) / 4096u * 4096u;
    s->posted = 4; /* DONE only */
  } else {
    s->slot_size = q->size > small ? q->size : small;
    s->posted = q->tool == NDK_TOOL_PING ? 8 : 2 * q->depth;
    if (s->posted < 16) s->posted = 16;
    if (s->posted > 512) s->posted = 512;
  }
  /* Receive queue depth bounds the credits. */
  if (s->posted + 8 > in->MaxReceiveQueueDepth) s->posted = in->MaxReceiveQueueDepth - 8;
  s->slot_count = q->tool == NDK_TOOL_PING ? 2 * s->posted : s->posted;
  s->slot_size = (s->slot_size + 63) / 64 * 64;
  s->slots_at = s->target_len;
  s->grant_threshold = s->posted / 4 ? s->posted / 4 : 1;
  return (uint64_t)s->slots_at + (uint64_t)s->slot_count * s->slot_size < (256u << 20);
}

int ndk_server_run(const NdkServerOptions* o) {
  Server* s = calloc(1, sizeof *s);
  if (s == NULL) ndk_die("server: out of memory");
  atomic_init(&s->done, 0);
  atomic_init(&s->progress, 0);
  atomic_init(&s->failed, 0);
  NdkEndpoint* e = &s->ep;
  ndk_endpoint_open(e, "server", o->ifindex);
  ndk_listen(e, &o->at);
  char where[80];
  if (!o->quiet)
    printf("server: listening on %s (adapter %#x, %s)\n",
           ndk_addr_format(&o->at, where, sizeof where), (unsigned)o->ifindex,
           ndk_technology_name(e->info.RdmaTechnology));
  fflush(stdout);
  if (o->ready) atomic_store(o->ready, 1);

  e->conn = ndk_take_connector(e, o->wait_ms);
  unsigned char data[1024];
  ULONG len = sizeof data, ird = 0, ord = 0;
  ndk_connection_data(e->conn, &ird, &ord, data, &len);
  unsigned char reply[NDK_TOOL_ACCEPT_SIZE];
  if (ndk_connect_request_decode(data, len, &s->req) != 0 || s->req.tool != o->tool ||
      !plan(s, &s->req)) {
    NdkAcceptReply no = {1, 0, 0, 0, 0, 0};
    ndk_accept_reply_encode(&no, reply);
    ndk_check("NdkReject", e->conn->Dispatch->NdkReject(e->conn, reply, sizeof reply));
    ndk_die("server: rejected a client whose request it cannot serve (wrong tool or sizes)");
  }

  const ULONG sq = s->posted + 16;
  ndk_endpoint_resources(e, s->slot_count + sq + 16, on_cq, s,
                         s->slots_at + s->slot_count * s->slot_size);
  ndk_endpoint_qp(e, s, s->slot_count + 8, sq, NDK_TOOL_CONTROL_SIZE);
  if (s->req.test == NDK_TEST_READ) ndk_pattern_fill(e->buf, s->target_len, NDK_READ_SEED);
  s->spares = calloc(s->slot_count, sizeof *s->spares);
  if (s->spares == NULL) ndk_die("server: out of memory");
  for (uint32_t i = 0; i < s->posted; ++i) ndk_check("NdkReceive", post_slot(s, i));
  for (uint32_t i = s->slot_count; i > s->posted; --i) s->spares[s->spare_count++] = i - 1;
  e->cq->Dispatch->NdkArmCq(e->cq, NDK_CQ_NOTIFY_ANY);

  const NdkAcceptReply ok = {0,
                             s->posted,
                             (uint64_t)(uintptr_t)e->buf,
                             e->remote_token,
                             (uint32_t)s->target_len,
                             (uint32_t)s->slot_size};
  ndk_accept_reply_encode(&ok, reply);
  const ULONG reads = s->req.test == NDK_TEST_READ ? s->req.depth : 0;
  ndk_accept(e, reads < e->info.MaxInboundReadLimit ? reads : e->info.MaxInboundReadLimit, 0, reply,
             sizeof reply);

  /* From here on the callbacks do the work; this thread watches for the end, a failure, or a
   * client that went quiet. */
  unsigned long long seen = 0;
  uint64_t quiet_since = ndk_now_ns();
  while (!atomic_load(&s->done)) {
    check_failed(s);
    if (atomic_load(&e->disconnected)) ndk_die("server: the client disconnected before DONE");
    const unsigned long long p = atomic_load(&s->progress);
    if (p != seen) {
      seen = p;
      quiet_since = ndk_now_ns();
    } else if (ndk_now_ns() - quiet_since > (uint64_t)ndk_timeout_ms * 1000000u) {
      ndk_die("server: nothing arrived for %ld ms (after %llu messages)", ndk_timeout_ms, seen);
    }
    ndk_sleep_us(200);
  }
  check_failed(s);
  if (!ndk_wait_disconnect(e, ndk_timeout_ms)) ndk_disconnect(e);
  const uint64_t messages = s->messages, bytes = s->bytes, errors = s->errors;
  ndk_endpoint_close(e);
  check_failed(s);
  if (!o->quiet)
    printf("server: %llu messages, %llu bytes received, %llu errors\n",
           (unsigned long long)messages, (unsigned long long)bytes, (unsigned long long)errors);
  free(s->spares);
  free(s);
  return errors == 0 ? 0 : 1;
}
