// The slowdown re-plan policy (sched/slowdown_watch.hpp) on synthetic timing sequences: when it
// asks for a re-plan, and that noise, spikes, a busy machine and flapping devices never make it.
#include <gtest/gtest.h>

#include <vector>

#include "core/error.hpp"
#include "sched/slowdown_watch.hpp"

namespace crossgpu::sched {
namespace {

// Three stages predicted at 2, 4 and 2 ms per step.
const std::vector<double> kPredicted = {0.002, 0.004, 0.002};

SlowdownPolicy policy() {
  return {.slow_ratio = 2.0, .clear_ratio = 1.5, .sustained = 6, .warmup = 2, .min_interval_seconds = 10,
          .min_gain = 0.25};
}

// One step: every stage on time, scaled by `ratio[i]`.
std::vector<double> step(std::vector<double> ratio) {
  for (std::size_t i = 0; i < ratio.size(); ++i) ratio[i] *= kPredicted[i];
  return ratio;
}

// Feeds `steps` steps 0.01 s apart from `t`; returns the index of the first that asked for a
// re-plan (-1: none) and the stages it named.
struct Fed {
  int first = -1;
  std::vector<SlowStage> slow;
};
Fed feed(SlowdownWatch& w, const std::vector<std::vector<double>>& steps, double& t) {
  Fed out;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    t += 0.01;
    std::vector<SlowStage> slow = w.observe(step(steps[k]), t);
    if (!slow.empty() && out.first < 0) {
      out.first = static_cast<int>(k);
      out.slow = std::move(slow);
    }
  }
  return out;
}

std::vector<std::vector<double>> repeat(std::vector<double> ratios, int n) { return {static_cast<std::size_t>(n), ratios}; }

std::vector<std::vector<double>> operator+(std::vector<std::vector<double>> a, const std::vector<std::vector<double>>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(ReplanPolicy, StagesOnTimeNeverAskForAReplan) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  EXPECT_EQ(feed(w, repeat({1.0, 1.2, 0.9}, 200), t).first, -1);
  EXPECT_FALSE(w.suspicious());
}

TEST(ReplanPolicy, ASustainedSlowdownOfOneStageAsksAfterTheSustainedCount) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  const Fed fed = feed(w, repeat({1, 1, 1}, 10) + repeat({1, 5, 1}, 20), t);
  // The 6th slow step in a row (index 10 + 5) asks; the stage is named with its median ratio.
  EXPECT_EQ(fed.first, 15);
  ASSERT_EQ(fed.slow.size(), 1u);
  EXPECT_EQ(fed.slow[0].stage, 1u);
  EXPECT_DOUBLE_EQ(fed.slow[0].ratio, 5.0);
  EXPECT_DOUBLE_EQ(fed.slow[0].measured, 0.020);
  EXPECT_DOUBLE_EQ(fed.slow[0].predicted, 0.004);
}

TEST(ReplanPolicy, TheWarmupAfterAPlanIsIgnored) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  // Slow from the first step: the 2 warm-up steps do not count, so the 8th step asks.
  EXPECT_EQ(feed(w, repeat({1, 9, 1}, 20), t).first, 7);
}

TEST(ReplanPolicy, SpikesAndOneFastStepInAStreakDoNotAsk) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  std::vector<std::vector<double>> spiky;
  for (int k = 0; k < 100; ++k) spiky.push_back(k % 4 == 0 ? std::vector<double>{1, 30, 1} : std::vector<double>{1, 1, 1});
  EXPECT_EQ(feed(w, spiky, t).first, -1);
  // Five slow, one on time, five slow: the streak starts again and never reaches six.
  const auto broken = repeat({1, 4, 1}, 5) + repeat({1, 1, 1}, 1) + repeat({1, 4, 1}, 5);
  EXPECT_EQ(feed(w, broken, t).first, -1);
}

// A device that flaps between slow and on time (throttling that comes and goes every few
// tokens) must not make plans flap: no re-plan at all.
TEST(ReplanPolicy, AFlappingDeviceNeverAsks) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  std::vector<std::vector<double>> flapping;
  for (int k = 0; k < 300; ++k) flapping.push_back((k / 4) % 2 == 0 ? std::vector<double>{1, 6, 1} : std::vector<double>{1, 1, 1});
  EXPECT_EQ(feed(w, flapping, t).first, -1);
}

TEST(ReplanPolicy, TheHysteresisBandNeitherAddsNorClears) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  // Slow, then hovering at 1.8x (between clear 1.5 and slow 2.0), then slow again: the streak
  // survives the band and completes. With a clear (1.0x) in the middle instead, it starts over.
  EXPECT_EQ(feed(w, repeat({1, 1, 1}, 2) + repeat({1, 3, 1}, 3) + repeat({1, 1.8, 1}, 10) + repeat({1, 3, 1}, 3), t).first,
            17);
  SlowdownWatch v(policy(), kPredicted, t);
  EXPECT_EQ(feed(v, repeat({1, 1, 1}, 2) + repeat({1, 3, 1}, 3) + repeat({1, 1.0, 1}, 1) + repeat({1, 3, 1}, 3), t).first,
            -1);
}

TEST(ReplanPolicy, AMachineBusyAsAWholeDoesNotAsk) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  // Every stage 3-4x slower (a build on the same cores): moving layers would not help.
  EXPECT_EQ(feed(w, repeat({3, 4, 3.5}, 100), t).first, -1);
  // One stage much slower than the busy others still stands out: 16x against 3x.
  EXPECT_EQ(feed(w, repeat({3, 16, 3}, 10), t).first, 5);
}

