// What every DPDK test needs: the EAL started (or the test skipped, saying why) and unique names.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "dpdk/dpdk_port.hpp"
#include "dpdk/eal.hpp"

namespace softrnic::transport::test {

// Starts the EAL with its defaults. When it cannot start, the test is skipped with the reason,
// or fails when SOFTRNIC_REQUIRE_DPDK is set (CI machines where DPDK must work).
template <class Base>
class WithDpdk : public Base {
 protected:
  void SetUp() override {
    if (auto r = eal::init(); !r) {
      if (std::getenv("SOFTRNIC_REQUIRE_DPDK") != nullptr) {
        FAIL() << "DPDK is required here but did not start: " << r.error().to_string();
      }
      GTEST_SKIP() << "SKIPPED: DPDK EAL did not start: " << r.error().to_string();
    }
  }
};

using DpdkTest = WithDpdk<::testing::Test>;
template <class P>
using DpdkTestWithParam = WithDpdk<::testing::TestWithParam<P>>;

// A name no other ring pair of this process has.
inline std::string unique_ring_name() {
  static std::atomic<unsigned> serial{0};
  return "t" + std::to_string(serial.fetch_add(1));
}

// A net_memif server and client of this process on one socket under /tmp. Teardown goes one end
// at a time: when one end closes, DPDK's interrupt thread disconnects the other (memif_disconnect
// frees its shared regions), and closing that end from this thread meanwhile would run the same
// teardown twice at once (a DPDK 22.11 race). So the client closes first, the server once it has
// seen the hang-up and the handler has had time to finish.
class MemifPair {
 public:
  MemifPair() {
    static std::atomic<int> serial{0};
    const int n = serial.fetch_add(2);
    socket_ = "/tmp/softrnic-memif-" + std::to_string(getpid()) + "-" + std::to_string(n) + ".sock";
    auto s =
        DpdkPort::create_vdev("net_memif" + std::to_string(n) + ",role=server,socket=" + socket_);
    if (!s) {
      error_ = s.error().to_string();
      return;
    }
    server = std::move(*s);
    auto c = DpdkPort::create_vdev("net_memif" + std::to_string(n + 1) +
                                   ",role=client,socket=" + socket_);
    if (!c) {
      error_ = c.error().to_string();
      return;
    }
    client = std::move(*c);
  }
  ~MemifPair() {
    client.reset();
    if (server) {
      for (int i = 0; i < 5000 && server->link_up(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      server.reset();
    }
    (void)::unlink(socket_.c_str());
  }
  MemifPair(const MemifPair&) = delete;
  MemifPair& operator=(const MemifPair&) = delete;

  const std::string& error() const { return error_; }
  // The two ends connect over the socket from DPDK's interrupt thread. Polling receive meanwhile
  // matters: a memif client posts its receive buffers to the server on rx_burst, and until it
  // has, the server has nowhere to transmit to.
  bool wait_connected() const {
    std::array<Packet*, kBurst> none{};
    for (int i = 0; i < 5000; ++i) {
      const bool up = server->link_up() && client->link_up();
      EXPECT_EQ(server->rx_burst(none) + client->rx_burst(none), 0u);
      if (up) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  std::unique_ptr<DpdkPort> server, client;

 private:
  std::string socket_;
  std::string error_;
};

}  // namespace softrnic::transport::test
