// Collectors on fixture sysfs trees (an AMD desktop, a phone on battery, broken files) and on
// the devices of this machine.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sched/condition.hpp"
#include "support/test_devices.hpp"
#include "telemetry/collector.hpp"
#include "telemetry/nvml.hpp"
#include "telemetry/sysfs.hpp"

namespace crossgpu::telemetry {
namespace {
namespace fs = std::filesystem;

class SysfsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("crossgpu-sysfs-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& relative, const std::string& content) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << content << "\n";
  }
  fs::path root_;
};

TEST_F(SysfsFixture, ReadsAnAmdGpuHwmonChip) {
  write("class/hwmon/hwmon0/name", "coretemp");
  write("class/hwmon/hwmon0/temp1_input", "51000");
  write("class/hwmon/hwmon3/name", "amdgpu");
  write("class/hwmon/hwmon3/temp1_input", "65000");
  write("class/hwmon/hwmon3/temp2_input", "71500");
  write("class/hwmon/hwmon3/power1_average", "45000000");
  write("class/hwmon/hwmon3/freq1_input", "1800000000");
  write("class/hwmon/hwmon3/device/gpu_busy_percent", "37");
  const auto chips = read_hwmon(root_);
  ASSERT_EQ(chips.size(), 2u);
  EXPECT_EQ(chips[1].name, "amdgpu");
  EXPECT_EQ(chips[1].temperatures_c, (std::vector<double>{65.0, 71.5}));
  EXPECT_DOUBLE_EQ(*chips[1].power_w, 45.0);
  EXPECT_DOUBLE_EQ(*chips[1].clock_mhz, 1800.0);
  EXPECT_DOUBLE_EQ(*chips[1].busy_fraction, 0.37);
  EXPECT_FALSE(chips[0].power_w.has_value());
}

TEST_F(SysfsFixture, ReadsAPhoneOnBatteryAndItsHottestZone) {
  write("class/power_supply/battery/type", "Battery");
  write("class/power_supply/battery/capacity", "42");
  write("class/power_supply/battery/status", "Discharging");
  write("class/power_supply/usb/type", "USB");
  write("class/power_supply/usb/online", "0");
  write("class/thermal/thermal_zone0/type", "cpu-0-0-usr");
  write("class/thermal/thermal_zone0/temp", "48200");
  write("class/thermal/thermal_zone7/type", "gpuss-0-usr");
  write("class/thermal/thermal_zone7/temp", "61000");
  write("class/thermal/cooling_device0/type", "fan");  // not a zone: ignored
  Collector collector(root_, /*load_nvml=*/false);
  const HostMetrics host = collector.collect_host();
  EXPECT_DOUBLE_EQ(*host.battery_level.value, 0.42);
  EXPECT_FALSE(*host.charging.value);
  EXPECT_FALSE(*host.on_mains.value);
  EXPECT_DOUBLE_EQ(*host.max_temperature_c.value, 61.0);
  EXPECT_EQ(host.hottest_zone, "gpuss-0-usr");
  const sched::DeviceCondition condition = sched::condition_of(DeviceMetrics{}, host);
  EXPECT_TRUE(condition.on_battery);
  EXPECT_LT(sched::score(condition).factor, 1.0);

  write("class/power_supply/usb/online", "1");  // plugged in
  EXPECT_FALSE(sched::condition_of(DeviceMetrics{}, collector.collect_host()).on_battery);
}

TEST_F(SysfsFixture, BrokenAndMissingFilesAreUnavailableNotInvented) {
  write("class/hwmon/hwmon0/name", "amdgpu");
  write("class/hwmon/hwmon0/temp1_input", "not-a-number");
  write("class/hwmon/hwmon0/power1_average", "");
  write("class/power_supply/BAT0/type", "Battery");
  write("class/power_supply/BAT0/capacity", "12abc");
  write("class/thermal/thermal_zone0/temp", "");
  const auto chips = read_hwmon(root_);
  ASSERT_EQ(chips.size(), 1u);
  EXPECT_TRUE(chips[0].temperatures_c.empty());
  EXPECT_FALSE(chips[0].power_w.has_value());
  Collector collector(root_, false);
  const HostMetrics host = collector.collect_host();
  EXPECT_FALSE(host.battery_level.available());
  EXPECT_FALSE(host.battery_level.source.empty());
  EXPECT_FALSE(host.max_temperature_c.available());
  EXPECT_TRUE(read_hwmon(root_ / "does-not-exist").empty());
}

TEST(Nvml, UuidFormattingAndGracefulAbsence) {
  EXPECT_EQ(Nvml::nvml_uuid("0c91271bba86d6ba43bd420a7e7d935f"), "GPU-0c91271b-ba86-d6ba-43bd-420a7e7d935f");
  EXPECT_EQ(Nvml::nvml_uuid("short"), "");
  EXPECT_EQ(Nvml::nvml_uuid("zz91271bba86d6ba43bd420a7e7d935f"), "");
  std::string why;
  auto nvml = Nvml::load(&why);
  if (!nvml) EXPECT_FALSE(why.empty()) << "an absent NVML must say why";
}

TEST(Collector, EveryLocalDeviceReportsMemoryAndSaysWhySensorsAreMissing) {
  Collector collector;
  for (const auto& device : testing::devices()) {
    const DeviceMetrics m = collector.collect(*device);
    EXPECT_EQ(m.device_id, device->id());
    ASSERT_TRUE(m.memory_total_bytes.available());
    EXPECT_GT(*m.memory_total_bytes.value, 0u);
    ASSERT_TRUE(m.memory_free_bytes.available());
    EXPECT_LE(*m.memory_free_bytes.value, *m.memory_total_bytes.value);
    for (const Measured<double>* sensor : {&m.temperature_c, &m.power_w, &m.clock_mhz, &m.busy_fraction}) {
      EXPECT_FALSE(sensor->source.empty()) << "a sensor value or its absence must name its source";
    }
  }
}

}  // namespace
}  // namespace crossgpu::telemetry
