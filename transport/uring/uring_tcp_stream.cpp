// The handles of the io_uring stream transport (Stream, StreamListener) and what they ask of the
// core: making connections and listeners, taking accepted ones, closing and aborting. The handles
// share their record with the core, which keeps it while the kernel may still use it.
#include <unistd.h>

#include "uring/uring_tcp_core.hpp"

namespace softrnic::transport {

using C = UringTcpCounter;
using uring_tcp::ConnRec;
using uring_tcp::ListenRec;
using uring_tcp::Op;
using uring_tcp::Rec;
using S = Stream::State;

namespace {

class TcpStream final : public Stream {
 public:
  explicit TcpStream(std::shared_ptr<ConnRec> c) : c_(std::move(c)) {}
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;
  ~TcpStream() override {
    if (c_->core != nullptr) c_->core->release_stream(*c_);
  }

  std::size_t write(ConstByteSpan data) override {
    if (c_->core == nullptr || c_->state != S::open) return 0;
    c_->tx.grow_for(data.size(), c_->send_in_flight);  // a send in flight keeps reading the old buffer
    const std::size_t n = c_->tx.push(data);
    if (n > 0) c_->core->queue(*c_);
    return n;
  }
  std::size_t read(ByteSpan out) override {
    if (c_->state == S::closed) return 0;
    const std::size_t n = c_->rx.pop(out);
    if (n > 0 && c_->core != nullptr) c_->core->room_freed(*c_);
    return n;
  }
  std::size_t readable() const override { return c_->state == S::closed ? 0 : c_->rx.size(); }
  std::size_t unsent() const override { return c_->tx.size(); }
  State state() const override { return c_->state; }
  std::string error() const override { return c_->error; }
  StreamFailure failure() const override { return c_->failure; }
  void close() override {
    if (c_->core != nullptr) {
      c_->core->close_stream(*c_);
    } else {
      c_->state = S::closed;
    }
  }
  void abort() override {
    if (c_->core != nullptr) {
      c_->core->abort_stream(*c_);
    } else {
      c_->state = S::closed;
    }
  }
  StreamEndpoint local() const override { return c_->local; }
  StreamEndpoint peer() const override { return c_->peer; }
  std::uint32_t mss() const override { return c_->mss; }

 private:
  std::shared_ptr<ConnRec> c_;
};

class TcpListener final : public StreamListener {
 public:
  explicit TcpListener(std::shared_ptr<ListenRec> l) : l_(std::move(l)) {}
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener() override {
    if (l_->core != nullptr) l_->core->release_listener(*l_);
  }
  std::unique_ptr<Stream> accept() override {
    return l_->core == nullptr ? nullptr : l_->core->accept_from(*l_);
  }
  StreamEndpoint local() const override { return l_->local; }

 private:
  std::shared_ptr<ListenRec> l_;
};

}  // namespace

// ---- the core's side ----

Result<std::unique_ptr<Stream>> UringTcpTransport::Core::connect(const StreamEndpoint& remote,
                                                                 const StreamEndpoint& local) {
  auto fd = tcp_socket::open_connecting(remote, local, config.socket_buffer_bytes);
  if (!fd) return std::unexpected(fd.error());
  auto c = std::make_shared<ConnRec>(config.send_buffer_bytes, config.recv_buffer_bytes);
  c->fd = *fd;
  ++open_sockets;
  c->peer = remote;
  c->remote_addr = tcp_socket::to_sockaddr(remote);
  if (auto r = add(c); !r) {
    close_socket(*c, false);
    return std::unexpected(r.error());
  }
  counters.add(C::connects);
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) {
    c->state = S::failed;
    c->error = "connect to " + to_string(remote) + ": the submission queue is full";
    c->failure = StreamFailure::other;
    c->teardown = true;
  } else {
    io_uring_prep_connect(sqe, c->fd, reinterpret_cast<const sockaddr*>(&c->remote_addr.storage),
                          c->remote_addr.len);
    prepared(*c, sqe, Op::connect);
    c->connect_in_flight = true;
  }
  queue(*c);
  return std::make_unique<TcpStream>(std::move(c));
}

