#include "dpdk/dpdk_port.hpp"

#include <linux/if_packet.h>
#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "dpdk/eal.hpp"
#include "dpdk/mbuf_slot.hpp"
#include "netdev/interface_mtu.hpp"

namespace softrnic::transport {

using dpdk_detail::hand_out;
using dpdk_detail::kPrivSize;
using dpdk_detail::mbuf_of;
using dpdk_detail::MbufSlot;
using dpdk_detail::own_slot;
using dpdk_detail::slot_of;

namespace {

constexpr std::uint32_t kEthernetHeader = 14;
constexpr std::uint32_t kFrameOverhead = kEthernetHeader + 4;  // Port::max_frame(): MTU + 18
// A ring has no MTU of its own; this one carries a 4096-byte RoCE path MTU (4202-byte frames).
constexpr std::uint32_t kRingPairMtu = 4200;
constexpr unsigned kPoolCache = 128;
// rte_eth_from_rings names the device "net_ring_<name>" in a 32-byte buffer; "_a" is ours.
constexpr std::size_t kMaxRingPairName = 20;
std::string dpdk_reason(int err) { return rte_strerror(err < 0 ? -err : err); }

Errc errc_for(int err) {
  switch (err < 0 ? -err : err) {
    case EINVAL:
      return Errc::invalid_argument;
    case ENOTSUP:
      return Errc::unsupported;
    case EEXIST:
    case EBUSY:
      return Errc::busy;
    case ENOMEM:
    case ENOSPC:
      return Errc::buffer_too_small;
    case ENODEV:
    case ENOENT:
      return Errc::not_found;
    default:
      return Errc::io_error;
  }
}

std::unexpected<Error> dpdk_error(int err, const std::string& what) {
  return make_error(errc_for(err), what + ": " + dpdk_reason(err));
}

wire::MacAddr random_local_mac() {
  rte_ether_addr a;
  rte_eth_random_addr(a.addr_bytes);  // locally administered, unicast
  wire::MacAddr m;
  std::copy(std::begin(a.addr_bytes), std::end(a.addr_bytes), m.begin());
  return m;
}

int socket_of(std::uint16_t port_id) {
  const int s = rte_eth_dev_socket_id(port_id);
  return s < 0 ? SOCKET_ID_ANY : s;
}

std::atomic<unsigned> g_pool_serial{0};

// The bytes a pool object of this frame room occupies (header, mbuf, descriptor, headroom, data),
// as the mempool lays it out.
std::uint32_t object_size(std::uint32_t frame_room, unsigned flags) {
  const std::uint32_t elt = sizeof(rte_mbuf) + kPrivSize + RTE_PKTMBUF_HEADROOM + frame_room;
  return rte_mempool_calc_obj_size(elt, flags, nullptr);
}

// The value of key=VALUE in a vdev's argument string; empty when absent.
std::string vdev_arg(std::string_view args, std::string_view key) {
  std::size_t at = 0;
  while (at <= args.size()) {
    const std::size_t end = std::min(args.find(',', at), args.size());
    const std::string_view kv = args.substr(at, end - at);
    if (kv.size() > key.size() && kv.starts_with(key) && kv[key.size()] == '=')
      return std::string(kv.substr(key.size() + 1));
    at = end + 1;
  }
  return {};
}

// net_af_packet on an interface whose MTU is above 1500: DPDK 22.11's ethdev holds the port's
// MTU at 1500 (the PMD reports a 1518-byte max_rx_pktlen), though the PMD moves whatever frame
// its ring slots hold. Slots sized for the interface's frames (framesz, at most what an mbuf
// takes) let the port carry them; returns the MTU they allow (0: nothing to do) and adds the
// slot arguments to args.
std::uint32_t fit_af_packet_frames(const std::string& name, std::string& args,
                                   std::uint32_t frame_room) {
  if (!name.starts_with("net_af_packet") || !vdev_arg(args, "framesz").empty() ||
      !vdev_arg(args, "blocksz").empty())
    return 0;
  const std::uint32_t link = netdev::interface_mtu(vdev_arg(args, "iface"));
  if (link <= 1500) return 0;
  // A slot holds the frame after the PMD's tpacket header (minus the sockaddr_ll it overlaps);
  // the PMD refuses slots whose frame room is above the mbuf's. It addresses slot i at
  // i * framesz, so a block must hold whole slots: slots of a multiple of 256 bytes, 16 to a
  // block, make blocks of whole pages.
  constexpr std::uint32_t kSlotHeader = TPACKET2_HDRLEN - sizeof(sockaddr_ll);
  const std::uint32_t want = (link + kFrameOverhead + kSlotHeader + 255) & ~255u;
  const std::uint32_t framesz = std::min(want, (frame_room + kSlotHeader) & ~255u);
  const std::uint32_t blocksz = framesz * 16;
  if (blocksz % static_cast<std::uint32_t>(sysconf(_SC_PAGESIZE)) != 0) return 0;
  args += (args.empty() ? "" : ",") + std::string("framesz=") + std::to_string(framesz) +
          ",blocksz=" + std::to_string(blocksz);
  return std::min(link, framesz - kSlotHeader - kFrameOverhead);
}

// net_af_xdp: every object one UMEM chunk of at most a page (see dpdk_port.hpp).
void fit_umem_chunks(DpdkPortConfig& c) {
  constexpr unsigned kFlags = RTE_MEMPOOL_F_NO_IOVA_CONTIG;
  const auto page = static_cast<std::uint32_t>(sysconf(_SC_PAGESIZE));
  while (c.frame_room > 64 && object_size(c.frame_room, kFlags) > page) c.frame_room -= 64;
  c.packed_pool = true;
}

// rte_pktmbuf_pool_create with mempool flags, which it does not take.
rte_mempool* create_packet_pool(const std::string& name, unsigned count, std::uint16_t data_room,
                                int socket, unsigned flags) {
  rte_mempool* mp =
      rte_mempool_create_empty(name.c_str(), count, sizeof(rte_mbuf) + kPrivSize + data_room,
                               kPoolCache, sizeof(rte_pktmbuf_pool_private), socket, flags);
  if (mp == nullptr) return nullptr;
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = data_room;
  priv.mbuf_priv_size = kPrivSize;
  if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr) != 0) {
    rte_mempool_free(mp);
    return nullptr;
  }
  rte_pktmbuf_pool_init(mp, &priv);
  if (rte_mempool_populate_default(mp) < 0) {
    rte_mempool_free(mp);
    return nullptr;
  }
  (void)rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

}  // namespace

