/*
 * A plain C11 NDK consumer, built the way code outside this repository builds it:
 *   cc -std=c11 -Wall -Werror consumer.c $(pkg-config --cflags --libs softrnic-ndk)
 * It knows nothing of softrnic beyond the NDK headers and the two interface indexes it is given
 * (argv[1], argv[2]: the active and the passive adapter, from SOFTRNIC_DEVICES). It opens both
 * adapters, queries their info, builds CQ/PD/MR/QP on each, connects through a listener and a
 * connector, moves one message, disconnects and closes everything. Every call that may pend is
 * waited for through its completion callback, and a call that did not pend must not call it.
 * Exit status: 0 when every check held, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ndkpi.h"
#include "wskndk.h"

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

static void pause_briefly(void) {
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
}

/* One asynchronous call: its completion, counted. */
typedef struct {
  atomic_int calls;
  NTSTATUS status;
  NDK_OBJECT_HEADER* object;
} Op;

static VOID OnCreate(PVOID ctx, NTSTATUS status, NDK_OBJECT_HEADER* object) {
  Op* op = (Op*)ctx;
  op->status = status;
  op->object = object;
  atomic_fetch_add(&op->calls, 1);
}
static VOID OnRequest(PVOID ctx, NTSTATUS status) {
  Op* op = (Op*)ctx;
  op->status = status;
  atomic_fetch_add(&op->calls, 1);
}
static VOID OnClose(PVOID ctx) { atomic_fetch_add(&((Op*)ctx)->calls, 1); }

/* Waits (at most 10 s) for the completion of a call that returned `st`. */
static NTSTATUS finish(Op* op, NTSTATUS st) {
  if (st != STATUS_PENDING) {
    CHECK(atomic_load(&op->calls) == 0);
    return st;
  }
  for (int i = 0; i < 50000 && atomic_load(&op->calls) == 0; ++i) pause_briefly();
  CHECK(atomic_load(&op->calls) == 1);
  return atomic_load(&op->calls) == 1 ? op->status : STATUS_IO_TIMEOUT;
}

/* The object a create call made: from the callback when it pended, else from *direct. */
static NDK_OBJECT_HEADER* made(Op* op, NTSTATUS st, void* direct) {
  const NTSTATUS final = finish(op, st);
  CHECK(final == STATUS_SUCCESS);
  if (final != STATUS_SUCCESS) return NULL;
  return st == STATUS_PENDING ? op->object : *(NDK_OBJECT_HEADER**)direct;
}

typedef struct {
  NDK_ADAPTER* adapter;
  NDK_CQ* cq;
  NDK_PD* pd;
  NDK_MR* mr;
  NDK_QP* qp;
  MDL* mdl;
  unsigned char buf[4096];
} Side;

static int open_side(Side* s, NET_IFINDEX ifindex) {
  NDK_VERSION v = {1, 0};
  NTSTATUS st = NdkOpenAdapter(v, ifindex, &s->adapter);
  CHECK(st == STATUS_SUCCESS);
  if (st != STATUS_SUCCESS) return 0;
  NDK_ADAPTER_INFO info;
  ULONG size = sizeof info;
  CHECK(s->adapter->Dispatch->NdkQueryAdapterInfo(s->adapter, &info, &size) == STATUS_SUCCESS);
  CHECK(info.RdmaTechnology == NdkRoCEv2 || info.RdmaTechnology == NdkiWarp);
  CHECK(info.MaxInitiatorQueueDepth >= 16 && info.MaxCqDepth >= 64);
  printf("adapter %#x: technology %d, max caller data %u\n", (unsigned)ifindex,
         (int)info.RdmaTechnology, (unsigned)info.MaxCallerData);

  Op c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0}, c5 = {0};
  NDK_CQ* cq = NULL;
  s->cq = (NDK_CQ*)made(
      &c1, s->adapter->Dispatch->NdkCreateCq(s->adapter, 64, NULL, NULL, NULL, OnCreate, &c1, &cq),
      &cq);
  NDK_PD* pd = NULL;
  s->pd =
      (NDK_PD*)made(&c2, s->adapter->Dispatch->NdkCreatePd(s->adapter, OnCreate, &c2, &pd), &pd);
  if (s->cq == NULL || s->pd == NULL) return 0;
  NDK_MR* mr = NULL;
  s->mr = (NDK_MR*)made(&c3, s->pd->Dispatch->NdkCreateMr(s->pd, FALSE, OnCreate, &c3, &mr), &mr);
  if (s->mr == NULL) return 0;
  s->mdl = IoAllocateMdl(s->buf, sizeof s->buf, FALSE, FALSE, NULL);
  MmBuildMdlForNonPagedPool(s->mdl);
  CHECK(finish(&c4, s->mr->Dispatch->NdkRegisterMr(s->mr, s->mdl, sizeof s->buf,
                                                   NDK_MR_FLAG_ALLOW_LOCAL_WRITE, OnRequest,
                                                   &c4)) == STATUS_SUCCESS);
  NDK_QP* qp = NULL;
  s->qp = (NDK_QP*)made(
      &c5,
      s->pd->Dispatch->NdkCreateQp(s->pd, s->cq, s->cq, s, 16, 16, 1, 1, 0, OnCreate, &c5, &qp),
      &qp);
  return s->qp != NULL;
}