TEST(ReplanPolicy, ASingleStagePlanComparesWithItsPrediction) {
  double t = 0;
  SlowdownWatch w(policy(), {0.010}, t);
  for (int k = 0; k < 7; ++k) EXPECT_TRUE(w.observe(std::vector<double>{0.025}, t += 0.01).empty()) << k;
  const auto slow = w.observe(std::vector<double>{0.025}, t += 0.01);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_DOUBLE_EQ(slow[0].ratio, 2.5);
}

TEST(ReplanPolicy, AfterADecisionTheNextWaitsForTheInterval) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  ASSERT_EQ(feed(w, repeat({1, 5, 1}, 8), t).first, 7);
  w.declined(t);
  EXPECT_FALSE(w.suspicious());
  // Still slow: the streak fills again, but nothing is asked within 10 s of the decision.
  EXPECT_EQ(feed(w, repeat({1, 5, 1}, 900), t).first, -1);  // 9 s
  EXPECT_TRUE(w.suspicious());
  const Fed later = feed(w, repeat({1, 5, 1}, 200), t);
  EXPECT_NEAR(later.first, 99, 1);  // the first step 10 s after the decline
  // A re-plan taken: new predictions, the interval restarts from it.
  w.replanned({0.002, 0.002, 0.002, 0.002}, t);
  std::vector<std::vector<double>> slow4(900, std::vector<double>{0.002, 0.002, 0.030, 0.002});
  for (const auto& s : slow4) EXPECT_TRUE(w.observe(s, t += 0.01).empty());
  std::vector<SlowStage> asked;
  for (int k = 0; k < 200 && asked.empty(); ++k) asked = w.observe(slow4[0], t += 0.01);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].stage, 2u);
  EXPECT_DOUBLE_EQ(asked[0].ratio, 15.0);
}

TEST(ReplanPolicy, TwoSlowStagesAreBothNamed) {
  double t = 0;
  SlowdownWatch w(policy(), kPredicted, t);
  const Fed fed = feed(w, repeat({6, 1, 4}, 10), t);
  ASSERT_EQ(fed.slow.size(), 2u);
  EXPECT_EQ(fed.slow[0].stage, 0u);
  EXPECT_EQ(fed.slow[1].stage, 2u);
}

TEST(ReplanPolicy, ANewPlanIsTakenOnlyWhenMeaningfullyFaster) {
  const SlowdownPolicy p = policy();
  EXPECT_TRUE(worth_replanning(0.040, 0.010, p));
  EXPECT_TRUE(worth_replanning(0.040, 0.030, p));
  EXPECT_FALSE(worth_replanning(0.040, 0.031, p));
  EXPECT_FALSE(worth_replanning(0.040, 0.040, p));
  EXPECT_FALSE(worth_replanning(0.040, 0.050, p));
}

TEST(ReplanPolicy, DeratingMakesTheSolverMoveLayersAwayFromTheSlowDevice) {
  PlacementProblem problem;
  problem.context_tokens = 16;
  for (int l = 0; l < 8; ++l) problem.layers.push_back({.weight_bytes = 1 << 20, .flops_per_token = 2e6});
  for (const char* name : {"a", "b", "c"}) {
    problem.devices.push_back(
        {.id = name, .name = name, .memory_bytes = 6u << 20, .flops_per_second = 1e10, .bytes_per_second = 1e9, .request_seconds = 1e-4});
  }
  problem.devices[1].bytes_per_second = 2e9;  // b is the fastest: the plan puts most layers on it
  const Plan before = place(problem);
  bool b_used = false;
  for (const Stage& s : before.stages) b_used = b_used || s.device == 1;
  ASSERT_TRUE(b_used);
  PlacementProblem slow = problem;
  derate(slow, 1, 10);
  EXPECT_DOUBLE_EQ(slow.devices[1].bytes_per_second, 2e8);
  EXPECT_DOUBLE_EQ(slow.devices[1].request_seconds, 1e-3);
  Plan current = before;
  const double current_seconds = evaluate(slow, current);
  const Plan after = place(slow);
  for (const Stage& s : after.stages) EXPECT_NE(s.device, 1u) << "the slow device kept layers";
  EXPECT_TRUE(worth_replanning(current_seconds, after.seconds_per_token, policy()));
}

TEST(ReplanPolicy, MalformedInputIsRefused) {
  double t = 0;
  EXPECT_THROW(SlowdownWatch({.slow_ratio = 1.2, .clear_ratio = 1.5}, kPredicted, t), Error);
  EXPECT_THROW(SlowdownWatch({.sustained = 0}, kPredicted, t), Error);
  EXPECT_THROW(SlowdownWatch({.min_gain = 1.0}, kPredicted, t), Error);
  EXPECT_THROW(SlowdownWatch(policy(), {0.001, -1.0}, t), Error);
  SlowdownWatch w(policy(), kPredicted, t);
  EXPECT_THROW(w.observe(std::vector<double>{0.001}, t), Error);
  PlacementProblem p;
  p.devices.resize(1);
  EXPECT_THROW(derate(p, 1, 2), Error);
  EXPECT_THROW(derate(p, 0, 0.5), Error);
}

}  // namespace
}  // namespace crossgpu::sched