// The two rings of a ring pair; freed when neither end uses them any more.
struct DpdkPort::RingLink {
  rte_ring* to_a = nullptr;
  rte_ring* to_b = nullptr;
  ~RingLink() {
    rte_ring_free(to_a);
    rte_ring_free(to_b);
  }
};

// ---- creation ----

Result<std::unique_ptr<DpdkPort>> DpdkPort::create_vdev(std::string_view spec,
                                                        const DpdkPortConfig& config) {
  if (auto r = eal::init(); !r) return std::unexpected(r.error());
  const std::size_t comma = spec.find(',');
  const std::string name(spec.substr(0, comma));
  std::string args(comma == std::string_view::npos ? "" : spec.substr(comma + 1));
  const std::uint32_t link_mtu = fit_af_packet_frames(name, args, config.frame_room);
  if (name.empty()) {
    return make_error(Errc::invalid_argument, "DPDK device string '" + std::string(spec) +
                                                  "' names no driver (e.g. net_tap0,iface=x)");
  }
  const int ret = rte_vdev_init(name.c_str(), args.c_str());
  if (ret != 0)
    return dpdk_error(ret, "DPDK could not create virtual device '" + std::string(spec) + "'");
  std::uint16_t port_id = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
    (void)rte_vdev_uninit(name.c_str());
    return make_error(Errc::not_found,
                      "DPDK virtual device '" + name + "' is not an Ethernet device");
  }
  std::unique_ptr<DpdkPort> port(new DpdkPort(port_id, name, true));
  port->vdev_args_ = args;
  port->link_mtu_ = config.mtu == 0 ? link_mtu : 0;
  DpdkPortConfig c = config;
  if (name.starts_with("net_af_xdp")) fit_umem_chunks(c);
  if (auto r = port->open(c, random_local_mac()); !r) return std::unexpected(r.error());
  return port;
}

