// One complete SMB-Direct-like session between a Server and a Client in one process, the way
// `softrnic demo` runs it: listen, connect and negotiate, write a file-sized payload (RDMA Reads
// by the server), read it back (RDMA Writes by the server), check every byte both ways, time small
// request/response round trips, exercise the inline path, then tear both ends down.
//
// Both adapters must exist in this process: SOFTRNIC_DEVICES names them before the first NDK
// call, e.g. an in-process RoCEv2 pair
//   name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;
//   name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64
// (port=ring:peer=... for DPDK net_ring) or iWARP on loopback TCP
//   name=c,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128;
//   name=d,proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128
// with interface indexes 0x40000000 + position (wskndk.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "smbd/smbd.hpp"

namespace smbd {

struct SessionOptions {
  NET_IFINDEX server_if = 0, client_if = 0;
  std::string server_ip;   // an address of the server's adapter
  std::uint16_t port = 0;  // 0: 445 (RoCE) or 5445 (iWARP)
  Config server_config, client_config;
  std::size_t payload_size = std::size_t{64} << 20;  // written, then read back
  std::size_t latency_rounds = 200;                  // small ECHO round trips timed
  std::size_t latency_size = 64;
  std::size_t inline_rounds = 16;  // small inline WRITE + READ pairs, verified
  std::size_t inline_size = 1000;
  std::uint64_t seed = 1;  // the payload's pseudo-random bytes
  std::chrono::milliseconds accept_timeout{10000};
};

struct SessionReport {
  Failure failure;  // the first failure (what, and its NTSTATUS); success when all verified
  NDK_RDMA_TECHNOLOGY technology = NdkUndefined;
  Negotiated negotiated;            // as the client sees it
  std::uint64_t bytes_written = 0;  // client -> server, verified in the server's file
  std::uint64_t bytes_read = 0;     // server -> client, verified in the client's buffer
  bool verified = false;            // every byte of every transfer matched
  Counters client, server;
  std::chrono::nanoseconds connect{}, write{}, read{}, latency{}, inline_io{}, teardown{};
  std::vector<std::uint64_t> latency_ns;  // one ECHO round trip each
  std::uint64_t objects_open = 0;         // NDK objects left open after teardown (both ends)
};

[[nodiscard]] SessionReport run_session(const SessionOptions& options);

// The p-th percentile (0..100) of samples, nearest rank; 0 for none.
std::uint64_t percentile(std::vector<std::uint64_t> samples, double p);

}  // namespace smbd
