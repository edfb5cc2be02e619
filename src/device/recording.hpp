// A Recording is a fixed sequence of kernel dispatches captured once from a stream and replayed
// on it many times (ggml's graph plan, Kompute's Sequence): the ops validate, split and bind at
// record time, and a replay costs one submission, whatever the number of dispatches. What
// changes from one replay to the next lives in buffers the kernels read (a position, a token
// id), written before the replay.
//
//   stream.begin_recording();
//   ops::matvec_weights(stream, ...);   // captured, not run
//   ops::rms_norm(stream, ...);
//   Recording program = stream.end_recording();
//   stream.replay(program).wait();      // runs both; again and again
//
// The buffers a recording binds must outlive it. Only dispatches can be recorded: transfers
// during a recording are Errc::invalid_argument. Backends that cannot record natively replay
// the captured dispatches one by one (correct, only not faster).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "device/kernel.hpp"

namespace crossgpu {

struct ResolvedRange;

// What a backend keeps of a recording.
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  virtual void add(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                   std::span<const std::byte> push, Groups groups) = 0;
  // Called once by end_recording, before the first replay.
  virtual void finish() {}
  std::size_t dispatches() const noexcept { return dispatches_; }

 protected:
  std::size_t dispatches_ = 0;
};

class Stream;

class Recording {
 public:
  Recording() = default;
  Recording(Recording&&) noexcept = default;
  Recording& operator=(Recording&&) noexcept = default;

  bool valid() const noexcept { return work_ != nullptr; }
  // Kernel dispatches per replay.
  std::size_t dispatches() const noexcept { return work_ ? work_->dispatches() : 0; }

 private:
  friend class Stream;
  Recording(std::unique_ptr<RecordedWork> work, const Stream* stream)
      : work_(std::move(work)), stream_(stream) {}
  std::unique_ptr<RecordedWork> work_;
  const Stream* stream_ = nullptr;
};

}  // namespace crossgpu
