// Planning a model onto devices, shared by `crossgpu plan`, `crossgpu run` and `crossgpu demo`:
// each candidate device is profiled (from the profile cache for local devices), self-tested,
// scored from its condition, and placement picks the devices, their order and their layers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "runtime/candidate.hpp"
#include "sched/from_telemetry.hpp"
#include "sched/placement.hpp"

namespace crossgpu::runtime {

struct PlanOptions {
  std::uint32_t context = 512;
  double headroom = 0.10;
  std::uint32_t max_batch = 32;
};

struct ModelPlan {
  sched::PlacementProblem problem;
  sched::Plan plan;
  std::vector<Candidate> devices;      // problem.devices[i] describes devices[i]
  std::vector<std::string> excluded;   // "<label>: <reason>" for devices left out before placing
  // The same problem under the other systems' rules, for comparison (absent when they don't fit).
  std::vector<sched::Plan> baselines;
};

// Local candidates are profiled here (through the profile cache) and scored from this machine's
// sensors. Remote ones take what their own node measured and published (`cluster`, from the
// cluster's telemetry): a remote device without such a profile is left out with the reason.
// Throws Errc::out_of_memory (naming the shortfall, and the devices left out before placing with
// the reason of each) when no placement fits, and
// Errc::not_found when every device was excluded.
ModelPlan plan_model(const model::GgufFile& file, const model::LlamaConfig& config,
                     std::vector<Candidate> candidates, const PlanOptions& options,
                     const sched::PlacementInputs* cluster = nullptr);

// Every layer on `device`, nothing measured: the single-device run that others are checked
// against.
ModelPlan whole_model_on(Candidate device, const model::LlamaConfig& config);

// `plan`'s stages (the same layer ranges, so the same stage boundaries) all on `device`: with f16
// boundaries (runtime/hidden_wire.hpp), which round at the boundaries, the single-device run a
// split is checked against token for token.
ModelPlan same_split_on(Candidate device, const ModelPlan& plan);

nlohmann::json plan_json(const ModelPlan& plan);

}  // namespace crossgpu::runtime