Result<DpdkRingPair> DpdkPort::create_ring_pair(std::string_view name, const DpdkPortConfig& a,
                                                const DpdkPortConfig& b) {
  if (name.empty() || name.size() > kMaxRingPairName) {
    return make_error(Errc::invalid_argument,
                      "ring pair name '" + std::string(name) + "' must have 1 to 20 characters");
  }
  if (auto r = eal::init(); !r) return std::unexpected(r.error());
  auto link = std::make_shared<RingLink>();
  const std::string base(name);
  // One producer (the sending end's thread) and one consumer (the receiving end's) per ring.
  const unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ;
  link->to_a = rte_ring_create((base + "_to_a").c_str(), a.rx_queue_depth, SOCKET_ID_ANY, flags);
  if (link->to_a == nullptr)
    return dpdk_error(rte_errno, "DPDK could not create ring " + base + "_to_a");
  link->to_b = rte_ring_create((base + "_to_b").c_str(), b.rx_queue_depth, SOCKET_ID_ANY, flags);
  if (link->to_b == nullptr)
    return dpdk_error(rte_errno, "DPDK could not create ring " + base + "_to_b");

  DpdkRingPair pair;
  const struct {
    std::unique_ptr<DpdkPort>* out;
    const char* suffix;
    rte_ring* rx;
    rte_ring* tx;
    const DpdkPortConfig* config;
    wire::MacAddr mac;
  } ends[] = {
      {&pair.a, "_a", link->to_a, link->to_b, &a, {0x02, 0, 0, 0, 0, 0x0a}},
      {&pair.b, "_b", link->to_b, link->to_a, &b, {0x02, 0, 0, 0, 0, 0x0b}},
  };
  for (const auto& end : ends) {
    const std::string end_name = base + end.suffix;
    const int id = rte_eth_from_rings(end_name.c_str(), &end.rx, 1, &end.tx, 1, SOCKET_ID_ANY);
    if (id < 0) return dpdk_error(rte_errno, "DPDK could not create ring port " + end_name);
    std::unique_ptr<DpdkPort> port(
        new DpdkPort(static_cast<std::uint16_t>(id), "net_ring_" + end_name, true));
    port->ring_ = link;
    DpdkPortConfig c = *end.config;
    if (c.mtu == 0) c.mtu = kRingPairMtu;
    if (auto r = port->open(c, end.mac); !r) return std::unexpected(r.error());
    *end.out = std::move(port);
  }
  return pair;
}

DpdkPort::DpdkPort(std::uint16_t port_id, std::string device_name, bool remove_vdev)
    : port_id_(port_id), device_name_(std::move(device_name)), remove_vdev_(remove_vdev) {}

