#include "model/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"

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

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

std::uint32_t Sampler::sample(std::span<const float> logits) {
  const std::uint32_t best = argmax(logits);
  if (options_.temperature == 0.0f) return best;

  // Candidates by descending logit (NaN dropped), cut to top-k.
  std::vector<std::uint32_t> order;
  order.reserve(logits.size());
  for (std::uint32_t i = 0; i < logits.size(); ++i) {
    if (!std::isnan(logits[i])) order.push_back(i);
  }
  const std::size_t k = options_.top_k == 0 ? order.size() : std::min<std::size_t>(options_.top_k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::uint32_t a, std::uint32_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  order.resize(k);

  // Softmax at the temperature, in double, the maximum subtracted.
  std::vector<double> p(k);
  const double top = logits[order[0]];
  for (std::size_t i = 0; i < k; ++i) p[i] = std::exp((logits[order[i]] - top) / options_.temperature);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);

  // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
  std::size_t keep = 0;
  double mass = 0;
  while (keep < k && (keep == 0 || mass < options_.top_p * total)) mass += p[keep++];

  double r = uniform() * mass;
  for (std::size_t i = 0; i < keep; ++i) {
    if (r < p[i]) return order[i];
    r -= p[i];
  }
  return order[keep - 1];  // rounding left r just above the last bucket
}

}  // namespace crossgpu::model
