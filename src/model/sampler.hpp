// Picks the next token from a row of logits: greedy (argmax), or seeded sampling with
// temperature, top-k and top-p (nucleus). The same seed and logits give the same tokens on every
// machine: the random numbers come from std::mt19937_64, whose output the standard fixes, turned
// into doubles by hand (the std distributions are implementation-defined).
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace crossgpu::model {

struct SamplerOptions {
  float temperature = 0.0f;  // 0: greedy
  std::uint32_t top_k = 40;  // 0: no limit
  float top_p = 0.95f;       // 1: no limit
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws Errc::invalid_argument for a negative or non-finite temperature or top_p outside (0, 1].
  explicit Sampler(SamplerOptions options = {});

  // Throws Errc::invalid_argument for empty logits or logits that are all NaN.
  // pick(logits, options(), draw()) at temperature > 0 (one draw per token), argmax at 0.
  std::uint32_t sample(std::span<const float> logits);

  // The uniform number in [0, 1) the next sampled token takes. A decode chain's last node
  // samples with it (Pipeline::forward_sampled), so the sequence of draws is the same wherever
  // a token is sampled.
  double draw();
  // The token `u` (a draw) picks from `logits` under `options`: the argmax at temperature 0,
  // else reference::sample_token. Throws as sample().
  static std::uint32_t pick(std::span<const float> logits, const SamplerOptions& options, double u);

  const SamplerOptions& options() const noexcept { return options_; }

  // Moves on as if `samples` tokens had been sampled: a sequence resumed after `samples` tokens
  // (a run rebuilt on other devices) draws the same numbers as one never interrupted.
  void skip(std::uint64_t samples);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
};

// The index of the largest logit (the first on ties); NaN never wins.
std::uint32_t argmax(std::span<const float> logits);

}  // namespace crossgpu::model
