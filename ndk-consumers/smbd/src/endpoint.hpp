// What Client and Server share: opening an adapter (with the optional async mode), socket
// addresses from text, and the timer thread that drives keep-alives and timeouts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "smbd/smbd.hpp"

namespace smbd::detail {

struct OpenedAdapter {
  NDK_ADAPTER* adapter = nullptr;
  NDK_ADAPTER_INFO info{};
};
[[nodiscard]] Failure open_adapter(NET_IFINDEX if_index, ULONG async_mode, OpenedAdapter& out);

struct SocketAddress {
  SOCKADDR_IN6 storage{};  // large enough for either family
  ULONG length = 0;
  const SOCKADDR* get() const { return reinterpret_cast<const SOCKADDR*>(&storage); }
};
// An IPv4 or IPv6 address in text and a port; STATUS_INVALID_ADDRESS when the text is neither.
[[nodiscard]] Failure make_address(const std::string& ip, std::uint16_t port, SocketAddress& out);
std::uint16_t default_port(NDK_RDMA_TECHNOLOGY technology);

// Calls fn every `period` on its own thread until stopped.
class Ticker {
 public:
  ~Ticker() { stop(); }
  void start(std::chrono::milliseconds period, std::function<void()> fn);
  void stop();

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};
std::chrono::milliseconds tick_period(const Config& cfg);

}  // namespace smbd::detail
