// smbd::Server: one adapter, one listener, a connection (ServerLink) per accepted request, one
// timer thread for all of them. The connect event only queues the new connector; accept() does
// the rest on the consumer's thread.
#include <deque>
#include <memory>
#include <vector>

#include "endpoint.hpp"
#include "roles.hpp"

namespace smbd {

using detail::ServerLink;

struct Server::Impl {
  Config cfg;
  detail::Ledger ledger;
  detail::OpenedAdapter adapter;
  NDK_LISTENER* listener = nullptr;
  std::uint16_t port = 0;
  std::vector<std::byte> file;
  detail::Ticker ticker;
  mutable std::mutex links_mu;
  std::vector<std::unique_ptr<ServerLink>> links;
  std::mutex accept_mu;
  std::condition_variable accept_cv;
  std::deque<NDK_CONNECTOR*> requests;
  bool closed = false;

  // Connect event (completion context): queue the connector, never block.
  static void on_connect(PVOID ctx, NDK_CONNECTOR* connector) {
    auto* self = static_cast<Impl*>(ctx);
    self->ledger.created();
    {
      std::lock_guard lock(self->accept_mu);
      self->requests.push_back(connector);
    }
    self->accept_cv.notify_all();
  }

  ServerLink* link(std::size_t index) const {
    std::lock_guard lock(links_mu);
    return index < links.size() ? links[index].get() : nullptr;
  }

  Failure close() {
    if (closed) return {};
    closed = true;
    ticker.stop();
    Failure result;
    std::vector<std::unique_ptr<ServerLink>> all;
    {
      std::lock_guard lock(links_mu);
      all.swap(links);
    }
    for (auto& l : all) {
      Failure teardown;
      if (!l->shutdown(teardown)) (void)l.release();
      if (result.ok()) result = teardown;
    }
    all.clear();
    detail::CloseBatch batch(ledger);
    if (listener != nullptr) {
      // Stop the events first: a request arriving now is as if there were no listener.
      listener->Dispatch->NdkControlConnectEvents(listener, TRUE);
    }
    {
      std::lock_guard lock(accept_mu);
      // Requests never accepted: closing the connector is an implicit reject.
      for (NDK_CONNECTOR* c : requests) batch.close(c);
      requests.clear();
    }
    batch.close(listener);
    listener = nullptr;
    if (!batch.wait(cfg.control_timeout) && result.ok())
      result = {STATUS_IO_TIMEOUT, "a close did not complete"};
    if (adapter.adapter != nullptr) NdkCloseAdapter(adapter.adapter);
    adapter.adapter = nullptr;
    return result;
  }
  ~Impl() { close(); }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { impl_->close(); }

Failure Server::listen(const Options& options, std::unique_ptr<Server>& out) {
  out.reset();
  auto impl = std::make_unique<Impl>();
  impl->cfg = options.config;
  impl->file.assign(options.file_size, std::byte{0});
  if (Failure f = detail::open_adapter(options.if_index, impl->cfg.async_mode, impl->adapter);
      !f.ok())
    return f;
  impl->port =
      options.port != 0 ? options.port : detail::default_port(impl->adapter.info.RdmaTechnology);
  detail::SocketAddress at;
  if (Failure f = detail::make_address(options.ip, impl->port, at); !f.ok()) {
    impl->close();
    return f;
  }
  NDK_ADAPTER* a = impl->adapter.adapter;
  Impl* self = impl.get();
  NTSTATUS st = detail::create_object(impl->ledger, impl->cfg.control_timeout, &impl->listener,
                                      [&](auto cb, PVOID ctx, NDK_LISTENER** o) {
                                        return a->Dispatch->NdkCreateListener(a, Impl::on_connect,
                                                                              self, cb, ctx, o);
                                      });
  if (st == STATUS_SUCCESS) {
    st = detail::request(impl->cfg.control_timeout, [&](auto cb, PVOID ctx) {
      return impl->listener->Dispatch->NdkListen(impl->listener, const_cast<SOCKADDR*>(at.get()),
                                                 at.length, cb, ctx);
    });
  }
  if (st != STATUS_SUCCESS) {
    impl->close();
    return {st, "NdkCreateListener/NdkListen"};
  }
  impl->ticker.start(detail::tick_period(impl->cfg), [self] {
    std::lock_guard lock(self->links_mu);
    const auto now = detail::SteadyClock::now();
    for (auto& l : self->links) l->tick(now);
  });
  out.reset(new Server(std::move(impl)));
  return {};
}

Failure Server::accept(std::chrono::milliseconds limit, std::size_t* index) {
  Impl& m = *impl_;
  NDK_CONNECTOR* connector = nullptr;
  {
    std::unique_lock lock(m.accept_mu);
    if (!m.accept_cv.wait_for(lock, limit, [&] { return !m.requests.empty(); }))
      return {STATUS_IO_TIMEOUT, "no connection request"};
    connector = m.requests.front();
    m.requests.pop_front();
  }
  auto link =
      std::make_unique<ServerLink>(m.cfg, m.ledger, m.adapter.adapter, m.adapter.info, m.file);
  link->adopt_connector(connector);  // closed with the link whatever happens next
  Failure f = link->create_resources();
  if (f.ok()) f = link->accept(connector);
  std::lock_guard lock(m.links_mu);
  if (index != nullptr) *index = m.links.size();
  m.links.push_back(std::move(link));
  return f;
}

std::size_t Server::connections() const {
  std::lock_guard lock(impl_->links_mu);
  return impl_->links.size();
}

ConnectionInfo Server::info(std::size_t index) const {
  const ServerLink* l = impl_->link(index);
  return l ? l->info()
           : ConnectionInfo{{STATUS_INVALID_PARAMETER, "no such connection"}, false, true, {}, {}};
}

bool Server::wait_down(std::size_t index, std::chrono::milliseconds limit) const {
  ServerLink* l = impl_->link(index);
  return l != nullptr && l->wait_down(limit);
}

bool Server::wait_negotiated(std::size_t index, std::chrono::milliseconds limit) const {
  ServerLink* l = impl_->link(index);
  if (l == nullptr) return false;
  const Failure f = l->wait_negotiated(limit);
  return f.status != STATUS_IO_TIMEOUT || l->info().down;
}

std::span<std::byte> Server::file() { return impl_->file; }
std::uint16_t Server::port() const { return impl_->port; }
Failure Server::close() { return impl_->close(); }
std::uint64_t Server::objects_open() const { return impl_->ledger.open(); }

}  // namespace smbd
