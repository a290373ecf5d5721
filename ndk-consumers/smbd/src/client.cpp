// smbd::Client: one adapter, one connection (ClientLink), one timer thread.
#include <memory>

#include "endpoint.hpp"
#include "roles.hpp"

namespace smbd {

using detail::ClientLink;

std::uint64_t objects_open_in_process() { return detail::Ledger::in_process().load(); }

struct Client::Impl {
  Config cfg;
  detail::Ledger ledger;
  detail::OpenedAdapter adapter;
  std::unique_ptr<ClientLink> link;
  detail::Ticker ticker;
  bool closed = false;
  Failure result;

  Failure close() {
    if (closed) return result;
    closed = true;
    ticker.stop();
    Failure teardown;
    if (link) {
      result = link->info().failure;
      // A link whose provider callback is still owed is never freed (it may still be called).
      if (!link->shutdown(teardown)) (void)link.release();
      link.reset();
    }
    if (adapter.adapter != nullptr) NdkCloseAdapter(adapter.adapter);
    adapter.adapter = nullptr;
    if (result.ok()) result = teardown;
    return result;
  }
  ~Impl() { close(); }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() { impl_->close(); }

Failure Client::connect(const Options& options, std::unique_ptr<Client>& out) {
  out.reset();
  auto impl = std::make_unique<Impl>();
  impl->cfg = options.config;
  if (Failure f = detail::open_adapter(options.if_index, impl->cfg.async_mode, impl->adapter);
      !f.ok())
    return f;
  detail::SocketAddress dst;
  const std::uint16_t port =
      options.port != 0 ? options.port : detail::default_port(impl->adapter.info.RdmaTechnology);
  if (Failure f = detail::make_address(options.server_ip, port, dst); !f.ok()) {
    impl->close();
    return f;
  }
  impl->link = std::make_unique<ClientLink>(impl->cfg, impl->ledger, impl->adapter.adapter,
                                            impl->adapter.info);
  Failure f = impl->link->create_resources();
  if (f.ok()) {
    ClientLink* link = impl->link.get();
    impl->ticker.start(detail::tick_period(impl->cfg),
                       [link] { link->tick(detail::SteadyClock::now()); });
    f = impl->link->connect(dst.get(), dst.length);
  }
  // The timer enforces the negotiate timeout; this wait only bounds it once more.
  if (f.ok())
    f = impl->link->wait_negotiated(impl->cfg.negotiate_timeout + impl->cfg.control_timeout);
  if (!f.ok()) {
    impl->close();
    return f;
  }
  out.reset(new Client(std::move(impl)));
  return {};
}

Failure Client::write(std::uint64_t offset, std::span<const std::byte> data) {
  if (!impl_->link) return {STATUS_CONNECTION_INVALID, "closed"};
  // WRITE only reads the buffer (RDMA Read by the server); the cast serves the shared path.
  return impl_->link->transfer(wire::Command::write, offset, const_cast<std::byte*>(data.data()),
                               data.size());
}

Failure Client::read(std::uint64_t offset, std::span<std::byte> data) {
  if (!impl_->link) return {STATUS_CONNECTION_INVALID, "closed"};
  return impl_->link->transfer(wire::Command::read, offset, data.data(), data.size());
}

Failure Client::echo(std::span<const std::byte> payload) {
  if (!impl_->link) return {STATUS_CONNECTION_INVALID, "closed"};
  return impl_->link->echo(payload);
}

Failure Client::send_raw_for_test(std::span<const std::byte> message) {
  if (!impl_->link) return {STATUS_CONNECTION_INVALID, "closed"};
  return impl_->link->send_raw(message);
}

Failure Client::stay_idle(std::chrono::milliseconds d) {
  if (!impl_->link) return {STATUS_CONNECTION_INVALID, "closed"};
  if (impl_->link->wait_down(d)) {
    Failure f = impl_->link->info().failure;
    return f.ok() ? Failure{STATUS_CONNECTION_DISCONNECTED, "the connection went down"} : f;
  }
  return {};
}

ConnectionInfo Client::info() const {
  if (!impl_->link) return {impl_->result, false, true, {}, {}};
  return impl_->link->info();
}

Failure Client::close() { return impl_->close(); }

std::uint64_t Client::objects_open() const { return impl_->ledger.open(); }

}  // namespace smbd
