/* ndk_roles.c: server, client or both in one process (see ndk_roles.h). */
#define _GNU_SOURCE

#include "ndk_roles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "ndk_server.h"

typedef struct {
  NdkServerOptions options;
  int status;
} ServerThread;

static int server_thread(void* arg) {
  ServerThread* t = (ServerThread*)arg;
  t->status = ndk_server_run(&t->options);
  return 0;
}

uint64_t ndk_parse_count(const char* what, const char* text, uint64_t min, uint64_t max) {
  char* end = NULL;
  unsigned long long v = strtoull(text, &end, 0);
  if (end != text && (*end == 'K' || *end == 'k'))
    v <<= 10, ++end;
  else if (end != text && (*end == 'M' || *end == 'm'))
    v <<= 20, ++end;
  else if (end != text && (*end == 'G' || *end == 'g'))
    v <<= 30, ++end;
  if (end == text || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "%s: %s must be a number from %llu to %llu, not '%s'\n", ndk_tool_name, what,
            (unsigned long long)min, (unsigned long long)max, text);
    ndk_exit(2);
  }
  return v;
}

void ndk_role_defaults(NdkRoleOptions* o) {
  memset(o, 0, sizeof *o);
  o->port = 9000;
  o->wait_ms = 60000;
}

int ndk_role_option(int c, const char* arg, NdkRoleOptions* o, NdkWaitStyle* style) {
  switch (c) {
    case 'S':
      o->server = arg;
      return 1;
    case 'C':
    case 'c':
      o->client = arg;
      return 1;
    case NDK_OPT_LOOPBACK:
      o->loopback = 1;
      return 1;
    case 'i':
      o->adapter = arg;
      return 1;
    case NDK_OPT_SERVER_IF:
      o->server_if = arg;
      return 1;
    case NDK_OPT_CLIENT_IF:
      o->client_if = arg;
      return 1;
    case '6':
      o->ipv6 = 1;
      return 1;
    case 'p':
      o->port = (uint16_t)ndk_parse_count("--port", arg, 1, 65535);
      return 1;
    case 'W':
      o->wait_ms = (long)ndk_parse_count("--wait", arg, 1, 86400) * 1000;
      return 1;
    case NDK_OPT_TIMEOUT:
      ndk_timeout_ms = (long)ndk_parse_count("--timeout", arg, 1, 86400) * 1000;
      return 1;
    case 'w':
      if (strcmp(arg, "poll") == 0)
        *style = NDK_WAIT_POLL;
      else if (strcmp(arg, "notify") == 0)
        *style = NDK_WAIT_NOTIFY;
      else {
        fprintf(stderr, "%s: --completion is poll or notify, not '%s'\n", ndk_tool_name, arg);
        ndk_exit(2);
      }
      return 1;
    case NDK_OPT_LIST:
      ndk_print_adapters();
      ndk_exit(0);
    default:
      return 0;
  }
}

static NdkAddr parse_or_die(const char* text, uint16_t default_port) {
  NdkAddr a;
  if (ndk_addr_parse(text, default_port, &a) != 0) {
    fprintf(stderr, "%s: '%s' is not ADDR:PORT (IPv6: [ADDR]:PORT)\n", ndk_tool_name, text);
    ndk_exit(2);
  }
  return a;
}

/* The n-th adapter listed. */
static NET_IFINDEX nth_adapter(ULONG n) {
  SOFTRNIC_NDK_ADAPTER_ENTRY list[8];
  const ULONG count = ndk_adapters(list, 8);
  if (count <= n || n >= 8) ndk_die("there are %u adapters; --loopback needs two", (unsigned)count);
  return list[n].IfIndex;
}

int ndk_run_roles(const NdkRoleOptions* o, uint32_t tool, NdkClientMain client, void* context) {
  const int roles = (o->loopback != 0) + (o->server != NULL) + (o->client != NULL);
  if (roles != 1 && !(o->loopback && roles == 2 && o->server != NULL)) {
    fprintf(stderr, "%s: say one of --server ADDR:PORT, --client ADDR:PORT or --loopback\n",
            ndk_tool_name);
    ndk_exit(2);
  }
  if (!o->loopback && o->server != NULL) {
    NdkServerOptions s = {tool, 0, parse_or_die(o->server, o->port), o->wait_ms, 0, NULL};
    s.ifindex = o->adapter ? ndk_adapter_lookup(o->adapter) : ndk_adapter_with_address(&s.at);
    if (s.ifindex == 0) ndk_die("no adapter has the address %s (give --if)", o->server);
    return ndk_server_run(&s);
  }
  if (!o->loopback) {
    NdkClientTarget t = {o->adapter ? ndk_adapter_lookup(o->adapter) : nth_adapter(0),
                         parse_or_die(o->client, o->port)};
    return client(&t, context);
  }

  /* Both ends in this process: the server on a thread, the client here. */
  static ServerThread st;
  static atomic_int ready;
  atomic_init(&ready, 0);
  NdkServerOptions* s = &st.options;
  s->tool = tool;
  s->ifindex = o->server_if ? ndk_adapter_lookup(o->server_if) : nth_adapter(1);
  s->wait_ms = o->wait_ms;
  s->quiet = 1;
  s->ready = &ready;
  if (o->server != NULL) {
    s->at = parse_or_die(o->server, o->port);
  } else {
    if (ndk_adapter_address(s->ifindex, o->ipv6, &s->at) != 0)
      ndk_die("adapter %#x has no IPv%d address", (unsigned)s->ifindex, o->ipv6 ? 6 : 4);
    ndk_addr_set_port(&s->at, o->port);
  }
  NdkClientTarget t = {o->client_if ? ndk_adapter_lookup(o->client_if) : nth_adapter(0), s->at};
  if (t.ifindex == s->ifindex) ndk_die("--loopback needs two different adapters");
  thrd_t thread;
  if (thrd_create(&thread, server_thread, &st) != thrd_success) ndk_die("cannot start a thread");
  const uint64_t until = ndk_now_ns() + (uint64_t)ndk_timeout_ms * 1000000u;
  while (!atomic_load(&ready)) {
    if (ndk_now_ns() > until) ndk_die("the server did not start listening");
    ndk_sleep_us(200);
  }
  const int status = client(&t, context);
  thrd_join(thread, NULL);
  return status != 0 ? status : st.status;
}
