// Seeded sampling's pick of a token from a row of logits, given the uniform draw (model::Sampler
// draws it and calls this). It sits below the model layer so that a decode chain's last node
// (src/cluster) samples exactly as the client would: the same logits and the same draw give the
// same token. Deterministic: candidates are ordered by logit, ties by index; the softmax runs in
// double with the largest logit subtracted.
#pragma once

#include <cstdint>
#include <span>

namespace crossgpu::reference {

struct TokenSampling {
  float temperature = 1.0f;  // > 0 (temperature 0 is greedy: the caller takes the argmax)
  std::uint32_t top_k = 0;   // 0: no limit
  float top_p = 1.0f;        // in (0, 1]; 1: no limit
};

// The token that `u` (in [0, 1)) picks: among the top_k largest logits (NaN dropped), with
// probabilities softmax(logit / temperature), cut to the smallest prefix whose probability
// reaches top_p (at least one token), `u` scaled to that prefix's mass. Errc::invalid_argument
// when no logit is a number.
std::uint32_t sample_token(std::span<const float> logits, const TokenSampling& sampling, double u);

}  // namespace crossgpu::reference
