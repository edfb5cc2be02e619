// Events: a point in a stream's timeline. Waiting on an event also completes the host side of
// the work it marks (for a download, the copy into the caller's memory).
#pragma once

#include <chrono>
#include <memory>

namespace crossgpu {

class EventState {
 public:
  virtual ~EventState() = default;
  virtual bool ready() = 0;
  // Blocks until done; throws Error{timeout} after `timeout`, Error{device_lost} on loss.
  virtual void wait(std::chrono::nanoseconds timeout) = 0;
};

class Event {
 public:
  // 60 s, or CROSSGPU_WAIT_TIMEOUT_S (whole seconds) for slow targets: emulators (make
  // test-arm64 runs lavapipe under qemu) and devices that take long to finish big dispatches.
  static std::chrono::nanoseconds default_timeout();

  Event() = default;  // an already-complete event
  explicit Event(std::shared_ptr<EventState> state) : state_(std::move(state)) {}

  bool ready() const { return !state_ || state_->ready(); }
  void wait(std::chrono::nanoseconds timeout = default_timeout()) const {
    if (state_) state_->wait(timeout);
  }

 private:
  std::shared_ptr<EventState> state_;
};

}  // namespace crossgpu
