// An SMB-Direct-like NDK consumer: MS-SMBD (negotiation, credits, fragmentation, keep-alive) over
// NDKPI, with a tiny SMB2-like request layer on top (WRITE and READ moved by RDMA Read/Write of
// fast-registered client buffers with remote invalidation, small I/O inline, ECHO).
//
// It is written the way an outside NDK consumer is: only the NDKPI headers (ndkpi.h, wskndk.h,
// softrnic_ndk_ext.h for the optional async-mode switch) and libsoftrnic-ndk.
//
// Per connection (NDKPI reference 5.1): one PD, one CQ shared by both queues (its notification
// callback drains it and re-arms it with NDK_CQ_NOTIFY_ANY), one QP, ReceiveCreditMax receives
// of MaxReceiveSize posted before the connection, NdkConnect + NdkCompleteConnect (client) or
// NdkAccept (server), then the MS-SMBD negotiation. Teardown is NdkDisconnect, draining the CQ
// until every posted work request has completed, then closing QP, MRs, connector, CQ and PD, and
// finally the adapter.
//
// Threads: the calls below may block and must not be made from an NDK callback. Everything the
// protocol does after a message arrives (credits, reassembly, the server's RDMA, responses) runs
// in the shim's completion callbacks, which never wait: they take a connection's lock for short,
// bounded sections only (the analogue of a spin lock at DISPATCH_LEVEL), post work requests and
// return. A small timer thread per Client/Server runs keep-alives and timeouts.
//
// Credits (MS-SMBD 3.1.5): every message carries CreditsRequested = SendCreditTarget and grants
// the receives posted since the last grant, keeping one in reserve that only a message spending
// the sender's last credit grants. A sender stops at 0 credits and never spends its last credit
// on a message that grants none; the reserve means a sender with one credit can always send, so
// neither side can strand the other. When the peer is left with no credits at all, an empty
// message grants it some at once. Keep-alives (idle for KeepaliveInterval) carry
// SMB_DIRECT_RESPONSE_REQUESTED and are answered at once with an empty message.
// Credit targets below 2 are refused locally (a pair of targets of 1 would trade empty messages).
//
// Failures: every NDK status is checked. What ends a connection, and the status reported:
//   peer's version range excludes 0x0100     STATUS_NOT_SUPPORTED (the server answers with it in
//                                            its Negotiate Response, then disconnects)
//   negotiate request or response fails a    STATUS_INVALID_PARAMETER (server: no response, just
//   check (credits 0, sizes too small, ...)  the disconnect; client: the response's own Status
//                                            when it is not 0)
//   malformed data transfer message          kStatusInvalidNetworkResponse (DataOffset not 8-byte
//   (MS-SMBD 3.1.5.8 checks)                 aligned, data beyond the message, too long, ...)
//   no negotiation / keep-alive answer       STATUS_IO_TIMEOUT
//   the peer disconnected                    STATUS_CONNECTION_DISCONNECTED
//   a work request failed                    its completion status (e.g. STATUS_REMOTE_RESOURCES)
//   a provider call failed inline            the status it returned
// A request the server refuses (offset beyond its file, bad descriptor) is answered with
// STATUS_INVALID_PARAMETER and the connection stays up.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "ndkpi.h"
#include "softrnic_ndk_ext.h"
#include "wskndk.h"

