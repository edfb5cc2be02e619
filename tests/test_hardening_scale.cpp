// The size: a `crossgpu node` process started under `ulimit -n 1024`, and 2000
// connections from one address (127.0.0.2) trickling their TLS handshakes into its data port one
// byte a second, reopened as soon as the node closes them. Meanwhile a member's data-channel
// transfers stay bit-exact, a `crossgpu run` through the node gives the tokens of an undisturbed
// run, new gRPC sessions open, and revocation works end to end: a removal is written, the
// removed node's next call is refused and a monitor reads the new signed list. The node's
// descriptors stay under its limit throughout.
// The flood is aimed at the data port in one test and at the gRPC port in the other.
// CROSSGPU_FLOOD_CONNECTIONS sets the flood's size (default 2000).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "hardening_sockets.hpp"
#include "hardening_work.hpp"
#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The flood's size; this process raises its own descriptor limit to hold it.
std::size_t flood_size() {
  const char* value = std::getenv("CROSSGPU_FLOOD_CONNECTIONS");
  const std::size_t wanted = value ? static_cast<std::size_t>(std::atol(value)) : 2000;
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted + 256) {
    std::printf("note: this process may open %llu descriptors: the flood is cut to fit\n",
                static_cast<unsigned long long>(limit.rlim_cur));
    return static_cast<std::size_t>(limit.rlim_cur) - 256;
  }
  return wanted;
}

