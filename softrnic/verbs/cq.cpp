#include "verbs/cq.hpp"

namespace softrnic::verbs {

Cq::Cq(std::uint32_t depth) : depth_(depth == 0 ? 1 : depth), ring_(depth_) {}

bool Cq::push(const Cqe& e) {
  if (error_.load(std::memory_order_relaxed) || ring_.size() >= depth_) {
    error_.store(true, std::memory_order_release);
    return false;
  }
  if (!ring_.try_push(e)) {
    error_.store(true, std::memory_order_release);
    return false;
  }
  ++pending_count_;
  if (e.status != WcStatus::success) pending_error_ = true;
  if (e.flags & Cqe::kSolicited) pending_solicited_ = true;
  return true;
}

void Cq::service() {
  const auto t = static_cast<ArmType>(armed_.load(std::memory_order_acquire));
  if (t == ArmType::none) return;
  bool due = false;
  switch (t) {
    case ArmType::errors: due = pending_error_ || error_.load(std::memory_order_relaxed); break;
    case ArmType::solicited:
      due = pending_error_ || pending_solicited_ || error_.load(std::memory_order_relaxed);
      break;
    case ArmType::any:
      due = pending_error_ || pending_count_ >= moderation_ || error_.load(std::memory_order_relaxed);
      break;
    case ArmType::none: break;
  }
  if (!due) return;
  // One-shot: disarm before calling, so a re-arm inside the handler counts for the next one.
  std::uint8_t expected = static_cast<std::uint8_t>(t);
  while (!armed_.compare_exchange_weak(expected, 0, std::memory_order_acq_rel)) {
    if (expected == 0) return;
  }
  pending_error_ = pending_solicited_ = false;
  pending_count_ = 0;
  ++notifications_;
  if (handler_) handler_(context_, *this);
}

std::size_t Cq::poll(std::span<Cqe> out) {
  std::size_t n = 0;
  while (n < out.size()) {
    auto e = ring_.try_pop();
    if (!e) break;
    out[n++] = *e;
  }
  return n;
}

void Cq::arm(ArmType t) {
  // Combine to the broadest type: errors < solicited-or-error < any.
  auto cur = armed_.load(std::memory_order_relaxed);
  while (static_cast<std::uint8_t>(t) > cur &&
         !armed_.compare_exchange_weak(cur, static_cast<std::uint8_t>(t), std::memory_order_acq_rel)) {
  }
}

}  // namespace softrnic::verbs
