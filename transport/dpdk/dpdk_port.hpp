// A softrnic::Port over one DPDK ethdev: one receive and one transmit queue, and a mempool of mbufs
// of its own. DPDK headers stay inside transport/dpdk/: this header only names DPDK's types.
//
// Zero copy: every mbuf carries its Packet descriptor in its private area (priv_size), built once
// when the pool is made, with port_private = the rte_mbuf*. alloc() takes an mbuf and points the
// descriptor's data/capacity into its data room; rx_burst does the same for received mbufs;
// tx_burst sets data_off/data_len/pkt_len from the descriptor and hands the mbufs to
// rte_eth_tx_burst; free() returns the mbuf to the pool it came from. Both lookups are O(1) and
// nothing is allocated per packet. The descriptor lives with the mbuf rather than in a per-port
// table because a net_ring peer receives the very mbufs the other end sent, from the other end's
// pool: the receiver still finds their descriptors.
//
// Buffers: each mbuf has DPDK's 128-byte headroom plus frame_room bytes (default 4352: a 4096-byte
// RoCE payload with every header, 4202 bytes, fits with room to spare), so one element is about
// 4.7 KiB, spanning two 4 KiB pages. That is fine with --no-huge, where the EAL selects IOVA as VA
// and a mempool is one virtually (hence IOVA-) contiguous area.
//
// Multi-segment frames (a PMD chains mbufs when a frame is bigger than its buffers): linearized in
// place when the first mbuf has room for the whole frame (rx_linearized), else dropped and counted
// (rx_multiseg_dropped). Mbufs from a pool that is not a DpdkPort's cannot carry a descriptor and
// are dropped (rx_foreign_dropped); only a foreign net_ring peer could send such.
//
// Pool size: rx_queue_depth + tx_queue_depth + caller_packets + one per-lcore cache, so the
// receive queue and a full transmit queue never starve the caller of buffers.
//
// MTU: the device's own unless the configuration names one; a net_ring pair has none and uses
// 4200 (a 4096-byte path MTU fits). max_frame() = MTU + 18 must fit frame_room. set_mtu() asks the
// PMD, and when the PMD cannot change it while running (net_ring), stops, reconfigures and restarts
// the port. Note: DPDK 22.11's memif and af_packet report a 1518-byte max_rx_pktlen and tap 1522,
// so ethdev keeps their MTU at 1500 (tap: 1504) or below. af_packet still follows a larger MTU of
// its kernel interface (read when the port is made, unless the configuration names an MTU): the
// PMD moves any frame its ring slots hold, so create_vdev sizes the slots (framesz, blocksz) for
// the interface's frames, up to frame_room, and the port reports the interface's MTU; a 4200-byte
// veth carries RoCE's 4096-byte path MTU. memif and tap stay at RoCE path MTU 1024.
//
// MAC: the configured one when given (programmed into the device; when the PMD cannot take it, the
// port turns promiscuous so frames for it still arrive), else the device's, else (an all-zero
// MAC, as net_ring has) a random locally administered one.
//
// Zero-copy transmit (Port::zero_copy_min): a packet whose payload the engine left in registered
// memory (Packet::ext) goes out as a chain of three mbufs: the descriptor's own with the headers,
// one attached to the payload as an external buffer (rte_pktmbuf_attach_extbuf; its shared info
// lives in that mbuf's private area), and one with the pad and ICRC, the last two from a small
// segment pool. This is offered only on PMDs that copy a chain into their ring and free it inside
// rte_eth_tx_burst, so the payload is never read after tx_burst returns, which is the promise
// Port makes the engine: net_af_packet, net_tap and net_memif (not with zero-copy=yes, whose
// buffers wait for the peer). There the PMD's one copy replaces ours (the engine's copy into the
// frame, done while computing the ICRC, is gone; it only reads the payload for the ICRC).
// Payloads below zero_copy_min (default 2048 bytes) are copied: for small frames a copy is
// cheaper than two more mbufs (see DpdkPortConfig::zero_copy_min). Elsewhere everything is copied:
//   - net_ring: the peer would read the payload after tx_burst returns (it linearizes the chain
//     on receive), so a completion would have to wait for the peer;
//   - net_af_xdp: DPDK 22.11's copy path sends the first segment only;
//   - PCI NICs: they read by DMA after tx_burst returns (until the descriptor is cleaned), and the
//     memory would need mapping for DMA (rte_extmem_register, rte_dev_dma_map).
// Should a PMD still hold an external buffer after tx_burst (tx_ext_held), the port logs an error
// and copies from then on. A packet with ext that cannot be chained (segment pool empty, zero copy
// off) is copied into its own mbuf (tx_zero_copy_copied).
//
// Ownership and lifetime: packets must all be freed before the port that owns their pool is
// destroyed (a ring pair: before either end is). Destruction drains the receive queue (and, for a
// ring pair, both rings), stops and closes the device, removes the virtual device and frees the
// pool. A pool with mbufs still out is left allocated (and an error logged) rather than freed
// under them.
//
// af_xdp (DPDK 22.11): the PMD registers the pool itself as the socket's UMEM, each mbuf one
// chunk. The kernel takes chunks of at most a page when the UMEM is not on hugepages, so
// create_vdev lowers frame_room until an object fits a page (3.6 KiB of frame; the kernel puts
// 256 bytes of XDP headroom before each received frame, so frames up to ~3.4 KiB arrive), and the
// PMD sizes the UMEM as populated_size x object size from the first object, so the objects must
// be packed without the page-boundary gaps a pool of sub-page objects normally gets (packed_pool).
// Without either, the UMEM is refused or misses the upper objects, whose frames are then silently
// not sent or received.
//
// memif: a client posts its receive buffers on rx_burst, so a server can transmit only once the
// client has polled. When one end of a memif connection closes, DPDK's interrupt thread tears
// down the other end's connection; destroying that other end at the same moment runs the same
// teardown twice (a DPDK 22.11 race): wait until its link_up() turns false first.
//
// Single-threaded like every port; the two ends of a ring pair may be driven by two threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/counters.hpp"
#include "base/result.hpp"
#include "engine/port.hpp"
#include "wire/ethernet.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace softrnic::transport {

