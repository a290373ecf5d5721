// Kernel TCP sockets under the io_uring stream transport: endpoint <-> sockaddr conversion, the
// listening socket, the connecting socket (options set, optionally bound), and what the kernel
// reports about a connection (addresses, MSS). Plain system calls that never block: the transport
// hands connect, accept, send and receive to io_uring.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "engine/stream.hpp"

namespace softrnic::transport::tcp_socket {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family() const { return storage.ss_family; }
};

// IPv4 as ::ffff:a.b.c.d (an AF_INET address); anything else is IPv6.
bool is_ipv4(const wire::Ipv6Addr& ip);
// All zeros, or ::ffff:0.0.0.0: any address.
bool is_any(const wire::Ipv6Addr& ip);

SockAddr to_sockaddr(const StreamEndpoint& e);
StreamEndpoint from_sockaddr(const sockaddr_storage& s);

// "Connection refused": strerror, thread-safe.
std::string errno_text(int err);

// A listening socket. All zeros listens on every IPv4 and IPv6 address (one dual-stack socket;
// IPv4 peers appear as ::ffff:a.b.c.d), ::ffff:0.0.0.0 on every IPv4 address, anything else on
// that address alone. SO_REUSEADDR, so a restarted listener gets its port back at once.
[[nodiscard]] Result<int> open_listener(const StreamEndpoint& local, int backlog);

// A stream socket for a connection to `remote`, TCP_NODELAY on, bound to `local` when it names an
// address or a port (its family must match the remote's). buffer_bytes > 0 sets SO_SNDBUF and
// SO_RCVBUF (which turns the kernel's autotuning off); 0 leaves them alone.
[[nodiscard]] Result<int> open_connecting(const StreamEndpoint& remote, const StreamEndpoint& local,
                                          int buffer_bytes);

// Options of an accepted socket: TCP_NODELAY, and the buffer sizes as above.
void set_accepted_options(int fd, int buffer_bytes);
// SO_LINGER {on, 0}: close() then resets the connection instead of sending FIN.
void set_abortive(int fd);

StreamEndpoint local_of(int fd);
// Fails (ENOTCONN) when the connection is already gone.
[[nodiscard]] Result<StreamEndpoint> peer_of(int fd);
// TCP_MAXSEG of a connected socket; 536 (RFC 1122 4.2.2.6 default) when the kernel says nothing.
std::uint32_t mss_of(int fd);

}  // namespace softrnic::transport::tcp_socket
