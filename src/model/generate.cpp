#include "model/generate.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/error.hpp"

namespace crossgpu::model {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double GenerateResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? (prompt_tokens - cached_tokens) / prefill_seconds : 0;
}

double GenerateResult::decode_tokens_per_second() const {
  return decode_seconds > 0 ? decode_passes / decode_seconds : 0;
}

std::span<const float> prefill(Pipeline& pipeline, std::span<const std::uint32_t> prompt, std::uint32_t from,
                               std::uint32_t slot) {
  if (from >= prompt.size()) {
    fail(Errc::invalid_argument, "prefill from token {} of a prompt of {}: at least the last one must run", from,
         prompt.size());
  }
  // Over several remote stages the runtime pipelines the prompt in micro-batches.
  std::span<const float> logits = pipeline.forward_prompt(prompt.subspan(from), from, slot);
  if (!logits.empty()) return logits;
  std::uint32_t pos = from;
  while (pos < prompt.size()) {
    const std::size_t n = std::min<std::size_t>(pipeline.max_batch(), prompt.size() - pos);
    logits = pipeline.forward(prompt.subspan(pos, n), pos, slot);
    pos += static_cast<std::uint32_t>(n);
  }
  return logits;
}

GenerateResult generate(Pipeline& pipeline, std::span<const std::uint32_t> prompt, const GenerateOptions& options) {
  if (prompt.empty()) fail(Errc::invalid_argument, "the prompt has no tokens");
  if (prompt.size() + options.max_tokens > pipeline.context()) {
    fail(Errc::out_of_range, "{} prompt tokens + {} new tokens exceed the context of {} tokens", prompt.size(),
         options.max_tokens, pipeline.context());
  }
  Sampler sampler(options.sampler);
  sampler.skip(options.sampled_before);
  GenerateResult result;
  result.prompt_tokens = static_cast<std::uint32_t>(prompt.size());
  result.cached_tokens = std::min<std::uint32_t>(options.cached_prefix, result.prompt_tokens - 1);

  // Prefill: the prompt after its cached prefix, in batches; only the last batch's logits matter.
  const auto start = std::chrono::steady_clock::now();
  std::span<const float> logits = prefill(pipeline, prompt, result.cached_tokens, options.slot);
  auto pos = static_cast<std::uint32_t>(prompt.size());
  if (options.on_logits) options.on_logits(logits);
  result.prefill_seconds = seconds_since(start);

  // Decode: sample, hand out, feed back. With nobody looking at the logits, the pipeline picks
  // the next token itself (on a decode chain, the last node does, greedy or with the draw).
  const bool token_only = !options.on_logits;
  std::optional<std::uint32_t> picked;
  const auto decode_start = std::chrono::steady_clock::now();
  while (result.tokens.size() < options.max_tokens) {
    const std::uint32_t token = picked ? *picked : sampler.sample(logits);
    result.tokens.push_back(token);
    const bool keep_going = !options.on_token || options.on_token(token);
    if (!keep_going || (options.is_end && options.is_end(token))) break;
    if (result.tokens.size() == options.max_tokens) break;
    ++result.decode_passes;
    if (token_only) {
      picked = pipeline.forward_sampled(token, pos++, options.slot, sampler);
      continue;
    }
    logits = pipeline.forward(std::span(&token, 1), pos++, options.slot);
    if (options.on_logits) options.on_logits(logits);
  }
  result.decode_seconds = seconds_since(decode_start);
  return result;
}

}  // namespace crossgpu::model
