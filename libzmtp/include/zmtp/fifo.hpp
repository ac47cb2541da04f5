// A first-in, first-out queue on one vector. Nothing is allocated before the first push:
// std::deque allocates a 512-byte block when it is made, and a connection holds several
// queues that stay empty most of the time (30 000 open connections pay for it in megabytes).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace zmtp {

template <class T>
class Fifo {
  public:
    bool empty() const { return head_ == items_.size(); }
    size_t size() const { return items_.size() - head_; }

    T& front() { return items_[head_]; }
    const T& front() const { return items_[head_]; }
    T& back() { return items_.back(); }
    const T& back() const { return items_.back(); }
    // The i-th item from the front.
    const T& operator[](size_t i) const { return items_[head_ + i]; }

    void push_back(T item) { items_.push_back(std::move(item)); }
    void pop_front() {
        ++head_;
        if (head_ == items_.size()) {
            clear();
        } else if (head_ >= min_reclaim && head_ * 2 >= items_.size()) {
            // The consumed front is at least half: moving the rest down is amortised O(1).
            items_.erase(items_.begin(), items_.begin() + std::ptrdiff_t(head_));
            head_ = 0;
        }
    }
    void clear() {
        items_.clear();
        head_ = 0;
    }

  private:
    static constexpr size_t min_reclaim = 16;
    std::vector<T> items_;
    size_t head_ = 0;
};

}  // namespace zmtp
