// NDK_CONNECTOR over the backend's connection calls (NDKPI reference 3.5), and the connector a
// listener makes for each incoming request (the listener itself is listener.cpp).
//
// How the NDK handshake maps onto the engine's: the active side's NdkConnect completes when the
// peer has accepted (the CM's "established": REP received, QP in RTS, RTU sent), so
// NdkCompleteConnect has nothing left to send and completes at once. The passive side's NdkAccept
// completes when the active side's RTU arrives (the CM's "established" there).
// On iWARP (MPA, RFC 5044, with RFC 6581's enhanced negotiation) the MPA Reply plays the REP's
// part and the initiator's RTR (a zero-length RDMA Write or Read, sent as soon as the Reply has
// arrived; softrnic always asks for one) plays the RTU's: NdkAccept completes when the RTR has
// arrived, and the passive side may send from then on. Against a peer that negotiates no RTR,
// NdkAccept completes once the Reply is queued; sends posted then are taken but held by the
// engine until the initiator's first FPDU arrives (MPA: the responder never speaks first).
// A peer's disconnect fires the disconnect event once and flushes nothing; NdkDisconnect ends the
// connection and then flushes the QP (pending work completes with STATUS_CANCELLED).
#include <algorithm>
#include <cstring>

#include "address.hpp"
#include "engine/gid_table.hpp"
#include "guard.hpp"
#include "objects.hpp"
#include "qp_internal.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

using State = Connector::State;

Connector* conn_of(NDK_CONNECTOR* p) { return from_ndk<Connector>(p, NdkObjectTypeConnector); }

std::uint8_t read_limit(ULONG wanted, std::uint32_t device_max) {
  return static_cast<std::uint8_t>(std::min<std::uint32_t>({wanted, device_max, 255u}));
}

NTSTATUS connect_failure_status(const cm::CmEvent& e) {
  switch (e.cause) {
    case cm::CmEvent::Cause::refused: return STATUS_CONNECTION_REFUSED;
    case cm::CmEvent::Cause::unreachable: return STATUS_HOST_UNREACHABLE;
    case cm::CmEvent::Cause::timed_out: return STATUS_IO_TIMEOUT;
    default: return STATUS_CONNECTION_ABORTED;
  }
}

// Takes the pending request out of the connector before finishing it: its callback may close
// the connector.
void finish_pending(Connector& c, NTSTATUS status) {
  if (Done d = std::move(c.pending)) d->finish(status);
}

void deliver_disconnect(Connector& c) {
  if (c.disconnect_event_ex != nullptr)
    c.disconnect_event_ex(c.disconnect_ctx, 0);
  else
    c.disconnect_event(c.disconnect_ctx);
}

void report_disconnect(Connector& c) {
  if (c.disconnect_reported) return;
  if (c.disconnect_event == nullptr && c.disconnect_event_ex == nullptr) return;
  c.disconnect_reported = true;
  if (ScenarioRun* run = active_scenario()) {
    const std::uint64_t delay = run->callback_delay_ns();
    run->disconnect_event(*c.adapter->dev, delay != 0);
    if (delay != 0) {
      // Late, and only to a connector the consumer has not closed meanwhile.
      run->defer(delay, [ref = c.self] {
        if (ref->object != nullptr) deliver_disconnect(*ref->object);
      });
      return;
    }
  }
  deliver_disconnect(c);
}

