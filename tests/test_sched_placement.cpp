// Placement: feasibility, optimality against brute force, monotonicity, baselines.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

#include "core/error.hpp"
#include "sched/placement.hpp"
#include "sched/simulated_clusters.hpp"
#include "support/test_support.hpp"

namespace crossgpu::sched {
namespace {

constexpr std::uint64_t GiB = 1ull << 30, MiB = 1ull << 20;

PlacementProblem random_problem(std::mt19937& rng, std::size_t devices, std::size_t layers, bool with_links) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  PlacementProblem p;
  p.context_tokens = 512;
  p.memory_headroom = 0.1;
  for (std::size_t l = 0; l < layers; ++l) {
    p.layers.push_back({.weight_bytes = static_cast<std::uint64_t>((50 + 100 * unit(rng)) * MiB),
                        .kv_bytes_per_token = static_cast<std::uint64_t>(1 + 64 * unit(rng)) * 1024,
                        .flops_per_token = 1e8 + 1e9 * unit(rng),
                        .activation_bytes = 16384});
  }
  for (std::size_t d = 0; d < devices; ++d) {
    p.devices.push_back({.id = "d" + std::to_string(d),
                         .name = "device " + std::to_string(d),
                         .memory_bytes = static_cast<std::uint64_t>((0.2 + 1.2 * unit(rng)) * GiB),
                         .flops_per_second = 1e10 + 1e13 * unit(rng),
                         .bytes_per_second = 1e9 + 5e11 * unit(rng)});
  }
  if (with_links) {
    p.links.assign(devices, std::vector<Link>(devices));
    for (auto& row : p.links) {
      for (Link& l : row) l = {.latency_seconds = 1e-4 + 2e-3 * unit(rng), .bytes_per_second = 1e7 + 1e9 * unit(rng)};
    }
  }
  return p;
}

// Every ordered subset of devices and every split of the layers into that many contiguous runs.
std::optional<double> brute_force(const PlacementProblem& p) {
  const std::size_t D = p.devices.size(), L = p.layers.size();
  std::optional<double> best;
  std::vector<std::size_t> devices(D);
  std::iota(devices.begin(), devices.end(), 0);
  for (std::size_t mask = 1; mask < (std::size_t{1} << D); ++mask) {
    std::vector<std::size_t> chosen;
    for (std::size_t d = 0; d < D; ++d) {
      if (mask & (std::size_t{1} << d)) chosen.push_back(d);
    }
    const std::size_t k = chosen.size();
    if (k > L) continue;
    do {
      // Cut points: choose k-1 of the L-1 gaps.
      std::vector<bool> cut(L - 1, false);
      std::fill(cut.end() - static_cast<std::ptrdiff_t>(k - 1), cut.end(), true);
      do {
        Plan plan;
        std::size_t begin = 0, s = 0;
        for (std::size_t gap = 0; gap < L - 1; ++gap) {
          if (cut[gap]) {
            plan.stages.push_back({.device = chosen[s++], .first_layer = begin, .end_layer = gap + 1});
            begin = gap + 1;
          }
        }
        plan.stages.push_back({.device = chosen[s], .first_layer = begin, .end_layer = L});
        try {
          const double t = evaluate(p, plan);
          if (!best || t < *best) best = t;
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), Errc::out_of_memory) << e.what();
        }
      } while (std::next_permutation(cut.begin(), cut.end()));
    } while (std::next_permutation(chosen.begin(), chosen.end()));
  }
  return best;
}

void expect_feasible(const PlacementProblem& p, Plan plan) {
  const double claimed = plan.seconds_per_token;
  EXPECT_NO_THROW(evaluate(p, plan));  // contiguous, complete, fits memory
  EXPECT_NEAR(plan.seconds_per_token, claimed, 1e-12 + claimed * 1e-9);
}

TEST(Placement, EqualsBruteForceOnRandomSmallInstances) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  int compared = 0;
  for (int round = 0; round < 60; ++round) {
    const std::size_t D = 1 + rng() % 4, L = 2 + rng() % 7;
    const PlacementProblem p = random_problem(rng, D, L, round % 2 == 0);
    const std::optional<double> truth = brute_force(p);
    if (!truth) {
      EXPECT_THROW(place(p), Error);
      continue;
    }
    const Plan plan = place(p);
    EXPECT_EQ(plan.method, "exact");
    EXPECT_NEAR(plan.seconds_per_token, *truth, *truth * 1e-9) << "round " << round;
    expect_feasible(p, plan);
    ++compared;
  }
  EXPECT_GT(compared, 20) << "too few feasible random instances to mean anything";
}

TEST(Placement, OrderedSearchIsNeverWorseThanAnySingleDeviceAndAlwaysFeasible) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 20; ++round) {
    PlacementProblem p = random_problem(rng, 12, 40, true);
    SolveOptions options;
    options.exact_step_budget = 1e6;  // forces the large-cluster path
    Plan plan;
    try {
      plan = place(p, options);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::out_of_memory);
      continue;
    }
    expect_feasible(p, plan);
    for (std::size_t d = 0; d < p.devices.size(); ++d) {
      Plan single{.stages = {{.device = d, .first_layer = 0, .end_layer = p.layers.size()}}};
      try {
        EXPECT_LE(plan.seconds_per_token, evaluate(p, single) * (1 + 1e-12));
      } catch (const Error&) {
        // that device alone does not fit
      }
    }
  }
}

