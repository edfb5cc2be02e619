// Backoff growth, cap, jitter bounds and reset; RTT smoothing.
#include <gtest/gtest.h>

#include "cluster/liveness/backoff.hpp"
#include "cluster/liveness/rtt_estimator.hpp"
#include "support/test_support.hpp"

namespace crossgpu::liveness {
namespace {

using std::chrono::milliseconds;

UniformSource constant(double u) {
  return [u] { return u; };
}

TEST(LivenessBackoff, GrowsExponentiallyUpToTheCap) {
  Backoff backoff({milliseconds(100), milliseconds(1'000), 2.0, 0.0}, constant(0.5));
  const std::vector<long> expected = {100, 200, 400, 800, 1'000, 1'000, 1'000};
  for (long want : expected) EXPECT_EQ(backoff.next_delay().count(), want);
  EXPECT_EQ(backoff.attempts(), expected.size());
}

TEST(LivenessBackoff, ResetStartsOver) {
  Backoff backoff({milliseconds(100), milliseconds(1'000), 2.0, 0.0}, constant(0.5));
  backoff.next_delay();
  backoff.next_delay();
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0u);
  EXPECT_EQ(backoff.next_delay().count(), 100);
}

TEST(LivenessBackoff, JitterStaysWithinItsFractionAndTheCap) {
  const BackoffConfig config{milliseconds(1'000), milliseconds(4'000), 2.0, 0.25};
  Backoff low(config, constant(0.0));
  Backoff high(config, constant(0.999999));
  EXPECT_EQ(low.next_delay().count(), 750);     // 1000 - 25%
  EXPECT_EQ(high.next_delay().count(), 1'249);  // just under 1000 + 25%
  for (int i = 0; i < 5; ++i) high.next_delay();
  EXPECT_EQ(high.next_delay().count(), 4'000);  // +25% of the cap is cut back to the cap

  Backoff random(config, default_uniform_source());
  for (unsigned attempt = 0; attempt < 200; ++attempt) {
    const double base = static_cast<double>(random.base_delay(random.attempts()).count());
    const auto delay = static_cast<double>(random.next_delay().count());
    EXPECT_GE(delay, base * 0.75 - 1.0);
    EXPECT_LE(delay, std::min(base * 1.25, 4'000.0));
  }
}

TEST(LivenessBackoff, HugeAttemptCountsDoNotOverflow) {
  Backoff backoff({milliseconds(1), milliseconds(60'000), 10.0, 0.0}, constant(0.5));
  for (int i = 0; i < 5'000; ++i) ASSERT_LE(backoff.next_delay().count(), 60'000);
  EXPECT_EQ(backoff.base_delay(4'000'000'000u).count(), 60'000);
}

TEST(LivenessBackoff, RejectsBadConfigurations) {
  using crossgpu::testing::throws_errc;
  const auto make = [](BackoffConfig c) { return [c] { Backoff b(c, constant(0.5)); }; };
  EXPECT_TRUE(throws_errc(make({milliseconds(0), milliseconds(10), 2.0, 0.1}),
                          Errc::invalid_argument, "initial"));
  EXPECT_TRUE(throws_errc(make({milliseconds(10), milliseconds(5), 2.0, 0.1}),
                          Errc::invalid_argument, "max"));
  EXPECT_TRUE(throws_errc(make({milliseconds(10), milliseconds(50), 0.5, 0.1}),
                          Errc::invalid_argument, "multiplier"));
  EXPECT_TRUE(throws_errc(make({milliseconds(10), milliseconds(50), 2.0, 1.0}),
                          Errc::invalid_argument, "jitter"));
  EXPECT_TRUE(throws_errc(make({milliseconds(10), milliseconds(50), 2.0, -0.1}),
                          Errc::invalid_argument, "jitter"));
}

TEST(LivenessRtt, FirstSampleSeedsThenEwma) {
  RttEstimator rtt(0.5);
  EXPECT_FALSE(rtt.smoothed_ms());
  rtt.add(std::chrono::microseconds(10'000));
  EXPECT_DOUBLE_EQ(*rtt.smoothed_ms(), 10.0);
  rtt.add(std::chrono::microseconds(20'000));
  EXPECT_DOUBLE_EQ(*rtt.smoothed_ms(), 15.0);
  EXPECT_DOUBLE_EQ(*rtt.last_ms(), 20.0);
  rtt.add(std::chrono::microseconds(-5));  // a clock step: ignored
  EXPECT_DOUBLE_EQ(*rtt.last_ms(), 20.0);
  rtt.reset();
  EXPECT_FALSE(rtt.last_ms());
}

TEST(LivenessRtt, RejectsBadWeights) {
  EXPECT_TRUE(crossgpu::testing::throws_errc([] { RttEstimator r(0.0); }, Errc::invalid_argument,
                                             "weight"));
  EXPECT_TRUE(crossgpu::testing::throws_errc([] { RttEstimator r(1.5); }, Errc::invalid_argument,
                                             "weight"));
}

}  // namespace
}  // namespace crossgpu::liveness