/* Closes an object through the first slot of its dispatch table (every table starts with its
 * close function, NDK_FN_CLOSE_OBJECT). */
static void close_object(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_OBJECT close_fn) {
  if (h == NULL) return;
  Op op = {0};
  CHECK(finish(&op, close_fn(h, OnClose, &op)) == STATUS_SUCCESS);
}

static void close_side(Side* s) {
  if (s->qp) close_object(&s->qp->Header, s->qp->Dispatch->NdkCloseQp);
  if (s->mr) close_object(&s->mr->Header, s->mr->Dispatch->NdkCloseMr);
  if (s->cq) close_object(&s->cq->Header, s->cq->Dispatch->NdkCloseCq);
  if (s->pd) close_object(&s->pd->Header, s->pd->Dispatch->NdkClosePd);
  if (s->mdl) IoFreeMdl(s->mdl);
  if (s->adapter) NdkCloseAdapter(s->adapter);
}

/* The passive side's connect event: accept at once on the passive QP. */
typedef struct {
  Side* side;
  _Atomic(NDK_CONNECTOR*) connector;
  Op accept;
  atomic_int disconnects;
} Passive;

static VOID OnPassiveDisconnect(PVOID ctx) { atomic_fetch_add(&((Passive*)ctx)->disconnects, 1); }

static VOID OnConnectEvent(PVOID ctx, NDK_CONNECTOR* c) {
  Passive* p = (Passive*)ctx;
  /* The private data comes padded to the transport's size (56 bytes on RoCEv2's CM REQ). */
  char hello[256] = {0};
  ULONG len = sizeof hello;
  CHECK(c->Dispatch->NdkGetConnectionData(c, NULL, NULL, hello, &len) == STATUS_SUCCESS);
  CHECK(strcmp(hello, "hello") == 0);
  const NTSTATUS st = c->Dispatch->NdkAccept(c, p->side->qp, 0, 0, NULL, 0, OnPassiveDisconnect, p,
                                             OnRequest, &p->accept);
  /* A call that did not pend never calls its completion: record its outcome here. */
  if (st != STATUS_PENDING) OnRequest(&p->accept, st);
  atomic_store(&p->connector, c);
}

