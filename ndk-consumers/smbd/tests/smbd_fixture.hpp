// In-process device pairs for the SMB-Direct-like consumer and a connected Server/Client pair.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <tuple>

#include "smbd/session.hpp"
#include "smbd/smbd.hpp"

namespace smbd::test {

// A RoCEv2 pair on the loopback wire (a, b), an iWARP pair on loopback TCP (c, d), and a RoCEv2
// pair whose wire loses 2% of the frames both ways (e, f).
inline constexpr const char* kDevices =
    "name=a,port=loopback:peer=b,ip4=198.18.0.1/24,ip6=fd00:5052::1/64;"
    "name=b,port=loopback:peer=a,ip4=198.18.0.2/24,ip6=fd00:5052::2/64;"
    "name=c,proto=iwarp,port=uring,ip4=127.0.0.1/8,ip6=::1/128;"
    "name=d,proto=iwarp,port=uring,ip4=127.0.0.2/8,ip6=::1/128;"
    "name=e,port=loopback:peer=f,ip4=198.18.1.1/24,faults=loss=0.02;"
    "name=f,port=loopback:peer=e,ip4=198.18.1.2/24,faults=loss=0.02";

struct Transport {
  const char* name;
  bool iwarp;
  NET_IFINDEX client_if, server_if;
  const char* server_ip;
};
inline constexpr Transport kRoce4{"RoceV4", false, 0x40000000, 0x40000001, "198.18.0.2"};
inline constexpr Transport kRoce6{"RoceV6", false, 0x40000000, 0x40000001, "fd00:5052::2"};
inline constexpr Transport kIwarp4{"IwarpV4", true, 0x40000002, 0x40000003, "127.0.0.2"};
inline constexpr Transport kIwarp6{"IwarpV6", true, 0x40000002, 0x40000003, "::1"};
inline constexpr Transport kLossyRoce4{"LossyRoceV4", false, 0x40000004, 0x40000005, "198.18.1.2"};

// iWARP listens on real TCP ports: a fresh one per connection, away from well-known ports.
inline std::uint16_t next_port(const Transport& t) {
  static std::atomic<int> n{0};
  if (!t.iwarp) return 0;  // the RoCE default, 445
  return static_cast<std::uint16_t>(48000 + (getpid() % 500) * 20 + (n++ % 20));
}

inline void use_devices() { setenv("SOFTRNIC_DEVICES", kDevices, 1); }

// A listening server and a client connected to it.
struct Pair {
  std::unique_ptr<Server> server;
  std::unique_ptr<Client> client;
  Failure listened, accepted, connected;

  Pair(const Transport& t, const Config& server_cfg, const Config& client_cfg,
       std::size_t file_size = 1 << 20) {
    Server::Options so;
    so.if_index = t.server_if;
    so.ip = t.server_ip;
    so.port = next_port(t);
    so.config = server_cfg;
    so.file_size = file_size;
    listened = Server::listen(so, server);
    if (!listened.ok()) return;
    std::thread acceptor([&] { accepted = server->accept(std::chrono::milliseconds(10000)); });
    Client::Options co;
    co.if_index = t.client_if;
    co.server_ip = t.server_ip;
    co.port = server->port();
    co.config = client_cfg;
    connected = Client::connect(co, client);
    acceptor.join();
  }

  // Closes both ends and checks that every NDK object was closed.
  void close_and_check() {
    if (client) {
      client->close();
      EXPECT_EQ(client->objects_open(), 0u) << "client objects left open";
    }
    if (server) {
      server->close();
      EXPECT_EQ(server->objects_open(), 0u) << "server objects left open";
    }
  }
};

inline std::string hex(NTSTATUS s) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", static_cast<unsigned>(s));
  return b;
}

}  // namespace smbd::test
