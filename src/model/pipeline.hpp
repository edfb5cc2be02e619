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
  // Network messages of this stage's single-token decode steps, and those steps (counted by the
  // runtime's DecodeChain; 0 without one): a remote stage relayed through this process costs a
  // request and its reply; a chained one the message that starts it (plus, at a chain's end,
  // the result's).
  std::uint64_t messages = 0;
  std::uint64_t message_steps = 0;
};

class Pipeline;
class Sampler;
struct SamplerOptions;

// A single-token decode step run another way than stage by stage from this process: the
// runtime's node-to-node chain (src/runtime/decode_chain.hpp), where each node passes the hidden
// state straight to the next. The model layer knows nothing of nodes; the pipeline only asks.
class DecodeChain {
 public:
  virtual ~DecodeChain() = default;
  // Runs the step of `token` at `pos` in `slot` through every stage and writes the logits to
  // `logits`, adding to `stats`; false when it cannot (nothing was done: the pipeline runs it).
  virtual bool step(Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                    std::span<float> logits, std::span<StageStats> stats) = 0;
  // Told after the pipeline ran a single-token step itself (a chain learns its setup from one).
  virtual void stepped(Pipeline& pipeline, std::uint32_t pos, std::uint32_t slot, std::span<StageStats> stats) = 0;
  // As step(), but only the greedy token is wanted (argmax of the logits, as model::argmax picks
  // it): the chain may have the last stage pick it where the logits are. False when it cannot.
  virtual bool step_token(Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                          std::uint32_t& next, std::span<StageStats> stats) {
    (void)pipeline, (void)token, (void)pos, (void)slot, (void)next, (void)stats;
    return false;
  }
  // As step_token(), but the next token is sampled under `sampling` (temperature > 0) with the
  // draw `u`, as Sampler::pick(logits, sampling, u) picks it: the chain may have the last stage
  // sample where the logits are. False when it cannot.
  virtual bool step_sample(Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                           const SamplerOptions& sampling, double u, std::uint32_t& next,
                           std::span<StageStats> stats) {
    (void)pipeline, (void)token, (void)pos, (void)slot, (void)sampling, (void)u, (void)next, (void)stats;
    return false;
  }
};

// A prompt's prefill run another way than batch after batch through every stage: the runtime's
// micro-batch pipeline over remote stages (src/runtime/prefill_pipeline.hpp), where stage k
// works on one micro-batch while stage k+1 works on the one before. The model layer only asks.
class PrefillRunner {
 public:
  virtual ~PrefillRunner() = default;
  // Runs the prompt tokens `ids` (any number, each in the vocabulary, within the context) at
  // `pos` of `slot` through every stage, writes the last token's logits to `logits` and adds to
  // `stats`; false when it cannot (the pipeline then runs them batch by batch, which rewrites
  // whatever KV entries it may have written with the same values).
  virtual bool prefill(Pipeline& pipeline, std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot,
                       std::span<float> logits, std::span<StageStats> stats) = 0;
};

class Pipeline {
 public:
  // Stages in order; the first embeds, the last outputs, layers contiguous (checked).
  Pipeline(const LlamaConfig& config, std::vector<std::unique_ptr<LlamaStage>> stages,
           ActivationMover mover = {});

  // Runs `ids` (at most max_batch) at position `pos` of sequence slot `slot` through every stage
  // and returns the logits of the last id. Throws Errc::out_of_range past the context.
  std::span<const float> forward(std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot = 0);
  // A single-token decode step whose logits nobody looks at: the greedy next token. Through the
  // decode chain when it can (the last node picks it, so the step's last message is the token),
  // else argmax(forward(...)).
  std::uint32_t forward_greedy(std::uint32_t token, std::uint32_t pos, std::uint32_t slot = 0);
  // A single-token decode step whose logits nobody looks at, its next token chosen by `sampler`
  // (one draw at temperature > 0, as sampler.sample would take): through the decode chain when
  // it can (the last node samples with the draw, so the step's last message is the token), else
  // Sampler::pick(forward(...), ..., the draw). Greedy at temperature 0 (forward_greedy).
  std::uint32_t forward_sampled(std::uint32_t token, std::uint32_t pos, std::uint32_t slot, Sampler& sampler);

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
  // Single-token decode steps go through `chain` first (none: stage by stage, as before).
  void set_decode_chain(std::shared_ptr<DecodeChain> chain) { chain_ = std::move(chain); }
  const std::shared_ptr<DecodeChain>& decode_chain() const noexcept { return chain_; }
  // A prompt's tokens at `pos` of `slot` through the prefill runner: the last token's logits
  // (valid until the next call), or empty when there is none or it declined (then run them with
  // forward(), batch by batch).
  std::span<const float> forward_prompt(std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot);
  void set_prefill_runner(std::shared_ptr<PrefillRunner> runner) { prefill_runner_ = std::move(runner); }
  const ActivationMover& mover() const noexcept { return mover_; }

 private:
  LlamaConfig config_;
  std::vector<std::unique_ptr<LlamaStage>> stages_;
  ActivationMover mover_;
  std::vector<StageStats> stats_;
  std::vector<float> logits_;
  std::shared_ptr<DecodeChain> chain_;
  std::shared_ptr<PrefillRunner> prefill_runner_;
};

}  // namespace crossgpu::model