Result<void> DpdkPort::open(const DpdkPortConfig& config, wire::MacAddr fallback_mac) {
  if (config.rx_queue_depth == 0 || config.tx_queue_depth == 0) {
    return make_error(Errc::invalid_argument, "DPDK port queues need at least one descriptor");
  }
  if (config.frame_room < 64 || config.frame_room + RTE_PKTMBUF_HEADROOM > UINT16_MAX) {
    return make_error(Errc::out_of_range, "DPDK mbuf frame room must be 64.." +
                                              std::to_string(UINT16_MAX - RTE_PKTMBUF_HEADROOM) +
                                              " bytes, got " + std::to_string(config.frame_room));
  }
  frame_room_ = config.frame_room;
  std::uint16_t mtu = 0;
  if (config.mtu != 0) {
    if (config.mtu > UINT16_MAX) {
      return make_error(Errc::out_of_range,
                        "MTU " + std::to_string(config.mtu) + " is above 65535");
    }
    mtu = static_cast<std::uint16_t>(config.mtu);
  } else if (const int r = rte_eth_dev_get_mtu(port_id_, &mtu); r != 0) {
    return dpdk_error(r, "DPDK could not read the MTU of " + device_name_);
  }
  if (mtu + kFrameOverhead > frame_room_) {
    return make_error(Errc::buffer_too_small,
                      "MTU " + std::to_string(mtu) + " of " + device_name_ + " needs frames of " +
                          std::to_string(mtu + kFrameOverhead) + " bytes; the mbufs hold " +
                          std::to_string(frame_room_) + " (raise frame_room)");
  }

  rx_depth_ = config.rx_queue_depth;
  tx_depth_ = config.tx_queue_depth;
  if (auto r = open_zero_copy(config); !r) return r;
  {
    // Configure once first so the PMD reports its descriptor limits for this configuration.
    if (auto r = configure(mtu); !r) return r;
    if (const int r = rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &rx_depth_, &tx_depth_); r != 0) {
      return dpdk_error(r, "DPDK could not fit the queue depths of " + device_name_);
    }
  }

  const unsigned pool_count =
      unsigned{rx_depth_} + tx_depth_ + config.caller_packets + kPoolCache * 3 / 2;
  const std::string pool_name = "softrnic_mp" + std::to_string(g_pool_serial.fetch_add(1));
  const auto data_room = static_cast<std::uint16_t>(RTE_PKTMBUF_HEADROOM + frame_room_);
  umem_pool_ = config.packed_pool;
  pool_ = config.packed_pool ? create_packet_pool(pool_name, pool_count, data_room,
                                                  socket_of(port_id_), RTE_MEMPOOL_F_NO_IOVA_CONTIG)
                             : rte_pktmbuf_pool_create(pool_name.c_str(), pool_count, kPoolCache,
                                                       kPrivSize, data_room, socket_of(port_id_));
  if (pool_ == nullptr) {
    return dpdk_error(rte_errno, "DPDK could not create a pool of " + std::to_string(pool_count) +
                                     " mbufs of " + std::to_string(frame_room_) + " bytes for " +
                                     device_name_);
  }
  (void)rte_mempool_obj_iter(pool_, dpdk_detail::construct_slot, nullptr);

  bool want_promiscuous = config.promiscuous;
  rte_ether_addr addr{};
  if (config.mac) {
    std::copy(config.mac->begin(), config.mac->end(), addr.addr_bytes);
    const int r = rte_eth_dev_default_mac_addr_set(port_id_, &addr);
    if (r == -ENOTSUP) {
      want_promiscuous = true;  // the device cannot filter for our address: take every frame
    } else if (r != 0) {
      return dpdk_error(r, "DPDK could not set the MAC address of " + device_name_);
    }
    mac_ = *config.mac;
  } else if (rte_eth_macaddr_get(port_id_, &addr) == 0 && !rte_is_zero_ether_addr(&addr)) {
    std::copy(std::begin(addr.addr_bytes), std::end(addr.addr_bytes), mac_.begin());
  } else {
    mac_ = fallback_mac;
  }

  if (auto r = configure_and_start(mtu); !r) return r;
  if (want_promiscuous) {
    const int r = rte_eth_promiscuous_enable(port_id_);
    if (r != 0 && r != -ENOTSUP) {
      return dpdk_error(r, "DPDK could not make " + device_name_ + " promiscuous");
    }
  }
  promiscuous_ = rte_eth_promiscuous_get(port_id_) == 1;
  return read_mtu();
}