void on_event(Connector& c, const cm::CmEvent& e) {
  ConnectionCounters& k = c.adapter->dev->counters;
  switch (e.type) {
    case cm::CmEvent::Type::connect_request: return;
    case cm::CmEvent::Type::established:
      if (c.state == State::connecting) {
        c.private_data = e.private_data;
        c.inbound_read_limit = e.responder_resources;
        c.outbound_read_limit = e.initiator_depth;
        c.local = e.local;
        c.peer = e.remote;
        c.state = State::connected;
        release_held_receives(*c.qp);
        if (ScenarioRun* run = active_scenario()) run->connected(*c.adapter->dev);
        k.connect.fetch_add(1);
        k.active.fetch_add(1);
        finish_pending(c, STATUS_SUCCESS);
      } else if (c.state == State::accepting) {
        c.state = State::established;
        if (ScenarioRun* run = active_scenario()) run->connected(*c.adapter->dev);
        k.accept.fetch_add(1);
        k.active.fetch_add(1);
        finish_pending(c, STATUS_SUCCESS);
      }
      return;
    case cm::CmEvent::Type::rejected:
      if (c.state != State::connecting) return;
      c.private_data = e.private_data;  // a consumer's reject carries its private data
      c.state = State::closed_down;
      k.connect_failure.fetch_add(1);
      finish_pending(c, STATUS_CONNECTION_REFUSED);
      return;
    case cm::CmEvent::Type::connect_error: {
      const bool accepting = c.state == State::accepting;
      if (c.state != State::connecting && !accepting) return;
      c.state = State::closed_down;
      k.connect_failure.fetch_add(1);
      finish_pending(c, accepting ? STATUS_CONNECTION_ABORTED : connect_failure_status(e));
      return;
    }
    case cm::CmEvent::Type::disconnected:
      if (c.state == State::disconnecting) {
        c.state = State::closed_down;
        k.active.fetch_sub(1);
        flush_engine_qp(*c.qp);
        finish_pending(c, STATUS_SUCCESS);
        return;
      }
      if (c.state == State::connected || c.state == State::established) {
        c.peer_disconnected = true;
        k.active.fetch_sub(1);
        if (c.state == State::established) report_disconnect(c);
      }
      return;
  }
}

cm::Handler handler_for(Connector& c) {
  auto ref = c.self;
  return [ref](const cm::CmEvent& e) {
    if (ref->object != nullptr) on_event(*ref->object, e);
  };
}

// Ties the connector to its QP: the QP may not close before the connector (reference 3.2).
void attach(Connector& c, Qp& q) {
  c.qp = &q;
  q.connector = &c;
  depend(c.node, q.node);
  if (ScenarioRun* run = active_scenario()) run->connector_attached(c);
}

NTSTATUS close_connector(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Connector* c = h ? conn_of(reinterpret_cast<NDK_CONNECTOR*>(h)) : nullptr;
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = c->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseConnector"), [c](const Done& done) {
    Backend& b = c->adapter->backend();
    c->closing = true;
    switch (c->state) {
      case State::requested: (void)b.reject(c->id, {}); break;  // an implicit reject
      case State::connecting:
      case State::accepting:
      case State::connected:
      case State::established:
        (void)b.disconnect(c->id);
        c->adapter->dev->counters.active.fetch_sub(
            c->state == State::connected || c->state == State::established ? 1 : 0);
        break;
      default: break;
    }
    // A QP that carried the connection is flushed; one whose connect was refused is left in
    // RESET, ready for another attempt.
    const bool carried = c->state == State::accepting || c->state == State::connected ||
                         c->state == State::established || c->state == State::disconnecting ||
                         c->peer_disconnected;
    c->state = State::closed_down;
    c->self->object = nullptr;
    if (ScenarioRun* run = active_scenario()) run->connector_closed(*c);
    leave_shared_endpoint(*c);
    finish_pending(*c, STATUS_CANCELLED);
    if (c->qp != nullptr) {
      if (carried) flush_engine_qp(*c->qp);
      c->qp->connector = nullptr;
    }
    c->node.destroy = [c] { delete c; };
    close_node(c->node, done);
  });
}

NTSTATUS check_private_data(const PVOID data, ULONG length, std::uint32_t max) {
  if (length != 0 && data == nullptr) return STATUS_INVALID_PARAMETER;
  if (length > max) return STATUS_INVALID_PARAMETER;
  return STATUS_SUCCESS;
}

std::vector<std::byte> copy_bytes(const PVOID data, ULONG length) {
  std::vector<std::byte> v(length);
  if (length != 0) std::memcpy(v.data(), data, length);
  return v;
}

