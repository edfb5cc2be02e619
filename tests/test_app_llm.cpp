// The model commands as a user runs them: `crossgpu demo --write-model`, `plan`, `run --local`,
// and the whole `crossgpu demo` (three node processes, discovery, telemetry, plan, pipeline),
// which must reproduce the tokens of a single-device CPU run.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

using Outcome = crossgpu::testing::CliOutcome;

Outcome crossgpu(const std::string& args) { return crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, args); }

class CrossgpuModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = (fs::temp_directory_path() / ("crossgpu-test-model-" + std::to_string(getpid()) + ".gguf")).string();
    const Outcome made = crossgpu("demo --write-model " + model_ + " --layers 3 --type q4_k");
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  static void TearDownTestSuite() { fs::remove(model_); }
  static std::string model_;
};
std::string CrossgpuModel::model_;

TEST_F(CrossgpuModel, PlanCoversEveryLayer) {
  const Outcome run = crossgpu("plan --local --model " + model_ + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto plan = nlohmann::json::parse(run.out);
  std::size_t next = 0;
  for (const auto& stage : plan["stages"]) {
    EXPECT_EQ(stage["first_layer"].get<std::size_t>(), next);
    next = stage["end_layer"].get<std::size_t>();
  }
  EXPECT_EQ(next, 3u);
  EXPECT_GT(plan["seconds_per_token"].get<double>(), 0);
}

TEST_F(CrossgpuModel, PlanTakesAndLeavesOutDevicesByTheirIds) {
  const Outcome all = crossgpu("plan --local --model " + model_ + " --json");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const std::string first = nlohmann::json::parse(all.out)["stages"][0]["device"].get<std::string>();
  const Outcome only = crossgpu("plan --local --model " + model_ + " --json --device '" + first + "'");
  ASSERT_EQ(only.exit_code, 0) << only.err;
  const nlohmann::json only_plan = nlohmann::json::parse(only.out);  // kept: the loop reads into it
  for (const auto& stage : only_plan["stages"]) EXPECT_EQ(stage["device"], first);
  const Outcome without = crossgpu("plan --local --model " + model_ + " --json --exclude-device '" + first + "'");
  if (without.exit_code == 0) {  // another device can hold the model
    const nlohmann::json without_plan = nlohmann::json::parse(without.out);
    for (const auto& stage : without_plan["stages"]) EXPECT_NE(stage["device"], first);
  } else {
    EXPECT_NE(without.err.find("no device to plan onto"), std::string::npos) << without.err;
  }
  const Outcome unknown = crossgpu("plan --local --model " + model_ + " --device no-such-gpu");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("no device 'no-such-gpu'"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find(first), std::string::npos) << "the error lists the devices: " << unknown.err;
}

TEST_F(CrossgpuModel, RunIntoALogWritesOneProgressLinePerStage) {
  const Outcome run = crossgpu("run --local --model " + model_ + " --prompt 'Hello' --max-tokens 2");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("weights -> stage 1/"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("placed"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find('\r'), std::string::npos) << "no redrawn bar where stderr is not a terminal";
}

TEST_F(CrossgpuModel, RunLocalGeneratesAndReports) {
  const Outcome run = crossgpu("run --local --model " + model_ + " --prompt 'The quick brown fox' --max-tokens 5 --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto report = nlohmann::json::parse(run.out);
  EXPECT_GE(report["tokens"].size(), 1u);
  EXPECT_LE(report["tokens"].size(), 5u);
  EXPECT_GT(report["prompt_tokens"].get<int>(), 1);
  EXPECT_EQ(report["prompt_ids"].size(), report["prompt_tokens"].get<std::size_t>()) << "the prompt's ids beside the text";
  EXPECT_GT(report["decode_tokens_per_second"].get<double>(), 0);
  EXPECT_FALSE(report["stages"].empty());

  // Greedy is deterministic: the same command gives the same tokens.
  const Outcome again = crossgpu("run --local --model " + model_ + " --prompt 'The quick brown fox' --max-tokens 5 --json");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["tokens"], report["tokens"]);
}

TEST_F(CrossgpuModel, BadInputGivesClearErrors) {
  const Outcome context = crossgpu("run --local --model " + model_ + " --context 4 --prompt 'a long prompt of many words here'");
  EXPECT_EQ(context.exit_code, 2);
  EXPECT_NE(context.err.find("context"), std::string::npos) << context.err;

  const Outcome missing = crossgpu("run --local --model /nonexistent.gguf --prompt hi");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nonexistent"), std::string::npos) << missing.err;

  const fs::path junk = fs::temp_directory_path() / ("crossgpu-junk-" + std::to_string(getpid()) + ".gguf");
  std::ofstream(junk) << "this is not a GGUF file at all";
  const Outcome bad = crossgpu("plan --local --model " + junk.string());
  fs::remove(junk);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("invalid_argument"), std::string::npos) << bad.err;
}

// The embedded default end to end: three node processes with quotas too small for the model
// alone, discovery on lo, the plan, weights streamed, generation, and the CPU check.
TEST(CrossgpuDemo, ThreeNodesReproduceTheCpuTokens) {
  const Outcome run = crossgpu("demo --layers 4 --max-tokens 6");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("discovery: every node sees the others"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("on 3 of 3 device(s)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("identical tokens"), std::string::npos) << run.out;
  EXPECT_EQ(run.err.find("lost"), std::string::npos) << "a clean end warns of no lost node: " << run.err;
}

}  // namespace
