// Sampling: greedy is argmax; seeded sampling is reproducible, respects top-k and top-p, and
// follows the softmax distribution; bad options and broken logits give clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model/sampler.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using testing::throws_errc;

TEST(Sampler, GreedyIsArgmaxIgnoringNaN) {
  const std::vector<float> logits = {0.5f, NAN, 3.0f, 3.0f, -1.0f};
  Sampler greedy;
  EXPECT_EQ(greedy.sample(logits), 2u);  // first of the tie
  EXPECT_EQ(argmax(logits), 2u);
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  std::vector<float> logits(100);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(float(i)) * 2;
  auto draw = [&](std::uint64_t seed) {
    Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = seed});
    std::vector<std::uint32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.sample(logits));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

// A run resumed after k tokens (rebuilt on other devices) skips k draws and goes on exactly as
// the uninterrupted sampler does; greedy sampling draws nothing, so skipping changes nothing.
TEST(Sampler, SkippingTheDrawsOfEarlierTokensResumesTheSameSequence) {
  const std::vector<float> logits = {0.5f, 1.0f, 0.2f, 0.9f, 0.7f, 0.1f};
  Sampler whole({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 99});
  std::vector<std::uint32_t> all;
  for (int i = 0; i < 40; ++i) all.push_back(whole.sample(logits));
  Sampler resumed({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 99});
  resumed.skip(25);
  for (int i = 25; i < 40; ++i) EXPECT_EQ(resumed.sample(logits), all[i]) << i;
  Sampler fresh({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 99});
  std::vector<std::uint32_t> unskipped;
  for (int i = 0; i < 15; ++i) unskipped.push_back(fresh.sample(logits));
  EXPECT_NE(unskipped, std::vector<std::uint32_t>(all.begin() + 25, all.end()));  // the skip mattered
  Sampler greedy({.temperature = 0.0f});
  greedy.skip(1000);
  EXPECT_EQ(greedy.sample(logits), 1u);
}

TEST(Sampler, TopKAndTopPLimitTheCandidates) {
  const std::vector<float> logits = {5.0f, 4.0f, 3.0f, 0.0f, -2.0f};
  Sampler top2({.temperature = 1.0f, .top_k = 2, .top_p = 1.0f, .seed = 1});
  for (int i = 0; i < 500; ++i) EXPECT_LT(top2.sample(logits), 2u);
  // p(0) = e^5 / sum ≈ 0.66: top-p 0.5 keeps only token 0.
  Sampler nucleus({.temperature = 1.0f, .top_k = 0, .top_p = 0.5f, .seed = 1});
  for (int i = 0; i < 500; ++i) EXPECT_EQ(nucleus.sample(logits), 0u);
}

TEST(Sampler, FollowsTheSoftmaxDistribution) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 9});
  std::map<std::uint32_t, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits)];
  EXPECT_NEAR(counts[0] / double(n), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(n), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(n), 0.2, 0.02);
}

TEST(Sampler, RefusesBadOptionsAndBrokenLogits) {
  EXPECT_TRUE(throws_errc([] { Sampler({.temperature = -1.0f}); }, Errc::invalid_argument, "temperature"));
  EXPECT_TRUE(throws_errc([] { Sampler({.temperature = NAN}); }, Errc::invalid_argument, "temperature"));
  EXPECT_TRUE(throws_errc([] { Sampler({.top_p = 0.0f}); }, Errc::invalid_argument, "top-p"));
  EXPECT_TRUE(throws_errc([] { Sampler({.top_p = 1.5f}); }, Errc::invalid_argument, "top-p"));
  Sampler s;
  EXPECT_TRUE(throws_errc([&] { s.sample({}); }, Errc::invalid_argument, "empty"));
  const std::vector<float> nan = {NAN, NAN};
  EXPECT_TRUE(throws_errc([&] { s.sample(nan); }, Errc::invalid_argument, "NaN"));
}

}  // namespace
}  // namespace crossgpu::model
