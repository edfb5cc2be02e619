#include "core/thread_pool.hpp"

#include <algorithm>

namespace crossgpu {

ThreadPool::ThreadPool(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(std::uint64_t count, std::uint64_t grain,
                              const std::function<void(std::uint64_t, std::uint64_t)>& body) {
  if (count == 0) return;
  grain = std::max<std::uint64_t>(grain, 1);
  const std::uint64_t max_chunks = (count + grain - 1) / grain;
  const std::uint64_t chunks = std::min<std::uint64_t>(max_chunks, size() * 4);
  if (chunks <= 1 || workers_.empty()) {
    body(0, count);
    return;
  }
  std::lock_guard call(call_mutex_);
  {
    std::lock_guard lock(mutex_);
    body_ = &body;
    count_ = count;
    chunk_ = (count + chunks - 1) / chunks;
    next_ = 0;
    chunks_left_ = (count + chunk_ - 1) / chunk_;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  run_chunks();
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return chunks_left_ == 0; });
  body_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::run_chunks() {
  for (;;) {
    std::uint64_t begin;
    const std::function<void(std::uint64_t, std::uint64_t)>* body;
    {
      std::lock_guard lock(mutex_);
      if (body_ == nullptr || next_ >= count_) return;
      begin = next_;
      next_ += chunk_;
      body = body_;
    }
    const std::uint64_t end = std::min(begin + chunk_, count_);
    std::exception_ptr error;
    try {
      (*body)(begin, end);
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (error && !error_) error_ = error;
    if (--chunks_left_ == 0) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && body_ != nullptr); });
      if (stopping_) return;
      seen = generation_;
    }
    run_chunks();
  }
}

}  // namespace crossgpu
