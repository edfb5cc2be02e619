#include <gtest/gtest.h>

#include "sched/scoring.hpp"

namespace crossgpu::sched {
namespace {

TEST(Scoring, UnknownConditionKeepsTheMeasuredThroughput) {
  const Score s = score({});
  EXPECT_DOUBLE_EQ(s.factor, 1.0);
  EXPECT_FALSE(s.excluded);
  EXPECT_TRUE(s.reason.empty());
}

TEST(Scoring, APhoneOnBatteryScoresBelowOneOnACharger) {
  DeviceCondition charging{.battery_level = 0.6, .on_battery = false};
  DeviceCondition discharging{.battery_level = 0.6, .on_battery = true};
  EXPECT_LT(score(discharging).factor, score(charging).factor);
  DeviceCondition low{.battery_level = 0.3, .on_battery = true};
  EXPECT_LT(score(low).factor, score(discharging).factor);
  DeviceCondition empty{.battery_level = 0.1, .on_battery = true};
  EXPECT_TRUE(score(empty).excluded);
  EXPECT_NE(score(empty).reason.find("battery"), std::string::npos);
}

TEST(Scoring, AThrottlingDeviceScoresBelowACoolOne) {
  const double cool = score({.temperature_c = 50}).factor;
  const double warm = score({.temperature_c = 78}).factor;
  const double hot = score({.temperature_c = 90}).factor;
  EXPECT_DOUBLE_EQ(cool, 1.0);
  EXPECT_LT(warm, cool);
  EXPECT_LT(hot, warm);
  EXPECT_DOUBLE_EQ(hot, 0.5);
  EXPECT_LT(score({.thermal_state = ThermalState::serious}).factor, score({.thermal_state = ThermalState::fair}).factor);
  EXPECT_TRUE(score({.thermal_state = ThermalState::critical}).excluded);
}

TEST(Scoring, FactorsMultiplyAndScaleBothRates) {
  const Score s = score({.temperature_c = 90, .battery_level = 0.8, .on_battery = true});
  EXPECT_DOUBLE_EQ(s.factor, 0.5 * 0.8);
  const DeviceCapacity d = effective({.flops_per_second = 100, .bytes_per_second = 10}, s);
  EXPECT_DOUBLE_EQ(d.flops_per_second, 40);
  EXPECT_DOUBLE_EQ(d.bytes_per_second, 4);
}

}  // namespace
}  // namespace crossgpu::sched
