/*
 * ndkperf: NDK bandwidth and latency, in the manner of Windows' NDKPerf and perftest. The client
 * measures one operation type (-t send|write|read):
 *   - 64 B latency: one operation at a time, from the post to its completion (for send, the
 *     server's receive is already posted; for write and read, one round trip on the wire);
 *   - bandwidth: N operations of S bytes with up to Q in flight, first post to last completion.
 * Sends are paced by credits the server grants as it re-posts receives; writes land in the
 * server's target region and reads come from it (its address and remote token arrive in the
 * accept private data). Every byte is checked: the server checks each message and the written
 * region, the client the read data, and the client fails unless the server's counts match.
 *
 *   ndkperf --loopback -t write -s 65536 -n 1000 -q 16 [--json]
 *   ndkperf -S ADDR:PORT [--if ADAPTER]                 server for one client
 *   ndkperf -C ADDR:PORT -t send ...                    client
 *
 * Exit status: 0 when every check held, 1 on any failure, 2 on a usage error.
 */
#define _GNU_SOURCE

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndk_roles.h"
#include "ndk_server.h"
#include "ndk_tool.h"
#include "ndk_tool_proto.h"

enum { KIND_OP = 1, KIND_CONTROL_RECEIVE = 2, KIND_CONTROL_SEND = 3 };
#define CONTROL_RECEIVES 16u

typedef struct {
  uint32_t test;
  uint32_t size;
  uint64_t iterations;
  uint32_t depth;
  uint32_t latency_iterations;
  NdkWaitStyle style;
  int json;
} PerfOptions;

typedef struct {
  const PerfOptions* o;
  NdkEndpoint ep;
  NdkAcceptReply server;
  size_t op_slot, sink_at, control_at; /* buffer: [Q op slots][sink][control receive slots] */
  uint32_t credits;                    /* sends the server can take now (one kept for DONE) */
  uint64_t next_seq;                   /* pattern number of the next message sent */
  uint64_t completed;                  /* operations completed */
  uint64_t messages, bytes;            /* what was sent (send test) */
  int have_result;
  NdkControl result;
} Client;

static const char* test_name(uint32_t t) {
  return t == NDK_TEST_SEND ? "send" : t == NDK_TEST_WRITE ? "write" : "read";
}

/* Handles one completion: an operation, or a control message from the server. */
static void on_result(Client* c, const NDK_RESULT* r) {
  switch (NDK_CTX_KIND(r->RequestContext)) {
    case KIND_OP:
      ++c->completed;
      break;
    case KIND_CONTROL_RECEIVE: {
      const size_t slot = NDK_CTX_SLOT(r->RequestContext);
      const size_t at = c->control_at + slot * 64;
      NdkControl m;
      if (ndk_control_decode(c->ep.buf + at, r->BytesTransferred, &m) != 0)
        ndk_die("the server sent something that is not a control message");
      if (m.kind == NDK_CONTROL_GRANT)
        c->credits += m.count;
      else if (m.kind == NDK_CONTROL_RESULT)
        c->result = m, c->have_result = 1;
      else
        ndk_die("unexpected control message %u from the server", (unsigned)m.kind);
      ndk_post_receive(&c->ep, r->RequestContext, at, 64);
      break;
    }
    default:
      break;
  }
}

static void post_op(Client* c, size_t slot, ULONG len) {
  NdkEndpoint* e = &c->ep;
  const PVOID ctx = NDK_CTX(KIND_OP, slot);
  if (c->o->test == NDK_TEST_SEND) {
    unsigned char* p = e->buf + slot * c->op_slot;
    ndk_pattern_fill(p, len, c->next_seq++);
    const NDK_SGE sge = ndk_sge(e, slot * c->op_slot, len);
    ndk_check("NdkSend", e->qp->Dispatch->NdkSend(e->qp, ctx, &sge, 1, 0));
    --c->credits;
    ++c->messages;
    c->bytes += len;
  } else if (c->o->test == NDK_TEST_WRITE) {
    const NDK_SGE sge = ndk_sge(e, 0, len);
    ndk_check("NdkWrite", e->qp->Dispatch->NdkWrite(e->qp, ctx, &sge, 1, c->server.target_address,
                                                    c->server.target_token, 0));
  } else {
    const NDK_SGE sge = ndk_sge(e, c->sink_at, len);
    ndk_check("NdkRead", e->qp->Dispatch->NdkRead(e->qp, ctx, &sge, 1, c->server.target_address,
                                                  c->server.target_token, 0));
  }
}

