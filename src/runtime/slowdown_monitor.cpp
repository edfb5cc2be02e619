#include "runtime/slowdown_monitor.hpp"

#include <numeric>

#include "core/log.hpp"

namespace crossgpu::runtime {

// In front of the pipeline's own chain: a step it is asked to probe goes back to the pipeline,
// which runs it stage by stage (timing each) and tells the chain afterwards as usual.
class SlowdownMonitor::ProbingChain final : public model::DecodeChain {
 public:
  explicit ProbingChain(std::shared_ptr<model::DecodeChain> inner) : inner_(std::move(inner)) {}

  bool step(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
            std::span<float> logits, std::span<model::StageStats> stats) override {
    const bool chained = !probe_ && inner_ && inner_->step(pipeline, token, pos, slot, logits, stats);
    chained_ += chained ? 1 : 0;
    return chained;
  }
  // A greedy step the chain's last node may pick the token of; a probe goes back to the
  // pipeline, which then asks step() (above) and relays it.
  bool step_token(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                  std::uint32_t& next, std::span<model::StageStats> stats) override {
    if (probe_ || !inner_) return false;
    const bool chained = inner_->step_token(pipeline, token, pos, slot, next, stats);
    chained_ += chained ? 1 : 0;
    return chained;
  }
  // A sampled step (temperature > 0) the chain's last node may sample with the client's draw;
  // a probe goes back to the pipeline, as above.
  bool step_sample(model::Pipeline& pipeline, std::uint32_t token, std::uint32_t pos, std::uint32_t slot,
                   const model::SamplerOptions& sampling, double u, std::uint32_t& next,
                   std::span<model::StageStats> stats) override {
    if (probe_ || !inner_) return false;
    const bool chained = inner_->step_sample(pipeline, token, pos, slot, sampling, u, next, stats);
    chained_ += chained ? 1 : 0;
    return chained;
  }
  void stepped(model::Pipeline& pipeline, std::uint32_t pos, std::uint32_t slot,
               std::span<model::StageStats> stats) override {
    if (inner_) inner_->stepped(pipeline, pos, slot, stats);
  }

  // Whether the passes up to the monitor's next decision are relayed stage by stage (every pass
  // of a serve step that has several).
  void probe(bool on) noexcept { probe_ = on; }
  std::uint64_t chained_steps() const noexcept { return chained_; }

 private:
  std::shared_ptr<model::DecodeChain> inner_;
  bool probe_ = false;
  std::uint64_t chained_ = 0;  // steps the inner chain carried
};

SlowdownMonitor::SlowdownMonitor(sched::SlowdownPolicy policy, std::uint32_t probe_every)
    : policy_(policy), probe_every_(std::max<std::uint32_t>(1, probe_every)) {}

SlowdownMonitor::~SlowdownMonitor() = default;

double SlowdownMonitor::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
}

void SlowdownMonitor::attach(model::Pipeline& pipeline, const ModelPlan& plan) {
  pipeline_ = &pipeline;
  auto chain = std::make_shared<ProbingChain>(pipeline.decode_chain());
  pipeline.set_decode_chain(chain);
  chain_ = chain;
  predicted_.clear();
  for (const sched::Stage& s : plan.plan.stages) predicted_.push_back(s.compute_seconds + s.transfer_seconds);
  if (watch_) watch_->replanned(predicted_, now());
  else watch_ = std::make_unique<sched::SlowdownWatch>(policy_, predicted_, now());
  timing_ = false;
}

void SlowdownMonitor::start_generation() { timing_ = false; }

void SlowdownMonitor::declined() {
  if (watch_) watch_->declined(now());
}

void SlowdownMonitor::step_starting() {
  const std::shared_ptr<ProbingChain> chain = chain_.lock();
  if (pipeline_ == nullptr || !chain) return;
  before_ = pipeline_->stats();
  chained_before_ = chain->chained_steps();
  timing_ = true;
}

std::vector<sched::SlowStage> SlowdownMonitor::step_done(std::uint32_t passes) {
  const std::shared_ptr<ProbingChain> chain = chain_.lock();
  if (pipeline_ == nullptr || !chain || pipeline_->stats().size() != predicted_.size()) return {};
  const std::vector<model::StageStats>& stats = pipeline_->stats();
  const bool timed = timing_ && before_.size() == stats.size();
  const double per_pass = 1.0 / std::max<std::uint32_t>(1, passes);
  std::vector<double> measured(stats.size());
  for (std::size_t i = 0; timed && i < stats.size(); ++i) {
    measured[i] = per_pass * ((stats[i].seconds - before_[i].seconds) +
                              (stats[i].transfer_seconds - before_[i].transfer_seconds));
  }
  const bool chained = chain->chained_steps() != chained_before_;
  before_ = stats;
  chained_before_ = chain->chained_steps();
  timing_ = true;
  if (!timed) return {};
  ++steps_;
  std::vector<sched::SlowStage> slow;
  if (!chained) {
    slow = watch_->observe(measured, now());
    log::debug("slowdown watch: step {} measured/predicted {}", steps_, [&] {
      std::string ratios;
      for (std::size_t i = 0; i < measured.size(); ++i) ratios += fmt::format(" {:.2f}", measured[i] / predicted_[i]);
      return ratios;
    }());
  }
  // A chained step far slower than predicted as a whole, a streak going, or simply time for one:
  // the next step is relayed stage by stage, so the watch learns which stage it is.
  const double total = std::accumulate(measured.begin(), measured.end(), 0.0);
  const double expected = std::accumulate(predicted_.begin(), predicted_.end(), 0.0);
  chain->probe(total > policy_.slow_ratio * expected || watch_->suspicious() || steps_ % probe_every_ == 0);
  return slow;
}

}  // namespace crossgpu::runtime
