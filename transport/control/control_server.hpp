// Control sockets: Unix stream sockets that answer JSON-lines requests, one socket per device
// (control_paths.hpp says where). A client writes one JSON object per line and reads one JSON
// object per line back, in order, on the same connection:
//
//   -> {"cmd":"info"}
//   <- {"ok":true,"name":"srn0",...}
//   -> {"cmd":"nonsense"}
//   <- {"ok":false,"error":"cmd: unknown 'nonsense' (accepted: info, counters, capture)"}
//
// The server checks the framing (a line of at most kMaxLine bytes holding a JSON object) and hands
// each request to the socket's handler (device_control.hpp for devices).
//
// Threads: one server thread serves every socket of the server; handlers run on it, one request
// at a time. listen() and remove() may be called from any thread.
//
// Socket files: a stale file (its process died: nothing accepts on it) is replaced; a live one is
// an error naming the device; a path that is not a socket is never touched. Each socket file is
// removed when its endpoint goes, unless another one has replaced it meanwhile.
//
// Who may ask: a socket file is created mode 0600 (its folder 0700, control_paths.hpp), and each
// accepted connection is checked with SO_PEERCRED: a caller of another uid than the server's
// (root excepted) gets one error line and is disconnected, is counted (refused_peers()) and
// logged. The mode keeps other users out; the credential check still holds if the file's mode or
// its folder's is widened afterwards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace softrnic::control {

using Json = nlohmann::json;

// Answers one request (a JSON object) with a JSON object that has "ok".
using ControlHandler = std::function<Json(const Json& request)>;

// {"ok":false,"error":message}
Json control_error(std::string message);

// The text of one answer line (invalid UTF-8 in strings is replaced, never thrown about).
std::string to_line(const Json& j);

class ControlServer {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;

  // Starts the server thread (with no sockets yet).
  [[nodiscard]] static Result<std::unique_ptr<ControlServer>> create();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  // Stops the thread, then closes and removes every socket.
  ~ControlServer();

  // Opens the socket of device `name` in folder `dir` (created when missing) and serves it with
  // handler. Returns the socket's path.
  [[nodiscard]] Result<std::string> listen(const std::string& dir, std::string_view name,
                                           ControlHandler handler);
  // Closes the socket of `name` and removes its file; waits for a request it is answering.
  void remove(std::string_view name);

  // The socket path of `name`, or empty.
  std::string path_of(std::string_view name) const;

  // Connections refused because the caller's uid was neither the server's nor root's.
  std::uint64_t refused_peers() const { return refused_peers_.load(std::memory_order_relaxed); }

 private:
  struct Endpoint;
  struct Client;
  ControlServer() = default;
  void run();
  void wake();
  void serve(Client& c);  // reads what arrived and answers every complete line

  mutable std::mutex mu_;  // endpoints_
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  std::mutex serve_mu_;  // held while a handler runs, so remove() can wait for it
  int wake_fd_ = -1;     // eventfd: listen/remove/stop wake the server thread
  bool stop_ = false;    // under mu_
  std::atomic<std::uint64_t> refused_peers_{0};
  std::thread thread_;
};

}  // namespace softrnic::control