struct DpdkPortConfig {
  std::uint16_t rx_queue_depth = 1024;  // a ring pair: the ring toward this end holds this many
  std::uint16_t tx_queue_depth = 1024;
  std::uint32_t caller_packets = 1024;  // buffers the caller may hold at once
  std::uint32_t frame_room = 4352;      // bytes of frame per mbuf, after the headroom
  std::uint32_t mtu = 0;                // 0: the device's own (a ring pair: 4200)
  std::optional<wire::MacAddr> mac;     // unset: the device's (a ring pair: 02:00:00:00:00:0a/0b)
  bool promiscuous = false;
  // Objects back to back, none moved past a page boundary (RTE_MEMPOOL_F_NO_IOVA_CONTIG). Set for
  // net_af_xdp (see create_vdev); harmless with IOVA as VA, where the pool is one virtual area.
  bool packed_pool = false;
  // Payloads of at least this many bytes are sent by reference where the PMD allows (see above);
  // 0: always copy. The default is above the 1024-byte payloads the allowing PMDs carry at their
  // 1500-byte MTU: there a chain of three mbufs measured 0.96x the speed of one copied frame
  // (perf/dpdk_bench), so they copy unless asked (zero_copy=N in the device spec).
  std::uint32_t zero_copy_min = 2048;
};

enum class DpdkCounter : std::uint8_t {
  rx_packets,
  rx_bytes,
  tx_packets,
  tx_bytes,
  tx_full,              // frames the transmit queue did not accept (left with the caller)
  tx_drop_oversize,     // longer than max_frame() or their buffer: freed, never sent
  tx_drop_runt,         // shorter than an Ethernet header: freed, never sent
  rx_linearized,        // multi-segment frames copied into their first mbuf
  rx_multiseg_dropped,  // multi-segment frames too long for one mbuf
  rx_foreign_dropped,   // mbufs from a pool without descriptors
  alloc_fail,           // alloc() found the pool empty
  free_invalid,         // free() or tx_burst of a packet not from a DpdkPort pool, or not the
                        // caller's (already freed or sent): ignored
  tx_zero_copy,         // frames sent with their payload attached by reference
  tx_zero_copy_copied,  // frames given by reference but copied (no segment mbufs, zero copy off)
  tx_ext_held,          // external buffers the PMD still held after tx_burst: zero copy turned off
  count_
};

constexpr std::string_view counter_name(DpdkCounter c) {
  switch (c) {
    case DpdkCounter::rx_packets:
      return "rx_packets";
    case DpdkCounter::rx_bytes:
      return "rx_bytes";
    case DpdkCounter::tx_packets:
      return "tx_packets";
    case DpdkCounter::tx_bytes:
      return "tx_bytes";
    case DpdkCounter::tx_full:
      return "tx_full";
    case DpdkCounter::tx_drop_oversize:
      return "tx_drop_oversize";
    case DpdkCounter::tx_drop_runt:
      return "tx_drop_runt";
    case DpdkCounter::rx_linearized:
      return "rx_linearized";
    case DpdkCounter::rx_multiseg_dropped:
      return "rx_multiseg_dropped";
    case DpdkCounter::rx_foreign_dropped:
      return "rx_foreign_dropped";
    case DpdkCounter::alloc_fail:
      return "alloc_fail";
    case DpdkCounter::free_invalid:
      return "free_invalid";
    case DpdkCounter::tx_zero_copy:
      return "tx_zero_copy";
    case DpdkCounter::tx_zero_copy_copied:
      return "tx_zero_copy_copied";
    case DpdkCounter::tx_ext_held:
      return "tx_ext_held";
    case DpdkCounter::count_:
      break;
  }
  return "unknown";
}

