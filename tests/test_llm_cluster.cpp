// The pipeline across three in-process nodes over mutual TLS: every stage on another node's
// device, hidden states copied node to node, for a generated model of every architecture in
// every weight type. The greedy tokens must equal those of the local CPU device running the whole
// model, and the logits must agree within the tolerance of test_llm_forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "support/arch_type_matrix.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

// A generated model the 3-node pipeline runs: the architectures of test_llm_arch_types in their
// shapes there (llama with Llama 3.1's rope factors and tied embeddings, mistral, qwen2's biases,
// qwen3's Q/K norms, gemma2's and gemma3's soft-caps and sliding windows with heads of 128, phi3's
// fused tensors), their kernels dispatched on the nodes' devices. Bounded for make test: llama in
// every weight type, and each other architecture in two, one of the first six types and one of
// the last six (mistral f32 + q8_0, qwen2 f16 + q4_k, ..., phi3 q5_1 + bf16), so that every type
// also runs on a second architecture: 24 of the 84 models. CROSSGPU_LLM_CLUSTER_ALL=1 runs all 84.
struct ClusterCase {
  std::string name;
  model::DemoModelSpec spec;
};

std::vector<ClusterCase> cluster_cases() {
  const bool all = std::getenv("CROSSGPU_LLM_CLUSTER_ALL") != nullptr;
  const std::size_t types = std::size(kernels::kWeightTypes);
  std::vector<ClusterCase> cases;
  for (std::size_t a = 0; a < std::size(testing::kMatrixArchs); ++a) {
    for (std::size_t t = 0; t < types; ++t) {
      const bool picked = a == 0 || t == a - 1 || t == a - 1 + types / 2;
      if (!all && !picked) continue;
      const testing::MatrixCase c{testing::kMatrixArchs[a], kernels::kWeightTypes[t]};
      cases.push_back({c.label(), c.spec()});
    }
  }
  return cases;
}

class LlmCluster : public ::testing::TestWithParam<ClusterCase> {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    servers_.push_back(cluster_->start_ca_node().release());
    const std::string enroll = loopback(servers_.front()->port());
    for (int i = 0; i < 2; ++i) {
      const net::NodeIdentity node = cluster_->join(net::Role::compute, enroll);
      servers_.push_back(TestCluster::start_node(node.config_dir()).release());
    }
    client_ = new net::NodeIdentity(cluster_->join(net::Role::compute, enroll));
  }
  static void TearDownTestSuite() {
    delete client_;
    for (auto* s : servers_) delete s;
    servers_.clear();
    delete cluster_;
  }
  static TestCluster* cluster_;
  static std::vector<cluster::NodeServer*> servers_;
  static net::NodeIdentity* client_;
};
TestCluster* LlmCluster::cluster_ = nullptr;
std::vector<cluster::NodeServer*> LlmCluster::servers_;
net::NodeIdentity* LlmCluster::client_ = nullptr;

struct Generated {
  std::vector<std::uint32_t> tokens;
  std::vector<std::vector<float>> logits;
  // Each node's calls served when each pass's logits arrived (when `servers` were given).
  std::vector<std::vector<cluster::NodeCallCounts>> calls;
};

Generated greedy(model::Pipeline& pipeline, const std::vector<cluster::NodeServer*>& servers = {}) {
  const std::vector<std::uint32_t> prompt = {1, 300, 301, 302, 40, 41, 42, 500, 501, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  Generated out;
  model::GenerateOptions options;
  options.max_tokens = 5;
  options.on_logits = [&](std::span<const float> l) {
    out.logits.emplace_back(l.begin(), l.end());
    std::vector<cluster::NodeCallCounts> now;
    for (const auto* server : servers) now.push_back(server->call_counts());
    out.calls.push_back(std::move(now));
  };
  out.tokens = model::generate(pipeline, prompt, options).tokens;
  return out;
}

model::Pipeline build(const model::LlamaConfig& config, const model::GgufFile& file,
                      const std::vector<std::shared_ptr<Device>>& devices, model::ActivationMover mover) {
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  // n stages: layer i on stage i, the last stage takes the rest.
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const bool last = i + 1 == devices.size();
    const model::StageRange range{static_cast<std::uint32_t>(i), last ? config.layers : static_cast<std::uint32_t>(i + 1),
                                  i == 0, last};
    stages.push_back(std::make_unique<model::LlamaStage>(config, file, devices[i], range,
                                                         model::StageOptions{.context = 64, .max_batch = 16}));
  }
  return model::Pipeline(config, std::move(stages), std::move(mover));
}

TEST_P(LlmCluster, ThreeNodePipelineMatchesTheCpu) {
  const auto bytes = model::demo_model(GetParam().spec).bytes();
  const auto file = model::GgufFile::parse(bytes);
  const auto config = model::LlamaConfig::from_gguf(file);

  // Stage i on node i; the first node's first device (lavapipe in CI), the others' last (CPU).
  std::vector<std::unique_ptr<cluster::RemoteNode>> nodes;
  std::vector<std::shared_ptr<Device>> remote;
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    nodes.push_back(cluster::RemoteNode::connect(loopback(servers_[i]->port()), *client_));
    remote.push_back(i == 0 ? nodes.back()->devices().front() : nodes.back()->devices().back());
  }
  model::Pipeline across = build(config, file, remote, [](BufferRef src, BufferRef dst, std::uint64_t n) {
    cluster::copy_between_nodes(src, 0, dst, 0, n);
  });
  model::Pipeline reference = build(config, file, {cpu_device()}, {});  // one stage: the whole model
  const Generated want = greedy(reference);
  const Generated got = greedy(across, servers_);
  EXPECT_EQ(got.tokens, want.tokens);
  ASSERT_EQ(got.logits.size(), want.logits.size());
  for (std::size_t p = 0; p < got.logits.size(); ++p) {
    double diff = 0, scale = 1e-6;
    for (std::size_t i = 0; i < got.logits[p].size(); ++i) {
      diff = std::max(diff, std::fabs(double{got.logits[p][i]} - want.logits[p][i]));
      scale = std::max(scale, std::fabs(double{want.logits[p][i]}));
    }
    EXPECT_LT(diff / scale, 2e-3) << "pass " << p;
  }
  // Each decode step costs each node one request (its stage's input, replay and, on the last,
  // the logits ride in one Run; the step that records the program sends one more), and no
  // per-op call anywhere.
  ASSERT_GE(got.calls.size(), 3u);
  const std::size_t steps = got.calls.size() - 1;
  for (std::size_t n = 0; n < servers_.size(); ++n) {
    const std::uint64_t runs = got.calls.back()[n].run - got.calls.front()[n].run;
    EXPECT_GE(runs, steps) << "node " << n;
    EXPECT_LE(runs, steps + 1) << "node " << n;
    EXPECT_EQ(got.calls.back()[n].dispatch, got.calls.front()[n].dispatch) << "node " << n;
    EXPECT_LE(got.calls.back()[n].record - got.calls.front()[n].record, 1u) << "node " << n << " records once";
  }
  for (std::size_t i = 0; i + 1 < across.stats().size(); ++i) {
    EXPECT_GT(across.stats()[i].bytes_out, 0u) << "stage " << i << " sent its hidden states on";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryTypeAndArchitecture, LlmCluster, ::testing::ValuesIn(cluster_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace crossgpu::testing
