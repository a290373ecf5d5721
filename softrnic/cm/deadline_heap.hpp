// The connection manager's timers: a binary min-heap of records ordered by deadline, in which each
// record keeps its own position, so arming, re-arming and cancelling cost O(log n) and a poll looks
// only at the records whose deadline has passed, never at every record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace softrnic::cm {

inline constexpr std::size_t kNotInHeap = SIZE_MAX;

// T has `std::uint64_t deadline` and `std::size_t heap_pos` (kNotInHeap when not armed). The heap
// holds pointers: a record must stay where it is while armed.
template <class T>
class DeadlineHeap {
 public:
  void reserve(std::size_t n) { h_.reserve(n); }
  std::size_t size() const { return h_.size(); }

  // Arms t for `deadline` (re-arms if armed); deadline 0 cancels.
  void set(T& t, std::uint64_t deadline) {
    if (deadline == 0) return cancel(t);
    const std::uint64_t old = t.deadline;
    t.deadline = deadline;
    if (t.heap_pos == kNotInHeap) {
      t.heap_pos = h_.size();
      h_.push_back(&t);
      up(t.heap_pos);
    } else if (deadline < old) {
      up(t.heap_pos);
    } else {
      down(t.heap_pos);
    }
  }

  void cancel(T& t) {
    t.deadline = 0;
    const std::size_t i = t.heap_pos;
    if (i == kNotInHeap) return;
    t.heap_pos = kNotInHeap;
    T* last = h_.back();
    h_.pop_back();
    if (i == h_.size()) return;
    place(i, last);
    up(i);
    down(last->heap_pos);
  }

  // The record with the earliest deadline if that deadline is at or before now.
  T* due(std::uint64_t now) const {
    return !h_.empty() && h_.front()->deadline <= now ? h_.front() : nullptr;
  }

 private:
  void place(std::size_t i, T* t) {
    h_[i] = t;
    t->heap_pos = i;
  }
  void up(std::size_t i) {
    T* t = h_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (h_[parent]->deadline <= t->deadline) break;
      place(i, h_[parent]);
      i = parent;
    }
    place(i, t);
  }
  void down(std::size_t i) {
    T* t = h_[i];
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= h_.size()) break;
      if (child + 1 < h_.size() && h_[child + 1]->deadline < h_[child]->deadline) ++child;
      if (t->deadline <= h_[child]->deadline) break;
      place(i, h_[child]);
      i = child;
    }
    place(i, t);
  }

  std::vector<T*> h_;
};

}  // namespace softrnic::cm
