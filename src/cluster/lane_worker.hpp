// A thread kept for a data-channel lane, which runs that lane's share of each transfer. A thread
// started per lane per transfer costs tens of microseconds to create and join, a visible part of
// a 1 MiB transfer split four ways; a parked thread is woken in a few. One job at a time; the job
// must not throw (DataChannelClient wraps each share so that it returns its error instead).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace crossgpu::cluster {

class LaneWorker {
 public:
  LaneWorker() : thread_([this] { loop(); }) {}
  ~LaneWorker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  LaneWorker(const LaneWorker&) = delete;
  LaneWorker& operator=(const LaneWorker&) = delete;

  // Hands `job` to the thread; the previous job must have finished (wait()).
  void start(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      job_ = std::move(job);
    }
    changed_.notify_all();
  }

  // Returns once the job handed to start() has run.
  void wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !job_; });
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || job_; });
      if (!job_) return;  // stopping, nothing left to run
      lock.unlock();
      job_();
      lock.lock();
      job_ = nullptr;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::function<void()> job_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace crossgpu::cluster
