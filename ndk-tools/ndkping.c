/*
 * ndkping: NDK connectivity and round-trip latency, in the manner of Windows' NDKPing. The client
 * connects through a connector to the server's listener, sends N messages of S bytes one at a
 * time with NdkSend and waits for each echo (NdkReceive), checks every byte of every echo, and
 * prints the round-trip time's percentiles. It is written only against the NDKPI headers.
 *
 *   ndkping --loopback [-n N] [-l SIZE]            both ends in this process (in-process pair)
 *   ndkping -s ADDR:PORT [--if ADAPTER]            server: echo one client's messages
 *   ndkping -c ADDR:PORT [--if ADAPTER] [-n N]     client
 *
 * Exit status: 0 when every echo came back intact, 1 on any failure, 2 on a usage error.
 */
#define _GNU_SOURCE

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ndk_roles.h"
#include "ndk_tool.h"
#include "ndk_tool_proto.h"

enum { KIND_SEND = 1, KIND_REPLY = 2 };

typedef struct {
  uint64_t count;
  uint32_t size;
  NdkWaitStyle style;
  int json;
} PingOptions;

/* Waits for the reply to the message just sent and for that message's own completion. */
static NDK_RESULT wait_reply(NdkEndpoint* e, NdkWaitStyle style, uint64_t* reply_ns) {
  NDK_RESULT reply;
  memset(&reply, 0, sizeof reply);
  int sent = 0, replied = 0;
  while (!sent || !replied) {
    const NDK_RESULT r = ndk_next_result(e, style);
    if (NDK_CTX_KIND(r.RequestContext) == KIND_SEND) {
      sent = 1;
    } else if (NDK_CTX_KIND(r.RequestContext) == KIND_REPLY) {
      *reply_ns = ndk_now_ns();
      reply = r;
      replied = 1;
    }
  }
  return reply;
}

