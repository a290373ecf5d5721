// A soft RoCEv2 device: one port, the verbs objects on it and the poll loop that runs the
// requester, completer and responder of every QP (DESIGN.md "One sentence").
//
// Threads: poll() and every control call (create/modify/destroy) belong to the engine thread that
// owns the device. post_send/post_recv/post_srq_recv may be called from one consumer thread per work
// queue (each queue is its own SPSC ring); CQs are polled by their consumer thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/control_queue.hpp"
#include "base/counters.hpp"
#include "base/result.hpp"
#include "base/wakeup.hpp"
#include "engine/gid_table.hpp"
#include "engine/neighbour.hpp"
#include "engine/port.hpp"
#include "roce/qp.hpp"
#include "verbs/limits.hpp"
#include "wire/drop_reason.hpp"
#include "wire/parse.hpp"

namespace softrnic::roce {

struct DeviceConfig {
  wire::MacAddr mac{};
  std::vector<wire::Ipv6Addr> gids;  // our addresses (IPv4 as ::ffff:a.b.c.d); gids[0] is the default
  verbs::DeviceLimits limits = verbs::kDefaultLimits;
  wire::UdpChecksum udp_checksum = wire::UdpChecksum::zero;
  std::uint64_t cnp_interval_ns = 50'000;  // at most one CNP per QP per interval
  std::uint32_t max_unacked_packets = 512;
  // A turn of poll() that would send acknowledgements only keeps them for one more turn, so that
  // they leave after what the next turn sends (typically the reply a consumer posts on seeing the
  // message they acknowledge): one transmit, often one system call, instead of two, and the reply
  // does not wait behind the ACK. poll() reports the held frames as work, so an adaptive loop
  // does not go to sleep on them. IBA 9.7.5.1.1 lets a responder coalesce and delay ACKs.
  bool coalesce_acks = true;
  std::uint8_t ipv4_prefix = 24;  // subnet of the IPv4 gids (source selection, ARP scope)
  std::uint8_t ipv6_prefix = 64;
  std::optional<std::uint16_t> vlan;  // 802.1Q VLAN ID of the device's addresses
  engine::NeighbourConfig neighbours;
};

#define SOFTRNIC_DEVICE_COUNTERS(X) \
  X(rx_packets)                     \
  X(rx_bytes)                       \
  X(tx_packets)                     \
  X(tx_bytes)                       \
  X(rx_drop_not_roce)               \
  X(rx_drop_not_our_address)        \
  X(rx_drop_wrong_peer)             \
  X(rx_drop_unknown_qp)             \
  X(rx_drop_qp_state)               \
  X(rx_drop_wrong_transport)        \
  X(rx_drop_pkey)                   \
  X(rx_drop_qkey)                   \
  X(rx_drop_no_recv_wqe)            \
  X(rx_drop_bad_length)             \
  X(rx_drop_stale_response)         \
  X(access_revoked)                 \
  X(rx_icrc_unverified)             \
  X(tx_drop_no_buffer)              \
  X(tx_drop_port_full)              \
  X(tx_zero_copy)                   \
  X(tx_acks_coalesced)              \
  X(retransmits)                    \
  X(cnp_sent)                       \
  X(cnp_received)                   \
  X(async_events)

enum class DeviceCounter : std::uint8_t {
#define SOFTRNIC_X(n) n,
  SOFTRNIC_DEVICE_COUNTERS(SOFTRNIC_X)
#undef SOFTRNIC_X
  count_
};
std::string_view counter_name(DeviceCounter c);

struct AsyncEvent {
  enum class Type : std::uint8_t {
    qp_fatal,
    qp_access_error,
    qp_request_error,
    cq_error,
    srq_limit,
    sq_drained,  // SQD reached: every WR started before the transition has completed
  };
  Type type;
  std::uint32_t qpn = 0;
  const void* object = nullptr;
  std::string message{};  // what a user can act on, when there is more to say than the type
};

// Bytes a RoCEv2 packet adds to its payload inside the link MTU (IP, UDP, the largest transport
// headers of a packet with payload, ICRC).
std::uint32_t roce_overhead(wire::IpVersion v);

class Device {
 public:
  Device(Port& port, Clock& clock, DeviceConfig config);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceConfig& config() const { return config_; }
  verbs::MemoryTable& memory() { return memory_; }

