#include "sched/placement.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <tuple>

#include "core/error.hpp"

namespace crossgpu::sched {
namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

void validate(const PlacementProblem& p) {
  if (p.layers.empty()) fail(Errc::invalid_argument, "placement: the model has no layers");
  if (p.devices.empty()) fail(Errc::invalid_argument, "placement: no devices to place on");
  if (!(p.memory_headroom >= 0 && p.memory_headroom < 1)) {
    fail(Errc::invalid_argument, "placement: memory headroom {} is not in [0, 1)", p.memory_headroom);
  }
  for (const DeviceCapacity& d : p.devices) {
    if (!(d.flops_per_second > 0) || !(d.bytes_per_second > 0) || !std::isfinite(d.flops_per_second) ||
        !std::isfinite(d.bytes_per_second)) {
      fail(Errc::invalid_argument, "placement: device '{}' needs positive, finite FLOP/s and bytes/s", d.name);
    }
    if (!(d.request_seconds >= 0) || !std::isfinite(d.request_seconds)) {
      fail(Errc::invalid_argument, "placement: device '{}' needs a request time >= 0", d.name);
    }
  }
  if (!p.links.empty()) {
    if (p.links.size() != p.devices.size()) fail(Errc::invalid_argument, "placement: link matrix has the wrong size");
    for (const auto& row : p.links) {
      if (row.size() != p.devices.size()) fail(Errc::invalid_argument, "placement: link matrix is not square");
      for (const Link& l : row) {
        if (!(l.latency_seconds >= 0) || !(l.bytes_per_second > 0)) {
          fail(Errc::invalid_argument, "placement: links need latency >= 0 and bandwidth > 0");
        }
      }
    }
  }
}

// Prefix sums that make every stage's cost and memory O(1).
class CostTables {
 public:
  explicit CostTables(const PlacementProblem& p) : p_(p), layers_(p.layers.size()) {
    memory_.assign(layers_ + 1, 0);
    for (std::size_t l = 0; l < layers_; ++l) {
      const LayerCost& c = p.layers[l];
      memory_[l + 1] = memory_[l] + c.weight_bytes + c.resident_bytes + c.kv_bytes_per_token * p.context_tokens;
    }
    time_.resize(p.devices.size());
    for (std::size_t d = 0; d < p.devices.size(); ++d) {
      const DeviceCapacity& dev = p.devices[d];
      time_[d].assign(layers_ + 1, 0);
      for (std::size_t l = 0; l < layers_; ++l) {
        const LayerCost& c = p.layers[l];
        const double layer = std::max(c.flops_per_token / dev.flops_per_second,
                                      static_cast<double>(c.weight_bytes) / dev.bytes_per_second);
        time_[d][l + 1] = time_[d][l] + layer;
      }
    }
  }

  std::size_t layers() const { return layers_; }
  std::uint64_t memory(std::size_t begin, std::size_t end) const { return memory_[end] - memory_[begin]; }
  std::uint64_t capacity(std::size_t d) const {
    return static_cast<std::uint64_t>(static_cast<double>(p_.devices[d].memory_bytes) * (1.0 - p_.memory_headroom));
  }
  bool fits(std::size_t d, std::size_t begin, std::size_t end) const { return memory(begin, end) <= capacity(d); }
  // A stage's time per token: its layers, plus the request that reaches its device.
  double compute(std::size_t d, std::size_t begin, std::size_t end) const {
    return time_[d][end] - time_[d][begin] + (end > begin ? p_.devices[d].request_seconds : 0.0);
  }
  // Stage cost or infinity when it does not fit.
  double stage(std::size_t d, std::size_t begin, std::size_t end) const {
    return fits(d, begin, end) ? compute(d, begin, end) : infinity;
  }
  // Sending layer `last`'s activations from device a to device b.
  double transfer(std::size_t a, std::size_t b, std::size_t last) const {
    if (p_.links.empty()) return 0;
    const Link& link = p_.links[a][b];
    return link.latency_seconds + static_cast<double>(p_.layers[last].activation_bytes) / link.bytes_per_second;
  }

 private:
  const PlacementProblem& p_;
  std::size_t layers_;
  std::vector<std::uint64_t> memory_;
  std::vector<std::vector<double>> time_;
};

[[noreturn]] void fail_nothing_fits(const PlacementProblem& p, const CostTables& t) {
  std::uint64_t offered = 0, largest_device = 0, largest_layer = 0;
  for (std::size_t d = 0; d < p.devices.size(); ++d) {
    offered += t.capacity(d);
    largest_device = std::max(largest_device, t.capacity(d));
  }
  for (std::size_t l = 0; l < t.layers(); ++l) largest_layer = std::max(largest_layer, t.memory(l, l + 1));
  fail(Errc::out_of_memory,
       "no placement fits: the model needs {} (weights + KV cache for {} tokens), the {} device(s) "
       "offer {} after {:.0f}% headroom; the largest layer needs {}, the largest device offers {}",
       format_bytes(t.memory(0, t.layers())), p.context_tokens, p.devices.size(), format_bytes(offered),
       p.memory_headroom * 100, format_bytes(largest_layer), format_bytes(largest_device));
}

// A chain of (device, end layer) turned into a Plan, costed by evaluate().
Plan make_plan(const PlacementProblem& p, const std::vector<std::pair<std::size_t, std::size_t>>& chain,
               const char* method) {
  Plan plan;
  plan.method = method;
  std::size_t begin = 0;
  for (const auto& [device, end] : chain) {
    plan.stages.push_back(Stage{.device = device, .first_layer = begin, .end_layer = end});
    begin = end;
  }
  evaluate(p, plan);
  return plan;
}

// Devices by how fast they would run the whole model alone (fastest first); ties by index.
std::vector<std::size_t> by_speed(const PlacementProblem& p, const CostTables& t) {
  std::vector<std::size_t> order(p.devices.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return t.compute(a, 0, t.layers()) < t.compute(b, 0, t.layers());
  });
  return order;
}

}  // namespace

