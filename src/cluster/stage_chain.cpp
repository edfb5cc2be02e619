#include "cluster/stage_chain.hpp"

#include "cluster/hidden_f16.hpp"

namespace crossgpu::cluster {

std::vector<std::byte> StageChain::run(Session& session, std::uint32_t position,
                                       std::span<const std::byte> input) const {
  std::vector<std::byte> widened;
  if (stage_.input_f16) {
    widened.resize(stage_.input_bytes);
    widen_from_f16(input.first(stage_.input_wire_bytes()), widened);
    input = widened;
  }
  std::vector<std::byte> output(stage_.output_bytes);
  {
    auto lock = session.lock();
    Stream& stream = session.stream(*stage_.program->device);
    stream.upload(stage_.input.ref, 0, input.first(stage_.input_bytes));
    stream.upload(stage_.position.ref, 0, std::as_bytes(std::span(&position, 1)));
    stream.replay(stage_.program->recording);
    stream.download(stage_.output.ref, 0, std::span(output));
    stream.synchronize();  // `input`, `position` and `output` live only in this call
  }
  return stage_.output_f16 ? narrow_to_f16(output) : output;
}

void StageChain::deliver(std::uint32_t position, std::vector<std::byte> output) {
  {
    std::lock_guard lock(mutex_);
    result_position_ = position;
    result_ = std::move(output);
    failure_.reset();
  }
  arrived_.notify_all();
}

void StageChain::deliver_failure(const Error& error) {
  {
    std::lock_guard lock(mutex_);
    failure_ = error;
    result_position_.reset();
  }
  arrived_.notify_all();
}

std::optional<std::vector<std::byte>> StageChain::await(std::uint32_t position,
                                                        std::chrono::milliseconds patience) {
  std::unique_lock lock(mutex_);
  arrived_.wait_for(lock, patience, [&] { return failure_ || result_position_ == position; });
  if (failure_) {
    Error failure = *failure_;
    failure_.reset();
    throw failure;
  }
  if (result_position_ != position) return std::nullopt;
  result_position_.reset();
  return std::move(result_);
}

}  // namespace crossgpu::cluster
