// Completion queue: a ring of fixed depth written by the engine thread and read by the consumer.
// Overflow never overwrites: the push fails, the CQ enters error and the engine moves the QPs that
// use it to error (IBA 11.4.2.1 / NDK: CQ overflow is a catastrophic CQ error).
//
// Notification (NDK-grade, the NDK shim only maps it): arm() is one-shot and may be called from any
// thread; arming again before the notification combines to the broadest type (errors-only <
// solicited-or-error < any). The engine thread calls service() once per loop; it fires the handler
// when a matching entry has arrived since the last notification (so arming fires at once when
// entries are already waiting), disarms, and never runs two notifications of one CQ at a time.
// A moderation count delays "any" notifications until that many entries have arrived (errors are
// never delayed), which is how interrupt moderation is honoured without timers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/spsc_ring.hpp"
#include "verbs/types.hpp"

namespace softrnic::verbs {

struct Cqe {
  std::uint64_t wr_id = 0;
  WcStatus status = WcStatus::success;
  WcOpcode opcode = WcOpcode::send;
  std::uint8_t flags = 0;  // Cqe::k* bits
  std::uint32_t byte_len = 0;
  std::uint32_t imm = 0;           // with kWithImm
  std::uint32_t invalidated = 0;   // with kWithInv: the key the peer invalidated
  std::uint32_t qp_num = 0;
  std::uint32_t src_qp = 0;        // UD receives
  static constexpr std::uint8_t kWithImm = 1;
  static constexpr std::uint8_t kWithInv = 2;
  static constexpr std::uint8_t kSolicited = 4;
  static constexpr std::uint8_t kGrh = 8;
};

enum class ArmType : std::uint8_t { none = 0, errors = 1, solicited = 2, any = 3 };

class Cq {
 public:
  using Handler = void (*)(void* context, Cq& cq);

  explicit Cq(std::uint32_t depth);

  std::uint32_t depth() const { return depth_; }

  // Engine thread. False on overflow (the CQ is then in error and the entry is not stored).
  [[nodiscard]] bool push(const Cqe& e);
  // Engine thread: fire the notification if armed and due.
  void service();
  void set_handler(Handler h, void* context) {
    handler_ = h;
    context_ = context;
  }
  void set_moderation(std::uint32_t count) { moderation_ = count == 0 ? 1 : count; }

  // Consumer thread.
  std::size_t poll(std::span<Cqe> out);
  // Any thread.
  void arm(ArmType t);
  ArmType armed() const { return static_cast<ArmType>(armed_.load(std::memory_order_acquire)); }
  bool in_error() const { return error_.load(std::memory_order_acquire); }
  std::size_t size() const { return ring_.size(); }
  std::uint64_t notifications() const { return notifications_; }

 private:
  std::uint32_t depth_;
  SpscRing<Cqe> ring_;
  std::atomic<std::uint8_t> armed_{0};
  std::atomic<bool> error_{false};
  // Engine-side, since the last notification.
  bool pending_error_ = false;
  bool pending_solicited_ = false;
  std::uint32_t pending_count_ = 0;
  std::uint32_t moderation_ = 1;
  std::uint64_t notifications_ = 0;
  Handler handler_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace softrnic::verbs
