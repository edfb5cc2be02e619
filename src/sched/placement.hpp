// Placement: which devices run a model, in which order, and which contiguous layer range each
// runs, minimizing the predicted time per generated token under every device's memory limit.
//
// Cost model (docs/SCHEDULING.md): a token passes every layer in order, so its time is the sum
// of the stages' compute times plus the activation transfers between consecutive stages. A
// layer on a device costs max(flops / device FLOP/s, weight bytes / device bytes/s): decode
// reads every weight once per token, so it is usually bandwidth-bound. A stage on a remote device
// also costs its device's request round trip per token (DeviceCapacity::request_seconds), so a
// device whose round trip outweighs what it computes is left out. A stage fits when its
// weights plus its KV cache for the context fit the device's memory minus the headroom.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace crossgpu::sched {

struct LayerCost {
  std::uint64_t weight_bytes = 0;       // read once per token, and held in memory
  std::uint64_t resident_bytes = 0;     // held in memory but not read per token (embedding table)
  std::uint64_t kv_bytes_per_token = 0;
  double flops_per_token = 0;
  std::uint64_t activation_bytes = 0;  // sent to the next stage per token when the stage ends here
};

// What placement knows of a device: measured, then weighted by its score (scoring.hpp).
struct DeviceCapacity {
  std::string id;
  std::string name;
  std::uint64_t memory_bytes = 0;  // free memory this device may use for the model
  double flops_per_second = 0;     // effective matmul/matvec throughput
  double bytes_per_second = 0;     // effective memory bandwidth
  // Per token, the request that reaches this device: a stage on a node's device costs one
  // round trip from the client each token (its input, replay and output travel in one request);
  // 0 for the client's own devices. Added to every stage the device runs.
  double request_seconds = 0;
};

struct Link {
  double latency_seconds = 0;
  double bytes_per_second = std::numeric_limits<double>::infinity();
};

struct PlacementProblem {
  std::vector<LayerCost> layers;
  std::vector<DeviceCapacity> devices;
  // links[a][b]: from device a to device b. Empty means every transfer is free (one machine).
  std::vector<std::vector<Link>> links;
  std::uint64_t context_tokens = 2048;
  double memory_headroom = 0.10;  // fraction of each device's memory left free
};

struct Stage {
  std::size_t device = 0;  // index into PlacementProblem::devices
  std::size_t first_layer = 0;
  std::size_t end_layer = 0;     // exclusive
  double compute_seconds = 0;    // per token
  double transfer_seconds = 0;   // per token, to the next stage (0 for the last)
  std::uint64_t memory_bytes = 0;
};

struct Plan {
  std::vector<Stage> stages;
  double seconds_per_token = 0;
  std::string method;  // "exact", "ordered", "memory-proportional", ...
};

struct SolveOptions {
  // The exact search costs about 2^D * D^2 * L^2 steps; above this it switches to the ordered
  // search (devices sorted by speed, any subset, O(D^2 * L^2)) and keeps the better of that and
  // the exact plan over the fastest devices that fit this budget.
  double exact_step_budget = 2e8;
};

// Throws Error{out_of_memory} naming the largest shortfall when no placement fits, and
// Error{invalid_argument} for a malformed problem (no layers, negative rates, bad link matrix).
Plan place(const PlacementProblem& problem, const SolveOptions& options = {});

// The individual searches, public for tests and benchmarks.
Plan place_exact(const PlacementProblem& problem, const std::vector<std::size_t>& devices);
Plan place_ordered(const PlacementProblem& problem, const std::vector<std::size_t>& order);

// Baselines from other systems, evaluated with the same cost model: every device gets a share
// of the layers proportional to its total memory (exo) or to its free memory (llama.cpp's
// default tensor split). Throw out_of_memory when the proportional split does not fit.
Plan split_by_memory(const PlacementProblem& problem, const std::vector<std::uint64_t>& weights,
                     const char* method);

// The time per token of any plan under the cost model; throws out_of_memory if a stage does not
// fit and invalid_argument if the stages do not cover the layers contiguously.
double evaluate(const PlacementProblem& problem, Plan& plan);

}  // namespace crossgpu::sched
