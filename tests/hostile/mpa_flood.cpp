#include "mpa_flood.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>
#include <vector>

#include "wire/mpa.hpp"

namespace softrnic::hostile {

namespace {

using Clk = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  int behaviour = 0;
  bool connected = false;
  std::vector<std::byte> out;  // what is left to send
  std::size_t sent = 0;
  bool trickle = false;
  Clk::time_point next_send{};
};

std::vector<std::byte> mpa_request(std::mt19937_64& rng, std::size_t pd_len) {
  std::vector<std::byte> pd(pd_len);
  for (auto& b : pd) b = std::byte(rng());
  wire::MpaFrame f;
  f.crc = true;
  f.ird_ord = wire::MpaIrdOrd{.p2p = true, .ird = 16, .rtr_write = true, .ord = 16};
  f.private_data = pd;
  std::vector<std::byte> out(f.wire_size());
  if (!wire::build_mpa_frame(f, out)) out.clear();
  return out;
}

// What connection number n sends: silent 40%, junk 15%, half a request 15%, a request one byte at
// a time 10%, a malformed request 5%, a stranger's well-formed request 15%.
Conn make_conn(std::mt19937_64& rng) {
  Conn c;
  const int roll = static_cast<int>(rng() % 100);
  c.behaviour = roll < 40 ? 0 : roll < 55 ? 1 : roll < 70 ? 2 : roll < 80 ? 3 : roll < 85 ? 4 : 5;
  switch (c.behaviour) {
    case 0:
      break;
    case 1:
      c.out.resize(1 + rng() % 3000);
      for (auto& b : c.out) b = std::byte(rng());
      break;
    case 2:
      c.out = mpa_request(rng, 400);
      c.out.resize(20 + rng() % 100);  // the header promises more than ever comes
      break;
    case 3:
      c.out = mpa_request(rng, 30 + rng() % 30);
      c.trickle = true;
      break;
    case 4: {
      c.out = mpa_request(rng, 1 + rng() % 100);
      switch (rng() % 5) {
        case 0:
          c.out[0] ^= std::byte{0x20};
          break;  // not the key
        case 1:
          c.out[17] = std::byte{3};
          break;  // revision 3
        case 2:
          c.out[16] |= std::byte{0x80};
          break;  // markers
        case 3:
          c.out[18] = c.out[19] = std::byte{0xff};
          break;  // PD_Length past 512
        default:
          std::copy_n("MPA ID Rep Frame", 16, reinterpret_cast<char*>(c.out.data()));  // a Reply
      }
      break;
    }
    default:
      c.out = mpa_request(rng, 1 + rng() % 200);
      break;
  }
  return c;
}

}  // namespace

MpaFloodResult run_mpa_flood(const MpaFloodConfig& cfg) {
  MpaFloodResult r;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  const rlim_t want = static_cast<rlim_t>(cfg.concurrent) + 256;
  if (lim.rlim_cur < want) {
    lim.rlim_cur = std::max(want, lim.rlim_cur);
    lim.rlim_max = std::max(lim.rlim_max, lim.rlim_cur);
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      r.error = "cannot raise the open-file limit to " + std::to_string(want);
      return r;
    }
  }
  std::mt19937_64 rng(cfg.seed);
  std::vector<Conn> conns;
  std::vector<pollfd> fds;
  std::vector<std::byte> sink(65536);
  const auto deadline = Clk::now() + std::chrono::duration<double>(cfg.seconds);
  const auto close_conn = [&](Conn& c) {
    ::close(c.fd);
    c.fd = -1;
  };
  while (Clk::now() < deadline) {
    // Open new connections, a bounded number per turn so the flood ramps over a few hundred ms.
    for (int k = 0; k < 32 && static_cast<int>(conns.size()) < cfg.concurrent &&
                    r.opened < static_cast<std::uint64_t>(cfg.total);
         ++k) {
      Conn c = make_conn(rng);
      c.fd = ::socket(cfg.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        r.error = "socket() failed: errno " + std::to_string(errno);
        break;
      }
      ++r.opened;
      ++r.by_behaviour[c.behaviour];
      if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&cfg.target), cfg.target_len) != 0 &&
          errno != EINPROGRESS) {
        ++r.connect_failed;
        close_conn(c);
        continue;
      }
      conns.push_back(std::move(c));
    }
    const auto now = Clk::now();
    fds.resize(conns.size());
    for (std::size_t i = 0; i < conns.size(); ++i) {
      const Conn& c = conns[i];
      const bool want_send = c.connected && c.sent < c.out.size() && now >= c.next_send;
      fds[i] = {c.fd,
                static_cast<short>(c.connected ? (POLLIN | (want_send ? POLLOUT : 0)) : POLLOUT),
                0};
    }
    if (::poll(fds.data(), fds.size(), 10) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      const short ev = fds[i].revents;
      if (ev == 0) continue;
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++r.connect_failed;
          close_conn(c);
          continue;
        }
        c.connected = true;
        ++r.established;
        c.next_send = Clk::now();
        continue;
      }
      if (ev & (POLLIN | POLLERR | POLLHUP)) {
        for (;;) {
          const ssize_t n = ::recv(c.fd, sink.data(), sink.size(), 0);
          if (n > 0) {
            r.bytes_received += static_cast<std::uint64_t>(n);
            continue;
          }
          if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            ++r.closed_by_device;
            close_conn(c);
          }
          break;
        }
        if (c.fd < 0) continue;
      }
      if ((ev & POLLOUT) && c.sent < c.out.size()) {
        const std::size_t chunk = c.trickle ? 1 : c.out.size() - c.sent;
        const ssize_t n = ::send(c.fd, c.out.data() + c.sent, chunk, MSG_NOSIGNAL);
        if (n > 0) {
          c.sent += static_cast<std::size_t>(n);
          r.bytes_sent += static_cast<std::uint64_t>(n);
          if (c.trickle) c.next_send = Clk::now() + std::chrono::milliseconds(250);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          ++r.closed_by_device;
          close_conn(c);
        }
      }
    }
    std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
  }
  r.still_open = conns.size();
  for (auto& c : conns) ::close(c.fd);
  return r;
}

}  // namespace softrnic::hostile
