/*
 * ndk_roles.h: who runs where, for both tools.
 *   server (-S/--server ADDR:PORT): listen on the adapter that has ADDR (or --if), serve one
 * client; client (-C/--client ADDR:PORT): connect from --if (default: the first adapter) to
 * ADDR:PORT;
 *   --loopback: both in this process, the server on a thread, on the two adapters of an
 *     in-process pair (--server-if / --client-if; default the second and the first adapter
 *     listed), the server address defaulting to the server adapter's first IPv4 (-6: IPv6)
 *     address and --port.
 */
#ifndef SOFTRNIC_NDK_ROLES_H_
#define SOFTRNIC_NDK_ROLES_H_

#include <getopt.h>

#include "ndk_tool.h"

typedef struct {
  int loopback;
  const char* server;    /* -S ADDR:PORT */
  const char* client;    /* -C ADDR:PORT */
  const char* adapter;   /* --if: this process's adapter (name or index) */
  const char* server_if; /* --loopback */
  const char* client_if; /* --loopback */
  int ipv6;
  uint16_t port;
  long wait_ms; /* how long a server waits for its client */
} NdkRoleOptions;

/* What a client needs: its adapter and where the server is. */
typedef struct {
  NET_IFINDEX ifindex;
  NdkAddr server;
} NdkClientTarget;

typedef int (*NdkClientMain)(const NdkClientTarget* t, void* context);

/* Long options both tools take (the values past 255 have no short form). */
enum {
  NDK_OPT_LOOPBACK = 256,
  NDK_OPT_SERVER_IF,
  NDK_OPT_CLIENT_IF,
  NDK_OPT_TIMEOUT,
  NDK_OPT_LIST
};
#define NDK_ROLE_SHORT_OPTIONS "S:C:c:i:6p:W:w:"
#define NDK_ROLE_LONG_OPTIONS                                                                      \
  {"server", required_argument, NULL, 'S'}, {"client", required_argument, NULL, 'C'},              \
      {"loopback", no_argument, NULL, NDK_OPT_LOOPBACK}, {"if", required_argument, NULL, 'i'},     \
      {"server-if", required_argument, NULL, NDK_OPT_SERVER_IF},                                   \
      {"client-if", required_argument, NULL, NDK_OPT_CLIENT_IF}, {"ipv6", no_argument, NULL, '6'}, \
      {"port", required_argument, NULL, 'p'}, {"wait", required_argument, NULL, 'W'},              \
      {"completion", required_argument, NULL, 'w'},                                                \
      {"timeout", required_argument, NULL, NDK_OPT_TIMEOUT}, {                                     \
    "list", no_argument, NULL, NDK_OPT_LIST                                                        \
  }

/* Takes one of the options above (getopt's c and optarg); 1 when it was one of them. Bad values
 * end the process with status 2; --list lists the adapters and ends it with status 0. */
int ndk_role_option(int c, const char* arg, NdkRoleOptions* o, NdkWaitStyle* style);
/* Defaults: port 9000, 60 s wait. */
void ndk_role_defaults(NdkRoleOptions* o);
/* A number in [min, max] with an optional K/M/G suffix (powers of 1024), or exit status 2. */
uint64_t ndk_parse_count(const char* what, const char* text, uint64_t min, uint64_t max);

/* Runs the roles the options ask for; returns the process exit status (0 = every check held).
 * Usage errors end the process with status 2. */
int ndk_run_roles(const NdkRoleOptions* o, uint32_t tool, NdkClientMain client, void* context);

/* The options both tools take, for their --help. */
#define NDK_ROLE_USAGE                                                                         \
  "  -S, --server ADDR:PORT   serve one client, listening on ADDR:PORT\n"                      \
  "  -C, -c, --client ADDR:PORT  connect to the server at ADDR:PORT\n"                         \
  "      --loopback           server and client in this process, on an in-process pair\n"      \
  "  -i, --if ADAPTER         this process's adapter (interface index or name)\n"              \
  "      --server-if ADAPTER  --loopback: the server's adapter (default: the second listed)\n" \
  "      --client-if ADAPTER  --loopback: the client's adapter (default: the first listed)\n"  \
  "  -6, --ipv6               --loopback: use the server adapter's IPv6 address\n"             \
  "  -p, --port PORT          --loopback: the server's port (default 9000)\n"                  \
  "  -W, --wait SEC           how long a server waits for its client (default 60)\n"           \
  "  -w, --completion STYLE   the client's completions: poll (default) or notify\n"            \
  "      --timeout SEC        the longest any single wait may last (default 10)\n"             \
  "      --list               list the adapters and exit\n"                                    \
  "Adapters come from SOFTRNIC_DEVICES (device specs separated by ';') or SOFTRNIC_CONFIG.\n"

#endif /* SOFTRNIC_NDK_ROLES_H_ */