Result<std::unique_ptr<StreamListener>> UringTcpTransport::Core::listen(
    const StreamEndpoint& local) {
  auto fd = tcp_socket::open_listener(local, config.listen_backlog);
  if (!fd) return std::unexpected(fd.error());
  auto l = std::make_shared<ListenRec>();
  l->fd = *fd;
  ++open_sockets;
  l->local = tcp_socket::local_of(l->fd);
  if (auto r = add(l); !r) {
    close_socket(*l, false);
    return std::unexpected(r.error());
  }
  queue(*l);  // the accept is armed at the next poll()
  return std::make_unique<TcpListener>(std::move(l));
}

std::unique_ptr<Stream> UringTcpTransport::Core::accept_from(ListenRec& l) {
  while (!l.waiting.empty()) {
    const int fd = l.waiting.front();
    l.waiting.pop_front();
    auto peer = tcp_socket::peer_of(fd);
    if (!peer) {  // reset before it was taken
      ::close(fd);
      --open_sockets;
      continue;
    }
    tcp_socket::set_accepted_options(fd, config.socket_buffer_bytes);
    auto c = std::make_shared<ConnRec>(config.send_buffer_bytes, config.recv_buffer_bytes);
    c->fd = fd;
    c->peer = *peer;
    c->local = tcp_socket::local_of(fd);
    c->mss = tcp_socket::mss_of(fd);
    c->state = S::open;
    if (auto r = add(c); !r) {
      close_socket(*c, false);
      return nullptr;
    }
    counters.add(C::accepted);
    queue(*c);  // its receive is posted at the next poll()
    return std::make_unique<TcpStream>(std::move(c));
  }
  return nullptr;
}

void UringTcpTransport::Core::room_freed(ConnRec& c) {
  if (!c.recv_in_flight && !c.eof && c.fd >= 0) queue(c);
}

void UringTcpTransport::Core::close_stream(ConnRec& c) {
  switch (c.state) {
    case S::connecting:
      c.teardown = true;  // nothing was said yet: abandon the handshake
      break;
    case S::open:
    case S::peer_closed:
      if (c.fd >= 0 && !c.teardown && !c.closing) {
        c.closing = true;
        ++closing_;
        c.linger_deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(config.linger_ms);
      }
      break;
    case S::failed:
    case S::closed:
      break;
  }
  c.state = S::closed;
  c.discard_rx = true;
  if (!c.recv_in_flight) c.rx.clear();
  queue(c);
}

void UringTcpTransport::Core::abort_stream(ConnRec& c) {
  c.state = S::closed;
  c.discard_rx = true;
  c.tx.clear();  // a send in flight still reads these bytes; nothing overwrites them now
  if (!c.recv_in_flight) c.rx.clear();
  if (c.fd >= 0 && !c.teardown) {
    tcp_socket::set_abortive(c.fd);
    c.teardown = true;
  }
  queue(c);
}

void UringTcpTransport::Core::release_stream(ConnRec& c) {
  c.handle_alive = false;
  if (c.state != S::closed) close_stream(c);
}

void UringTcpTransport::Core::release_listener(ListenRec& l) {
  l.handle_alive = false;
  l.teardown = true;
  queue(l);
}

// ---- the transport ----

UringTcpTransport::UringTcpTransport(std::unique_ptr<Core> core) : core_(std::move(core)) {}
UringTcpTransport::~UringTcpTransport() = default;

Result<std::unique_ptr<UringTcpTransport>> UringTcpTransport::create(const UringTcpConfig& config) {
  auto core = std::make_unique<Core>(config);
  if (auto r = core->open(); !r) return std::unexpected(r.error());
  return std::unique_ptr<UringTcpTransport>(new UringTcpTransport(std::move(core)));
}

Result<std::unique_ptr<StreamListener>> UringTcpTransport::listen(const StreamEndpoint& local) {
  return core_->listen(local);
}

Result<std::unique_ptr<Stream>> UringTcpTransport::connect(const StreamEndpoint& remote,
                                                           const StreamEndpoint& local) {
  return core_->connect(remote, local);
}

std::size_t UringTcpTransport::poll() { return core_->poll(); }

const Counters<UringTcpCounter>& UringTcpTransport::counters() const { return core_->counters; }
const UringTcpConfig& UringTcpTransport::config() const { return core_->config; }
std::size_t UringTcpTransport::open_sockets() const { return core_->open_sockets; }
std::size_t UringTcpTransport::in_flight() const { return core_->in_flight; }
bool UringTcpTransport::uses_multishot_accept() const { return core_->multishot_ok; }
int UringTcpTransport::wait_fd() const { return core_->ring_fd(); }

}  // namespace softrnic::transport