Result<void> DpdkPort::open_zero_copy(const DpdkPortConfig& config) {
  if (config.zero_copy_min == 0) return {};
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port_id_, &info) != 0 || info.driver_name == nullptr) return {};
  const std::string_view driver(info.driver_name);
  // The PMDs that copy a chain and free it inside rte_eth_tx_burst (see dpdk_port.hpp).
  const bool copies_in_tx =
      driver == "net_af_packet" || driver == "net_tap" ||
      (driver == "net_memif" && vdev_args_.find("zero-copy=yes") == std::string::npos);
  if (!copies_in_tx || (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) == 0) return {};
  // Two segments per frame; all of them come back inside tx_burst.
  const unsigned count = 4 * kBurst + kPoolCache * 3 / 2;
  const auto priv = static_cast<std::uint16_t>(
      (sizeof(rte_mbuf_ext_shared_info) + RTE_MBUF_PRIV_ALIGN - 1) & ~std::size_t{RTE_MBUF_PRIV_ALIGN - 1});
  const std::string name = "softrnic_sp" + std::to_string(g_pool_serial.fetch_add(1));
  seg_pool_ = rte_pktmbuf_pool_create(name.c_str(), count, kPoolCache, priv,
                                      RTE_PKTMBUF_HEADROOM + 64, socket_of(port_id_));
  if (seg_pool_ == nullptr) {
    return dpdk_error(rte_errno, "DPDK could not create the zero-copy segment pool of " +
                                     device_name_);
  }
  zero_copy_min_ = config.zero_copy_min;
  return {};
}

Result<void> DpdkPort::configure(std::uint16_t mtu) {
  rte_eth_conf conf{};
  conf.rxmode.mtu = mtu;
  if (zero_copy_min_ != 0) conf.txmode.offloads = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  if (const int r = rte_eth_dev_configure(port_id_, 1, 1, &conf); r != 0) {
    return dpdk_error(
        r, "DPDK could not configure " + device_name_ + " with MTU " + std::to_string(mtu));
  }
  configured_ = true;
  return {};
}

Result<void> DpdkPort::configure_and_start(std::uint16_t mtu) {
  if (auto r = configure(mtu); !r) return r;
  const int socket = socket_of(port_id_);
  if (const int r = rte_eth_rx_queue_setup(port_id_, 0, rx_depth_, socket, nullptr, pool_);
      r != 0) {
    return dpdk_error(r, "DPDK could not set up the receive queue of " + device_name_);
  }
  if (const int r = rte_eth_tx_queue_setup(port_id_, 0, tx_depth_, socket, nullptr); r != 0) {
    return dpdk_error(r, "DPDK could not set up the transmit queue of " + device_name_);
  }
  if (const int r = rte_eth_dev_start(port_id_); r != 0) {
    return dpdk_error(r, "DPDK could not start " + device_name_);
  }
  started_ = true;
  return {};
}

Result<void> DpdkPort::read_mtu() {
  std::uint16_t mtu = 0;
  if (const int r = rte_eth_dev_get_mtu(port_id_, &mtu); r != 0) {
    return dpdk_error(r, "DPDK could not read the MTU of " + device_name_);
  }
  mtu_ = std::max<std::uint32_t>(mtu, link_mtu_);
  return {};
}

// ---- teardown ----

void DpdkPort::drain() {
  std::array<rte_mbuf*, kBurst> mbufs;
  if (started_) {
    while (const std::uint16_t n = rte_eth_rx_burst(port_id_, 0, mbufs.data(), kBurst)) {
      rte_pktmbuf_free_bulk(mbufs.data(), n);
    }
  }
  if (ring_) {
    // Both directions: the frames this end sent that the peer has not taken belong to this end's
    // pool, which is about to go.
    for (rte_ring* r : {ring_->to_a, ring_->to_b}) {
      void* objs[kBurst];
      while (const unsigned n = rte_ring_dequeue_burst(r, objs, kBurst, nullptr)) {
        for (unsigned i = 0; i < n; ++i) rte_pktmbuf_free(static_cast<rte_mbuf*>(objs[i]));
      }
    }
  }
}

