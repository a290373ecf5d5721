/*
 * ndk_server.h: the server side of ndkping and ndkperf. It listens on one adapter, takes one
 * client, sizes its buffers from the client's connect private data (ndk_tool_proto.h), accepts,
 * and then runs entirely in CQ notification callbacks (the NDK kernel consumer's way): each
 * notification drains the CQ with NdkGetCqResultsEx, answers what arrived and re-arms.
 *   ping:  every data message is echoed from the buffer it arrived in (a spare receive is posted
 *          first, the buffer goes back to the spares when the echo's send completes);
 *   send:  every data message is checked against the pattern, its buffer re-posted at once, and
 *          every quarter of the receives the client is granted that many more (GRANT);
 *   write: the client's writes land in the target region, checked against the pattern on DONE;
 *   read:  the target region holds the pattern the client reads and checks.
 * DONE from the client is answered with RESULT (messages, bytes, errors); the server then waits
 * for the client's disconnect and closes everything.
 */
#ifndef SOFTRNIC_NDK_SERVER_H_
#define SOFTRNIC_NDK_SERVER_H_

#include <stdatomic.h>

#include "ndk_tool.h"

/* Pattern seeds of the RDMA tests: what the client writes, what the server offers for reads. */
#define NDK_WRITE_SEED 0xA5u
#define NDK_READ_SEED 0x5Au

typedef struct {
  uint32_t tool;       /* NDK_TOOL_PING or NDK_TOOL_PERF: clients of the other tool are rejected */
  NET_IFINDEX ifindex; /* the adapter to listen on */
  NdkAddr at;          /* where to listen */
  long wait_ms;        /* how long to wait for a client */
  int quiet;           /* no summary line (the client prints the results) */
  atomic_int* ready;   /* set to 1 once listening (may be NULL) */
} NdkServerOptions;

/* Serves one client; returns 0 when every message arrived intact, 1 otherwise. Fatal errors
 * (a failing NDK call) end the process. */
int ndk_server_run(const NdkServerOptions* o);

#endif /* SOFTRNIC_NDK_SERVER_H_ */