  [[nodiscard]] Result<verbs::Cq*> create_cq(std::uint32_t depth);
  [[nodiscard]] Result<Srq*> create_srq(std::uint32_t depth, std::uint32_t max_sge);
  [[nodiscard]] Result<Qp*> create_qp(const QpInit& init);
  [[nodiscard]] Result<void> modify_qp(Qp& qp, const QpAttrs& attrs, std::uint32_t mask);
  [[nodiscard]] Result<void> destroy_qp(Qp* qp);
  // One srq_limit event when fewer than `limit` receive WRs remain (IBA 10.2.9.4); 0 disarms.
  void arm_srq_limit(Srq& srq, std::uint32_t limit) {
    srq.limit = limit;
    srq.limit_armed = limit != 0;
  }

  // Consumer side. Validation errors are returned at once; transport errors become completions.
  [[nodiscard]] Result<void> post_send(Qp& qp, const SendWr& wr);
  [[nodiscard]] Result<void> post_recv(Qp& qp, const RecvWr& wr);
  [[nodiscard]] Result<void> post_srq_recv(Srq& srq, const RecvWr& wr);

  // One loop iteration: receive a burst, run the machines, transmit, fire timers and CQ
  // notifications. Returns how much work was done (0 = idle).
  std::size_t poll();

  // The control queue: any thread hands the engine thread a control operation (modify/flush,
  // destroy, registration, ...), which runs at the start of the next poll(). The queue takes a
  // lock, the data path never does (poll() only reads an atomic flag when the queue is empty).
  void submit(std::function<void(Device&)> op);
  // Called by submit() after queueing, so an engine thread that waits for work wakes up for it
  // (nullptr: nobody waits). Consumer posts (post_send/post_recv) do not call it: a thread that
  // posts while the engine sleeps waits for the engine's next timer or frame.
  void set_wakeup(Wakeup* w) { control_.set_wakeup(w); }
  // For an engine thread about to wait after a poll() that did nothing: the clock time (Clock's
  // ns) by which poll() must run again although no frame or control operation arrives, i.e. the
  // nearest ACK/RNR timer or neighbour request; a QP with work that no timer covers asks for
  // now() + 1 ms. UINT64_MAX: nothing is pending. Engine thread; walks the live QPs.
  std::uint64_t next_deadline() const;

  // Asynchronous events (engine thread only for now).
  std::vector<AsyncEvent>& events() { return events_; }
  const Counters<DeviceCounter>& counters() const { return counters_; }
  Counters<wire::DropReason>& drops() { return drops_; }
  const engine::GidTable& gid_table() const { return gids_; }
  const engine::NeighbourTable& neighbours() const { return neighbours_; }
  // Counters of what runs on the device beside the engine (the connection manager: "cm"), read
  // with the device's own by whoever reports them (the control socket's counters answer). A
  // group is added by its owner and removed before the owner goes; groups are read on the
  // engine thread. Control path only (a lock guards the list).
  using CounterVisitor = std::function<void(std::string_view name, std::uint64_t value)>;
  using CounterGroup = std::function<void(const CounterVisitor&)>;
  void add_counter_group(std::string name, CounterGroup group);
  void remove_counter_group(std::string_view name);
  // Calls f(group name, group) for "neighbours" and every group added.
  void for_each_counter_group(const std::function<void(std::string_view, const CounterGroup&)>& f) const;
  Qp* find_qp(std::uint32_t qpn);
  // The largest path MTU whose packets fit the port's link MTU over IPv4 or IPv6 (0: none fits).
  std::uint32_t active_mtu(wire::IpVersion v) const;
  // The MAC of a neighbour (ARP / IPv6 ND through the neighbour table; call again while pending).
  // Ports without a link layer resolve at once with no MAC. Engine thread only.
  engine::Resolution resolve_neighbour(const wire::Ipv6Addr& dst, const wire::Ipv6Addr& src);
  // The clock as read when the current poll() began (timers need no finer grain, and a clock read
  // costs more than handling a small packet); outside poll(), as of the last one.
  std::uint64_t now() const { return now_; }
  // The clock itself, for work outside poll() (connection management timers).
  const Clock& clock() const { return clock_; }

