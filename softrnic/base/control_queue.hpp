// Operations handed to an engine thread by other threads (control sockets, the CLI): queued under
// a mutex and run by the owner at the start of its next poll. The hot path pays one atomic load
// per poll while nothing is queued; the lock is taken only when something is.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace softrnic {

template <class Owner>
class ControlQueue {
 public:
  using Op = std::function<void(Owner&)>;

  // Any thread.
  void submit(Op op) {
    std::lock_guard lock(mu_);
    ops_.push_back(std::move(op));
    pending_.store(true, std::memory_order_release);
  }

  // The owner's engine thread: runs what was queued so far, in order.
  void run(Owner& owner) {
    if (!pending_.load(std::memory_order_acquire)) return;
    {
      std::lock_guard lock(mu_);
      running_.swap(ops_);
      pending_.store(false, std::memory_order_relaxed);
    }
    for (auto& op : running_) op(owner);
    running_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<Op> ops_, running_;
  std::atomic<bool> pending_{false};
};

}  // namespace softrnic
