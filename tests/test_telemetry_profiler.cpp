// Device profiling and its cache, on this machine's devices (lavapipe and the CPU in CI).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "support/test_devices.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::telemetry {
namespace {
namespace fs = std::filesystem;

// Profiling is slow on lavapipe; one profile per device, shared by the tests below.
const DeviceProfile& profile_of(std::size_t index) {
  static std::vector<std::optional<DeviceProfile>> profiles(testing::devices().size());
  if (!profiles[index]) {
    ProfileOptions quick;
    quick.target_seconds_per_measure = 0.005;
    quick.repetitions = 1;
    profiles[index] = profile_device(*testing::devices()[index], quick);
  }
  return *profiles[index];
}

TEST(Profiler, MeasuresEveryRateAndPassesTheSelfTest) {
  for (std::size_t i = 0; i < testing::devices().size(); ++i) {
    const Device& device = *testing::devices()[i];
    const DeviceProfile& p = profile_of(i);
    SCOPED_TRACE(device.properties().name);
    EXPECT_EQ(p.device_id, device.id());
    EXPECT_TRUE(p.self_test_passed) << (p.self_test_notes.empty() ? "" : p.self_test_notes.front());
    EXPECT_GT(p.matmul_f32_flops, 1e6);
    EXPECT_GT(p.matvec_f32_bytes_per_s, 1e6);
    EXPECT_GT(p.copy_bytes_per_s, 1e6);
    EXPECT_GT(p.upload_bytes_per_s, 1e6);
    EXPECT_GT(p.download_bytes_per_s, 1e6);
    EXPECT_GT(p.round_trip_seconds, 0);
    EXPECT_LT(p.round_trip_seconds, 0.1);
    if (device.properties().caps.storage_16bit) EXPECT_GT(p.matmul_f16_flops, 1e6);
  }
}

TEST(ProfileCache, StoresLoadsAndRejectsCorruptOrForeignFiles) {
  const fs::path dir = fs::temp_directory_path() / ("crossgpu-profiles-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ProfileCache cache(dir);
  Device& device = *testing::devices().front();
  EXPECT_FALSE(cache.load(device).has_value());
  cache.store(profile_of(0));
  const auto loaded = cache.load(device);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_DOUBLE_EQ(loaded->matmul_f32_flops, profile_of(0).matmul_f32_flops);
  EXPECT_EQ(loaded->self_test_notes, profile_of(0).self_test_notes);

  const fs::path file = cache.path_for(device.id(), device.properties().driver_version);
  std::ofstream(file, std::ios::trunc) << "{ not json";
  EXPECT_FALSE(cache.load(device).has_value());
  nlohmann::json other = profile_of(0);
  other["device_id"] = "someone-else";
  std::ofstream(file, std::ios::trunc) << other.dump();
  EXPECT_FALSE(cache.load(device).has_value()) << "a profile of another device must not be used";
  other = profile_of(0);
  EXPECT_EQ(other["kernels"], kernels_revision());
  other["kernels"] = "1-portable";  // measured by an older build's slower kernels
  std::ofstream(file, std::ios::trunc) << other.dump();
  EXPECT_FALSE(cache.load(device).has_value()) << "a profile of other kernels must be measured again";
  other.erase("kernels");  // a cache written before profiles named their kernels
  std::ofstream(file, std::ios::trunc) << other.dump();
  EXPECT_FALSE(cache.load(device).has_value());
  other = profile_of(0);
  other["matmul_f32_flops"] = -5;
  std::ofstream(file, std::ios::trunc) << other.dump();
  EXPECT_FALSE(cache.load(device).has_value());
  fs::remove_all(dir);
}

TEST(DecodeRates, AMatvecFasterThanTheMatmulSetsTheDecodeFlops) {
  DeviceProfile p;
  p.matmul_f32_flops = 0.8e9;         // a plain f32 matmul
  p.matvec_q8_0_bytes_per_s = 5.6e9;  // SIMD weight dots
  p.matvec_f32_bytes_per_s = 1.5e9;
  EXPECT_NEAR(decode_flops_per_s(p), 2.0 * 5.6e9 * 32.0 / 34.0, 1e3);
  p.matmul_f16_flops = 50e12;  // a GPU's matmul is the faster
  EXPECT_EQ(decode_flops_per_s(p), 50e12);
  EXPECT_EQ(decode_flops_per_s(DeviceProfile{}), 0);
}

TEST(ProfileJson, NamesTheBadField) {
  nlohmann::json j = profile_of(0);
  j.erase("copy_bytes_per_s");
  try {
    profile_from_json(j);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("copy_bytes_per_s"), std::string::npos);
  }
  EXPECT_THROW(profile_from_json(nlohmann::json::array()), Error);
}

}  // namespace
}  // namespace crossgpu::telemetry