/* Waits for sends to be possible: credits come back in GRANT messages. */
static void wait_credit(Client* c) {
  while (c->o->test == NDK_TEST_SEND && c->credits == 0) {
    const NDK_RESULT r = ndk_next_result(&c->ep, c->o->style);
    on_result(c, &r);
  }
}

static void latency(Client* c, double* us, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    wait_credit(c);
    const uint64_t want = c->completed + 1;
    const uint64_t t0 = ndk_now_ns();
    post_op(c, 0, 64);
    while (c->completed < want) {
      const NDK_RESULT r = ndk_next_result(&c->ep, c->o->style);
      on_result(c, &r);
    }
    us[i] = (double)(ndk_now_ns() - t0) / 1000.0;
  }
}

static double bandwidth(Client* c) {
  const PerfOptions* o = c->o;
  const uint64_t base = c->completed;
  uint64_t posted = 0;
  const uint64_t t0 = ndk_now_ns();
  while (c->completed - base < o->iterations) {
    while (posted < o->iterations && posted - (c->completed - base) < o->depth &&
           (o->test != NDK_TEST_SEND || c->credits > 0)) {
      post_op(c, o->test == NDK_TEST_SEND ? posted % o->depth : 0, o->size);
      ++posted;
    }
    const NDK_RESULT r = ndk_next_result(&c->ep, o->style);
    on_result(c, &r);
  }
  return (double)(ndk_now_ns() - t0) / 1e9;
}

