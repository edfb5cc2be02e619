// Watching a running pipeline for a device that slowed down (issue 16): after every decode step,
// each stage's measured time goes to the slowdown policy (sched/slowdown_watch.hpp) next to
// what the plan predicted for it; the run asks the monitor after each token whether a re-plan
// is due.
//
// `crossgpu serve` decodes several sequences per step (one batched pass, or one pass each where
// batching does not pay) and prefills new requests between steps: it brackets each decode step
// with step_starting() / step_done(passes), so a prefill is never timed and a step's stage times
// are taken per pass. A batched pass of n rows costs every stage more than the single-token step
// the plan predicts, but alike, so the watch's test against the other stages keeps it from
// reading as a slowdown.
//
// A node-to-node decode chain times its stages only together (one message in, one out), which
// cannot say which device is slow. So the monitor stands in front of the pipeline's chain and
// has some steps relayed stage by stage instead ("probes"): one step in `probe_every`, and every
// step while some stage is under suspicion (a streak going, or a chained step far slower than
// predicted as a whole). A step with any chained pass is not observed. A probe costs the relay's extra messages for one step. Its tokens are
// those of a chained step when the chain carries hidden states as f32; with f16 hidden states
// on the wire (the chain's default) a relayed step can pick another token at a near tie, as the
// chain's learning steps after any reload can.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/pipeline.hpp"
#include "runtime/model_plan.hpp"
#include "sched/slowdown_watch.hpp"

namespace crossgpu::runtime {

class SlowdownMonitor {
 public:
  explicit SlowdownMonitor(sched::SlowdownPolicy policy = {}, std::uint32_t probe_every = 16);
  ~SlowdownMonitor();
  SlowdownMonitor(const SlowdownMonitor&) = delete;
  SlowdownMonitor& operator=(const SlowdownMonitor&) = delete;

  // Watches `pipeline`, built from `plan`, from now on (after every load, recovery or re-plan:
  // the predictions are the new plan's, the policy's interval restarts). `pipeline` must outlive
  // the watch or be followed by another attach().
  void attach(model::Pipeline& pipeline, const ModelPlan& plan);
  // Marks the start of a generation (its first step is a prefill, which is not timed).
  void start_generation();
  // After each generated token: the stages slow long enough for a re-plan to be due now.
  std::vector<sched::SlowStage> token_done() { return step_done(1); }
  // Serve: a decode step starts now (what ran since the last step, e.g. a prefill, is not timed).
  void step_starting();
  // After a decode step of `passes` forward passes (>= 1) through the pipeline: as token_done(),
  // with each stage's time taken per pass.
  std::vector<sched::SlowStage> step_done(std::uint32_t passes);
  // The caller looked for a faster plan and found none: wait the policy's interval.
  void declined();

  const sched::SlowdownPolicy& policy() const noexcept { return policy_; }

 private:
  class ProbingChain;
  double now() const;

  sched::SlowdownPolicy policy_;
  std::uint32_t probe_every_;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  model::Pipeline* pipeline_ = nullptr;
  // Owned by the pipeline alone: a chain holds resources on the nodes, freed with the pipeline.
  std::weak_ptr<ProbingChain> chain_;
  std::unique_ptr<sched::SlowdownWatch> watch_;
  std::vector<double> predicted_;
  std::vector<model::StageStats> before_;  // the pipeline's stats after the previous token
  std::uint64_t chained_before_ = 0;        // the chain's chained steps at the same moment
  bool timing_ = false;                    // before_ holds a decode step's start
  std::uint64_t steps_ = 0;
};

}  // namespace crossgpu::runtime