// NdkConnect from `src` (optional), or NdkConnectWithSharedEndpoint from the endpoint `sep`.
NTSTATUS connect_common(NDK_CONNECTOR* p, NDK_QP* qp_p, CONST PSOCKADDR src, ULONG src_len,
                        SharedEndpoint* sep, CONST PSOCKADDR dst, ULONG dst_len, ULONG ird,
                        ULONG ord, CONST PVOID pdata, ULONG pdata_len, NDK_FN_REQUEST_COMPLETION cb,
                        PVOID ctx) {
  Connector* c = conn_of(p);
  Qp* q = from_ndk<Qp>(qp_p, NdkObjectTypeQp);
  if (c == nullptr || q == nullptr || q->pd->adapter->dev != c->adapter->dev)
    return STATUS_INVALID_PARAMETER;
  Adapter* a = c->adapter;
  cm::Address remote, local;
  if (NTSTATUS st = from_sockaddr(dst, dst_len, remote); st != STATUS_SUCCESS) return st;
  if (src != nullptr) {
    if (NTSTATUS st = from_sockaddr(src, src_len, local); st != STATUS_SUCCESS) return st;
  }
  if (sep != nullptr) {
    // One family per connection: an IPv4 endpoint does not reach IPv6 peers.
    if (sep->ipv4 != engine::is_ipv4_mapped(remote.ip)) return STATUS_INVALID_ADDRESS;
    local = sep->local;
  }
  if (NTSTATUS st = check_private_data(pdata, pdata_len, a->backend().max_caller_data());
      st != STATUS_SUCCESS)
    return st;
  if (remote.port == 0 || remote.ip == wire::Ipv6Addr{}) return STATUS_INVALID_ADDRESS;
  auto data = copy_bytes(pdata, pdata_len);
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkConnect"),
               [c, q, sep, remote, local, ird, ord, data = std::move(data)](const Done& done) {
                 if (c->state != State::idle || q->connector != nullptr) {
                   done->finish(STATUS_INVALID_DEVICE_STATE);
                   return;
                 }
                 // Reference 3.5: one connection per 4-tuple.
                 if (sep != nullptr &&
                     std::any_of(sep->peers.begin(), sep->peers.end(),
                                 [&](const auto& pr) { return pr.second == remote; })) {
                   done->finish(STATUS_ADDRESS_ALREADY_EXISTS);
                   return;
                 }
                 Backend& b = c->adapter->backend();
                 cm::ConnectParams params;
                 params.remote = remote;
                 if (local.ip != wire::Ipv6Addr{}) params.local_ip = local.ip;
                 params.local_port = local.port;
                 params.private_data = data;
                 params.responder_resources = read_limit(ird, b.limits().max_ird);
                 params.initiator_depth = read_limit(ord, b.limits().max_ord);
                 auto id = b.connect(q->eqp, params, handler_for(*c));
                 if (!id) {
                   const bool foreign = id.error().message.find("not an address") != std::string::npos ||
                                        id.error().message.find("no IPv") != std::string::npos;
                   done->finish(foreign ? STATUS_INVALID_ADDRESS : error_status(id.error()));
                   return;
                 }
                 c->id = *id;
                 c->state = State::connecting;
                 attach(*c, *q);
                 if (sep != nullptr) {
                   // The endpoint stays open (and reserved) while this connector is.
                   c->endpoint = sep;
                   sep->peers.emplace_back(c, remote);
                   depend(c->node, sep->node);
                 }
                 c->pending = done;
               });
}

NTSTATUS connect(NDK_CONNECTOR* p, NDK_QP* qp, CONST PSOCKADDR src, ULONG src_len,
                 CONST PSOCKADDR dst, ULONG dst_len, ULONG ird, ULONG ord, CONST PVOID pdata,
                 ULONG pdata_len, NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  return connect_common(p, qp, src, src_len, nullptr, dst, dst_len, ird, ord, pdata, pdata_len, cb,
                        ctx);
}

