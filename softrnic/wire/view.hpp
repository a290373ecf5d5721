// Common base of all header views: a fixed-size window over bytes, read-only when B is const.
// Views never copy and never cast bytes to structs; every field goes through bytes.hpp helpers.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <type_traits>

#include "base/bytes.hpp"

namespace softrnic::wire {

template <std::size_t N, class B>
class FixedView {
 public:
  static constexpr std::size_t kSize = N;
  using Span = std::span<B, N>;

  explicit FixedView(Span b) : b_(b) {}

  Span bytes() const { return b_; }

 protected:
  ConstByteSpan c() const { return b_; }
  ByteSpan m() const
    requires(!std::is_const_v<B>)
  {
    return b_;
  }

 private:
  Span b_;
};

// Builds a view of type V over s[off, off + V::kSize), or nothing when s is too short.
template <class V, class B>
std::optional<V> view_at(std::span<B> s, std::size_t off) {
  if (off > s.size() || s.size() - off < V::kSize) return std::nullopt;
  return V(typename V::Span(s.data() + off, V::kSize));
}

// Same, for callers that have already checked the length.
template <class V, class B>
V view_unchecked(std::span<B> s, std::size_t off) {
  return V(typename V::Span(s.data() + off, V::kSize));
}

}  // namespace softrnic::wire
