// Pipelined prefill over remote stages (issue 14, docs/PROTOCOL.md "Pipelined prefill"). Run batch
// after batch, a prompt's prefill keeps one stage busy at a time: with S stages each device idles
// (S-1)/S of the prefill. Here the prompt is cut into micro-batches and every stage works at once:
// stage k runs micro-batch i while stage k+1 runs i-1. Each stage sees its micro-batches in order
// (its KV cache is written position after position, as batch after batch would), and only the
// last micro-batch's logits come back to this process.
//
// A hidden state goes from stage k's node straight to stage k+1's (a peer copy: node k sends the
// range over its own link, under a write grant node k+1 gave it), whatever its size: never
// through this process. With f16 stage boundaries node k rounds each value to f16 on the way
// (data-channel op peer_copy_f16), as a relayed boundary rounds it, so the numbers are those of
// the batch-after-batch prefill.
//
// This process drives one thread per stage: a stage's request (its micro-batch's work) and its
// hop to the next stage are its thread's; stage k+1's buffer takes micro-batch i only once stage
// k+1 has sent i-1 on (one buffer per stage, so the hop waits for the next stage to be free).
#pragma once

#include <cstdint>
#include <memory>

#include "model/pipeline.hpp"

namespace crossgpu::runtime {

struct PrefillPipelineOptions {
  // Tokens per micro-batch (at most the pipeline's max_batch). CROSSGPU_PREFILL_MICRO_BATCH
  // overrides it; a prompt of no more than one micro-batch runs as before.
  std::uint32_t micro_batch = 32;
};

// What the pipelined prefills did so far (a test reads it to see the micro-batches went node to
// node).
struct PrefillPipelineCounts {
  std::uint64_t prompts = 0;        // prefills run pipelined
  std::uint64_t micro_batches = 0;  // of those prompts
  std::uint64_t hops = 0;           // node-to-node copies of a micro-batch's hidden states
  std::uint64_t hop_bytes = 0;      // their f32 bytes (the wire carries them as f32 values)
  std::uint64_t declined = 0;       // prefills left to the batch-after-batch path after trying
};

class PrefillPipeline final : public model::PrefillRunner {
 public:
  explicit PrefillPipeline(PrefillPipelineOptions options) : options_(options) {}
  bool prefill(model::Pipeline& pipeline, std::span<const std::uint32_t> ids, std::uint32_t pos, std::uint32_t slot,
               std::span<float> logits, std::span<model::StageStats> stats) override;
  const PrefillPipelineCounts& counts() const noexcept { return counts_; }

 private:
  PrefillPipelineOptions options_;
  PrefillPipelineCounts counts_;
  bool off_ = false;  // a node refused a hop once: later prefills run batch after batch
};

// The runner for `pipeline`: null unless it has at least two stages, all remote, each on its own
// node, every node copying node to node (with f16 boundaries: rounding on the way,
// "data-peer-copy-f16"). CROSSGPU_PREFILL_PIPELINE=off gives null too.
std::shared_ptr<PrefillPipeline> prefill_pipeline_for(const model::Pipeline& pipeline,
                                                      PrefillPipelineOptions options = {});

}  // namespace crossgpu::runtime
