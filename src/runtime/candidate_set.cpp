#include "runtime/candidate_set.hpp"

#include "core/error.hpp"
#if CROSSGPU_WITH_NETWORK
#include "runtime/cluster_candidates.hpp"
#endif

namespace crossgpu::runtime {

CandidateSet CandidateSet::local() {
  CandidateSet out;
  out.registry_ = std::make_unique<Registry>();
  for (const auto& d : out.registry_->devices()) out.candidates_.push_back({.device = d, .label = d->id()});
  return out;
}

CandidateSet CandidateSet::cluster(const std::string& node_address, const std::string& config_dir) {
#if CROSSGPU_WITH_NETWORK
  CandidateSet out;
  out.cluster_ = std::make_shared<ClusterCandidates>(node_address, config_dir);
  out.candidates_ = out.cluster_->candidates();
  out.warnings_ = out.cluster_->warnings();
  return out;
#else
  (void)node_address;
  (void)config_dir;
  // Worded for the `crossgpu` command, the one caller that offers the choice.
  fail(Errc::unsupported, "this build has no cluster support: use --local");
#endif
}

std::optional<sched::PlacementInputs> CandidateSet::placement_inputs() const {
#if CROSSGPU_WITH_NETWORK
  if (cluster_) return cluster_->placement_inputs();
#endif
  return std::nullopt;
}

ModelPlan plan_model(const model::GgufFile& file, const model::LlamaConfig& config, const CandidateSet& devices,
                     const PlanOptions& options) {
  const std::optional<sched::PlacementInputs> measured = devices.placement_inputs();
  return plan_model(file, config, devices.candidates(), options, measured ? &*measured : nullptr);
}

}  // namespace crossgpu::runtime
