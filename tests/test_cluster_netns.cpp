// Remote work between nodes in separate network namespaces joined by a veth pair: node A in
// namespace a (10.213.9.1), node B in namespace b (10.213.9.2), each a process of this test
// binary run with `ip netns exec`. A client process in namespace a allocates, writes, reads,
// copies and dispatches on B over the veth link, copies A -> B node to node, and compares every
// result bit for bit with its own CPU device. The namespaces are created and removed here, named
// after this process id; skipped, with the kernel's reason, where namespaces are refused.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cluster/node_server.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/peer_monitor.hpp"
#include "cluster/remote_node.hpp"
#include "device/cpu/cpu_device.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"
#include "net/crypto.hpp"
#include "support/child_process.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

constexpr const char* kAddressA = "10.213.9.1";
constexpr const char* kAddressB = "10.213.9.2";
constexpr int kPort = 7461;

int run(const std::string& command, std::string* output = nullptr) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char line[512];
  while (std::fgets(line, sizeof line, pipe)) {
    if (output) *output += line;
  }
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Two namespaces with a veth pair between them; removed (with the pair) at destruction.
class Namespaces {
 public:
  Namespaces() : base_("cgclu" + std::to_string(getpid())) { remove(); }
  ~Namespaces() { remove(); }
  std::string a() const { return base_ + "a"; }
  std::string b() const { return base_ + "b"; }
  // Empty on success, else the failing command and its output.
  std::string create() const {
    const std::string va = "cgc" + std::to_string(getpid() % 100000) + "a";
    const std::string vb = "cgc" + std::to_string(getpid() % 100000) + "b";
    for (const std::string& step :
         {"ip netns add " + a(), "ip netns add " + b(),
          "ip link add " + va + " type veth peer name " + vb,
          "ip link set " + va + " netns " + a() + " name eth0",
          "ip link set " + vb + " netns " + b() + " name eth0",
          "ip -n " + a() + " addr add " + kAddressA + "/24 dev eth0",
          "ip -n " + b() + " addr add " + kAddressB + "/24 dev eth0",
          "ip -n " + a() + " link set eth0 up", "ip -n " + b() + " link set eth0 up",
          "ip -n " + a() + " link set lo up", "ip -n " + b() + " link set lo up"}) {
      std::string output;
      if (run(step, &output) != 0) return step + ": " + output;
    }
    return {};
  }

 private:
  void remove() const {
    run("ip netns del " + a());
    run("ip netns del " + b());
  }
  std::string base_;
};

// A child process of this binary in a namespace, running one of the DISABLED_ tests below.
ChildProcess child_in(const std::string& ns, const std::string& test, bool capture_stderr) {
  return ChildProcess({"ip", "netns", "exec", ns, CROSSGPU_TEST_SELF,
                       "--gtest_also_run_disabled_tests",
                       "--gtest_filter=ClusterNetnsChild." + test},
                      {.capture_stderr = capture_stderr, .search_path = true});
}

// An identity signed by the cluster's CA without a network (the nodes are not reachable from the
// test's own namespace): what `crossgpu node --join` stores, made directly.
void issue_identity(const TestCluster& cluster, const std::filesystem::path& dir, net::Role role) {
  const net::ClusterCa ca = net::ClusterCa::load(cluster.ca_dir());
  const std::string key = net::crypto::generate_key();
  const std::string cert = ca.sign_node_csr(net::crypto::make_csr(key, "netns-node"), role);
  net::NodeIdentity::store(dir, key, cert, ca.certificate_pem(), ca.name());
}

class ClusterNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root (CAP_SYS_ADMIN)";
    if (run("ip -V") != 0) GTEST_SKIP() << "iproute2 ('ip') is not installed";
  }
};

TEST_F(ClusterNetns, RemoteWorkAcrossNamespacesIsBitExact) {
  Namespaces ns;
  const std::string error = ns.create();
  if (error.rfind("ip netns add", 0) == 0) {
    GTEST_SKIP() << "the kernel refused a network namespace: " << error;
  }
  ASSERT_TRUE(error.empty()) << error;
  TestCluster cluster;
  TempDir b_dir("netns-b"), client_dir("netns-client");
  issue_identity(cluster, b_dir.path(), net::Role::compute);
  issue_identity(cluster, client_dir.path(), net::Role::compute);

  std::string log_a, log_b;
  ::setenv("CROSSGPU_NETNS_CONFIG", cluster.ca_dir().c_str(), 1);
  ::setenv("CROSSGPU_NETNS_LISTEN", (std::string(kAddressA) + ":" + std::to_string(kPort)).c_str(), 1);
  ::setenv("CROSSGPU_NETNS_PEER", (std::string(kAddressB) + ":" + std::to_string(kPort)).c_str(), 1);
  ChildProcess node_a = child_in(ns.a(), "DISABLED_Node", false);
  ASSERT_NE(node_a.wait_for("serving", &log_a), "") << log_a;
  ::setenv("CROSSGPU_NETNS_CONFIG", b_dir.path().c_str(), 1);
  ::setenv("CROSSGPU_NETNS_LISTEN", (std::string(kAddressB) + ":" + std::to_string(kPort)).c_str(), 1);
  ::unsetenv("CROSSGPU_NETNS_PEER");
  ChildProcess node_b = child_in(ns.b(), "DISABLED_Node", false);
  ASSERT_NE(node_b.wait_for("serving", &log_b), "") << log_b;

  ::setenv("CROSSGPU_NETNS_CONFIG", client_dir.path().c_str(), 1);
  std::string client_log;
  ChildProcess client = child_in(ns.a(), "DISABLED_Client", true);
  client.wait_for("\x01never\x01", &client_log);  // reads everything until it exits
  EXPECT_EQ(client.wait_exit(), 0) << client_log;
  EXPECT_NE(client_log.find("[       OK ] ClusterNetnsChild.DISABLED_Client"), std::string::npos)
      << client_log;
  std::printf("client in %s (%s -> %s): %s\n", ns.a().c_str(), kAddressA, kAddressB,
              client_log.find("[  PASSED  ] 1 test") != std::string::npos ? "passed" : "failed");
}

