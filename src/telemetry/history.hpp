// A fixed-capacity ring of the latest samples: the cluster view keeps a short history per device
// without growing, however long a node runs.
#pragma once

#include <cstddef>
#include <vector>

#include "core/error.hpp"

namespace crossgpu::telemetry {

template <typename T>
class History {
 public:
  explicit History(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) fail(Errc::invalid_argument, "telemetry history: capacity must be > 0");
    items_.reserve(capacity);
  }

  void push(T item) {
    if (items_.size() < capacity_) {
      items_.push_back(std::move(item));
    } else {
      items_[next_] = std::move(item);
    }
    next_ = (next_ + 1) % capacity_;
  }

  // Oldest first.
  std::vector<T> items() const {
    if (items_.size() < capacity_) return items_;
    std::vector<T> out;
    out.reserve(capacity_);
    for (std::size_t i = 0; i < capacity_; ++i) out.push_back(items_[(next_ + i) % capacity_]);
    return out;
  }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::size_t capacity_;
  std::size_t next_ = 0;  // where the next push goes
  std::vector<T> items_;
};

}  // namespace crossgpu::telemetry
