// A fixed pool of worker threads for data-parallel loops (the CPU backend's kernels).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace crossgpu {

class ThreadPool {
 public:
  // threads == 0 means one per hardware thread.
  explicit ThreadPool(std::size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const noexcept { return workers_.size() + 1; }

  // Runs body(begin, end) over [0, count) split into contiguous chunks of at least `grain`
  // items; the calling thread takes part. Returns when every chunk is done. The first exception
  // thrown by a chunk is rethrown here. Not reentrant: a body must not call parallel_for.
  void parallel_for(std::uint64_t count, std::uint64_t grain,
                    const std::function<void(std::uint64_t, std::uint64_t)>& body);

 private:
  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::mutex call_mutex_;  // one parallel_for at a time
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(std::uint64_t, std::uint64_t)>* body_ = nullptr;
  std::uint64_t count_ = 0, chunk_ = 0, next_ = 0, chunks_left_ = 0;
  std::uint64_t generation_ = 0;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace crossgpu