TEST(Placement, AddingADeviceNeverMakesThePlanSlower) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 40; ++round) {
    const bool large = round % 2 == 1;
    PlacementProblem p = random_problem(rng, large ? 10 : 4, large ? 30 : 8, false);
    SolveOptions options;
    if (large) options.exact_step_budget = 1e5;
    PlacementProblem smaller = p;
    smaller.devices.pop_back();
    double before;
    try {
      before = place(smaller, options).seconds_per_token;
    } catch (const Error&) {
      continue;  // the smaller cluster cannot hold the model at all
    }
    EXPECT_LE(place(p, options).seconds_per_token, before * (1 + 1e-12)) << "round " << round;
  }
}

// A remote device costs its request round trip per token: it is used only where it pays for it.
TEST(Placement, ADeviceWhoseRoundTripOutweighsItsHelpIsLeftOut) {
  PlacementProblem p;
  p.layers.assign(8, {.weight_bytes = 100000000, .flops_per_token = 1e8});
  p.devices = {{.name = "local", .memory_bytes = 4 * GiB, .flops_per_second = 1e12, .bytes_per_second = 1e11},
               {.name = "remote", .memory_bytes = 4 * GiB, .flops_per_second = 1e12, .bytes_per_second = 2e11,
                .request_seconds = 0.050}};
  // 8 ms on the local device alone; half the layers on the faster remote one would save 2 ms and
  // cost a 50 ms round trip.
  Plan plan = place(p);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].device, 0u);
  EXPECT_NEAR(plan.seconds_per_token, 0.008, 1e-9);
  // A round trip of 0.5 ms: now the faster remote device is worth it (all layers: 4 ms + 0.5 ms).
  p.devices[1].request_seconds = 0.0005;
  plan = place(p);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].device, 1u);
  EXPECT_NEAR(plan.seconds_per_token, 0.0045, 1e-9);
  // The local device too small for the model: the remote one is needed whatever its round trip
  // (alone: 4 ms + 50 ms beats half on each, 4 + 2 + 50 ms).
  p.devices[1].request_seconds = 0.050;
  p.devices[0].memory_bytes = 500 * MiB;
  plan = place(p);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].device, 1u);
  EXPECT_NEAR(plan.seconds_per_token, 0.054, 1e-9);
  p.devices[1].request_seconds = -1;
  EXPECT_THROW(place(p), Error);
}

TEST(Placement, FailsLoudlyWithTheReasonWhenNothingFits) {
  PlacementProblem p;
  p.layers.assign(10, {.weight_bytes = 1 * GiB, .flops_per_token = 1e9});
  p.devices = {{.name = "small", .memory_bytes = 4 * GiB, .flops_per_second = 1e12, .bytes_per_second = 1e11},
               {.name = "smaller", .memory_bytes = 2 * GiB, .flops_per_second = 1e12, .bytes_per_second = 1e11}};
  try {
    place(p);
    FAIL() << "an infeasible plan was returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::out_of_memory);
    EXPECT_NE(std::string(e.what()).find("needs 10.00 GiB"), std::string::npos) << e.what();
  }
}

TEST(Placement, RejectsMalformedProblems) {
  PlacementProblem p;
  EXPECT_THROW(place(p), Error);
  p.layers.assign(2, {.weight_bytes = MiB});
  p.devices = {{.name = "bad", .memory_bytes = GiB, .flops_per_second = 0, .bytes_per_second = 1e9}};
  EXPECT_THROW(place(p), Error);
  p.devices[0].flops_per_second = 1e9;
  p.links.assign(3, std::vector<Link>(3));
  EXPECT_THROW(place(p), Error);
}

// The heterogeneous cluster of docs/SCHEDULING.md: a desktop GPU, a laptop iGPU and a phone on
// Wi-Fi, running a 7B-class model that fits no single one of them.
const SimulatedCluster& home_cluster() {
  static const SimulatedCluster cluster = simulated_clusters().front();
  return cluster;
}

TEST(Placement, HeterogeneousClusterBeatsMemorySplitsAndTheBestSingleDevice) {
  const PlacementProblem& p = home_cluster().problem;
  const Plan plan = place(p);
  expect_feasible(p, plan);
  std::vector<std::uint64_t> free_memory;
  for (const auto& d : p.devices) free_memory.push_back(d.memory_bytes);
  const Plan exo = split_by_memory(p, home_cluster().total_memory, "memory-proportional");
  const Plan llama = split_by_memory(p, free_memory, "free-memory-proportional");
  EXPECT_LT(plan.seconds_per_token, exo.seconds_per_token);
  EXPECT_LT(plan.seconds_per_token, llama.seconds_per_token);
  // The whole model (6.25 GiB of weights + 2 GiB of KV cache) fits no single device here, so the
  // plan must split; the fast GPU must carry the most layers.
  EXPECT_GE(plan.stages.size(), 2u);
  std::size_t gpu_layers = 0;
  for (const Stage& s : plan.stages) {
    if (s.device == 0) gpu_layers = s.end_layer - s.first_layer;
  }
  for (const Stage& s : plan.stages) EXPECT_LE(s.end_layer - s.first_layer, gpu_layers);
}

TEST(Placement, LeavesASlowDeviceOutWhenItWouldOnlyAddTime) {
  PlacementProblem p = home_cluster().problem;
  p.layers.resize(16);  // fits the GPU alone
  const Plan plan = place(p);
  ASSERT_EQ(plan.stages.size(), 1u);
  EXPECT_EQ(plan.stages[0].device, 0u);
}

}  // namespace
}  // namespace crossgpu::sched
