// The cluster of the recovery tests (issue 16): four `crossgpu node` processes whose memory quotas
// make every plan use at least three of them, a demo-shaped model, and what the tests ask of it
// (runs, status, plans) through the `crossgpu` command as a user would. Where the processes live
// is a Layout: all on loopback (test_recovery), or each node in its own network namespace and the
// client in another (test_recovery_netns); the tests are the same either way.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/cli_runner.hpp"

namespace crossgpu::testing {

// Where one node process runs: the words its command starts with (`ip netns exec <ns>`, or none),
// the address it listens on and the interface its discovery uses.
struct NodePlace {
  std::vector<std::string> wrapper;
  std::string host;
  std::string interface;
};

struct Layout {
  std::vector<NodePlace> nodes;
  std::string client_wrapper;  // shell words before the binary for client commands ("" or "ip netns exec c ")
};

// Four nodes on 127.0.0.1, discovering each other on lo.
Layout loopback_layout();

// The text `run` printed, as `run --json` carries it (the demo vocabulary's lone bytes become
// U+FFFD there).
std::string as_json_text(const std::string& printed);
std::string read_text_file(const std::filesystem::path& p);

class RecoveryCluster {
 public:
  // Writes the model and the cluster's config into a fresh folder, starts every node of `layout`
  // and waits until a plan uses at least three of them and the first node sees every node healthy.
  // Check HasFatalFailure() after it.
  void start(const Layout& layout, const std::string& name);
  // Stops every node (SIGKILL) and removes the folder.
  void stop();

  // `crossgpu <args>` as the client (in its place of the layout).
  CliOutcome cli(const std::string& args) const;
  // The same, as a child process whose stdout is read and whose stderr goes to `err`.
  std::unique_ptr<ChildProcess> spawn_cli(const std::string& args, const std::filesystem::path& err) const;
  std::string model_args() const;

  void start_node(std::size_t i);
  // Node i again, from its config folder (its identity and membership), on a new port: what a
  // device does after a reboot.
  void restart_node(std::size_t i);

  // Every node but `skip` returns to idle once no run is left: no device memory allocated (a lost
  // client's, an abandoned or replaced stage's weights, KV caches and chains are freed). Sessions
  // themselves are not counted: the nodes' peer monitors hold one on each other. Returns what
  // was still held after `seconds`, empty when all were idle.
  std::string held_after(int seconds, std::size_t skip = SIZE_MAX) const;
  // Waits until the first node reports every other node healthy again.
  bool wait_all_healthy(int seconds) const;
  // Waits until `plan` succeeds (or fails) as asked; returns its output.
  CliOutcome wait_for_plan(bool fits, int seconds) const;

  // The node process whose id starts with `prefix` (plans label a node's device "<id>/<device>").
  std::size_t index_with_id(const std::string& prefix) const;

  const std::filesystem::path& dir() const { return dir_; }
  const std::string& model() const { return model_; }
  std::string config(std::size_t i) const;
  std::string address(std::size_t i) const;
  const std::string& node_id(std::size_t i) const { return node_ids_.at(i); }
  ChildProcess& node(std::size_t i) { return *nodes_.at(i); }
  std::size_t size() const { return nodes_.size(); }

 private:
  std::vector<std::string> node_command(std::size_t i) const;
  void wait_until_planned() const;

  Layout layout_;
  std::filesystem::path dir_;
  std::string model_;
  std::string quota_;
  std::vector<std::unique_ptr<ChildProcess>> nodes_;
  std::vector<std::string> node_ids_;
  std::vector<int> ports_;
};

// A generation disturbed mid-run: `disturb(victim)` hits the node of the run's stage `stage` (by
// default the second, a middle stage of the 3+ stage plan) a random 0-100 ms into decoding (of
// 160 greedy tokens, 2.5-10 ms each here). The run must end with the undisturbed run's text and,
// unless `must_recover` is false, say what it lost; every survivor returns to idle.
// `while_running`, when given, is called after `disturb` with the run's stderr path, and may wait
// on it (the run goes on meanwhile).
struct Disturbed {
  std::string log;           // the run's stderr
  std::string recovery_line; // "recovered: lost ..." as printed
  std::size_t victim = SIZE_MAX;
  double seconds_after_disturbing = 0;  // from disturb() returning to the end of the run
  double detect_seconds = -1;  // the run's own figures from the recovery line
  double outage_seconds = -1;
};
Disturbed run_disturbed(RecoveryCluster& cluster, const std::function<void(std::size_t)>& disturb,
                        const std::function<void(const std::filesystem::path&)>& while_running = {}, int stage = 1,
                        bool must_recover = true);

}  // namespace crossgpu::testing
