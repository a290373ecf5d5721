// The backends, one per wire protocol. Called on the thread that builds the runtime, before the
// engine thread starts.
#pragma once

#include <memory>

#include "backend.hpp"
#include "iwarp/device.hpp"
#include "roce/device.hpp"

namespace softrnic::ndk {

[[nodiscard]] Result<std::unique_ptr<Backend>> make_roce_backend(roce::Device& dev);
[[nodiscard]] Result<std::unique_ptr<Backend>> make_iwarp_backend(iwarp::Device& dev,
                                                                  std::vector<wire::Ipv6Addr> ips);

}  // namespace softrnic::ndk
