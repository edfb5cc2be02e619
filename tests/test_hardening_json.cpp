// `crossgpu run --json` is read by programs: its stdout must stay one JSON document while the
// command logs. Logs go to stderr (core/log.cpp); a warning on stdout once broke every `--json`
// reader. Here the run logs a warning (no Vulkan driver: VK_ICD_FILENAMES names none) and every
// debug line (CROSSGPU_LOG=debug), and stdout still parses, with the warning on stderr.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/cli_runner.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

TEST(RunJson, StdoutParsesWhileWarningsAreLogged) {
  TempDir dir("run-json");
  const std::string model = (dir.path() / "model.gguf").string();
  const CliOutcome made = run_cli(CROSSGPU_CLI_PATH, "demo --write-model " + model + " --layers 3");
  ASSERT_EQ(made.exit_code, 0) << made.err;

  const std::string missing_driver = (dir.path() / "no-such-icd.json").string();
  const CliOutcome run = run_cli(
      "VK_ICD_FILENAMES=" + missing_driver + " CROSSGPU_LOG=debug " + CROSSGPU_CLI_PATH,
      "run --local --model " + model + " --prompt 'The quick brown fox' --max-tokens 4 --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("[warning]"), std::string::npos) << "no warning was logged: " << run.err;
  EXPECT_NE(run.err.find("Vulkan"), std::string::npos) << run.err;
  nlohmann::json report;
  ASSERT_NO_THROW(report = nlohmann::json::parse(run.out)) << "stdout: " << run.out;
  EXPECT_GE(report["tokens"].size(), 1u);
  EXPECT_EQ(run.out.find("[warning]"), std::string::npos);
  EXPECT_EQ(run.out.find("[debug]"), std::string::npos);
}

}  // namespace
}  // namespace crossgpu::testing
