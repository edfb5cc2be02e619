// Planning a model onto candidates (runtime/model_plan.hpp): when no placement fits, the error
// names the shortfall and every device that was left out before placing, with its reason.
#include <gtest/gtest.h>

#include "model/demo_model.hpp"
#include "model/llama_config.hpp"
#include "runtime/model_plan.hpp"
#include "support/test_support.hpp"

namespace crossgpu::runtime {
namespace {

std::shared_ptr<Device> cpu_device() {
  for (const auto& d : testing::devices()) {
    if (d->properties().backend == Backend::cpu) return d;
  }
  return nullptr;
}

TEST(RuntimePlan, NoPlacementFitsNamesTheDevicesLeftOutAndWhy) {
  model::DemoModelSpec spec;
  spec.layers = 2;
  const auto bytes = model::demo_model(spec).bytes();
  const auto file = model::GgufFile::parse(bytes);
  const auto config = model::LlamaConfig::from_gguf(file);
  const auto cpu = cpu_device();
  ASSERT_TRUE(cpu);
  // One device too small for the model, and a node's device whose node published no telemetry.
  std::vector<Candidate> candidates = {
      {.device = cpu, .label = "small-cpu", .memory_limit = 1 << 20},
      {.device = cpu, .label = "node-b/gpu", .remote = true},
  };
  EXPECT_TRUE(testing::throws_errc([&] { plan_model(file, config, candidates, PlanOptions{}); }, Errc::out_of_memory,
                                   "left out before placing: node-b/gpu: excluded (its node has published no "
                                   "telemetry for it yet)"));
  // With nothing left out, the planner's own message stands alone.
  candidates.pop_back();
  EXPECT_TRUE(testing::throws_errc([&] { plan_model(file, config, candidates, PlanOptions{}); }, Errc::out_of_memory,
                                   "no placement fits"));
}

}  // namespace
}  // namespace crossgpu::runtime