DpdkPort::~DpdkPort() {
  drain();
  if (started_) (void)rte_eth_dev_stop(port_id_);
  if (configured_ || started_ || remove_vdev_) (void)rte_eth_dev_close(port_id_);
  if (remove_vdev_) (void)rte_vdev_uninit(device_name_.c_str());
  if (pool_ != nullptr) {
    const unsigned out = rte_mempool_in_use_count(pool_);
    if (out == 0) {
      rte_mempool_free(pool_);
    } else if (umem_pool_) {
      // DPDK 22.11's af_xdp PMD never takes back the mbufs it lent to the kernel's fill ring.
      spdlog::debug("DPDK port {}: {} mbufs kept by the af_xdp PMD; pool left allocated",
                    device_name_, out);
    } else {
      spdlog::error("DPDK port {}: {} mbufs still in use at destruction; pool left allocated",
                    device_name_, out);
    }
  }
  if (seg_pool_ != nullptr) {
    if (rte_mempool_in_use_count(seg_pool_) == 0) {
      rte_mempool_free(seg_pool_);
    } else {
      spdlog::error("DPDK port {}: zero-copy segments still in use at destruction; pool left",
                    device_name_);
    }
  }
}

// ---- data path ----

Packet* DpdkPort::wrap_received(rte_mbuf* m) {
  if (m->nb_segs > 1) {
    if (rte_pktmbuf_linearize(m) != 0) {
      counters_.add(DpdkCounter::rx_multiseg_dropped);
      rte_pktmbuf_free(m);
      return nullptr;
    }
    counters_.add(DpdkCounter::rx_linearized);
  }
  MbufSlot* slot = slot_of(m);
  if (slot == nullptr) {
    counters_.add(DpdkCounter::rx_foreign_dropped);
    rte_pktmbuf_free(m);
    return nullptr;
  }
  counters_.add(DpdkCounter::rx_packets);
  counters_.add(DpdkCounter::rx_bytes, rte_pktmbuf_data_len(m));
  return hand_out(m, *slot);
}

std::size_t DpdkPort::rx_burst(std::span<Packet*> out) {
  std::size_t n = 0;
  std::array<rte_mbuf*, kBurst> mbufs;
  while (n < out.size()) {
    const auto want = static_cast<std::uint16_t>(std::min(out.size() - n, kBurst));
    const std::uint16_t got = rte_eth_rx_burst(port_id_, 0, mbufs.data(), want);
    for (std::uint16_t i = 0; i < got; ++i) {
      if (Packet* p = wrap_received(mbufs[i])) out[n++] = p;
    }
    if (got < want) break;
  }
  return n;
}

