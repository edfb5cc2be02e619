#include "runtime/candidate_set.hpp"

#include <algorithm>

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

namespace {

bool names(const Candidate& candidate, const std::string& id) {
  return candidate.label == id || candidate.device->id() == id;
}

void check_names_some(const std::vector<Candidate>& candidates, const std::string& id) {
  for (const Candidate& c : candidates) {
    if (names(c, id)) return;
  }
  std::string known;
  for (const Candidate& c : candidates) known += (known.empty() ? "" : ", ") + c.label;
  fail(Errc::not_found, "no device '{}' to plan onto; the devices are: {}", id, known);
}

}  // namespace

void CandidateSet::choose(const DeviceChoice& choice) {
  for (const std::string& id : choice.only) check_names_some(candidates_, id);
  for (const std::string& id : choice.excluded) check_names_some(candidates_, id);
  std::vector<Candidate> kept;
  for (const Candidate& c : candidates_) {
    const auto named = [&](const std::string& id) { return names(c, id); };
    const bool wanted = choice.only.empty() || std::any_of(choice.only.begin(), choice.only.end(), named);
    const bool dropped = std::any_of(choice.excluded.begin(), choice.excluded.end(), named);
    if (wanted && !dropped) kept.push_back(c);
  }
  if (kept.empty()) fail(Errc::invalid_argument, "--device and --exclude-device leave no device to plan onto");
  candidates_ = std::move(kept);
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