namespace smbd {

// STATUS_INVALID_NETWORK_RESPONSE (ntstatus.h), which the shim's headers do not define.
inline constexpr NTSTATUS kStatusInvalidNetworkResponse = static_cast<NTSTATUS>(0xC00000C3u);

// Default listening ports (NDKPI reference 3.6): 445 on InfiniBand/RoCE, 5445 on iWARP.
inline constexpr std::uint16_t kRocePort = 445;
inline constexpr std::uint16_t kIwarpPort = 5445;

struct Failure {
  NTSTATUS status = STATUS_SUCCESS;
  std::string message;
  bool ok() const { return status == STATUS_SUCCESS; }
};

// Test hooks: fields a peer sends instead of its own values (to make a bad peer).
struct NegotiateOverride {
  std::optional<std::uint16_t> min_version, max_version, credits_requested, credits_granted;
  std::optional<std::uint32_t> preferred_send_size, max_receive_size, max_fragmented_size;
  std::optional<std::uint32_t> status;  // server only: the response's Status
};

struct Config {
  // MS-SMBD Appendix B defaults.
  std::uint16_t receive_credit_max = 255;
  std::uint16_t send_credit_target = 255;
  std::uint32_t max_send_size = 1364;
  std::uint32_t max_receive_size = 8192;
  std::uint32_t max_fragmented_size = 1u << 20;  // reassembly limit (MaxFragmentedRecvSize)
  std::uint32_t max_read_write_size = 1u << 20;  // per RDMA operation
  // Requests moving at most this many bytes carry them inline; larger ones use RDMA.
  std::uint32_t inline_threshold = 4096;
  // Client: requests in flight at once (each RDMA one holds one fast-register MR).
  std::uint32_t max_outstanding = 4;
  // Client: ask the server to invalidate the token (SMB2_CHANNEL_RDMA_V1_INVALIDATE); otherwise
  // the client invalidates it with NdkInvalidate.
  bool remote_invalidate = true;
  std::chrono::milliseconds keepalive_interval{120000};
  std::chrono::milliseconds keepalive_timeout{5000};
  std::chrono::milliseconds negotiate_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds control_timeout{10000};  // any one NDK control call
  // How the adapter completes asynchronous calls (softrnic_ndk_ext.h, SOFTRNIC_NDK_ASYNC_*).
  ULONG async_mode = SOFTRNIC_NDK_ASYNC_NATURAL;
  // Test hooks.
  NegotiateOverride negotiate_override;
  bool ignore_keepalives = false;  // never answer SMB_DIRECT_RESPONSE_REQUESTED
};

// What the negotiation settled (MS-SMBD 3.1.1.1 connection state).
struct Negotiated {
  std::uint16_t receive_credit_target = 0;  // what the peer asked for
  std::uint16_t initial_send_credits = 0;   // what the Negotiate Response granted
  std::uint32_t max_send_size = 0;
  std::uint32_t max_receive_size = 0;
  std::uint32_t max_fragmented_send_size = 0;  // the peer's reassembly limit
  std::uint32_t max_read_write_size = 0;
  ULONG inbound_read_limit = 0, outbound_read_limit = 0;  // effective IRD/ORD
  NDK_RDMA_TECHNOLOGY technology = NdkUndefined;
};

struct Counters {
  std::uint64_t messages_sent = 0, messages_received = 0;
  std::uint64_t empty_messages_sent = 0;  // credit grants and keep-alive answers
  std::uint64_t upper_messages_sent = 0, upper_messages_received = 0;
  std::uint64_t fragments_sent = 0, fragments_received = 0;  // messages of multi-message PDUs
  std::uint64_t payload_bytes_sent = 0, payload_bytes_received = 0;
  std::uint64_t credits_granted = 0, credits_received = 0;
  std::uint64_t credit_stalls = 0;  // times a ready message had to wait for credits
  std::uint64_t keepalives_sent = 0, keepalives_answered = 0;
  std::uint64_t rdma_reads = 0, rdma_writes = 0, rdma_bytes = 0;
  std::uint64_t fast_registers = 0, remote_invalidations = 0, local_invalidations = 0;
  std::uint64_t send_and_invalidates = 0;
  std::uint64_t requests = 0;  // client: requests completed; server: requests served
};

struct ConnectionInfo {
  Failure failure;          // the first failure, or success
  bool negotiated = false;  // the negotiation finished
  bool down = false;        // failed, disconnected or closed
  Negotiated params;
  Counters counters;
};

// NDK objects every Client and Server of this process created and has not closed (yet): 0 once
// they are all closed, also after a failed connect or listen (which close what they made).
std::uint64_t objects_open_in_process();

class Client {
 public:
  struct Options {
    NET_IFINDEX if_index = 0;  // the client's adapter
    std::string server_ip;     // IPv4 or IPv6 text
    std::uint16_t port = 0;    // 0: kRocePort or kIwarpPort by the adapter's technology
    Config config;
  };
  // Opens the adapter, connects and negotiates. On failure everything is closed again and
  // `out` stays empty.
  [[nodiscard]] static Failure connect(const Options& options, std::unique_ptr<Client>& out);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Writes data to the server's file at offset (RDMA Read by the server above the inline
  // threshold, split at MaxReadWriteSize) and waits for every response.
  [[nodiscard]] Failure write(std::uint64_t offset, std::span<const std::byte> data);
  // Reads from the server's file at offset into data (RDMA Write by the server above the
  // inline threshold).
  [[nodiscard]] Failure read(std::uint64_t offset, std::span<std::byte> data);
  // One small request/response round trip carrying payload both ways.
  [[nodiscard]] Failure echo(std::span<const std::byte> payload);
  // Test hook: sends the bytes as one message, as they are (uses a credit).
  [[nodiscard]] Failure send_raw_for_test(std::span<const std::byte> message);
  // Waits for `d` and reports whether the connection is still up (keep-alive tests).
  [[nodiscard]] Failure stay_idle(std::chrono::milliseconds d);
  ConnectionInfo info() const;
  // Disconnects and closes every object, then the adapter. Idempotent. Returns the first
  // failure the connection saw, or the first teardown failure.
  Failure close();
  // NDK objects created and not (yet) closed: 0 after close() unless the provider misbehaved.
  std::uint64_t objects_open() const;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Server {
 public:
  struct Options {
    NET_IFINDEX if_index = 0;
    std::string ip;          // the address to listen on
    std::uint16_t port = 0;  // 0: kRocePort or kIwarpPort by the adapter's technology
    Config config;
    std::size_t file_size = 0;  // the server's backing store that WRITE and READ address
  };
  [[nodiscard]] static Failure listen(const Options& options, std::unique_ptr<Server>& out);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Waits up to `limit` for the next connection request and accepts it (the negotiation then
  // runs in callbacks). *index names the connection for info().
  [[nodiscard]] Failure accept(std::chrono::milliseconds limit, std::size_t* index = nullptr);
  std::size_t connections() const;
  ConnectionInfo info(std::size_t index) const;
  // Waits until connection `index` is down (failed or disconnected); false on timeout.
  bool wait_down(std::size_t index, std::chrono::milliseconds limit) const;
  // Waits until connection `index` has negotiated (or gone down); false on timeout.
  bool wait_negotiated(std::size_t index, std::chrono::milliseconds limit) const;
  std::span<std::byte> file();
  std::uint16_t port() const;  // the port it listens on
  Failure close();
  std::uint64_t objects_open() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smbd
