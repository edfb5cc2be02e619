// A model cut into stages on several devices, run token by token: the hidden states of a batch go
// from each stage's device straight to the next one's (between two nodes, node to node), the KV
// cache of each layer stays on its stage, and only the last stage's logits come back to the host.
// Also the timing of each stage and the bytes moved, for the run summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "model/llama_stage.hpp"

namespace crossgpu::model {

// Moves `bytes` from one stage's buffer to the next stage's. The default,
// crossgpu::copy_between_devices, works for any two devices; the cluster passes one that copies
// node to node when both are remote.
using ActivationMover = std::function<void(BufferRef src, BufferRef dst, std::uint64_t bytes)>;

struct StageStats {
  double seconds = 0;               // wall time in this stage's forward passes (wait included)
  double transfer_seconds = 0;      // moving its output to the next stage (for a remote stage,
                                    // its compute too: both travel in one request)
  std::uint64_t bytes_out = 0;      // hidden-state bytes sent to the next stage
  std::uint64_t passes = 0;
};

class Pipeline {
 public:
  // Stages in order; the first embeds, the last outputs, layers contiguous (checked).
  Pipeline(const LlamaConfig& config, std::vector<std::unique_ptr<LlamaStage>> stages,
           ActivationMover mover = {});

  // Runs `ids` (at most max_batch) at position `pos` of sequence slot `slot` through every stage
  // and returns the logits of the last id. Throws Errc::out_of_range past the context.
  std::span<const float> forward(std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot = 0);

  // Runs one batch made of several sequences' rows (LlamaStage::forward_rows: `ids` holds the
  // parts' tokens one after the other) through every stage; the hidden states of all rows move
  // between stages as one prefill batch's do. Returns parts.size() rows of vocab() logits, each
  // part's last token's, in the parts' order (valid until the next call).
  std::span<const float> forward_rows(std::span<const std::uint32_t> ids, std::span<const SequenceRows> parts);

  const std::vector<std::unique_ptr<LlamaStage>>& stages() const noexcept { return stages_; }
  const std::vector<StageStats>& stats() const noexcept { return stats_; }
  void reset_stats();
  std::uint32_t max_batch() const noexcept;
  std::uint32_t context() const noexcept;  // per sequence slot
  std::uint32_t max_sequences() const noexcept;
  // Whether a decode step of several sequences in one forward_rows pass beats one recorded
  // decode pass per sequence on every stage's device. Not on a Vulkan device that is a CPU
  // (lavapipe): there the op-by-op batched pass measured slower than the recorded step times the
  // sequences, so a scheduler steps each sequence alone.
  bool batched_decode_pays() const noexcept;
  const LlamaConfig& config() const noexcept { return config_; }

 private:
  LlamaConfig config_;
  std::vector<std::unique_ptr<LlamaStage>> stages_;
  ActivationMover mover_;
  std::vector<StageStats> stats_;
  std::vector<float> logits_;
};

}  // namespace crossgpu::model