NTSTATUS connect_with_shared_endpoint(NDK_CONNECTOR* p, NDK_QP* qp, NDK_SHARED_ENDPOINT* sep_p,
                                      CONST PSOCKADDR dst, ULONG dst_len, ULONG ird, ULONG ord,
                                      CONST PVOID pdata, ULONG pdata_len,
                                      NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Connector* c = conn_of(p);
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  // No shared endpoint exists where the backend cannot share a local port (iWARP).
  if (!c->adapter->backend().has_shared_endpoints()) return STATUS_NOT_SUPPORTED;
  auto* sep = from_ndk<SharedEndpoint>(sep_p, NdkObjectTypeSharedEndpoint);
  if (sep == nullptr || sep->adapter->dev != c->adapter->dev) return STATUS_INVALID_PARAMETER;
  return connect_common(p, qp, nullptr, 0, sep, dst, dst_len, ird, ord, pdata, pdata_len, cb, ctx);
}

NTSTATUS complete_connect_common(NDK_CONNECTOR* p, NDK_FN_DISCONNECT_EVENT_CALLBACK plain,
                                 NDK_FN_DISCONNECT_EVENT_CALLBACK_EX ex, PVOID dctx,
                                 NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Connector* c = conn_of(p);
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = c->adapter;
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkCompleteConnect"),
               [c, plain, ex, dctx](const Done& done) {
                 if (c->state != State::connected) {
                   done->finish(STATUS_CONNECTION_INVALID);
                   return;
                 }
                 c->disconnect_event = plain;
                 c->disconnect_event_ex = ex;
                 c->disconnect_ctx = dctx;
                 c->state = State::established;
                 const bool already_gone = c->peer_disconnected;
                 auto ref = c->self;
                 done->finish(STATUS_SUCCESS);
                 // A disconnect that came before CompleteConnect is reported now, once.
                 if (already_gone && ref->object != nullptr) report_disconnect(*ref->object);
               });
}

NTSTATUS complete_connect(NDK_CONNECTOR* p, NDK_FN_DISCONNECT_EVENT_CALLBACK d, PVOID dctx,
                          NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  return complete_connect_common(p, d, nullptr, dctx, cb, ctx);
}

NTSTATUS complete_connect_ex(NDK_CONNECTOR* p, NDK_FN_DISCONNECT_EVENT_CALLBACK_EX d, PVOID dctx,
                             NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  return complete_connect_common(p, nullptr, d, dctx, cb, ctx);
}

NTSTATUS accept_common(NDK_CONNECTOR* p, NDK_QP* qp_p, ULONG ird, ULONG ord, CONST PVOID pdata,
                       ULONG pdata_len, NDK_FN_DISCONNECT_EVENT_CALLBACK plain,
                       NDK_FN_DISCONNECT_EVENT_CALLBACK_EX ex, PVOID dctx,
                       NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Connector* c = conn_of(p);
  Qp* q = from_ndk<Qp>(qp_p, NdkObjectTypeQp);
  if (c == nullptr || q == nullptr || q->pd->adapter->dev != c->adapter->dev)
    return STATUS_INVALID_PARAMETER;
  Adapter* a = c->adapter;
  if (NTSTATUS st = check_private_data(pdata, pdata_len, a->backend().max_callee_data());
      st != STATUS_SUCCESS)
    return st;
  auto data = copy_bytes(pdata, pdata_len);
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkAccept"),
               [c, q, ird, ord, plain, ex, dctx, data = std::move(data)](const Done& done) {
                 if (c->state != State::requested || q->connector != nullptr) {
                   done->finish(c->state == State::closed_down ? STATUS_CONNECTION_ABORTED
                                                               : STATUS_CONNECTION_INVALID);
                   return;
                 }
                 Backend& b = c->adapter->backend();
                 cm::AcceptParams params;
                 params.private_data = data;
                 params.responder_resources = read_limit(ird, b.limits().max_ird);
                 params.initiator_depth = read_limit(ord, b.limits().max_ord);
                 auto r = b.accept(c->id, q->eqp, params, handler_for(*c));
                 if (!r) {
                   done->finish(error_status(r.error()));
                   return;
                 }
                 attach(*c, *q);
                 release_held_receives(*q);
                 c->inbound_read_limit =
                     std::min<ULONG>(params.responder_resources, c->inbound_read_limit);
                 c->outbound_read_limit =
                     std::min<ULONG>(params.initiator_depth, c->outbound_read_limit);
                 c->disconnect_event = plain;
                 c->disconnect_event_ex = ex;
                 c->disconnect_ctx = dctx;
                 c->state = State::accepting;
                 c->pending = done;
               });
}