static int perf_client(const NdkClientTarget* t, void* context) {
  const PerfOptions* o = (const PerfOptions*)context;
  Client* c = calloc(1, sizeof *c);
  if (c == NULL) ndk_die("out of memory");
  c->o = o;
  NdkEndpoint* e = &c->ep;
  ndk_endpoint_open(e, "client", t->ifindex);
  if (o->size > e->info.MaxTransferLength)
    ndk_die("-s %u is larger than the adapter moves (%u)", (unsigned)o->size,
            (unsigned)e->info.MaxTransferLength);
  c->op_slot = ((o->size > 64 ? o->size : 64) + 63) / 64 * 64;
  const size_t op_slots = o->test == NDK_TEST_SEND ? o->depth : 1;
  c->sink_at = op_slots * c->op_slot;
  c->control_at = c->sink_at + c->op_slot;
  if ((uint64_t)c->control_at > (256u << 20)) ndk_die("-s times -q is over 256 MiB");
  const ULONG sq = o->depth + 8;
  ndk_endpoint_resources(e, sq + CONTROL_RECEIVES + 8, NULL, NULL,
                         c->control_at + CONTROL_RECEIVES * 64);
  ndk_endpoint_qp(e, e, CONTROL_RECEIVES + 4, sq, NDK_TOOL_CONTROL_SIZE);
  if (o->test == NDK_TEST_WRITE) ndk_pattern_fill(e->buf, c->op_slot, NDK_WRITE_SEED);
  /* Receives for the server's control messages, before the connection as NDK allows. */
  for (size_t i = 0; i < CONTROL_RECEIVES; ++i)
    ndk_post_receive(e, NDK_CTX(KIND_CONTROL_RECEIVE, i), c->control_at + i * 64, 64);

  const NdkConnectRequest req = {NDK_TOOL_PERF,         o->test, o->size, o->depth, o->iterations,
                                 o->latency_iterations, 0};
  unsigned char data[1024];
  ndk_connect_request_encode(&req, data);
  const ULONG ord =
      o->test == NDK_TEST_READ
          ? (o->depth < e->info.MaxOutboundReadLimit ? o->depth : e->info.MaxOutboundReadLimit)
          : 0;
  ndk_connect(e, &t->server, 0, ord, data, NDK_TOOL_CONNECT_SIZE);
  ULONG len = sizeof data, inbound = 0, outbound = 0;
  ndk_connection_data(e->conn, &inbound, &outbound, data, &len);
  if (ndk_accept_reply_decode(data, len, &c->server) != 0 || c->server.status != 0)
    ndk_die("the server's accept data is not an ndkperf server's");
  if (o->test == NDK_TEST_READ && outbound == 0)
    ndk_die("the connection allows no RDMA reads (outbound read limit 0)");
  if (o->test != NDK_TEST_SEND && c->server.target_length < (o->size > 64 ? o->size : 64))
    ndk_die("the server's target region is too small");
  ndk_complete_connect(e);
  c->credits = c->server.credits - 1; /* the last one is DONE's */

  char where[80];
  ndk_addr_format(&t->server, where, sizeof where);
  const char* tech = ndk_technology_name(e->info.RdmaTechnology);
  double* lat = calloc(o->latency_iterations ? o->latency_iterations : 1, sizeof *lat);
  if (lat == NULL) ndk_die("out of memory");
  latency(c, lat, o->latency_iterations);
  if (o->test == NDK_TEST_READ && ndk_pattern_check(e->buf + c->sink_at, 64, NDK_READ_SEED) != 64)
    ndk_die("the 64 B reads brought back the wrong bytes");
  const double seconds = bandwidth(c);
  int read_ok = 1;
  if (o->test == NDK_TEST_READ) {
    const size_t at = ndk_pattern_check(e->buf + c->sink_at, o->size, NDK_READ_SEED);
    if (at != o->size) {
      fprintf(stderr, "ndkperf: read data differs at byte %zu\n", at);
      read_ok = 0;
    }
  }

  /* DONE (inline, on the credit kept for it), answered by RESULT. */
  unsigned char m[NDK_TOOL_CONTROL_SIZE];
  const NdkControl done = {NDK_CONTROL_DONE, 0, c->messages, c->bytes, 0};
  ndk_control_encode(&done, m);
  NDK_SGE sge;
  memset(&sge, 0, sizeof sge);
  sge.VirtualAddress = m;
  sge.Length = sizeof m;
  ndk_check("NdkSend (DONE)", e->qp->Dispatch->NdkSend(e->qp, NDK_CTX(KIND_CONTROL_SEND, 0), &sge,
                                                       1, NDK_OP_FLAG_INLINE));
  while (!c->have_result) {
    const NDK_RESULT r = ndk_next_result(e, o->style);
    on_result(c, &r);
  }
  ndk_disconnect(e);
  ndk_endpoint_close(e);

  const int counts_ok = o->test != NDK_TEST_SEND ||
                        (c->result.messages == c->messages && c->result.bytes == c->bytes);
  const int ok = read_ok && counts_ok && c->result.errors == 0;
  const double bytes = (double)o->iterations * o->size;
  const double mbps = bytes / seconds / 1e6, mpps = (double)o->iterations / seconds / 1e6;
  const double p50 = ndk_percentile(lat, o->latency_iterations, 50);
  const double p99 = ndk_percentile(lat, o->latency_iterations, 99);
  if (o->json) {
    printf(
        "{\"tool\":\"ndkperf\",\"test\":\"%s\",\"server\":\"%s\",\"technology\":\"%s\","
        "\"size\":%u,\"iterations\":%llu,\"depth\":%u,\"seconds\":%.6f,"
        "\"bandwidth_MBps\":%.2f,\"msg_rate_Mpps\":%.4f,\"latency_64B_us\":{\"p50\":%.2f,"
        "\"p99\":%.2f,\"samples\":%u},\"completion\":\"%s\",\"server_messages\":%llu,"
        "\"server_bytes\":%llu,\"server_errors\":%llu,\"verified\":%s}\n",
        test_name(o->test), where, tech, (unsigned)o->size, (unsigned long long)o->iterations,
        (unsigned)o->depth, seconds, mbps, mpps, p50, p99, (unsigned)o->latency_iterations,
        o->style == NDK_WAIT_NOTIFY ? "notify" : "poll", (unsigned long long)c->result.messages,
        (unsigned long long)c->result.bytes, (unsigned long long)c->result.errors,
        ok ? "true" : "false");
  } else {
    printf("ndkperf: %s over %s to %s, %s completions\n", test_name(o->test), tech, where,
           o->style == NDK_WAIT_NOTIFY ? "notified" : "polled");
    printf(" %-8s %-12s %-6s %-16s %-14s %-16s %-10s\n", "#bytes", "#iterations", "depth",
           "BW average[MB/s]", "MsgRate[Mpps]", "lat 64B p50[us]", "p99[us]");
    printf(" %-8u %-12llu %-6u %-16.2f %-14.4f %-16.2f %-10.2f\n", (unsigned)o->size,
           (unsigned long long)o->iterations, (unsigned)o->depth, mbps, mpps, p50, p99);
    if (o->test == NDK_TEST_SEND)
      printf("ndkperf: server received %llu messages, %llu bytes (sent %llu, %llu), %llu errors\n",
             (unsigned long long)c->result.messages, (unsigned long long)c->result.bytes,
             (unsigned long long)c->messages, (unsigned long long)c->bytes,
             (unsigned long long)c->result.errors);
    else
      printf("ndkperf: %s data %s, server reports %llu errors\n", test_name(o->test),
             read_ok ? "verified" : "WRONG", (unsigned long long)c->result.errors);
    printf("ndkperf: %s\n", ok ? "completes" : "FAILED");
  }
  free(lat);
  free(c);
  return ok ? 0 : 1;
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: ndkperf (--loopback | -S ADDR:PORT | -C ADDR:PORT) [options]\n"
          "  -t, --test send|write|read  the operation measured (default write)\n"
          "  -s, --size BYTES         bytes per operation (default 65536; K/M suffixes)\n"
          "  -n, --iterations N       operations in the bandwidth run (default 1000)\n"
          "  -q, --depth Q            operations in flight (default 16)\n"
          "  -L, --latency N          64 B operations timed one at a time (default 1000)\n"
          "      --json               one JSON object instead of the table\n" NDK_ROLE_USAGE);
}

