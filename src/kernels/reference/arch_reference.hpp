// The CPU reference of the ops that architectures beyond llama need (kernels/ops_arch.hpp): plain
// loops in double, rounded once, the ground truth the shaders and the CPU backend are judged by.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/reference/attention_reference.hpp"

namespace crossgpu::reference {

// y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))); y may be x.
void gelu_tanh(std::span<const float> x, std::span<float> y);
// y = cap * tanh(x / cap); y may be x.
void softcap(std::span<const float> x, std::span<float> y, float cap);

struct RopeFreqs {
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  bool neox = false;
  std::span<const float> factors;  // head_dim / 2 divisors of the pairs' frequencies
};

// rope() with pair i of a head at position p turning by
// p * freq_scale * freq_base^(-2i / head_dim) / factors[i]; `pairs` of one head.
void rope_freqs_head(std::span<float> head, std::uint64_t position, const RopeFreqs& rope,
                     std::uint64_t pairs);
void rope_freqs(std::span<float> x, std::uint64_t tokens, std::uint64_t heads, std::uint64_t head_dim,
                std::uint64_t start_pos, const RopeFreqs& rope);

// attention() where query token t (position p = start_pos + t) sees positions
// [max(0, p + 1 - window), p] (window 0: all), and each score s = scale * q . k becomes
// softcap * tanh(s / softcap) when softcap > 0.
void attention_window(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                      std::span<float> out, const AttentionDims& dims, float scale, std::uint64_t window,
                      float softcap);

}  // namespace crossgpu::reference