NTSTATUS accept(NDK_CONNECTOR* p, NDK_QP* qp, ULONG ird, ULONG ord, CONST PVOID pdata,
                ULONG pdata_len, NDK_FN_DISCONNECT_EVENT_CALLBACK d, PVOID dctx,
                NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  return accept_common(p, qp, ird, ord, pdata, pdata_len, d, nullptr, dctx, cb, ctx);
}

NTSTATUS accept_ex(NDK_CONNECTOR* p, NDK_QP* qp, ULONG ird, ULONG ord, CONST PVOID pdata,
                   ULONG pdata_len, NDK_FN_DISCONNECT_EVENT_CALLBACK_EX d, PVOID dctx,
                   NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  return accept_common(p, qp, ird, ord, pdata, pdata_len, nullptr, d, dctx, cb, ctx);
}

NTSTATUS reject(NDK_CONNECTOR* p, CONST PVOID pdata, ULONG pdata_len) {
  Connector* c = conn_of(p);
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  if (NTSTATUS st = check_private_data(pdata, pdata_len, c->adapter->backend().max_callee_data());
      st != STATUS_SUCCESS)
    return st;
  NTSTATUS st = STATUS_SUCCESS;
  c->adapter->rt->run_and_wait([&] {
    Backend& b = c->adapter->backend();
    if (c->state == State::requested) {
      const auto data = copy_bytes(pdata, pdata_len);
      auto r = b.reject(c->id, data);
      st = r ? STATUS_SUCCESS : STATUS_CONNECTION_ABORTED;
      c->state = State::closed_down;
    } else if (c->state == State::connected) {
      // The active side refusing what the peer accepted (IRD/ORD, private data): end it.
      (void)b.disconnect(c->id);
      c->adapter->dev->counters.active.fetch_sub(1);
      c->state = State::closed_down;
    } else {
      st = STATUS_CONNECTION_INVALID;
    }
  });
  return st;
}

NTSTATUS get_connection_data(NDK_CONNECTOR* p, ULONG* ird, ULONG* ord, PVOID data, ULONG* len) {
  Connector* c = conn_of(p);
  if (c == nullptr || len == nullptr || (data == nullptr && *len != 0))
    return STATUS_INVALID_PARAMETER;
  NTSTATUS st = STATUS_SUCCESS;
  c->adapter->rt->run_and_wait([&] {
    // Reference 3.5: before Accept (passive) or CompleteConnect (active), or after a refusal.
    if (c->state != State::requested && c->state != State::connected &&
        !(c->state == State::closed_down && !c->private_data.empty())) {
      st = STATUS_CONNECTION_INVALID;
      return;
    }
    if (ird) *ird = c->inbound_read_limit;
    if (ord) *ord = c->outbound_read_limit;
    const auto rds = static_cast<ULONG>(c->private_data.size());
    if (data != nullptr) std::memcpy(data, c->private_data.data(), std::min(*len, rds));
    if (data != nullptr && *len < rds) st = STATUS_BUFFER_TOO_SMALL;
    *len = rds;
  });
  return st;
}

NTSTATUS address_of(NDK_CONNECTOR* p, PSOCKADDR out, ULONG* len, bool local) {
  Connector* c = conn_of(p);
  if (c == nullptr || len == nullptr) return STATUS_INVALID_PARAMETER;
  NTSTATUS st = STATUS_SUCCESS;
  c->adapter->rt->run_and_wait([&] {
    if (c->state == State::idle || c->state == State::connecting) {
      st = STATUS_CONNECTION_INVALID;
      return;
    }
    st = to_sockaddr(local ? c->local : c->peer, out, len);
  });
  return st;
}

NTSTATUS get_local_address(NDK_CONNECTOR* p, PSOCKADDR out, ULONG* len) {
  return address_of(p, out, len, true);
}

NTSTATUS get_peer_address(NDK_CONNECTOR* p, PSOCKADDR out, ULONG* len) {
  return address_of(p, out, len, false);
}

