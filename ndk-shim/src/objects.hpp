// The provider side of every NDK object: a C++ struct whose first member is the public NDK object
// (header + dispatch pointer), followed by what the shim keeps about it. The consumer only ever
// holds a pointer to that first member; from_ndk() gets the struct back after checking the type.
//
// Lifetime (NDKPI reference 3.2): an object counts its successors; closing one that still has
// successors pends until the last of them has closed. Bookkeeping fields marked "engine" are
// touched on the engine thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "backend.hpp"
#include "completion.hpp"
#include "ndkpi.h"
#include "runtime.hpp"
#include "scenario_run.hpp"

namespace softrnic::ndk {

struct Node {
  std::vector<Node*> antecedents;  // engine: objects this one keeps from closing
  std::uint32_t successors = 0;    // engine
  Done close_pending;              // engine: a close waiting for the successors
  std::function<void()> destroy;   // engine: frees the object once closed
};

struct Pd;
struct Lam;

struct Adapter {
  NDK_ADAPTER ndk;
  Node node;
  Runtime* rt = nullptr;
  DeviceEntry* dev = nullptr;
  NDK_VERSION version{};
  std::atomic<AsyncMode> mode{AsyncMode::natural};
  std::vector<Pd*> pds;    // engine: every open PD (each LAM is registered in each of them)
  std::vector<Lam*> lams;  // engine: every LAM built and not yet released
  Backend& backend() const { return *dev->backend; }
};

// A logical address mapping (NdkBuildLam): in user space the logical address of a byte is its
// virtual address, so a LAM is the virtually contiguous range it was built over.
struct Lam {
  Adapter* adapter = nullptr;
  std::uintptr_t base = 0;
  std::uint64_t length = 0;
};

// One LAM's range registered in one PD for local access: what the privileged token resolves to.
struct LamKey {
  const Lam* lam = nullptr;
  std::uintptr_t base = 0;
  std::uint64_t length = 0;
  std::uint32_t key = 0;
};

struct Pd {
  NDK_PD ndk;
  Node node;
  Adapter* adapter = nullptr;
  verbs::PdHandle handle = 0;
  // Written on the engine thread (LAM built or released), read by posting threads when an SGE
  // carries the privileged token: the only data-path lookup that takes a lock.
  std::mutex lam_mu;
  std::vector<LamKey> lam_keys;
};

struct Cq {
  NDK_CQ ndk;
  Node node;
  Adapter* adapter = nullptr;
  verbs::Cq* cq = nullptr;
  NDK_FN_CQ_NOTIFICATION_CALLBACK notify = nullptr;
  PVOID notify_ctx = nullptr;
  bool closed = false;  // engine
};

struct Mr {
  NDK_MR ndk;
  Node node;
  Pd* pd = nullptr;
  bool fast = false;
  bool remote_access = false;  // fast-register MRs: InitializeFastRegisterMr's RemoteAccess
  std::atomic<UINT32> token{0};  // 0 until registered / initialised
  std::atomic<std::uint32_t> access{0};  // verbs::Access of the registration (NdkBind checks it)
  std::vector<std::byte*> pages;  // fast-register page list, kept until the WR completes
};

// A memory window (RoCE: an engine type 2 window). Bound by an NdkBind work request on a QP,
// after which remote access through its token must come over that QP.
struct Mw {
  NDK_MW ndk;
  Node node;
  Pd* pd = nullptr;
  std::atomic<UINT32> token{0};  // the window's key; its key byte changes with every bind
  Mr* bound_to = nullptr;        // engine: the region it was last bound to (keeps it open)
};

struct Srq;
// What the engine's SRQ limit callback holds: cleared when the SRQ starts closing.
struct SrqRef {
  Srq* object = nullptr;
};

// A shared receive queue (RoCE). `depth` bounds the receives queued in it; the engine's ring
// holds up to `capacity`, so NdkModifySrq may change the depth within that.
struct Srq {
  NDK_SRQ ndk;
  Node node;
  Pd* pd = nullptr;
  EngineSrq* esrq = nullptr;
  std::uint32_t capacity = 0;
  std::atomic<std::uint32_t> depth{0};
  std::uint32_t max_sge = 0;
  NDK_FN_SRQ_NOTIFICATION_CALLBACK notify = nullptr;
  PVOID notify_ctx = nullptr;
  std::uint32_t threshold = 0;  // engine: the armed notification threshold, 0 when disarmed
  bool closed = false;          // engine
  std::shared_ptr<SrqRef> self;
};

struct Connector;
struct Listener;
struct SharedEndpoint;

// What engine-side handlers hold: cleared when the object goes, so late events find nothing.
struct ConnectorRef {
  Connector* object = nullptr;
};
struct ListenerRef {
  Listener* object = nullptr;
};

struct Qp {
  NDK_QP ndk;
  Node node;
  Pd* pd = nullptr;
  Cq* receive_cq = nullptr;
  Cq* initiator_cq = nullptr;
  PVOID context = nullptr;
  EngineQp* eqp = nullptr;
  std::uint32_t receive_depth = 0, initiator_depth = 0;
  std::uint32_t max_receive_sge = 0, max_initiator_sge = 0, max_inline = 0;
  Srq* srq = nullptr;  // receives come from this SRQ (NdkCreateQpWithSrq); NdkReceive is refused
  // Receives posted before the connection exists wait here when the engine takes receives only
  // once the connection manager has moved the QP out of RESET (RoCE). `held` turns false once
  // they moved (from the start when the engine takes them at once: iWARP).
  std::atomic<bool> held{true};
  std::mutex held_mu;
  std::vector<roce::RecvWr> held_wrs;
  Connector* connector = nullptr;  // engine
};

struct Listener {
  NDK_LISTENER ndk;
  Node node;
  Adapter* adapter = nullptr;
  NDK_FN_CONNECT_EVENT_CALLBACK connect_event = nullptr;
  PVOID connect_ctx = nullptr;
  std::atomic<bool> paused{false};
  bool listening = false;  // engine
  bool closed = false;     // engine
  cm::ListenerId id = 0;
  cm::Address local{};
  std::shared_ptr<ListenerRef> self;
};

struct Connector {
  NDK_CONNECTOR ndk;
  Node node;
  Adapter* adapter = nullptr;
  enum class State : std::uint8_t {
    idle,        // created, nothing done yet
    connecting,  // active: REQ sent
    requested,   // passive: handed to the connect event, waiting for Accept or Reject
    accepting,   // passive: REP sent, waiting for the RTU
    connected,   // active: the peer accepted, CompleteConnect not yet called
    established,
    disconnecting,
    closed_down,  // refused, rejected, failed or disconnected
  };
  State state = State::idle;  // engine
  cm::ConnId id = 0;
  Qp* qp = nullptr;
  std::vector<std::byte> private_data;  // the peer's, for GetConnectionData
  ULONG inbound_read_limit = 0, outbound_read_limit = 0;
  cm::Address local{}, peer{};
  Done pending;  // Connect/Accept/Disconnect waiting for an event
  NDK_FN_DISCONNECT_EVENT_CALLBACK disconnect_event = nullptr;
  NDK_FN_DISCONNECT_EVENT_CALLBACK_EX disconnect_event_ex = nullptr;
  PVOID disconnect_ctx = nullptr;
  bool peer_disconnected = false;
  bool disconnect_reported = false;
  bool closing = false;
  SharedEndpoint* endpoint = nullptr;  // engine: the shared endpoint it connected from
  std::shared_ptr<ConnectorRef> self;
};

// A local address and port reserved for outgoing connections (NdkCreateSharedEndpoint); every
// connector made through NdkConnectWithSharedEndpoint keeps it open (reference 3.5).
struct SharedEndpoint {
  NDK_SHARED_ENDPOINT ndk;
  Node node;
  Adapter* adapter = nullptr;
  cm::Address local{};  // the IP is all zeros for "any address" of the family below
  bool ipv4 = true;
  std::vector<std::pair<Connector*, cm::Address>> peers;  // engine: one per live connector
};

// The shim's struct behind a public NDK object, or nullptr when the pointer is not one of the
// given type.
template <class T, class Ndk>
T* from_ndk(Ndk* p, NDK_OBJECT_TYPE type) {
  if (p == nullptr || p->Header.ObjectType != type) return nullptr;
  return reinterpret_cast<T*>(p);
}

// Fills an object's header: the adapter's version, its type, the reserved block zeroed.
void init_header(NDK_OBJECT_HEADER& h, NDK_OBJECT_TYPE type, NDK_VERSION version);

// Lifetime (lifetime.cpp), engine thread only.
void depend(Node& successor, Node& antecedent);
// Closes `node` now or once its successors are gone; finishes `done` then.
void close_node(Node& node, const Done& done);
// Drops successor's hold on antecedent (when a connector lets go of its QP, ...).
void release(Node& successor, Node& antecedent);

// Dispatch tables (one file each).
extern const NDK_ADAPTER_DISPATCH kAdapterDispatch;
extern const NDK_PD_DISPATCH kPdDispatch;
extern const NDK_CQ_DISPATCH kCqDispatch;
extern const NDK_MR_DISPATCH kMrDispatch;
extern const NDK_MW_DISPATCH kMwDispatch;
extern const NDK_SRQ_DISPATCH kSrqDispatch;
extern const NDK_QP_DISPATCH kQpDispatch;
extern const NDK_SHARED_ENDPOINT_DISPATCH kSharedEndpointDispatch;
extern const NDK_CONNECTOR_DISPATCH kConnectorDispatch;
extern const NDK_LISTENER_DISPATCH kListenerDispatch;

// NdkQueryExtension of every object: the softrnic extension or STATUS_NOT_SUPPORTED.
NTSTATUS query_extension(NDK_OBJECT_HEADER* obj, GUID* id, NDK_VERSION version,
                         NDK_EXTENSION_INTERFACE* out);

// The adapter an object belongs to.
Adapter* adapter_of(Pd& pd);

// Connector made by a listener for an incoming request (connection.cpp).
void on_connect_request(Listener& l, const cm::CmEvent& e);
// Whether ip is one of the device's addresses, or "any" (all zeros) (listener.cpp).
bool is_device_address(Backend& b, const wire::Ipv6Addr& ip);

// The range an MDL chain describes: STATUS_SUCCESS with *base set when the chain is one virtually
// contiguous, built range of at least `length` bytes (reference 2.4, 2.7).
NTSTATUS mdl_range(const MDL* mdl, SIZE_T length, std::byte** base);

// LAMs and the privileged token (lam.cpp). The token names no engine object: index 0 of a key
// is never used by any memory table, so no engine (a peer's included) ever resolves it, and
// remote access through it always fails.
inline constexpr UINT32 kPrivilegedToken = 0x000000ffu;
// Engine thread: registers every LAM of the PD's adapter in a new PD, or drops them all.
[[nodiscard]] NTSTATUS attach_lams(Pd& pd);
void detach_lams(Pd& pd);
// Posting thread: the engine key an SGE uses. Its own token, or for the privileged token the
// key of the LAM of this PD that holds [addr, addr + length); false when there is none.
[[nodiscard]] bool local_key(Pd& pd, std::uint64_t addr, std::uint64_t length, UINT32 token,
                             std::uint32_t& key);

// Local and shared-endpoint ports of a device (shared_endpoint.cpp), engine thread: whether
// address:port is taken by a shared endpoint (or a listener, with listeners_too), and the
// bookkeeping of listeners.
bool endpoint_in_use(DeviceEntry& dev, const cm::Address& at, bool listeners_too);
void add_listener_endpoint(DeviceEntry& dev, const cm::Address& at);
void remove_listener_endpoint(DeviceEntry& dev, const cm::Address& at);
// Consumer test mode (engine thread): ends an established connection as though the peer had
// (the CM disconnects it, the consumer gets its disconnect event); false when it is not up.
bool force_disconnect(Connector& c);

// A connector that connected from a shared endpoint lets go of it (engine thread).
void leave_shared_endpoint(Connector& c);

// Runs fn on the engine thread: at once when already there, else at its next iteration (after
// every control call posted before it).
void run_soon(Runtime& rt, std::function<void()> fn);
// The window's hold on the region it was bound to (mw.cpp), engine thread: a bound window keeps
// its region from closing (reference 1.1, MR -> MW) until it closes or is bound to another.
void window_bound(Mw& mw, Mr& mr);

}  // namespace softrnic::ndk
