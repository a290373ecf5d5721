/*
 * ndk_tool_proto.h: what ndkping and ndkperf say to each other, all little-endian.
 *
 * Connect private data (client -> server, 40 bytes: it fits RoCEv2's 56-byte CM REQ limit):
 *   0 magic "NDKTOOL1"  8 tool (1 ping, 2 perf)  12 test (0 ping, 1 send, 2 write, 3 read)
 *   16 size  20 depth  24 iterations (u64)  32 latency iterations  36 flags (0)
 * Accept private data (server -> client, 40 bytes):
 *   0 magic  8 status (0 = ready)  12 receives the server keeps posted (the client's send credits)
 *   16 remote address of the server's target region (u64)  24 its remote token  28 its length
 *   32 receive slot size  36 reserved
 * The transport pads private data (NdkGetConnectionData reports a buffer size, not what was
 * sent), which is why both start with the magic and have fixed sizes.
 *
 * Control messages (sends of exactly NDK_TOOL_CONTROL_SIZE bytes starting with the magic; data
 * messages follow ndk_pattern_fill, which never spells the magic):
 *   0 magic  8 kind  12 count  16 messages (u64)  24 bytes (u64)  32 errors (u64)
 *   GRANT  server -> client: `count` more receives are posted (send credits)
 *   DONE   client -> server: the test is over; messages/bytes: what the client sent
 *   RESULT server -> client: what the server received and verified (errors = bad messages or a
 *          target region that does not hold what was written)
 */
#ifndef SOFTRNIC_NDK_TOOL_PROTO_H_
#define SOFTRNIC_NDK_TOOL_PROTO_H_

#include <stdint.h>
#include <string.h>

#include "ndk_tool.h"

#define NDK_TOOL_MAGIC "NDKTOOL1"
#define NDK_TOOL_MAGIC_SIZE 8
#define NDK_TOOL_CONNECT_SIZE 40
#define NDK_TOOL_ACCEPT_SIZE 40
#define NDK_TOOL_CONTROL_SIZE 40

enum { NDK_TOOL_PING = 1, NDK_TOOL_PERF = 2 };
enum { NDK_TEST_PING = 0, NDK_TEST_SEND = 1, NDK_TEST_WRITE = 2, NDK_TEST_READ = 3 };
enum { NDK_CONTROL_GRANT = 1, NDK_CONTROL_DONE = 2, NDK_CONTROL_RESULT = 3 };

typedef struct {
  uint32_t tool, test, size, depth;
  uint64_t iterations;
  uint32_t latency_iterations, flags;
} NdkConnectRequest;

typedef struct {
  uint32_t status, credits;
  uint64_t target_address;
  uint32_t target_token, target_length, slot_size;
} NdkAcceptReply;

typedef struct {
  uint32_t kind, count;
  uint64_t messages, bytes, errors;
} NdkControl;

static inline void ndk_connect_request_encode(const NdkConnectRequest* r, unsigned char* p) {
  memset(p, 0, NDK_TOOL_CONNECT_SIZE);
  memcpy(p, NDK_TOOL_MAGIC, NDK_TOOL_MAGIC_SIZE);
  ndk_put_u32(p + 8, r->tool);
  ndk_put_u32(p + 12, r->test);
  ndk_put_u32(p + 16, r->size);
  ndk_put_u32(p + 20, r->depth);
  ndk_put_u64(p + 24, r->iterations);
  ndk_put_u32(p + 32, r->latency_iterations);
  ndk_put_u32(p + 36, r->flags);
}

/* 0 when p holds a connect request, -1 otherwise. */
static inline int ndk_connect_request_decode(const unsigned char* p, size_t len,
                                             NdkConnectRequest* r) {
  if (len < NDK_TOOL_CONNECT_SIZE || memcmp(p, NDK_TOOL_MAGIC, NDK_TOOL_MAGIC_SIZE) != 0) return -1;
  r->tool = ndk_get_u32(p + 8);
  r->test = ndk_get_u32(p + 12);
  r->size = ndk_get_u32(p + 16);
  r->depth = ndk_get_u32(p + 20);
  r->iterations = ndk_get_u64(p + 24);
  r->latency_iterations = ndk_get_u32(p + 32);
  r->flags = ndk_get_u32(p + 36);
  return 0;
}

static inline void ndk_accept_reply_encode(const NdkAcceptReply* r, unsigned char* p) {
  memset(p, 0, NDK_TOOL_ACCEPT_SIZE);
  memcpy(p, NDK_TOOL_MAGIC, NDK_TOOL_MAGIC_SIZE);
  ndk_put_u32(p + 8, r->status);
  ndk_put_u32(p + 12, r->credits);
  ndk_put_u64(p + 16, r->target_address);
  ndk_put_u32(p + 24, r->target_token);
  ndk_put_u32(p + 28, r->target_length);
  ndk_put_u32(p + 32, r->slot_size);
}

static inline int ndk_accept_reply_decode(const unsigned char* p, size_t len, NdkAcceptReply* r) {
  if (len < NDK_TOOL_ACCEPT_SIZE || memcmp(p, NDK_TOOL_MAGIC, NDK_TOOL_MAGIC_SIZE) != 0) return -1;
  r->status = ndk_get_u32(p + 8);
  r->credits = ndk_get_u32(p + 12);
  r->target_address = ndk_get_u64(p + 16);
  r->target_token = ndk_get_u32(p + 24);
  r->target_length = ndk_get_u32(p + 28);
  r->slot_size = ndk_get_u32(p + 32);
  return 0;
}

static inline void ndk_control_encode(const NdkControl* c, unsigned char* p) {
  memset(p, 0, NDK_TOOL_CONTROL_SIZE);
  memcpy(p, NDK_TOOL_MAGIC, NDK_TOOL_MAGIC_SIZE);
  ndk_put_u32(p + 8, c->kind);
  ndk_put_u32(p + 12, c->count);
  ndk_put_u64(p + 16, c->messages);
  ndk_put_u64(p + 24, c->bytes);
  ndk_put_u64(p + 32, c->errors);
}

/* 0 when the `len` bytes at p are a control message, -1 when they are data. */
static inline int ndk_control_decode(const unsigned char* p, size_t len, NdkControl* c) {
  if (len != NDK_TOOL_CONTROL_SIZE || memcmp(p, NDK_TOOL_MAGIC, NDK_TOOL_MAGIC_SIZE) != 0)
    return -1;
  c->kind = ndk_get_u32(p + 8);
  c->count = ndk_get_u32(p + 12);
  c->messages = ndk_get_u64(p + 16);
  c->bytes = ndk_get_u64(p + 24);
  c->errors = ndk_get_u64(p + 32);
  return 0;
}

#endif /* SOFTRNIC_NDK_TOOL_PROTO_H_ */