double evaluate(const PlacementProblem& p, Plan& plan) {
  validate(p);
  const CostTables t(p);
  if (plan.stages.empty()) fail(Errc::invalid_argument, "plan has no stages");
  std::size_t next = 0;
  double total = 0;
  std::vector<bool> used(p.devices.size(), false);
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    Stage& stage = plan.stages[s];
    if (stage.device >= p.devices.size() || used[stage.device]) {
      fail(Errc::invalid_argument, "plan stage {} names device {} twice or out of range", s, stage.device);
    }
    used[stage.device] = true;
    if (stage.first_layer != next || stage.end_layer <= stage.first_layer || stage.end_layer > t.layers()) {
      fail(Errc::invalid_argument, "plan stage {} covers [{}, {}), expected to start at {}", s,
           stage.first_layer, stage.end_layer, next);
    }
    stage.memory_bytes = t.memory(stage.first_layer, stage.end_layer);
    if (!t.fits(stage.device, stage.first_layer, stage.end_layer)) {
      fail(Errc::out_of_memory, "stage {} on '{}' needs {} but the device offers {}", s,
           p.devices[stage.device].name, format_bytes(stage.memory_bytes), format_bytes(t.capacity(stage.device)));
    }
    stage.compute_seconds = t.compute(stage.device, stage.first_layer, stage.end_layer);
    const bool last = s + 1 == plan.stages.size();
    stage.transfer_seconds = last ? 0 : t.transfer(stage.device, plan.stages[s + 1].device, stage.end_layer - 1);
    total += stage.compute_seconds + stage.transfer_seconds;
    next = stage.end_layer;
  }
  if (next != t.layers()) fail(Errc::invalid_argument, "plan covers {} of {} layers", next, t.layers());
  plan.seconds_per_token = total;
  return total;
}

Plan place_exact(const PlacementProblem& p, const std::vector<std::size_t>& devices) {
  validate(p);
  const CostTables t(p);
  const std::size_t k = devices.size(), L = t.layers();
  if (k == 0 || k > 20) fail(Errc::invalid_argument, "exact placement takes 1 to 20 devices, got {}", k);
  // best[mask][last][end]: fastest way to place layers [0, end) on exactly the devices in mask,
  // the last stage on devices[last].
  const std::size_t masks = std::size_t{1} << k;
  auto at = [&](std::size_t mask, std::size_t last, std::size_t end) { return (mask * k + last) * (L + 1) + end; };
  std::vector<double> best(masks * k * (L + 1), infinity);
  std::vector<std::uint32_t> from(best.size(), 0);  // packed (previous last, previous end)
  for (std::size_t e = 0; e < k; ++e) {
    for (std::size_t end = 1; end <= L; ++end) best[at(std::size_t{1} << e, e, end)] = t.stage(devices[e], 0, end);
  }
  for (std::size_t mask = 1; mask < masks; ++mask) {
    for (std::size_t last = 0; last < k; ++last) {
      if (!(mask & (std::size_t{1} << last))) continue;
      for (std::size_t begin = 1; begin < L; ++begin) {
        const double so_far = best[at(mask, last, begin)];
        if (so_far == infinity) continue;
        for (std::size_t e = 0; e < k; ++e) {
          if (mask & (std::size_t{1} << e)) continue;
          const double hop = so_far + t.transfer(devices[last], devices[e], begin - 1);
          const std::size_t next_mask = mask | (std::size_t{1} << e);
          for (std::size_t end = begin + 1; end <= L && t.fits(devices[e], begin, end); ++end) {
            const double cost = hop + t.compute(devices[e], begin, end);
            double& slot = best[at(next_mask, e, end)];
            if (cost < slot) {
              slot = cost;
              from[at(next_mask, e, end)] = static_cast<std::uint32_t>(last << 16 | begin);
            }
          }
        }
      }
    }
  }
  std::size_t best_mask = 0, best_last = 0;
  double best_cost = infinity;
  for (std::size_t mask = 1; mask < masks; ++mask) {
    for (std::size_t last = 0; last < k; ++last) {
      if (best[at(mask, last, L)] < best_cost) {
        best_cost = best[at(mask, last, L)];
        best_mask = mask;
        best_last = last;
      }
    }
  }
  if (best_cost == infinity) fail_nothing_fits(p, t);
  std::vector<std::pair<std::size_t, std::size_t>> chain;
  for (std::size_t mask = best_mask, last = best_last, end = L;;) {
    chain.emplace_back(devices[last], end);
    if (mask == (std::size_t{1} << last)) break;
    const std::uint32_t packed = from[at(mask, last, end)];
    const std::size_t prev_last = packed >> 16, prev_end = packed & 0xFFFF;
    mask &= ~(std::size_t{1} << last);
    last = prev_last;
    end = prev_end;
  }
  std::reverse(chain.begin(), chain.end());
  return make_plan(p, chain, "exact");
}

