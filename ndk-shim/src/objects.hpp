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

namespace softrnic::ndk {

struct Node {
  std::vector<Node*> antecedents;  // engine: objects this one keeps from closing
  std::uint32_t successors = 0;    // engine
  Done close_pending;              // engine: a close waiting for the successors
  std::function<void()> destroy;   // engine: frees the object once closed
};

struct Adapter {
  NDK_ADAPTER ndk;
  Node node;
  Runtime* rt = nullptr;
  DeviceEntry* dev = nullptr;
  NDK_VERSION version{};
  std::atomic<AsyncMode> mode{AsyncMode::natural};
  Backend& backend() const { return *dev->backend; }
};

struct Pd {
  NDK_PD ndk;
  Node node;
  Adapter* adapter = nullptr;
  verbs::PdHandle handle = 0;
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
  std::vector<std::byte*> pages;  // fast-register page list, kept until the WR completes
};

struct Connector;
struct Listener;

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
  std::shared_ptr<ConnectorRef> self;
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

}  // namespace softrnic::ndk
