// Per-object counters indexed by an enum. Plain uint64 increments: each counter set is owned by one
// engine thread; readers on other threads accept a torn-free but slightly stale value.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace softrnic {

// E must be an enum with a final enumerator `count_`, and `counter_name(E)` must be findable by ADL.
template <class E>
class Counters {
 public:
  static constexpr std::size_t kSize = static_cast<std::size_t>(E::count_);

  void add(E e, std::uint64_t n = 1) { v_[static_cast<std::size_t>(e)] += n; }
  std::uint64_t get(E e) const { return v_[static_cast<std::size_t>(e)]; }
  void reset() { v_.fill(0); }

  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (auto x : v_) t += x;
    return t;
  }

  // Calls f(name, value) for each counter, in enum order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < kSize; ++i) f(counter_name(static_cast<E>(i)), v_[i]);
  }

 private:
  std::array<std::uint64_t, kSize> v_{};
};

}  // namespace softrnic