Plan place_ordered(const PlacementProblem& p, const std::vector<std::size_t>& order) {
  validate(p);
  const CostTables t(p);
  const std::size_t k = order.size(), L = t.layers();
  // best[pos][end]: layers [0, end) placed on a subsequence of `order` ending at position pos.
  std::vector<std::vector<double>> best(k, std::vector<double>(L + 1, infinity));
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> from(
      k, std::vector<std::pair<std::size_t, std::size_t>>(L + 1, {k, 0}));
  for (std::size_t q = 0; q < k; ++q) {
    for (std::size_t end = 1; end <= L && t.fits(order[q], 0, end); ++end) best[q][end] = t.compute(order[q], 0, end);
  }
  for (std::size_t pos = 0; pos < k; ++pos) {
    for (std::size_t begin = 1; begin < L; ++begin) {
      const double so_far = best[pos][begin];
      if (so_far == infinity) continue;
      for (std::size_t q = pos + 1; q < k; ++q) {
        const double hop = so_far + t.transfer(order[pos], order[q], begin - 1);
        for (std::size_t end = begin + 1; end <= L && t.fits(order[q], begin, end); ++end) {
          const double cost = hop + t.compute(order[q], begin, end);
          if (cost < best[q][end]) {
            best[q][end] = cost;
            from[q][end] = {pos, begin};
          }
        }
      }
    }
  }
  std::size_t best_pos = k;
  double best_cost = infinity;
  for (std::size_t q = 0; q < k; ++q) {
    if (best[q][L] < best_cost) {
      best_cost = best[q][L];
      best_pos = q;
    }
  }
  if (best_pos == k) fail_nothing_fits(p, t);
  std::vector<std::pair<std::size_t, std::size_t>> chain;
  for (std::size_t pos = best_pos, end = L; pos < k;) {
    chain.emplace_back(order[pos], end);
    std::tie(pos, end) = from[pos][end];
  }
  std::reverse(chain.begin(), chain.end());
  return make_plan(p, chain, "ordered");
}

Plan place(const PlacementProblem& p, const SolveOptions& options) {
  validate(p);
  const CostTables t(p);
  const std::vector<std::size_t> order = by_speed(p, t);
  const double L = static_cast<double>(t.layers());
  auto exact_steps = [&](std::size_t k) { return std::ldexp(1.0, static_cast<int>(k)) * k * k * L * L; };
  std::size_t exact_devices = 0;
  while (exact_devices < order.size() && exact_steps(exact_devices + 1) <= options.exact_step_budget) ++exact_devices;
  if (exact_devices == order.size()) return place_exact(p, order);
  // Large cluster: any subset in speed order, and the exact plan over the fastest few.
  std::optional<Plan> result;
  std::optional<Error> failure;
  auto consider = [&](auto&& solve) {
    try {
      Plan plan = solve();
      if (!result || plan.seconds_per_token < result->seconds_per_token) result = std::move(plan);
    } catch (const Error& e) {
      if (e.code() != Errc::out_of_memory) throw;
      failure = e;
    }
  };
  consider([&] { return place_ordered(p, order); });
  if (exact_devices > 0) {
    consider([&] {
      Plan plan = place_exact(p, std::vector<std::size_t>(order.begin(), order.begin() + exact_devices));
      plan.method = fmt::format("exact over the fastest {}", exact_devices);
      return plan;
    });
  }
  if (!result) throw *failure;
  return *result;
}

Plan split_by_memory(const PlacementProblem& p, const std::vector<std::uint64_t>& weights, const char* method) {
  validate(p);
  if (weights.size() != p.devices.size()) fail(Errc::invalid_argument, "one weight per device expected");
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  if (!(total > 0)) fail(Errc::invalid_argument, "split weights sum to zero");
  const std::size_t L = p.layers.size();
  std::vector<std::pair<std::size_t, std::size_t>> chain;
  double share = 0;
  std::size_t begin = 0;
  for (std::size_t d = 0; d < p.devices.size() && begin < L; ++d) {
    share += static_cast<double>(weights[d]) / total;
    const bool last = d + 1 == p.devices.size();
    std::size_t end = last ? L : static_cast<std::size_t>(std::llround(share * static_cast<double>(L)));
    end = std::min(end, L);
    if (end > begin) {
      chain.emplace_back(d, end);
      begin = end;
    }
  }
  return make_plan(p, chain, method);
}

}  // namespace crossgpu::sched
