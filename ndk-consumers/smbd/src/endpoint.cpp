#include "endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace smbd::detail {

Failure open_adapter(NET_IFINDEX if_index, ULONG async_mode, OpenedAdapter& out) {
  // NDKPI 1.2 at least: NdkSendAndInvalidate and NdkGetCqResultsEx.
  const NDK_VERSION version = {1, 2};
  NTSTATUS st = NdkOpenAdapter(version, if_index, &out.adapter);
  if (st != STATUS_SUCCESS) return {st, "NdkOpenAdapter"};
  if (async_mode != SOFTRNIC_NDK_ASYNC_NATURAL) {
    GUID guid = SOFTRNIC_NDK_EXTENSION_GUID_INIT;
    NDK_EXTENSION_INTERFACE ext{};
    st = out.adapter->Dispatch->NdkQueryExtension(&out.adapter->Header, &guid, {1, 0}, &ext);
    if (st == STATUS_SUCCESS)
      st = static_cast<const SOFTRNIC_NDK_EXTENSION_DISPATCH*>(ext.Dispatch)
               ->SetAsyncMode(out.adapter, async_mode);
    if (st != STATUS_SUCCESS) {
      NdkCloseAdapter(out.adapter);
      out.adapter = nullptr;
      return {st, "setting the adapter's async mode"};
    }
  }
  ULONG size = sizeof(out.info);
  st = out.adapter->Dispatch->NdkQueryAdapterInfo(out.adapter, &out.info, &size);
  if (st != STATUS_SUCCESS) {
    NdkCloseAdapter(out.adapter);
    out.adapter = nullptr;
    return {st, "NdkQueryAdapterInfo"};
  }
  return {};
}

Failure make_address(const std::string& ip, std::uint16_t port, SocketAddress& out) {
  out = {};
  if (ip.find(':') != std::string::npos) {
    out.storage.sin6_family = AF_INET6;
    out.storage.sin6_port = htons(port);
    if (inet_pton(AF_INET6, ip.c_str(), &out.storage.sin6_addr) != 1)
      return {STATUS_INVALID_ADDRESS, "not an IPv6 address: " + ip};
    out.length = sizeof(SOCKADDR_IN6);
    return {};
  }
  SOCKADDR_IN v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) != 1)
    return {STATUS_INVALID_ADDRESS, "not an IPv4 address: " + ip};
  std::memcpy(&out.storage, &v4, sizeof v4);
  out.length = sizeof(SOCKADDR_IN);
  return {};
}

std::uint16_t default_port(NDK_RDMA_TECHNOLOGY technology) {
  return technology == NdkiWarp ? kIwarpPort : kRocePort;
}

void Ticker::start(std::chrono::milliseconds period, std::function<void()> fn) {
  stop_ = false;
  thread_ = std::thread([this, period, fn = std::move(fn)] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, period, [&] { return stop_; });
      if (stop_) break;
      lock.unlock();
      fn();
      lock.lock();
    }
  });
}

void Ticker::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::chrono::milliseconds tick_period(const Config& cfg) {
  const auto shortest =
      std::min({cfg.keepalive_interval, cfg.keepalive_timeout, cfg.negotiate_timeout});
  return std::clamp(shortest / 4, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
}

}  // namespace smbd::detail
