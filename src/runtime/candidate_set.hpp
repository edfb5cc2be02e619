// The devices that `crossgpu plan` and `crossgpu run` plan a model onto, and whatever keeps them
// alive: this machine's registry (local), or the connections to the cluster's nodes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device/registry.hpp"
#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "runtime/candidate.hpp"
#include "runtime/model_plan.hpp"
#include "sched/from_telemetry.hpp"

namespace crossgpu::runtime {

class ClusterCandidates;

// Which candidates a plan may use (`--device` / `--exclude-device`): an id names a candidate by
// its label (what plans print: "<node>/<device>" for a node's device) or by its device's id.
struct DeviceChoice {
  std::vector<std::string> only;      // empty: every candidate
  std::vector<std::string> excluded;
};

class CandidateSet {
 public:
  // Every device of this machine's registry.
  static CandidateSet local();
  // The node at `node_address` and its healthy peers (ClusterCandidates). Throws
  // Errc::unsupported in a build without the network layers.
  static CandidateSet cluster(const std::string& node_address, const std::string& config_dir);

  const std::vector<Candidate>& candidates() const noexcept { return candidates_; }
  // Keeps the candidates `choice` allows, in their order. Errc::not_found for an id that names
  // no candidate (the message lists those that exist); Errc::invalid_argument when none is left.
  void choose(const DeviceChoice& choice);
  // Peers that were seen but could not be used; none for local devices.
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  // What the cluster's telemetry measured of the remote candidates, fetched now (plan_model's
  // `cluster`); nothing for local devices, which planning profiles itself.
  std::optional<sched::PlacementInputs> placement_inputs() const;

 private:
  // Declared before the candidates, which hold their devices: destroyed after them.
  std::unique_ptr<Registry> registry_;
  std::shared_ptr<ClusterCandidates> cluster_;  // shared: the type is complete only with the network
  std::vector<Candidate> candidates_;
  std::vector<std::string> warnings_;
};

// plan_model onto `devices`, with what the cluster's telemetry measured of the remote ones.
ModelPlan plan_model(const model::GgufFile& file, const model::LlamaConfig& config, const CandidateSet& devices,
                     const PlanOptions& options);

}  // namespace crossgpu::runtime