static ULONG poll_cq(NDK_CQ* cq, NDK_RESULT* r) {
  for (int i = 0; i < 50000; ++i) {
    if (cq->Dispatch->NdkGetCqResults(cq, r, 1) == 1) return 1;
    pause_briefly();
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s ACTIVE_IFINDEX PASSIVE_IFINDEX PASSIVE_IPV4\n", argv[0]);
    return 2;
  }
  const NET_IFINDEX if_a = (NET_IFINDEX)strtoul(argv[1], NULL, 0);
  const NET_IFINDEX if_b = (NET_IFINDEX)strtoul(argv[2], NULL, 0);
  static Side a, b;
  if (!open_side(&a, if_a) || !open_side(&b, if_b)) {
    close_side(&a);
    close_side(&b);
    fprintf(stderr, "could not open both sides\n");
    return 1;
  }

  /* Listener on b, port 445. */
  static Passive p;
  p.side = &b;
  Op l1 = {0}, l2 = {0};
  NDK_LISTENER* l = NULL;
  l = (NDK_LISTENER*)made(
      &l1, b.adapter->Dispatch->NdkCreateListener(b.adapter, OnConnectEvent, &p, OnCreate, &l1, &l),
      &l);
  SOCKADDR_IN at;
  memset(&at, 0, sizeof at);
  at.sin_family = AF_INET;
  at.sin_port = htons(445);
  CHECK(inet_pton(AF_INET, argv[3], &at.sin_addr) == 1);
  if (l != NULL)
    CHECK(finish(&l2, l->Dispatch->NdkListen(l, (PSOCKADDR)&at, sizeof at, OnRequest, &l2)) ==
          STATUS_SUCCESS);

  /* A receive on b before the connection exists. */
  NDK_SGE r;
  r.VirtualAddress = b.buf;
  r.Length = sizeof b.buf;
  r.MemoryRegionToken = b.mr->Dispatch->NdkGetLocalTokenFromMr(b.mr);
  CHECK(b.qp->Dispatch->NdkReceive(b.qp, &r, &r, 1) == STATUS_SUCCESS);

  /* Connector on a: Connect, then CompleteConnect. */
  Op k1 = {0}, k2 = {0}, k3 = {0};
  NDK_CONNECTOR* conn = NULL;
  conn = (NDK_CONNECTOR*)made(
      &k1, a.adapter->Dispatch->NdkCreateConnector(a.adapter, OnCreate, &k1, &conn), &conn);
  int connected = 0;
  if (conn != NULL) {
    char hello[] = "hello";
    connected = finish(&k2, conn->Dispatch->NdkConnect(conn, a.qp, NULL, 0, (PSOCKADDR)&at,
                                                       sizeof at, 0, 0, hello, sizeof hello,
                                                       OnRequest, &k2)) == STATUS_SUCCESS;
    CHECK(connected);
  }
  if (connected) {
    CHECK(finish(&k3, conn->Dispatch->NdkCompleteConnect(conn, NULL, NULL, OnRequest, &k3)) ==
          STATUS_SUCCESS);
    for (int i = 0; i < 50000 && atomic_load(&p.accept.calls) == 0; ++i) pause_briefly();
    CHECK(atomic_load(&p.accept.calls) == 1 && p.accept.status == STATUS_SUCCESS);

    /* One send from a to b. */
    const char message[] = "one message through the NDK shim";
    memcpy(a.buf, message, sizeof message);
    NDK_SGE s;
    s.VirtualAddress = a.buf;
    s.Length = sizeof message;
    s.MemoryRegionToken = a.mr->Dispatch->NdkGetLocalTokenFromMr(a.mr);
    CHECK(a.qp->Dispatch->NdkSend(a.qp, &s, &s, 1, 0) == STATUS_SUCCESS);
    NDK_RESULT got;
    CHECK(poll_cq(b.cq, &got) == 1);
    CHECK(got.Status == STATUS_SUCCESS && got.BytesTransferred == sizeof message);
    CHECK(got.QPContext == &b && got.RequestContext == &r);
    CHECK(memcmp(b.buf, message, sizeof message) == 0);
    CHECK(poll_cq(a.cq, &got) == 1);
    CHECK(got.Status == STATUS_SUCCESS && got.RequestContext == &s);

    Op d = {0};
    CHECK(finish(&d, conn->Dispatch->NdkDisconnect(conn, OnRequest, &d)) == STATUS_SUCCESS);
    for (int i = 0; i < 50000 && atomic_load(&p.disconnects) == 0; ++i) pause_briefly();
    CHECK(atomic_load(&p.disconnects) == 1);
  }

  if (conn) close_object(&conn->Header, conn->Dispatch->NdkCloseConnector);
  NDK_CONNECTOR* pc = atomic_load(&p.connector);
  if (pc) close_object(&pc->Header, pc->Dispatch->NdkCloseConnector);
  if (l) close_object(&l->Header, l->Dispatch->NdkCloseListener);
  close_side(&a);
  close_side(&b);
  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("consumer: connected, sent, received, disconnected and closed\n");
  return 0;
}
