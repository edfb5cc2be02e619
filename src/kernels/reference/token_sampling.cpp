#include "kernels/reference/token_sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"

namespace crossgpu::reference {

std::uint32_t sample_token(std::span<const float> logits, const TokenSampling& sampling, double u) {
  // Candidates by descending logit (NaN dropped), cut to top-k.
  std::vector<std::uint32_t> order;
  order.reserve(logits.size());
  for (std::uint32_t i = 0; i < logits.size(); ++i) {
    if (!std::isnan(logits[i])) order.push_back(i);
  }
  if (order.empty()) fail(Errc::invalid_argument, "sampling from a row of logits with no number in it");
  const std::size_t k = sampling.top_k == 0 ? order.size() : std::min<std::size_t>(sampling.top_k, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](std::uint32_t a, std::uint32_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  order.resize(k);

  // Softmax at the temperature, in double, the maximum subtracted.
  std::vector<double> p(k);
  const double top = logits[order[0]];
  for (std::size_t i = 0; i < k; ++i) p[i] = std::exp((logits[order[i]] - top) / sampling.temperature);
  const double total = std::accumulate(p.begin(), p.end(), 0.0);

  // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
  std::size_t keep = 0;
  double mass = 0;
  while (keep < k && (keep == 0 || mass < sampling.top_p * total)) mass += p[keep++];

  double r = u * mass;
  for (std::size_t i = 0; i < keep; ++i) {
    if (r < p[i]) return order[i];
    r -= p[i];
  }
  return order[keep - 1];  // rounding left r just above the last bucket
}

}  // namespace crossgpu::reference
