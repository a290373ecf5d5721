// Result<T>: the control-path error channel. Every error carries a name (Errc) and a message a user
// can act on. The data path never allocates, so it reports drops by enum (see wire/drop_reason.hpp).
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace softrnic {

enum class Errc {
  invalid_argument,
  out_of_range,
  truncated,
  malformed,
  unsupported,
  not_found,
  io_error,
  bad_checksum,
  buffer_too_small,
  busy,
};

constexpr std::string_view errc_name(Errc e) {
  switch (e) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::out_of_range: return "out_of_range";
    case Errc::truncated: return "truncated";
    case Errc::malformed: return "malformed";
    case Errc::unsupported: return "unsupported";
    case Errc::not_found: return "not_found";
    case Errc::io_error: return "io_error";
    case Errc::bad_checksum: return "bad_checksum";
    case Errc::buffer_too_small: return "buffer_too_small";
    case Errc::busy: return "busy";
  }
  return "unknown";
}

struct Error {
  Errc code;
  std::string message;

  std::string to_string() const { return std::string(errc_name(code)) + ": " + message; }
};

template <class T>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> make_error(Errc code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace softrnic
