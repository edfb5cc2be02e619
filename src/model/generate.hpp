// Text generation over a Pipeline: the prompt is run in batches (prefill), then one token at a
// time (decode), each new token handed to a callback as soon as it is sampled.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/pipeline.hpp"
#include "model/sampler.hpp"

namespace crossgpu::model {

struct GenerateOptions {
  std::uint32_t max_tokens = 64;
  SamplerOptions sampler;
  // Generation stops after a token for which this returns true (end of generation), if set.
  std::function<bool(std::uint32_t)> is_end;
  // Each generated token, as soon as it is known. Return false to stop early.
  std::function<bool(std::uint32_t)> on_token;
  // Each forward pass's logits (for tests comparing backends).
  std::function<void(std::span<const float>)> on_logits;
  // Prompt tokens whose keys and values the pipeline's KV caches already hold at their positions
  // (the start of the sequence run before: the next turn of a chat). Prefill starts after them;
  // at least the last prompt token is run again, for its logits. The caller vouches that the
  // caches hold exactly these tokens.
  std::uint32_t cached_prefix = 0;
  // Tokens this sequence already sampled before (the tail of `prompt`, when a run resumes on
  // rebuilt stages): the sampler skips their random draws, so a seeded run continues as if it had
  // never stopped.
  std::uint32_t sampled_before = 0;
  // The pipeline's KV-cache slot this sequence runs in (Pipeline::max_sequences()).
  std::uint32_t slot = 0;
};

struct GenerateResult {
  std::vector<std::uint32_t> tokens;  // generated, not including the prompt
  std::uint32_t prompt_tokens = 0;
  std::uint32_t cached_tokens = 0;    // prompt tokens not run again (GenerateOptions::cached_prefix)
  double prefill_seconds = 0;
  double decode_seconds = 0;          // from the first sampled token to the last
  std::uint64_t decode_passes = 0;
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

// Runs prompt[from..] into `slot` at its positions, in batches of the pipeline's max_batch, and
// returns the logits of the prompt's last token (valid until the pipeline's next pass). `from`
// tokens are already in the slot's caches and must be fewer than the prompt's.
std::span<const float> prefill(Pipeline& pipeline, std::span<const std::uint32_t> prompt, std::uint32_t from,
                               std::uint32_t slot);

// Throws Errc::invalid_argument for an empty prompt and Errc::out_of_range when the prompt plus
// max_tokens does not fit the pipeline's context.
GenerateResult generate(Pipeline& pipeline, std::span<const std::uint32_t> prompt, const GenerateOptions& options);

}  // namespace crossgpu::model
