#include "support/recovery_cluster.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace crossgpu::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Commands that need no network (writing the model, the cluster's CA, invites) run here.
CliOutcome local_cli(const std::string& args) { return run_cli(CROSSGPU_CLI_PATH, args); }

}  // namespace

Layout loopback_layout() {
  Layout layout;
  for (int i = 0; i < 4; ++i) layout.nodes.push_back({.wrapper = {}, .host = "127.0.0.1", .interface = "lo"});
  return layout;
}

std::string read_text_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string as_json_text(const std::string& printed) {
  return json::parse(json(printed).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

void RecoveryCluster::start(const Layout& layout, const std::string& name) {
  // Stage boundaries keep their default, f16: every path rounds a hidden state alike (relayed or
  // chained), and the re-plans here keep the layer split, so a recovered run computes the numbers
  // of the undisturbed one.
  layout_ = layout;
  dir_ = fs::temp_directory_path() / ("crossgpu-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  model_ = (dir_ / "model.gguf").string();
  // CROSSGPU_RECOVERY_MODEL runs another GGUF instead of the demo-shaped one (docs/PERFORMANCE.md
  // measures recovery on the bench model this way); the quotas follow its size.
  if (const char* other = std::getenv("CROSSGPU_RECOVERY_MODEL"); other != nullptr && *other != '\0') {
    model_ = other;
  } else {
    ASSERT_EQ(local_cli("demo --write-model " + model_ + " --layers 6 --type q8_0").exit_code, 0);
  }
  ASSERT_EQ(local_cli("cluster init --config " + config(0) + " --name recovery").exit_code, 0);
  // Each node takes 45% of the model: the plan needs three; three survivors still hold it.
  quota_ = std::to_string(fs::file_size(model_) * 45 / 100 / (1 << 20) + 1) + "MiB";
  for (std::size_t i = 0; i < layout_.nodes.size(); ++i) {
    start_node(i);
    if (::testing::Test::HasFatalFailure()) return;
  }
  wait_until_planned();
  if (::testing::Test::HasFatalFailure()) return;
  // A 3-stage plan can come before the fourth node is found: every test needs all four (a lost
  // one must leave three to re-plan over).
  ASSERT_TRUE(wait_all_healthy(60)) << "the first node does not see all " << nodes_.size() << " nodes healthy";
}

void RecoveryCluster::stop() {
  nodes_.clear();
  if (!dir_.empty()) fs::remove_all(dir_);
}

CliOutcome RecoveryCluster::cli(const std::string& args) const {
  return run_cli(layout_.client_wrapper + CROSSGPU_CLI_PATH, args);
}

std::unique_ptr<ChildProcess> RecoveryCluster::spawn_cli(const std::string& args, const fs::path& err) const {
  return std::make_unique<ChildProcess>(std::vector<std::string>{
      "/bin/sh", "-c", layout_.client_wrapper + CROSSGPU_CLI_PATH + " " + args + " 2>" + err.string()});
}

std::string RecoveryCluster::config(std::size_t i) const { return (dir_ / ("node" + std::to_string(i))).string(); }

std::string RecoveryCluster::address(std::size_t i) const {
  return layout_.nodes.at(i).host + ":" + std::to_string(ports_.at(i));
}

std::string RecoveryCluster::model_args() const {
  return "--model " + model_ + " --node " + address(0) + " --config " + config(0) + " --context 256";
}

std::vector<std::string> RecoveryCluster::node_command(std::size_t i) const {
  const NodePlace& place = layout_.nodes.at(i);
  std::vector<std::string> args = place.wrapper;
  args.insert(args.end(), {CROSSGPU_CLI_PATH, "node", "--config", config(i), "--listen", place.host + ":0", "--cpu-only",
                           "--interface", place.interface, "--discovery", "embedded", "--quota", quota_,
                           "--telemetry-interval", "200"});
  return args;
}

void RecoveryCluster::start_node(std::size_t i) {
  std::vector<std::string> args = node_command(i);
  if (i > 0) {
    const auto invite = local_cli("cluster invite --config " + config(0) + " --address " + address(0));
    ASSERT_EQ(invite.exit_code, 0) << invite.err;
    std::string token = invite.out.substr(0, invite.out.find_last_not_of("\n") + 1);
    token = token.substr(token.find_last_of('\n') + 1);
    args.insert(args.end(), {"--join", token, "--name", "node" + std::to_string(i)});
  }
  auto node = std::make_unique<ChildProcess>(args, ChildProcess::Options{.search_path = true});
  const std::string line = node->wait_for("listening on");
  ASSERT_FALSE(line.empty()) << "node " << i << " did not start";
  const std::size_t id_at = line.find("node ") + 5;
  node_ids_.push_back(line.substr(id_at, line.find(' ', id_at) - id_at));
  ports_.push_back(number_after(line, "(port "));
  nodes_.push_back(std::move(node));
}

void RecoveryCluster::restart_node(std::size_t i) {
  nodes_.at(i) = std::make_unique<ChildProcess>(node_command(i), ChildProcess::Options{.search_path = true});
  const std::string line = nodes_[i]->wait_for("listening on");
  ASSERT_FALSE(line.empty()) << "node " << i << " did not restart";
  ports_[i] = number_after(line, "(port ");
}

std::string RecoveryCluster::held_after(int seconds, std::size_t skip) const {
  std::string held;
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  do {
    held.clear();
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      if (n == skip) continue;
      const auto status = cli("status --node " + address(n) + " --config " + config(0) + " --json");
      if (status.exit_code != 0) {
        held += "node " + std::to_string(n) + ": status failed: " + status.err + "\n";
        continue;
      }
      const json self = json::parse(status.out)["nodes"][0];
      const auto bytes = self["allocated_bytes"].get<std::uint64_t>();
      const auto buffers = self["live_buffers"].get<std::uint64_t>();
      if (bytes != 0 || buffers != 0) {
        held += "node " + std::to_string(n) + ": " + std::to_string(bytes) + " bytes in " + std::to_string(buffers) +
                " buffer(s), " + std::to_string(self["sessions"].get<unsigned>()) + " session(s)\n";
      }
    }
    if (held.empty()) return held;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  } while (Clock::now() < deadline);
  return held;
}

bool RecoveryCluster::wait_all_healthy(int seconds) const {
  std::string last;
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    const auto status = cli("status --node " + address(0) + " --config " + config(0) + " --json");
    if (status.exit_code == 0) {
      std::set<std::string> healthy;
      const json report = json::parse(status.out);  // named: a range-for over a temporary's member dangles
      for (const json& node : report["nodes"]) {
        if (node["state"] == "healthy") healthy.insert(node["node_id"].get<std::string>());
      }
      if (healthy.size() == nodes_.size()) return true;
    }
    last = status.out + status.err;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::printf("the last status: %s\n", last.c_str());
  return false;
}

CliOutcome RecoveryCluster::wait_for_plan(bool fits, int seconds) const {
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    auto plan = cli("plan " + model_args() + " --json");
    if ((plan.exit_code == 0) == fits || Clock::now() > deadline) return plan;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// Until every node is found and profiled: a plan over at least three of them.
void RecoveryCluster::wait_until_planned() const {
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  for (;;) {
    const auto plan = cli("plan " + model_args() + " --json");
    if (plan.exit_code == 0 && json::parse(plan.out)["stages"].size() >= 3) return;
    ASSERT_LT(Clock::now(), deadline) << "no 3-stage plan: " << plan.out << plan.err;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

std::size_t RecoveryCluster::index_with_id(const std::string& prefix) const {
  for (std::size_t n = 0; n < node_ids_.size(); ++n) {
    if (node_ids_[n].rfind(prefix, 0) == 0) return n;
  }
  return SIZE_MAX;
}

Disturbed run_disturbed(RecoveryCluster& cluster, const std::function<void(std::size_t)>& disturb,
                        const std::function<void(const fs::path&)>& while_running, int stage,
                        bool must_recover) {
  Disturbed d;
  const std::string generate = " --prompt 'Once upon a time' --max-tokens 160 --temperature 0";
  const auto undisturbed = cluster.cli("run " + cluster.model_args() + generate + " --json");
  EXPECT_EQ(undisturbed.exit_code, 0) << undisturbed.err;
  if (undisturbed.exit_code != 0) return d;
  const json want = json::parse(undisturbed.out);
  EXPECT_TRUE(want["recoveries"].empty());

  const fs::path err = cluster.dir() / "run.err";
  const auto run = cluster.spawn_cli("run " + cluster.model_args() + generate, err);
  EXPECT_TRUE(run->output_ready(60000)) << read_text_file(err);
  std::smatch planned;
  const std::string printed_plan = read_text_file(err);
  EXPECT_TRUE(std::regex_search(printed_plan, planned, std::regex("\n" + std::to_string(stage) + R"( +([0-9a-f]{8})/)")))
      << printed_plan;
  d.victim = planned.empty() ? SIZE_MAX : cluster.index_with_id(planned[1]);
  if (d.victim == SIZE_MAX) {
    d.log = printed_plan;
    return d;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(std::random_device{}() % 100));
  disturb(d.victim);
  const auto disturbed = Clock::now();
  if (while_running) while_running(err);
  const std::string text = run->rest();
  EXPECT_EQ(run->wait_exit(), 0) << read_text_file(err);
  d.seconds_after_disturbing = std::chrono::duration<double>(Clock::now() - disturbed).count();
  d.log = read_text_file(err);
  const std::size_t recovered = d.log.find("recovered: lost");
  if (must_recover) EXPECT_NE(recovered, std::string::npos) << d.log;
  if (recovered != std::string::npos) {
    d.recovery_line = d.log.substr(recovered, d.log.find('\n', recovered) - recovered);
    std::printf("%s\n", d.recovery_line.c_str());  // for the record
    std::smatch took;
    if (std::regex_search(d.recovery_line, took, std::regex(R"(took ([0-9.]+) s \(detect ([0-9.]+))"))) {
      d.outage_seconds = std::stod(took[1]);
      d.detect_seconds = std::stod(took[2]);
    }
  }
  EXPECT_EQ(as_json_text(text), want["text"].get<std::string>() + "\n") << d.log;
  EXPECT_NE(d.log.find("generated: 160 tokens"), std::string::npos) << d.log;
  // The survivors hold nothing once the run is over: the stages it abandoned on them, and the
  // ones it moved, are freed.
  EXPECT_EQ(cluster.held_after(10, d.victim), "") << "a survivor's memory did not return to idle";
  return d;
}

}  // namespace crossgpu::testing