int main(int argc, char** argv) {
  ndk_tool_name = "ndkperf";
  NdkRoleOptions roles;
  ndk_role_defaults(&roles);
  PerfOptions o = {NDK_TEST_WRITE, 65536, 1000, 16, 1000, NDK_WAIT_POLL, 0};
  enum { OPT_JSON = 300 };
  static const struct option kLong[] = {NDK_ROLE_LONG_OPTIONS,
                                        {"test", required_argument, NULL, 't'},
                                        {"size", required_argument, NULL, 's'},
                                        {"iterations", required_argument, NULL, 'n'},
                                        {"depth", required_argument, NULL, 'q'},
                                        {"latency", required_argument, NULL, 'L'},
                                        {"json", no_argument, NULL, OPT_JSON},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, NDK_ROLE_SHORT_OPTIONS "t:s:n:q:L:h", kLong, NULL)) != -1) {
    if (ndk_role_option(c, optarg, &roles, &o.style)) continue;
    switch (c) {
      case 't':
        if (strcmp(optarg, "send") == 0)
          o.test = NDK_TEST_SEND;
        else if (strcmp(optarg, "write") == 0)
          o.test = NDK_TEST_WRITE;
        else if (strcmp(optarg, "read") == 0)
          o.test = NDK_TEST_READ;
        else {
          fprintf(stderr, "ndkperf: -t is send, write or read, not '%s'\n", optarg);
          return 2;
        }
        break;
      case 's':
        o.size = (uint32_t)ndk_parse_count("--size", optarg, 1, 1u << 30);
        break;
      case 'n':
        o.iterations = ndk_parse_count("--iterations", optarg, 1, 1ull << 40);
        break;
      case 'q':
        o.depth = (uint32_t)ndk_parse_count("--depth", optarg, 1, 1024);
        break;
      case 'L':
        o.latency_iterations = (uint32_t)ndk_parse_count("--latency", optarg, 0, 1u << 24);
        break;
      case OPT_JSON:
        o.json = 1;
        break;
      case 'h':
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  ndk_exit(ndk_run_roles(&roles, NDK_TOOL_PERF, perf_client, &o));
}