namespace {
// rte_mbuf_ext_shared_info::free_cb: the PMD let go of a payload it read by reference.
void ext_released(void*, void* opaque) {
  static_cast<std::atomic<std::uint64_t>*>(opaque)->fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

bool DpdkPort::chain_external(rte_mbuf* m, Packet& p) {
  const auto room = static_cast<std::uint32_t>(m->buf_len - m->data_off);
  std::array<rte_mbuf*, 2> seg{};
  if (zero_copy_min_ == 0 || rte_pktmbuf_alloc_bulk(seg_pool_, seg.data(), 2) != 0) {
    if (p.frame_len() > room) return false;
    flatten(p);
    m->data_len = static_cast<std::uint16_t>(p.len);
    m->pkt_len = p.len;
    counters_.add(DpdkCounter::tx_zero_copy_copied);
    return true;
  }
  rte_mbuf* e = seg[0];
  rte_mbuf* t = seg[1];
  auto* shinfo = static_cast<rte_mbuf_ext_shared_info*>(rte_mbuf_to_priv(e));
  shinfo->free_cb = ext_released;
  shinfo->fcb_opaque = &ext_released_;
  rte_mbuf_ext_refcnt_set(shinfo, 1);
  void* addr = const_cast<std::byte*>(p.ext);
  const rte_iova_t iova = rte_eal_iova_mode() == RTE_IOVA_VA
                              ? static_cast<rte_iova_t>(reinterpret_cast<std::uintptr_t>(addr))
                              : RTE_BAD_IOVA;
  rte_pktmbuf_attach_extbuf(e, addr, iova, static_cast<std::uint16_t>(p.ext_len), shinfo);
  e->data_len = static_cast<std::uint16_t>(p.ext_len);
  std::memcpy(rte_pktmbuf_mtod(t, void*), p.tail.data(), p.tail_len);
  t->data_len = p.tail_len;
  ++ext_attached_;
  m->next = e;
  e->next = t;
  t->next = nullptr;
  m->nb_segs = 3;
  m->pkt_len = p.frame_len();
  counters_.add(DpdkCounter::tx_zero_copy);
  return true;
}

// Back to one segment: the transmit queue did not take the chain, and the caller keeps p.
void DpdkPort::unchain(rte_mbuf* m) {
  if (m->next == nullptr) return;
  rte_pktmbuf_free(m->next);
  m->next = nullptr;
  m->nb_segs = 1;
  m->pkt_len = m->data_len;
}

void DpdkPort::check_ext_released() {
  const std::uint64_t released = ext_released_.load(std::memory_order_relaxed);
  if (zero_copy_min_ == 0 || released == ext_attached_) return;
  counters_.add(DpdkCounter::tx_ext_held, ext_attached_ - released);
  zero_copy_min_ = 0;
  spdlog::error("DPDK port {}: the PMD kept {} payloads sent by reference after tx_burst; "
                "copying from now on",
                device_name_, ext_attached_ - released);
}

std::size_t DpdkPort::tx_burst(std::span<Packet*> pkts) {
  const std::uint64_t max_frame = std::uint64_t{mtu_} + kFrameOverhead;
  std::size_t done = 0;
  while (done < pkts.size()) {
    const std::size_t chunk = std::min(pkts.size() - done, kBurst);
    std::array<rte_mbuf*, kBurst> mbufs;
    std::array<std::uint8_t, kBurst> index;   // position in the chunk of mbufs[k]
    std::array<DpdkCounter, kBurst> verdict;  // per position: tx_packets or why not
    std::size_t k = 0;
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < chunk; ++i) {
      Packet* p = pkts[done + i];
      rte_mbuf* m = mbuf_of(p);
      // Not a packet of a DpdkPort pool, or not the caller's (freed or sent already).
      verdict[i] = DpdkCounter::free_invalid;
      if (m == nullptr || slot_of(m) == nullptr || !own_slot(m).busy) continue;
      verdict[i] = DpdkCounter::tx_drop_oversize;
      const auto buf = reinterpret_cast<std::uintptr_t>(m->buf_addr);
      const auto at = reinterpret_cast<std::uintptr_t>(p->data);
      if (p->len < kEthernetHeader) {
        verdict[i] = DpdkCounter::tx_drop_runt;
        continue;
      }
      if (at < buf || at - buf + p->len > m->buf_len || p->frame_len() > max_frame) continue;
      m->data_off = static_cast<std::uint16_t>(at - buf);
      m->data_len = static_cast<std::uint16_t>(p->len);
      m->pkt_len = p->len;
      if (p->has_ext() || p->tail_len != 0) {
        if (!chain_external(m, *p)) continue;
      }
      verdict[i] = DpdkCounter::tx_packets;
      // Given up before the PMD sees it: the peer's thread may receive it at once.
      own_slot(m).busy = false;
      bytes += m->pkt_len;
      mbufs[k] = m;
      index[k] = static_cast<std::uint8_t>(i);
      ++k;
    }
    const std::uint16_t sent =
        k == 0 ? 0 : rte_eth_tx_burst(port_id_, 0, mbufs.data(), static_cast<std::uint16_t>(k));
    for (std::size_t j = sent; j < k; ++j) {
      own_slot(mbufs[j]).busy = true;  // still the caller's
      bytes -= rte_pktmbuf_pkt_len(mbufs[j]);
      unchain(mbufs[j]);
    }
    check_ext_released();
    const std::size_t taken = sent == k ? chunk : index[sent];
    counters_.add(DpdkCounter::tx_packets, sent);
    counters_.add(DpdkCounter::tx_bytes, bytes);
    for (std::size_t i = 0; i < taken; ++i) {
      if (verdict[i] == DpdkCounter::tx_packets) continue;
      if (verdict[i] == DpdkCounter::free_invalid) {
        counters_.add(DpdkCounter::free_invalid);  // nothing of ours to free
        continue;
      }
      counters_.add(verdict[i]);
      free(pkts[done + i]);
    }
    done += taken;
    if (taken < chunk) {
      counters_.add(DpdkCounter::tx_full, pkts.size() - done);
      break;
    }
  }
  return done;
}

Packet* DpdkPort::alloc() {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    counters_.add(DpdkCounter::alloc_fail);
    return nullptr;
  }
  return hand_out(m, own_slot(m));
}

