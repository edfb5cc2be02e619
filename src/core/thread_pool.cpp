#include "core/thread_pool.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace crossgpu {
namespace {

// How long a worker waits for the next loop, and the caller for the last chunk, before sleeping:
// 100 us, or CROSSGPU_POOL_SPIN_US (0: sleep at once, as before; for comparing the two).
std::chrono::microseconds spin_time() {
  const char* value = std::getenv("CROSSGPU_POOL_SPIN_US");
  if (value == nullptr || *value == '\0') return std::chrono::microseconds(100);
  return std::chrono::microseconds(std::strtoul(value, nullptr, 10));
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

template <typename Done>
bool ThreadPool::spin_until(Done done) {
  static const std::chrono::microseconds spin = spin_time();
  if (spin.count() == 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + spin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

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
    generation_.fetch_add(1);
  }
  wake_.notify_all();  // no system call when every worker is spinning
  run_chunks();
  spin_until([this] { return chunks_left_.load() == 0; });
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return chunks_left_.load() == 0; });
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
    if (chunks_left_.fetch_sub(1) == 1) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  std::uint64_t seen = 0;
  for (;;) {
    spin_until([&] { return generation_.load() != seen; });
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
