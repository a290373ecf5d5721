// The client side of a device's control socket (control_server.hpp, device_control.hpp): what
// `softrnic devinfo/stats/capture` use. One connection carries any number of requests, answered
// in order.
//
//   auto c = ControlClient::connect("srn0");
//   auto info = c->request({{"cmd", "info"}});   // (*info)["ok"] says whether the device agreed
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace softrnic::control {

class ControlClient {
 public:
  // Connects to device `name`'s socket in control_dir(dir) (control_paths.hpp). Errors say
  // whether no such device runs (no socket) or its process died (a stale socket).
  [[nodiscard]] static Result<ControlClient> connect(std::string_view name,
                                                     std::string_view dir = {});
  // Connects to a socket by path.
  [[nodiscard]] static Result<ControlClient> connect_path(const std::string& path);

  ControlClient(ControlClient&& o) noexcept;
  ControlClient& operator=(ControlClient&& o) noexcept;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

  // Sends one request and returns the answer (an object with "ok": a refused request is still a
  // successful exchange). Errors are transport errors: the connection broke, the answer was not
  // JSON, or no answer came within timeout.
  [[nodiscard]] Result<nlohmann::json> request(
      const nlohmann::json& req, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Sends `line` as it is (a newline is added) and returns the answer; for tests of the framing.
  [[nodiscard]] Result<nlohmann::json> request_line(
      std::string_view line, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  const std::string& path() const { return path_; }

 private:
  ControlClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::string pending_;  // bytes received past the last answer
};

}  // namespace softrnic::control
