#include "model/sampler.hpp"

#include <cmath>

#include "core/error.hpp"
#include "kernels/reference/token_sampling.hpp"

namespace crossgpu::model {

std::uint32_t argmax(std::span<const float> logits) {
  if (logits.empty()) fail(Errc::invalid_argument, "sampling from an empty row of logits");
  std::size_t best = logits.size();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) continue;
    if (best == logits.size() || logits[i] > logits[best]) best = i;
  }
  if (best == logits.size()) fail(Errc::invalid_argument, "every logit is NaN: the model's output is broken");
  return static_cast<std::uint32_t>(best);
}

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {
  if (!std::isfinite(options.temperature) || options.temperature < 0) {
    fail(Errc::invalid_argument, "temperature must be a finite number >= 0, not {}", options.temperature);
  }
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    fail(Errc::invalid_argument, "top-p must be in (0, 1], not {}", options.top_p);
  }
}

void Sampler::skip(std::uint64_t samples) {
  if (options_.temperature != 0.0f) rng_.discard(samples);  // one draw per sampled token
}

double Sampler::draw() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

std::uint32_t Sampler::sample(std::span<const float> logits) {
  const std::uint32_t best = argmax(logits);  // refuses empty and all-NaN rows before a draw
  if (options_.temperature == 0.0f) return best;
  return pick(logits, options_, draw());
}

std::uint32_t Sampler::pick(std::span<const float> logits, const SamplerOptions& options, double u) {
  const std::uint32_t best = argmax(logits);
  if (options.temperature == 0.0f) return best;
  return reference::sample_token(logits, {.temperature = options.temperature, .top_k = options.top_k,
                                          .top_p = options.top_p},
                                 u);
}

}  // namespace crossgpu::model