// Run by the test above inside a namespace: a node on the CPU device until killed.
TEST(ClusterNetnsChild, DISABLED_Node) {
  cluster::NodeServerOptions options;
  options.config_dir = std::getenv("CROSSGPU_NETNS_CONFIG");
  options.listen_address = std::getenv("CROSSGPU_NETNS_LISTEN");
  // As `crossgpu node --peer`: A watches B, so A's copies to B go direct (members only).
  cluster::PeerMonitor monitor(net::NodeIdentity::load(options.config_dir));
  if (const char* peer = std::getenv("CROSSGPU_NETNS_PEER")) monitor.add(peer);
  options.members = [&monitor](const std::string& id) { return monitor.address_of(id); };
  cluster::NodeServer server({make_cpu_device()}, options);
  server.start();
  std::printf("serving on port %d\n", server.port());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::minutes(5));
}

std::vector<std::byte> read_back(Device& device, BufferRef buffer, std::uint64_t offset,
                                 std::uint64_t bytes) {
  std::vector<std::byte> out(bytes);
  device.stream().download(buffer, offset, std::span(out)).wait();
  return out;
}

// Run by the test above inside namespace a: B is reached over the veth link only.
TEST(ClusterNetnsChild, DISABLED_Client) {
  const net::NodeIdentity identity = net::NodeIdentity::load(std::getenv("CROSSGPU_NETNS_CONFIG"));
  const std::string port = ":" + std::to_string(kPort);
  cluster::ConnectionOptions options;
  auto a = cluster::RemoteNode::connect(kAddressA + port, identity, options);
  auto b = cluster::RemoteNode::connect(kAddressB + port, identity, options);
  EXPECT_TRUE(b->connection().uses_data_channel());
  // Pinned ids: B's address answering with A's identity would be refused.
  options.expected_node_id = a->node_id();
  EXPECT_TRUE(throws_errc([&] { cluster::RemoteNode::connect(kAddressB + port, identity, options); },
                          Errc::permission_denied, "not the expected node"));

  Device& remote = *b->devices().front();
  auto local = make_cpu_device();
  const std::uint32_t n = 100'000;
  const auto x = random_bytes(n * 4, 21), y = random_bytes(n * 4, 22);
  std::vector<std::vector<std::byte>> sums;
  for (Device* device : {local.get(), &remote}) {
    Buffer bx = device->allocate(n * 4), by = device->allocate(n * 4);
    Buffer by2 = device->allocate(n * 4), bz = device->allocate(n * 4);
    device->stream().upload(bx, 0, std::span<const std::byte>(x)).wait();
    device->stream().upload(by, 0, std::span<const std::byte>(y)).wait();
    EXPECT_TRUE(read_back(*device, bx, 0, n * 4) == x) << device->properties().name;
    device->stream().copy(by, 0, by2, 0, n * 4);
    const kernels::BinaryPush push{n, 0, 0, 0};
    const BufferRange bindings[] = {{bx}, {by2}, {bz}};
    device->stream().dispatch(kernels::add_f32, bindings, std::as_bytes(std::span(&push, 1)),
                              Groups{(n + 255) / 256});
    device->synchronize();
    sums.push_back(read_back(*device, bz, 0, n * 4));
  }
  EXPECT_TRUE(sums[0] == sums[1]) << "remote add_f32 differs from the local CPU device";

  // Node to node over the veth link: A -> B directly.
  const std::size_t size = (std::size_t{5} << 20) + 3;
  const auto data = random_bytes(size, 23);
  Device& from = *a->devices().front();
  Buffer src = from.allocate(size), dst = remote.allocate(size + 4);
  from.stream().upload(src, 0, std::span<const std::byte>(data)).wait();
  cluster::copy_between_nodes(src, 0, dst, 4, size);
  EXPECT_TRUE(read_back(remote, dst, 4, size) == data);
}

}  // namespace
}  // namespace crossgpu::testing
