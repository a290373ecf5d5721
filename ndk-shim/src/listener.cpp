// NDK_LISTENER over the backend's listen calls (NDKPI reference 3.5): listening on an address
// (port 0 picks one from the ephemeral range), pausing connect events, closing. Each request
// becomes a connector handed to the connect event (on_connect_request, connection.cpp).
#include <algorithm>

#include "address.hpp"
#include "guard.hpp"
#include "objects.hpp"
#include "status.hpp"

namespace softrnic::ndk {

namespace {

Listener* listener_of(NDK_LISTENER* p) { return from_ndk<Listener>(p, NdkObjectTypeListener); }

NTSTATUS close_listener(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  Listener* l = h ? listener_of(reinterpret_cast<NDK_LISTENER*>(h)) : nullptr;
  if (l == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = l->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseListener"), [l](const Done& done) {
    // New requests stop at once; the close itself waits for the connectors it handed out.
    l->closed = true;
    if (l->listening) {
      l->adapter->backend().stop_listening(l->id);
      remove_listener_endpoint(*l->adapter->dev, l->local);
    }
    l->self->object = nullptr;
    l->node.destroy = [l] { delete l; };
    close_node(l->node, done);
  });
}

NTSTATUS listen(NDK_LISTENER* p, CONST PSOCKADDR addr, ULONG len, NDK_FN_REQUEST_COMPLETION cb,
                PVOID ctx) {
  Listener* l = listener_of(p);
  if (l == nullptr) return STATUS_INVALID_PARAMETER;
  cm::Address local;
  if (NTSTATUS st = from_sockaddr(addr, len, local); st != STATUS_SUCCESS) return st;
  Adapter* a = l->adapter;
  return start(*a->rt, a->mode.load(), Completion::request(cb, ctx, "NdkListen"), [l, local](const Done& done) {
    Backend& b = l->adapter->backend();
    if (l->listening || l->closed) {
      done->finish(STATUS_INVALID_DEVICE_STATE);
      return;
    }
    if (!is_device_address(b, local.ip)) {
      done->finish(STATUS_INVALID_ADDRESS);
      return;
    }
    auto ref = l->self;
    cm::Handler h = [ref](const cm::CmEvent& e) {
      if (e.type != cm::CmEvent::Type::connect_request) return;
      if (ref->object != nullptr) on_connect_request(*ref->object, e);
    };
    cm::Address at = local;
    // Port 0: the shim picks one from the ephemeral range (reference 3.5).
    const std::uint32_t first = local.port != 0 ? local.port : 49152;
    const std::uint32_t last = local.port != 0 ? local.port : 65535;
    for (std::uint32_t port = first; port <= last; ++port) {
      at.port = static_cast<std::uint16_t>(port);
      // A shared endpoint's port is not a listener's (reference 3.5).
      if (endpoint_in_use(*l->adapter->dev, at, false)) continue;
      auto id = b.listen(at, h);
      if (id) {
        l->id = *id;
        l->local = at;
        l->listening = true;
        add_listener_endpoint(*l->adapter->dev, at);
        done->finish(STATUS_SUCCESS);
        return;
      }
      if (id.error().code != Errc::busy) {
        done->finish(error_status(id.error()));
        return;
      }
    }
    done->finish(local.port != 0 ? STATUS_SHARING_VIOLATION : STATUS_TOO_MANY_ADDRESSES);
  });
}

NTSTATUS listener_local_address(NDK_LISTENER* p, PSOCKADDR out, ULONG* len) {
  Listener* l = listener_of(p);
  if (l == nullptr || len == nullptr) return STATUS_INVALID_PARAMETER;
  NTSTATUS st = STATUS_SUCCESS;
  l->adapter->rt->run_and_wait(
      [&] { st = l->listening ? to_sockaddr(l->local, out, len) : STATUS_INVALID_DEVICE_STATE; });
  return st;
}

VOID control_connect_events(NDK_LISTENER* p, BOOLEAN pause) {
  if (Listener* l = listener_of(p)) l->paused.store(pause != FALSE);
}

}  // namespace

bool is_device_address(Backend& b, const wire::Ipv6Addr& ip) {
  if (ip == wire::Ipv6Addr{}) return true;
  const auto mine = b.addresses();
  return std::find(mine.begin(), mine.end(), ip) != mine.end();
}

NTSTATUS adapter_create_listener(NDK_ADAPTER* p, NDK_FN_CONNECT_EVENT_CALLBACK event,
                                 PVOID event_ctx, NDK_FN_CREATE_COMPLETION cb, PVOID ctx,
                                 NDK_LISTENER** out) {
  Adapter* a = from_ndk<Adapter>(p, NdkObjectTypeAdapter);
  if (a == nullptr || out == nullptr || event == nullptr) return STATUS_INVALID_PARAMETER;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(
      *a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateListener"),
      [a, event, event_ctx](const Done& done) {
        auto* l = new Listener();
        init_header(l->ndk.Header, NdkObjectTypeListener, a->version);
        l->ndk.Dispatch = &kListenerDispatch;
        l->adapter = a;
        l->connect_event = event;
        l->connect_ctx = event_ctx;
        l->self = std::make_shared<ListenerRef>();
        l->self->object = l;
        depend(l->node, a->node);
        done->finish(STATUS_SUCCESS, &l->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_LISTENER*>(made);
  return st;
}

const NDK_LISTENER_DISPATCH kListenerDispatch = {
    guarded<close_listener>,
    guarded<query_extension>,
    guarded<listen>,
    guarded<listener_local_address>,
    guarded<control_connect_events>,
};

}  // namespace softrnic::ndk