  // --- used by the protocol machines (requester.cpp, completer.cpp, responder.cpp) ---
  // Builds and queues one packet of qp; payload is gathered by `fill` (may be empty).
  struct TxPayload {
    const SendWqe* wqe = nullptr;  // gather from the WQE's SGEs / inline data at offset
    std::uint32_t offset = 0;
    const verbs::MemRef* ref = nullptr;  // or from a checked window (read responses)
    std::uint32_t len = 0;
  };
  bool send_packet(Qp& qp, const wire::Bth& bth, const wire::ExtHeaders& ext,
                   const TxPayload& payload, const AddressHandle* ud_dest = nullptr);
  void complete(verbs::Cq* cq, const verbs::Cqe& e, Qp& qp);
  void enter_error(Qp& qp, AsyncEvent::Type why, bool raise_event);
  void add(DeviceCounter c, std::uint64_t n = 1) { counters_.add(c, n); }
  bool tx_room() const { return tx_count_ < kBurst; }
  bool tx_pool_low() const { return tx_count_ >= kBurst; }
  void flush_tx();

 private:
  bool queue_tx(Qp& qp, Packet* p);
  void receive(Packet* pkt);
  void answer_neighbour_frame(const wire::ParsedFrame& p);
  void send_neighbour_requests();
  bool resolve_peer(Qp& qp);
  void drain_posts(Qp& qp);
  void run_qp(Qp& qp);
  void flush_qp(Qp& qp);
  void prepare_tx_spec(Qp& qp);

  Port& port_;
  Clock& clock_;
  DeviceConfig config_;
  verbs::MemoryTable memory_;
  engine::GidTable gids_;
  engine::NeighbourTable neighbours_;
  std::vector<std::unique_ptr<verbs::Cq>> cqs_;
  std::vector<std::unique_ptr<Srq>> srqs_;
  mutable std::mutex counter_groups_mutex_;
  std::vector<std::pair<std::string, CounterGroup>> counter_groups_;
  std::vector<std::unique_ptr<Qp>> qps_;  // index = qpn & qpn_slot_mask_; 0 unused, 1 the GSI QP
  std::uint32_t qpn_slot_bits_ = 12;
  std::uint32_t qpn_slot_mask_ = 0xfff;
  std::vector<Qp*> live_qps_;
  std::vector<AsyncEvent> events_;
  Counters<DeviceCounter> counters_;
  Counters<wire::DropReason> drops_;
  std::array<Packet*, kBurst> tx_{};
  std::size_t tx_count_ = 0;
  // Payloads of at least this many bytes go to the port by reference (~0: the port copies all).
  std::uint32_t zero_copy_min_;
  bool tx_ext_queued_ = false;  // tx_ holds a frame that reads registered memory
  bool tx_acks_only_ = true;    // tx_ holds acknowledgements (opcode ACKNOWLEDGE) and nothing else
  bool tx_acks_held_ = false;   // ... and has been kept back for one turn already
  std::size_t tx_acks_held_count_ = 0;  // the first this many of tx_ are held ACKs
  ControlQueue<Device> control_;
  std::uint64_t now_;
};

// The protocol machines (one file each).
void requester_step(Device& dev, Qp& qp);
void completer_receive(Device& dev, Qp& qp, const wire::ParsedFrame& p);
void completer_timers(Device& dev, Qp& qp);
void completer_retire(Device& dev, Qp& qp);
void responder_receive(Device& dev, Qp& qp, const wire::ParsedFrame& p);
void responder_transmit(Device& dev, Qp& qp);

}  // namespace softrnic::roce