struct DpdkRingPair;

class DpdkPort final : public Port {
 public:
  // A virtual device from a DPDK device string, "driver_name<N>,key=value,...", for example
  // "net_af_packet0,iface=veth0", "net_memif0,role=server,socket=/run/x.sock", "net_tap0".
  // Starts the EAL with its defaults when nothing started it yet.
  [[nodiscard]] static Result<std::unique_ptr<DpdkPort>> create_vdev(
      std::string_view spec, const DpdkPortConfig& config = {});

  // Two net_ring ethdevs in this process wired to each other: what a transmits, b receives, and
  // the reverse. name (1..20 characters) must be unique in the process.
  [[nodiscard]] static Result<DpdkRingPair> create_ring_pair(std::string_view name,
                                                             const DpdkPortConfig& a = {},
                                                             const DpdkPortConfig& b = {});

  DpdkPort(const DpdkPort&) = delete;
  DpdkPort& operator=(const DpdkPort&) = delete;
  ~DpdkPort() override;

  std::size_t rx_burst(std::span<Packet*> out) override;
  std::size_t tx_burst(std::span<Packet*> pkts) override;
  Packet* alloc() override;
  void free(Packet* p) override;

  std::uint32_t mtu() const override { return mtu_; }
  wire::MacAddr mac() const override { return mac_; }
  bool link_up() const override;
  std::uint32_t zero_copy_min() const override { return zero_copy_min_; }

  [[nodiscard]] Result<void> set_mtu(std::uint32_t mtu);
  [[nodiscard]] Result<void> set_link_up(bool up);

  const Counters<DpdkCounter>& counters() const { return counters_; }
  std::uint16_t port_id() const { return port_id_; }
  const std::string& device_name() const { return device_name_; }
  bool promiscuous() const { return promiscuous_; }
  std::uint32_t frame_room() const { return frame_room_; }
  std::size_t pool_size() const;
  std::size_t pool_available() const;
  // Mbufs of this port's pool held anywhere: by the caller, a queue, a ring or the peer.
  std::size_t pool_in_use() const;

 private:
  struct RingLink;

  DpdkPort(std::uint16_t port_id, std::string device_name, bool remove_vdev);
  [[nodiscard]] Result<void> open(const DpdkPortConfig& config, wire::MacAddr fallback_mac);
  [[nodiscard]] Result<void> configure(std::uint16_t mtu);
  [[nodiscard]] Result<void> configure_and_start(std::uint16_t mtu);
  [[nodiscard]] Result<void> read_mtu();
  void drain();
  Packet* wrap_received(rte_mbuf* m);
  [[nodiscard]] Result<void> open_zero_copy(const DpdkPortConfig& config);
  // Hangs p's external payload and tail off m (or copies them into m); false: they do not fit.
  bool chain_external(rte_mbuf* m, Packet& p);
  void unchain(rte_mbuf* m);
  void check_ext_released();

  std::uint16_t port_id_;
  std::string device_name_;
  bool remove_vdev_;
  rte_mempool* pool_ = nullptr;
  rte_mempool* seg_pool_ = nullptr;  // zero copy: the payload and tail segments of a chain
  std::string vdev_args_;            // the key=value part of a virtual device's string
  std::uint32_t zero_copy_min_ = 0;  // 0: off
  std::uint64_t ext_attached_ = 0;
  std::atomic<std::uint64_t> ext_released_{0};  // bumped by the external buffers' free callback
  std::shared_ptr<RingLink> ring_;  // a ring pair's two rings, shared by both ends
  bool configured_ = false;
  bool started_ = false;
  bool promiscuous_ = false;
  bool umem_pool_ = false;  // packed for af_xdp: the PMD keeps some mbufs at close
  std::uint16_t rx_depth_ = 0;
  std::uint16_t tx_depth_ = 0;
  std::uint32_t frame_room_ = 0;
  std::uint32_t mtu_ = 0;
  std::uint32_t link_mtu_ = 0;  // af_packet: the kernel interface's MTU above ethdev's 1500
  wire::MacAddr mac_{};
  Counters<DpdkCounter> counters_;
};

struct DpdkRingPair {
  std::unique_ptr<DpdkPort> a;
  std::unique_ptr<DpdkPort> b;
};

}  // namespace softrnic::transport