// `count` connections from 127.0.0.2 to `port`, each sending one byte of a TLS record a second
// (spread over the second), reopened at their next turn once the node closed them.
class TrickleFlood {
 public:
  TrickleFlood(int port, std::size_t count) : port_(port), fds_(count, -1) {
    thread_ = std::thread([this] { run(); });
  }
  ~TrickleFlood() {
    stop_ = true;
    thread_.join();
    for (const int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  std::size_t opened() const { return opened_; }

 private:
  void run() {
    static constexpr unsigned char kRecord[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01};
    std::vector<std::size_t> sent(fds_.size(), 0);
    constexpr int kSlices = 20;  // a turn every 50 ms for a twentieth of the connections
    for (std::size_t tick = 0; !stop_; ++tick) {
      const auto next = Clock::now() + 50ms;
      for (std::size_t i = tick % kSlices; i < fds_.size(); i += kSlices) {
        int& fd = fds_[i];
        if (fd >= 0 && closed_by_peer(fd, 0ms)) {
          ::close(fd);
          fd = -1;
        }
        if (fd < 0) {
          fd = raw_connect("127.0.0.2", port_, true);
          sent[i] = 0;
          if (fd >= 0) ++opened_;
          continue;
        }
        const unsigned char byte = kRecord[std::min(sent[i], sizeof(kRecord) - 1)];
        if (::send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) ++sent[i];
      }
      std::this_thread::sleep_until(next);
    }
  }

  const int port_;
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> opened_{0};
  std::thread thread_;
};

// The pid of the process whose command line mentions `needle`, or 0.
pid_t process_with(const std::string& needle) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream file(entry.path() / "cmdline");
    std::string line((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (line.find(needle) != std::string::npos && line.find("node") != std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return 0;
}

std::size_t open_descriptors(pid_t pid) {
  std::error_code error;
  std::size_t n = 0;
  for (fs::directory_iterator it(fs::path("/proc") / std::to_string(pid) / "fd", error), end;
       !error && it != end; it.increment(error)) {
    ++n;
  }
  return n;
}

CliOutcome cli(const std::string& args) { return run_cli(CROSSGPU_CLI_PATH, args); }

enum class FloodTarget { data_port, grpc_port };

void keeps_serving_through_a_trickle_flood(FloodTarget target) {
  TestCluster cluster;
  TempDir dir("scale");
  const std::string model = (dir.path() / "model.gguf").string();
  ASSERT_EQ(cli("demo --write-model " + model + " --layers 3").exit_code, 0);
  const int port = free_port();
  const int data_port = free_port();
  const std::string address = loopback(port);
  ChildProcess node({"/bin/sh", "-c",
                     "ulimit -n 1024 && exec " + std::string(CROSSGPU_CLI_PATH) +
                         " node --config " + cluster.ca_dir().string() + " --listen " + address +
                         " --data-listen 127.0.0.1:" + std::to_string(data_port) +
                         " --cpu-only --no-discovery --telemetry-interval 200"});
  ASSERT_NE(node.wait_for("listening on"), "");
  const pid_t pid = process_with(cluster.ca_dir().string());
  ASSERT_GT(pid, 0);
  const net::NodeIdentity compute = cluster.join(net::Role::compute, address);
  const net::NodeIdentity removed = cluster.join(net::Role::compute, address);
  const net::NodeIdentity monitor = cluster.join(net::Role::monitor, address);
  const net::NodeIdentity admin = net::NodeIdentity::load(cluster.ca_dir());

  // The undisturbed run, once the node has profiled its device.
  const std::string run_args = "--model " + model + " --node " + address + " --config " +
                               cluster.ca_dir().string() +
                               " --prompt 'Once upon a time' --max-tokens 8 --temperature 0 --json";
  const auto planned_by = Clock::now() + 90s;
  while (cli("plan --model " + model + " --node " + address + " --config " +
             cluster.ca_dir().string()).exit_code != 0) {
    ASSERT_LT(Clock::now(), planned_by) << "the node never became plannable";
    std::this_thread::sleep_for(300ms);
  }
  const CliOutcome undisturbed = cli("run " + run_args);
  ASSERT_EQ(undisturbed.exit_code, 0) << undisturbed.err;
  const nlohmann::json want = nlohmann::json::parse(undisturbed.out);

  const std::size_t count = flood_size();
  std::size_t most_descriptors = 0;
  {
    TrickleFlood flood(target == FloodTarget::grpc_port ? port : data_port, count);
    // Past the 5 s handshake deadline: the pending share is dropped and taken again.
    std::this_thread::sleep_for(6s);
    EXPECT_GE(flood.opened(), count) << "the flood did not reach its size";
    most_descriptors = std::max(most_descriptors, open_descriptors(pid));

    // A member's transfers over the data channel.
    auto connection = cluster::RemoteNode::connect(address, compute);
    EXPECT_TRUE(connection->connection().uses_data_channel());
    Device& device = *connection->devices().front();
    Buffer buffer = device.allocate(1 << 20);
    for (std::uint32_t i = 0; i < 5; ++i) {
      const auto begin = Clock::now();
      EXPECT_TRUE(round_trip_bit_exact(device, buffer, i));
      EXPECT_LT(Clock::now() - begin, 3s);
      most_descriptors = std::max(most_descriptors, open_descriptors(pid));
    }

    // A run through the node: the undisturbed run's tokens.
    const CliOutcome run = cli("run " + run_args);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(nlohmann::json::parse(run.out)["tokens"], want["tokens"]);
    most_descriptors = std::max(most_descriptors, open_descriptors(pid));

    // gRPC: a new session, and revocation written, enforced and read.
    auto stub = v1::Node::NewStub(removed.connect(address));
    {
      grpc::ClientContext context;
      v1::StatusRequest request;
      v1::StatusResponse response;
      ASSERT_TRUE(stub->Status(&context, request, &response).ok());
    }
    {
      grpc::ClientContext context;
      v1::RemoveNodeRequest request;
      request.set_node_id(removed.node_id());
      v1::RemoveNodeResponse response;
      const grpc::Status status =
          v1::Admin::NewStub(admin.connect(address))->RemoveNode(&context, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    {
      grpc::ClientContext context;
      v1::StatusRequest request;
      v1::StatusResponse response;
      const grpc::Status status = stub->Status(&context, request, &response);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
      EXPECT_NE(status.error_message().find("removed"), std::string::npos)
          << status.error_message();
    }
    {
      grpc::ClientContext context;
      v1::RevocationsRequest request;
      v1::RevocationsResponse response;
      const grpc::Status status =
          v1::Revocation::NewStub(monitor.connect(address))->GetRevocations(&context, request,
                                                                             &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_GT(response.version(), 0u);
      EXPECT_FALSE(response.signed_list().empty());
    }
    most_descriptors = std::max(most_descriptors, open_descriptors(pid));
    std::printf("flood of %zu connections: %zu opened in all, node descriptors at most %zu of "
                "1024\n", count, flood.opened(), most_descriptors);
  }
  EXPECT_LT(most_descriptors, 1024u);
}

TEST(HostileLoadAtScale, ANodeUnderUlimit1024KeepsServingThrough2000TricklingDataConnections) {
  keeps_serving_through_a_trickle_flood(FloodTarget::data_port);
}

// gRPC accepts through the node's own gate (net/grpc_accept_gate.hpp): before it, this flood
// exhausted the node's descriptors and new members could not connect.
TEST(HostileLoadAtScale, ANodeUnderUlimit1024KeepsServingThrough2000TricklingGrpcConnections) {
  keeps_serving_through_a_trickle_flood(FloodTarget::grpc_port);
}

}  // namespace
}  // namespace crossgpu::testing
