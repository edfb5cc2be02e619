// The node's side of a decode chain (docs/PROTOCOL.md, "Decode chains"): one remote stage's
// decode step, set up once by the client in its session (SetupChain), then run per token when
// the step's input arrives, from the client (chain step) or from the previous stage's node
// (chain forward). The result goes straight to the next stage's node, or, at the last stage,
// waits here for the client's await. So a token costs one message per stage boundary plus one,
// whatever the number of stages: the hidden state never returns to the client between stages.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster/session.hpp"
#include "core/error.hpp"
#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {

// Where a chain's result goes when it is not the last stage: another member node's chain, with
// the write grant that node gave this one for that chain's input.
struct ChainHop {
  std::string node_id;
  std::uint64_t chain = 0;
  v1::WriteGrant grant;
};

// One stage's step, resolved against the session at setup (SetupChain checks it all): buffers
// and program are kept alive while the chain exists.
struct ChainStage {
  SessionBuffer position;  // 4 bytes at offset 0
  SessionBuffer input;     // [0, input_bytes)
  std::uint64_t input_handle = 0;  // its wire handle: what a chain forward's grant must name
  std::uint64_t input_bytes = 0;
  std::shared_ptr<const SessionProgram> program;
  SessionBuffer output;    // [0, output_bytes)
  std::uint64_t output_bytes = 0;
  std::optional<ChainHop> next;
  // On the wire as f16 (half the bytes; the device keeps f32): the input as it arrives, the
  // result as it leaves.
  bool input_f16 = false;
  bool output_f16 = false;

  std::uint64_t input_wire_bytes() const noexcept { return input_f16 ? input_bytes / 2 : input_bytes; }
  std::uint64_t output_wire_bytes() const noexcept { return output_f16 ? output_bytes / 2 : output_bytes; }
};

class StageChain {
 public:
  explicit StageChain(ChainStage stage) : stage_(std::move(stage)) {}

  const ChainStage& stage() const noexcept { return stage_; }

  // The step on `session`'s stream of the chain's device, in the order a Run would: the
  // position and `input` (input_wire_bytes) written, the program replayed, the output read;
  // waits for it. Returns the result as it goes on the wire (output_wire_bytes).
  std::vector<std::byte> run(Session& session, std::uint32_t position,
                             std::span<const std::byte> input) const;

  // The last stage's result for `position` (replacing an older one), or the failure of the
  // step (this stage's or one passed on from an earlier stage), for the client's await.
  void deliver(std::uint32_t position, std::vector<std::byte> output);
  void deliver_failure(const Error& error);
  // Waits up to `patience` for the result of `position` and takes it; a delivered failure is
  // thrown (once); nullopt when neither came in time.
  std::optional<std::vector<std::byte>> await(std::uint32_t position,
                                              std::chrono::milliseconds patience);

 private:
  const ChainStage stage_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::optional<std::uint32_t> result_position_;  // under mutex_
  std::vector<std::byte> result_;                 // under mutex_
  std::optional<Error> failure_;                  // under mutex_
};

// The most chains one session keeps (a chain per remote stage and sequence slot).
inline constexpr std::size_t kMaxChains = 256;

}  // namespace crossgpu::cluster
