// A thread-safe FIFO of PeerEvents: the simple way to move events from discovery's thread to the
// daemon's own loop (Discovery's callback pushes, the daemon pops).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "net/discovery/peer_event.hpp"

namespace crossgpu::discovery {

class PeerEventQueue {
 public:
  void push(PeerEvent event) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(event));
    }
    ready_.notify_all();
  }

  // The oldest event, waiting up to `timeout` for one; nullopt on timeout.
  std::optional<PeerEvent> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    PeerEvent event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<PeerEvent> events_;
};

}  // namespace crossgpu::discovery
