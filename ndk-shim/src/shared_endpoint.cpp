// NDK_SHARED_ENDPOINT (NDKPI reference 1.6, 3.5): a local address and port reserved for outgoing
// connections; NdkConnectWithSharedEndpoint (connection.cpp) connects from it, to a different
// peer each time. On RoCEv2 the port is the source port of the RDMA-CM IP private-data header,
// which the CM takes from the caller, so any number of connections can share it. The iWARP
// backend cannot (backend_iwarp.cpp says why): there NdkCreateSharedEndpoint fails with
// STATUS_NOT_SUPPORTED.
//
// Reservations are per device (several adapters may be open on one): a shared endpoint's
// address:port is kept from other shared endpoints and from listeners, and listeners' from
// shared endpoints, until the endpoint and every connector made from it have closed.
#include <algorithm>

#include "address.hpp"
#include "guard.hpp"
#include "objects.hpp"

namespace softrnic::ndk {

namespace {

constexpr std::uint32_t kFirstEphemeral = 49152;
constexpr std::uint32_t kLastEphemeral = 65535;

SharedEndpoint* endpoint_of(NDK_SHARED_ENDPOINT* p) {
  return from_ndk<SharedEndpoint>(p, NdkObjectTypeSharedEndpoint);
}

// The all-zeros address is "any address" and overlaps every address on its port.
bool overlaps(const cm::Address& x, const cm::Address& y) {
  return x.port == y.port && (x.ip == wire::Ipv6Addr{} || y.ip == wire::Ipv6Addr{} || x.ip == y.ip);
}

bool overlaps_any(const std::vector<cm::Address>& v, const cm::Address& at) {
  return std::any_of(v.begin(), v.end(), [&](const cm::Address& x) { return overlaps(x, at); });
}

void erase_one(std::vector<cm::Address>& v, const cm::Address& at) {
  if (const auto it = std::find(v.begin(), v.end(), at); it != v.end()) v.erase(it);
}

NTSTATUS close_endpoint(NDK_OBJECT_HEADER* h, NDK_FN_CLOSE_COMPLETION cb, PVOID ctx) {
  SharedEndpoint* e = h ? endpoint_of(reinterpret_cast<NDK_SHARED_ENDPOINT*>(h)) : nullptr;
  if (e == nullptr) return STATUS_INVALID_PARAMETER;
  Adapter* a = e->adapter;
  return start(*a->rt, a->mode.load(), Completion::close(cb, ctx, "NdkCloseSharedEndpoint"), [e](const Done& done) {
    // The address stays reserved until the last connector made from it has closed too.
    e->node.destroy = [e] {
      erase_one(e->adapter->dev->shared_endpoints, e->local);
      delete e;
    };
    close_node(e->node, done);
  });
}

NTSTATUS endpoint_local_address(NDK_SHARED_ENDPOINT* p, PSOCKADDR out, ULONG* len) {
  SharedEndpoint* e = endpoint_of(p);
  if (e == nullptr || len == nullptr) return STATUS_INVALID_PARAMETER;
  // Fixed at creation: no need to ask the engine thread.
  cm::Address at = e->local;
  if (e->ipv4 && at.ip == wire::Ipv6Addr{}) at.ip = wire::ipv4_mapped({0, 0, 0, 0});
  return to_sockaddr(at, out, len);
}

}  // namespace

bool endpoint_in_use(DeviceEntry& dev, const cm::Address& at, bool listeners_too) {
  return overlaps_any(dev.shared_endpoints, at) ||
         (listeners_too && overlaps_any(dev.listener_endpoints, at));
}

void add_listener_endpoint(DeviceEntry& dev, const cm::Address& at) {
  dev.listener_endpoints.push_back(at);
}

void remove_listener_endpoint(DeviceEntry& dev, const cm::Address& at) {
  erase_one(dev.listener_endpoints, at);
}

void leave_shared_endpoint(Connector& c) {
  SharedEndpoint* e = c.endpoint;
  if (e == nullptr) return;
  c.endpoint = nullptr;
  std::erase_if(e->peers, [&](const auto& p) { return p.first == &c; });
  release(c.node, e->node);  // may finish the endpoint's close
}

NTSTATUS adapter_create_shared_endpoint(NDK_ADAPTER* p, CONST PSOCKADDR addr, ULONG len,
                                        NDK_FN_CREATE_COMPLETION cb, PVOID ctx,
                                        NDK_SHARED_ENDPOINT** out) {
  Adapter* a = from_ndk<Adapter>(p, NdkObjectTypeAdapter);
  if (a == nullptr || out == nullptr) return STATUS_INVALID_PARAMETER;
  if (!a->backend().has_shared_endpoints()) return STATUS_NOT_SUPPORTED;
  cm::Address local;
  if (NTSTATUS st = from_sockaddr(addr, len, local); st != STATUS_SUCCESS) return st;
  const bool ipv4 = addr->sa_family == AF_INET;
  NDK_OBJECT_HEADER* made = nullptr;
  const NTSTATUS st = start(
      *a->rt, a->mode.load(), Completion::create(cb, ctx, "NdkCreateSharedEndpoint"),
      [a, local, ipv4](const Done& done) {
        DeviceEntry& dev = *a->dev;
        if (!is_device_address(a->backend(), local.ip)) {
          done->finish(STATUS_INVALID_ADDRESS);
          return;
        }
        cm::Address at = local;
        if (at.port != 0) {
          if (endpoint_in_use(dev, at, true)) {
            done->finish(STATUS_SHARING_VIOLATION);
            return;
          }
        } else {
          // Port 0: the shim picks one from the ephemeral range (reference 3.5).
          bool found = false;
          for (std::uint32_t port = kFirstEphemeral; port <= kLastEphemeral && !found; ++port) {
            at.port = static_cast<std::uint16_t>(port);
            found = !endpoint_in_use(dev, at, true);
          }
          if (!found) {
            done->finish(STATUS_TOO_MANY_ADDRESSES);
            return;
          }
        }
        dev.shared_endpoints.push_back(at);
        auto* e = new SharedEndpoint();
        init_header(e->ndk.Header, NdkObjectTypeSharedEndpoint, a->version);
        e->ndk.Dispatch = &kSharedEndpointDispatch;
        e->adapter = a;
        e->local = at;
        e->ipv4 = ipv4;
        depend(e->node, a->node);
        done->finish(STATUS_SUCCESS, &e->ndk.Header);
      },
      &made);
  if (st == STATUS_SUCCESS) *out = reinterpret_cast<NDK_SHARED_ENDPOINT*>(made);
  return st;
}

const NDK_SHARED_ENDPOINT_DISPATCH kSharedEndpointDispatch = {
    guarded<close_endpoint>,
    guarded<query_extension>,
    guarded<endpoint_local_address>,
};

}  // namespace softrnic::ndk
