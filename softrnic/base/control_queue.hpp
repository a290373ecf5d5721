// Operations handed to an engine thread by other threads (control sockets, the CLI): queued under
// a mutex and run by the owner at the start of its next poll. The hot path pays one atomic load
// per poll while nothing is queued; the lock is taken only when something is. An owner that waits
// for work instead of spinning gives the queue a Wakeup (set_wakeup), which submit() calls.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "base/wakeup.hpp"

namespace softrnic {

template <class Owner>
class ControlQueue {
 public:
  using Op = std::function<void(Owner&)>;

  // Any thread.
  void submit(Op op) {
    {
      std::lock_guard lock(mu_);
      ops_.push_back(std::move(op));
      pending_.store(true, std::memory_order_release);
    }
    if (Wakeup* w = wakeup_.load(std::memory_order_acquire)) w->wake();
  }

  // Any thread; w (or nullptr: none) must outlive the queue or be replaced first.
  void set_wakeup(Wakeup* w) { wakeup_.store(w, std::memory_order_release); }

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
  std::atomic<Wakeup*> wakeup_{nullptr};
};

}  // namespace softrnic