static int ping_client(const NdkClientTarget* t, void* context) {
  const PingOptions* o = (const PingOptions*)context;
  NdkEndpoint ep;
  NdkEndpoint* e = &ep;
  ndk_endpoint_open(e, "client", t->ifindex);
  if (o->size > e->info.MaxTransferLength)
    ndk_die("a message of %u bytes is larger than the adapter moves (%u)", (unsigned)o->size,
            (unsigned)e->info.MaxTransferLength);
  /* [message][reply] */
  const size_t slot =
      ((o->size > NDK_TOOL_CONTROL_SIZE ? o->size : NDK_TOOL_CONTROL_SIZE) + 63) / 64 * 64;
  ndk_endpoint_resources(e, 64, NULL, NULL, 2 * slot);
  ndk_endpoint_qp(e, e, 8, 8, NDK_TOOL_CONTROL_SIZE);

  const NdkConnectRequest req = {NDK_TOOL_PING, NDK_TEST_PING, o->size, 1, o->count, 0, 0};
  unsigned char data[1024];
  ndk_connect_request_encode(&req, data);
  ndk_connect(e, &t->server, 0, 0, data, NDK_TOOL_CONNECT_SIZE);
  ULONG len = sizeof data;
  ndk_connection_data(e->conn, NULL, NULL, data, &len);
  NdkAcceptReply rep;
  if (ndk_accept_reply_decode(data, len, &rep) != 0 || rep.status != 0)
    ndk_die("the server's accept data is not an ndkping server's");
  ndk_complete_connect(e);
  char where[80];
  ndk_addr_format(&t->server, where, sizeof where);
  if (!o->json)
    printf("ndkping: %s -> %s (%s), %llu messages of %u bytes, %s completions\n", "client", where,
           ndk_technology_name(e->info.RdmaTechnology), (unsigned long long)o->count,
           (unsigned)o->size, o->style == NDK_WAIT_NOTIFY ? "notified" : "polled");

  double* rtt = calloc(o->count ? o->count : 1, sizeof *rtt);
  if (rtt == NULL) ndk_die("out of memory");
  uint64_t verified = 0;
  for (uint64_t i = 0; i < o->count; ++i) {
    ndk_pattern_fill(e->buf, o->size, i);
    memset(e->buf + slot, 0, o->size);
    ndk_post_receive(e, NDK_CTX(KIND_REPLY, i), slot, (ULONG)slot);
    const NDK_SGE sge = ndk_sge(e, 0, o->size);
    const uint64_t t0 = ndk_now_ns();
    ndk_check("NdkSend", e->qp->Dispatch->NdkSend(e->qp, NDK_CTX(KIND_SEND, i), &sge, 1, 0));
    uint64_t t1 = 0;
    const NDK_RESULT r = wait_reply(e, o->style, &t1);
    rtt[i] = (double)(t1 - t0) / 1000.0;
    if (r.BytesTransferred != o->size)
      ndk_die("reply %llu has %u bytes, not %u", (unsigned long long)i,
              (unsigned)r.BytesTransferred, (unsigned)o->size);
    const size_t at = ndk_pattern_check(e->buf + slot, o->size, i);
    if (at != o->size) ndk_die("reply %llu differs at byte %zu", (unsigned long long)i, at);
    if (r.QPContext != e) ndk_die("reply %llu names another QP context", (unsigned long long)i);
    ++verified;
  }

  /* DONE, answered by RESULT: what the server saw. */
  ndk_post_receive(e, NDK_CTX(KIND_REPLY, 0), slot, (ULONG)slot);
  unsigned char m[NDK_TOOL_CONTROL_SIZE];
  const NdkControl done = {NDK_CONTROL_DONE, 0, o->count, o->count * o->size, 0};
  ndk_control_encode(&done, m);
  NDK_SGE sge;
  memset(&sge, 0, sizeof sge);
  sge.VirtualAddress = m;
  sge.Length = sizeof m;
  ndk_check("NdkSend (DONE)",
            e->qp->Dispatch->NdkSend(e->qp, NDK_CTX(KIND_SEND, 0), &sge, 1, NDK_OP_FLAG_INLINE));
  uint64_t ignored;
  const NDK_RESULT r = wait_reply(e, o->style, &ignored);
  NdkControl result;
  if (ndk_control_decode(e->buf + slot, r.BytesTransferred, &result) != 0 ||
      result.kind != NDK_CONTROL_RESULT)
    ndk_die("the server's answer to DONE is not a RESULT");
  ndk_disconnect(e);
  ndk_endpoint_close(e);

  const int ok = result.messages == o->count && result.errors == 0 && verified == o->count;
  const double min = o->count ? ndk_percentile(rtt, o->count, 0) : 0;
  const double p50 = ndk_percentile(rtt, o->count, 50), p99 = ndk_percentile(rtt, o->count, 99);
  const double max = o->count ? rtt[o->count - 1] : 0;
  if (o->json) {
    printf(
        "{\"tool\":\"ndkping\",\"server\":\"%s\",\"technology\":\"%s\",\"size\":%u,"
        "\"messages\":%llu,\"replies_verified\":%llu,\"server_messages\":%llu,"
        "\"server_errors\":%llu,\"rtt_us\":{\"min\":%.2f,\"p50\":%.2f,\"p99\":%.2f,"
        "\"max\":%.2f},\"ok\":%s}\n",
        where, ndk_technology_name(e->info.RdmaTechnology), (unsigned)o->size,
        (unsigned long long)o->count, (unsigned long long)verified,
        (unsigned long long)result.messages, (unsigned long long)result.errors, min, p50, p99, max,
        ok ? "true" : "false");
  } else {
    printf(
        "ndkping: %llu replies of %u bytes, %llu verified; server received %llu messages, "
        "%llu errors\n",
        (unsigned long long)o->count, (unsigned)o->size, (unsigned long long)verified,
        (unsigned long long)result.messages, (unsigned long long)result.errors);
    printf("ndkping: round trip min %.2f us, p50 %.2f us, p99 %.2f us, max %.2f us\n", min, p50,
           p99, max);
    printf("ndkping: %s\n", ok ? "completes" : "FAILED");
  }
  free(rtt);
  return ok ? 0 : 1;
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: ndkping (--loopback | -s ADDR:PORT | -c ADDR:PORT) [options]\n"
          "  -s ADDR:PORT             same as --server\n"
          "  -n, --count N            messages to send (default 1000)\n"
          "  -l, --size BYTES         bytes per message (default 64)\n"
          "      --json               one JSON object instead of text\n" NDK_ROLE_USAGE);
}

int main(int argc, char** argv) {
  ndk_tool_name = "ndkping";
  NdkRoleOptions roles;
  ndk_role_defaults(&roles);
  PingOptions o = {1000, 64, NDK_WAIT_POLL, 0};
  enum { OPT_JSON = 300 };
  static const struct option kLong[] = {NDK_ROLE_LONG_OPTIONS,
                                        {"count", required_argument, NULL, 'n'},
                                        {"size", required_argument, NULL, 'l'},
                                        {"json", no_argument, NULL, OPT_JSON},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, NDK_ROLE_SHORT_OPTIONS "s:n:l:h", kLong, NULL)) != -1) {
    if (ndk_role_option(c, optarg, &roles, &o.style)) continue;
    switch (c) {
      case 's':
        roles.server = optarg;
        break;
      case 'n':
        o.count = ndk_parse_count("--count", optarg, 1, 1000000000ull);
        break;
      case 'l':
        o.size = (uint32_t)ndk_parse_count("--size", optarg, 1, 1u << 30);
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
  ndk_exit(ndk_run_roles(&roles, NDK_TOOL_PING, ping_client, &o));
}