void DpdkPort::free(Packet* p) {
  rte_mbuf* m = mbuf_of(p);
  MbufSlot* slot = m == nullptr ? nullptr : slot_of(m);
  if (slot == nullptr || !slot->busy) {
    counters_.add(DpdkCounter::free_invalid);
    return;
  }
  slot->busy = false;
  rte_pktmbuf_free(m);
}

// ---- control ----

bool DpdkPort::link_up() const {
  rte_eth_link link{};
  return rte_eth_link_get_nowait(port_id_, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

Result<void> DpdkPort::set_link_up(bool up) {
  const int r = up ? rte_eth_dev_set_link_up(port_id_) : rte_eth_dev_set_link_down(port_id_);
  if (r != 0) return dpdk_error(r, "DPDK could not set the link of " + device_name_);
  return {};
}

Result<void> DpdkPort::set_mtu(std::uint32_t mtu) {
  if (mtu > UINT16_MAX || mtu + kFrameOverhead > frame_room_) {
    return make_error(Errc::buffer_too_small,
                      "MTU " + std::to_string(mtu) + " needs frames of " +
                          std::to_string(std::uint64_t{mtu} + kFrameOverhead) +
                          " bytes; the mbufs of " + device_name_ + " hold " +
                          std::to_string(frame_room_));
  }
  const auto m16 = static_cast<std::uint16_t>(mtu);
  const int r = rte_eth_dev_set_mtu(port_id_, m16);
  if (r == -ENOTSUP && started_) {
    // The PMD cannot change it while running (net_ring): restart with the new configuration, and
    // with the old one if the device refuses the new. Frames on a ring stay there meanwhile.
    const auto old = static_cast<std::uint16_t>(mtu_);
    (void)rte_eth_dev_stop(port_id_);
    started_ = false;
    if (auto s = configure_and_start(m16); !s) {
      if (auto back = configure_and_start(old); !back) {
        return make_error(back.error().code, s.error().message + "; restoring MTU " +
                                                 std::to_string(old) +
                                                 " failed too: " + back.error().message);
      }
      return s;
    }
  } else if (r != 0) {
    return dpdk_error(r, "DPDK could not set MTU " + std::to_string(mtu) + " on " + device_name_);
  }
  link_mtu_ = 0;  // set explicitly: ethdev's figure from now on
  return read_mtu();
}

std::size_t DpdkPort::pool_size() const { return pool_->size; }
std::size_t DpdkPort::pool_available() const { return rte_mempool_avail_count(pool_); }
std::size_t DpdkPort::pool_in_use() const { return rte_mempool_in_use_count(pool_); }

}  // namespace softrnic::transport
