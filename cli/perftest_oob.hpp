// The out-of-band exchange of the perftest dialect (`softrnic write_bw` and friends), message for
// message what perftest 4.5-0.17 (Debian bookworm's perftest 4.5+0.17, VERSION "6.06") sends, so
// either side can be the real ib_*_bw / ib_*_lat. Derived from perftest's own description of its
// exchange (perftest_communication.c at tag v4.5-0.17, commit e63987c4).
//
// Channel. Without -R: one TCP connection, client -> server port (-p, default 18515). With -R
// perftest also sets "use_rdma_cm": every message below then travels as one RC Send on a control
// QP connected through the RDMA CM to the same port (both sides keep one 56-byte receive posted and
// repost it after each message), and the data QPs are made by separate CM connections.
//
// Every exchange step "X(n)" is symmetric: the client writes n bytes then reads n; the server reads
// n then writes n. The steps, in order:
//   1. X(16)  version: "6.06" NUL-padded to 16 bytes. The peer must be >= 5.70, and >= 5.33 for
//             the 64-bit iteration count below (both hold for 6.06).
//   2. X(4)   cycle buffer (page size) as a big-endian int; X(4) cache line size likewise; each
//             side keeps the larger of the two values.
//   3. X(2)   the port's active MTU as decimal text of the ibv_mtu enum (1=256 .. 5=4096) and a
//             NUL ("3\0" for 1024); both use the smaller.
//   -R only:  X(56) key (content unused), the data QPs' CM connections (the client connects -q
//             times to the same port, retrying a rejected attempt up to 10 times 100 ms apart),
//             X(56) key.
//   4. The key messages ("K"), which differ per test (tcp: 108 bytes of text
//      "%04x:%04x:%06x:%06x:%08x:%016llx:" lid, out_reads, qpn, psn, rkey, vaddr, then 16 GID
//      bytes "%02x:" each, then "%08x:" srqn, then a NUL; -R: 56 bytes binary, the C layout of
//      perftest's pingpong_dest with every field big-endian: lid, out_reads, qpn, psn, rkey
//      (4 bytes each), 4 bytes padding, vaddr (8), gid (16), srqn (4), gid_index (4)):
//        write_bw/read_bw/atomic_bw: K per QP; [connect QPs]; K per QP; K.
//        send_bw:  K per QP; [connect]; K; K per QP; then per message size K before the run
//                  (receives posted) and, with -a, K after each size.
//        write_lat: K; K per QP; [connect]; K per QP; K.
//        send_lat:  K per QP; [connect]; K; K per QP; then per size K before the run.
//        read_lat/atomic_lat: K; K per QP; [connect]; K per QP; K.
//   5. End. *_bw of Write/Read/Atomic: the server waits in K for the client to finish, then the
//      client's report is exchanged: X(8) size, X(8) iterations (both big-endian 64-bit), X(8)
//      peak, X(8) average bandwidth, X(8) message rate (IEEE doubles, byte-swapped to big-endian);
//      the server prints the client's numbers. Then "close": K, and over TCP each side writes the
//      5 bytes "done\0" (never read) and closes. send_bw, send_lat, read_lat, atomic_lat: close
//      only (read_lat's server closes right after step 4). write_lat: nothing, the sockets close.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/result.hpp"
#include "wire/ip.hpp"

namespace softrnic::cli::perftest {

inline constexpr std::uint16_t kDefaultPort = 18515;
inline constexpr const char* kVersion = "6.06";
inline constexpr std::size_t kVersionBytes = 16;
inline constexpr std::size_t kKeyTextBytes = 108;  // with the GID: the only form RoCE uses
inline constexpr std::size_t kKeyBinaryBytes = 56;

// perftest's pingpong_dest: what one side tells the other about one QP.
struct Dest {
  std::uint32_t lid = 0;
  std::uint32_t out_reads = 0;
  std::uint32_t qpn = 0;
  std::uint32_t psn = 0;
  std::uint32_t rkey = 0;
  std::uint64_t vaddr = 0;
  wire::Ipv6Addr gid{};
  std::uint32_t srqn = 0;
};

std::array<std::byte, kKeyTextBytes> encode_key_text(const Dest& d);
[[nodiscard]] Result<Dest> decode_key_text(std::span<const std::byte> m);
std::array<std::byte, kKeyBinaryBytes> encode_key_binary(const Dest& d);
Dest decode_key_binary(std::span<const std::byte> m);

// A channel carrying whole messages of sizes both sides know.
class Channel {
 public:
  virtual ~Channel() = default;
  [[nodiscard]] virtual Result<void> write(std::span<const std::byte> m) = 0;
  [[nodiscard]] virtual Result<void> read(std::span<std::byte> m) = 0;
  virtual bool over_cm() const = 0;  // -R: keys travel in binary form, no "done"
};

// TCP. connect retries until `timeout` (the server may start a moment later); accept waits up to
// `wait` (zero: until stop() says so). Reads give up after `timeout` without data.
struct TcpOptions {
  std::chrono::milliseconds timeout{15000};
  std::chrono::milliseconds wait{0};
  std::function<bool()> stop;  // polled while waiting (Ctrl-C)
};
// Every wait polls the calling thread's devices (device_pump.hpp): the side that is not posting
// anything must keep answering its peer (ARP/ND, ACKs, Read responses) while it waits here.
[[nodiscard]] Result<std::unique_ptr<Channel>> tcp_connect(const std::string& host,
                                                           std::uint16_t port,
                                                           const TcpOptions& o);
[[nodiscard]] Result<std::unique_ptr<Channel>> tcp_accept(const std::string& bind_address,
                                                          std::uint16_t port, const TcpOptions& o);

struct BwReport {
  std::uint64_t size = 0;
  std::uint64_t iters = 0;
  double bw_peak = 0;
  double bw_avg = 0;
  double msg_rate = 0;
};

// The steps of the exchange over a channel, from one side's point of view.
class Exchange {
 public:
  Exchange(Channel& ch, bool client) : ch_(ch), client_(client) {}
  [[nodiscard]] Result<void> xchg(std::span<const std::byte> mine, std::span<std::byte> theirs);
  // Step 1: the peer's version text.
  [[nodiscard]] Result<std::string> versions();
  // Step 2: the larger cycle buffer and cache line of both sides.
  [[nodiscard]] Result<void> sys_data(std::uint32_t& cycle_buffer, std::uint32_t& cache_line);
  // Step 3: the smaller MTU enum of both sides.
  [[nodiscard]] Result<int> mtu(int mine);
  // A key message each way.
  [[nodiscard]] Result<Dest> key(const Dest& mine);
  [[nodiscard]] Result<BwReport> bw_reports(const BwReport& mine);
  // K, then "done" over TCP.
  [[nodiscard]] Result<void> close(const Dest& mine);
  bool client() const { return client_; }

 private:
  Channel& ch_;
  bool client_;
};

// The ibv_mtu enum of a byte MTU (256 -> 1 ... 4096 -> 5), and back.
int mtu_enum(std::uint32_t bytes);
std::uint32_t mtu_bytes(int e);

}  // namespace softrnic::cli::perftest
