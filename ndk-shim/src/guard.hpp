// No C++ exception may leave the shim: its callers are C programs (NDKPI consumers), and an
// exception unwinding into C code ends the process or worse. Every function a consumer can reach
// (the extern "C" entry points and the functions of every dispatch table) runs its body through
// guarded_call(), as does every call's body on the engine thread (completion.cpp), where an
// escaping exception would end the process too. An exception becomes the function's error:
// std::bad_alloc is STATUS_INSUFFICIENT_RESOURCES, anything else STATUS_INTERNAL_ERROR (reported
// on stderr with where it happened); a function that returns no NTSTATUS returns a zero value
// (no completions, a zero token) or nothing.
#pragma once

#include <type_traits>

#include "ndkpi.h"

namespace softrnic::ndk {

// The status the exception being handled becomes, reported on stderr. Only inside a catch block.
NTSTATUS status_of_current_exception(const char* where) noexcept;

template <class F>
std::invoke_result_t<F&> guarded_call(const char* where, F&& body) noexcept {
  using R = std::invoke_result_t<F&>;
  try {
    return body();
  } catch (...) {
    const NTSTATUS status = status_of_current_exception(where);
    if constexpr (std::is_same_v<R, NTSTATUS>) {
      return status;
    } else if constexpr (!std::is_void_v<R>) {
      return R{};
    }
  }
}

// Fn behind guarded_call, with Fn's own signature: what the dispatch tables hold
// (`guarded<create_pd>` in place of `create_pd`).
template <auto Fn>
struct Guarded;

template <class R, class... Args, R (*Fn)(Args...)>
struct Guarded<Fn> {
  static R call(Args... args) noexcept {
    return guarded_call(__PRETTY_FUNCTION__, [&]() -> R { return Fn(args...); });
  }
};

template <auto Fn>
inline constexpr auto guarded = &Guarded<Fn>::call;

}  // namespace softrnic::ndk
