// Simulated heterogeneous clusters with published-spec-sized numbers, shared by the placement
// tests, the scheduling benchmark and the table in docs/SCHEDULING.md. Each comes with the
// total memory of its devices, which exo's memory-proportional split uses.
#pragma once

#include <string>
#include <vector>

#include "sched/placement.hpp"

namespace crossgpu::sched {

struct SimulatedCluster {
  std::string name;
  PlacementProblem problem;
  std::vector<std::uint64_t> total_memory;  // per device; problem.devices[i].memory_bytes is free memory
};

// A Llama-2-7B-class model at about 4.5 bits per weight: `layers` blocks of 200 MiB.
std::vector<LayerCost> llama7b_like(std::size_t layers = 32);

std::vector<SimulatedCluster> simulated_clusters();

}  // namespace crossgpu::sched