NTSTATUS disconnect(NDK_CONNECTOR* p, NDK_FN_REQUEST_COMPLETION cb, PVOID ctx) {
  Connector* c = conn_of(p);
  if (c == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = c->adapter;
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkDisconnect"), [c](const Done& done) {
    const bool up = c->state == State::connected || c->state == State::established ||
                    c->state == State::accepting;
    if (!up) {
      done->finish(STATUS_CONNECTION_INVALID);
      return;
    }
    if (c->peer_disconnected || !c->adapter->backend().disconnect(c->id)) {
      // The peer ended it already: only the flush is left to do.
      c->state = State::closed_down;
      flush_engine_qp(*c->qp);
      done->finish(STATUS_SUCCESS);
      return;
    }
    c->state = State::disconnecting;
    c->pending = done;
  });
}

}  // namespace

void on_connect_request(Listener& l, const cm::CmEvent& e) {
  Backend& b = l.adapter->backend();
  // A paused listener is as if there were none (reference 3.5).
  if (l.paused.load() || l.closed) {
    (void)b.reject(e.conn, {});
    return;
  }
  ScenarioRun* run = active_scenario();
  // Consumer test mode's refuse_connect: the request is rejected before the consumer sees it.
  if (run != nullptr && run->refuse_connect(*l.adapter->dev)) {
    (void)b.reject(e.conn, {});
    return;
  }
  auto* c = new Connector();
  init_header(c->ndk.Header, NdkObjectTypeConnector, l.adapter->version);
  c->ndk.Dispatch = &kConnectorDispatch;
  c->adapter = l.adapter;
  c->self = std::make_shared<ConnectorRef>();
  c->self->object = c;
  c->state = State::requested;
  c->id = e.conn;
  c->private_data = e.private_data;
  // Before Accept: what the peer offers within this adapter's limits.
  c->inbound_read_limit = std::min<ULONG>(e.initiator_depth, b.limits().max_ird);
  c->outbound_read_limit = std::min<ULONG>(e.responder_resources, b.limits().max_ord);
  c->local = e.local;
  c->peer = e.remote;
  depend(c->node, l.node);
  if (run != nullptr) run->connect_event(*l.adapter->dev);
  l.connect_event(l.connect_ctx, &c->ndk);
}

bool force_disconnect(Connector& c) {
  const bool up = c.state == State::connected || c.state == State::established;
  if (!up || c.peer_disconnected || c.closing) return false;
  // The CM's own "disconnected" event follows and does the bookkeeping of a peer disconnect;
  // the consumer here learns of it like any peer disconnect, through its disconnect event.
  if (!c.adapter->backend().disconnect(c.id)) return false;
  c.peer_disconnected = true;
  if (c.state == State::established) report_disconnect(c);
  return true;
}

NTSTATUS adapter_create_connector(NDK_ADAPTER* p, NDK_FN_CREATE_COMPLETION cb, PVOID ctx,
                                  NDK_CONNECTOR** out) {
  Adapter* a = from_ndk<Adapter>(p, NdkObjectTypeAdapter);
  if (a == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(*a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateConnector"),
      [a](const Done& done) {
        auto* c = new Connector();
        init_header(c->ndk.Header, NdkObjectTypeConnector, a->version);
        c->ndk.Dispatch = &kConnectorDispatch;
        c->adapter = a;
        c->self = std::make_shared<ConnectorRef>();
        c->self->object = c;
        depend(c->node, a->node);
        done->finish(STATUS_SUCCESS, &c->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_CONNECTOR*>(made);
  return st;
}

const NDK_CONNECTOR_DISPATCH kConnectorDispatch = {
    guarded<close_connector>,
    guarded<query_extension>,
    guarded<connect>,
    guarded<connect_with_shared_endpoint>,
    guarded<complete_connect>,
    guarded<accept>,
    guarded<reject>,
    guarded<get_connection_data>,
    guarded<get_local_address>,
    guarded<get_peer_address>,
    guarded<disconnect>,
    guarded<complete_connect_ex>,
    guarded<accept_ex>,
};

}  // namespace softrnic::ndk
