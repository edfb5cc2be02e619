// `crossgpu devices` and `crossgpu selftest`, run as processes: exit codes, JSON that parses,
// every device listed, the selftest passing on lavapipe and the CPU with validation on.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "support/cli_runner.hpp"

namespace {

using Outcome = crossgpu::testing::CliOutcome;

// Runs the crossgpu binary with `args` (shell words), capturing stdout and stderr apart.
Outcome crossgpu(const std::string& args) { return crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, args); }

nlohmann::json devices_json(const std::string& extra_args = "") {
  const Outcome run = crossgpu("devices --json --validation " + extra_args);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  return nlohmann::json::parse(run.out);  // throws, failing the test, on invalid JSON
}

TEST(CrossgpuDevices, JsonListsEveryDevice) {
  const nlohmann::json json = devices_json();
  ASSERT_TRUE(json.contains("devices"));
  ASSERT_TRUE(json["warnings"].is_array());
  const nlohmann::json& devices = json["devices"];
  ASSERT_GE(devices.size(), 2u) << "lavapipe and the CPU device are expected";
  std::set<std::string> ids, backends;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const nlohmann::json& d = devices[i];
    EXPECT_EQ(d["index"], i);
    for (const char* key : {"id", "name", "vendor", "type", "backend", "driver_name", "api_version",
                            "heaps", "limits", "caps"}) {
      EXPECT_TRUE(d.contains(key)) << key;
    }
    EXPECT_GT(d["limits"]["max_allocation_bytes"].get<std::uint64_t>(), 0u);
    ids.insert(d["id"].get<std::string>());
    backends.insert(d["backend"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), devices.size()) << "ids must be unique";
  EXPECT_TRUE(backends.count("vulkan")) << "no Vulkan device listed";
  EXPECT_TRUE(backends.count("cpu")) << "no CPU device listed";
}

TEST(CrossgpuDevices, TableShowsEveryDeviceAndCapability) {
  const Outcome run = crossgpu("devices --validation");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Named: a range-for over a member of a temporary would dangle.
  const nlohmann::json json = devices_json();
  for (const auto& device : json["devices"]) {
    EXPECT_NE(run.out.find(device["id"].get<std::string>()), std::string::npos);
    EXPECT_NE(run.out.find(device["name"].get<std::string>()), std::string::npos);
  }
  for (const char* row : {"max allocation", "max storage buffer", "workgroup count",
                          "subgroup size", "fp16 arithmetic", "16-bit storage", "subgroup ops",
                          "timeline semaphores", "unified memory", "memory budget",
                          "external host memory", "dedicated transfer", "API version", "driver"}) {
    EXPECT_NE(run.out.find(row), std::string::npos) << row;
  }
}

TEST(CrossgpuDevices, FilterById) {
  const nlohmann::json all = devices_json()["devices"];
  const std::string id = all.back()["id"];
  const nlohmann::json one = devices_json("--device " + id)["devices"];
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["id"], id);
}

TEST(CrossgpuDevices, UnknownIdFailsWithAClearMessage) {
  const Outcome run = crossgpu("devices --device no-such-device");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("no device with id 'no-such-device'"), std::string::npos) << run.err;
}

TEST(CrossgpuDevices, CpuOnlyListsOnlyTheCpu) {
  const nlohmann::json devices = devices_json("--cpu-only")["devices"];
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0]["backend"], "cpu");
}

TEST(CrossgpuSelftest, PassesOnEveryDevice) {
  const Outcome run = crossgpu("selftest --validation");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::size_t devices = devices_json()["devices"].size();
  std::size_t passes = 0;
  for (std::size_t at = run.out.find("PASS "); at != std::string::npos;
       at = run.out.find("PASS ", at + 1)) {
    ++passes;
  }
  EXPECT_EQ(passes, devices) << run.out;
  EXPECT_EQ(run.out.find("FAIL"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("of " + std::to_string(devices) + " devices passed"), std::string::npos);
}

TEST(CrossgpuSelftest, OtherSeedsPassToo) {
  for (const char* seed : {"2", "12345"}) {
    const Outcome run = crossgpu(std::string("selftest --validation --seed ") + seed);
    EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  }
}

TEST(Crossgpu, NoSubcommandIsAUsageError) {
  const Outcome run = crossgpu("");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("subcommand"), std::string::npos) << run.err;
}

TEST(Crossgpu, HelpListsTheSubcommands) {
  const Outcome run = crossgpu("--help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("devices"), std::string::npos);
  EXPECT_NE(run.out.find("selftest"), std::string::npos);
}

}  // namespace
