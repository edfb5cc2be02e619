// Device profiling: what a device can do, measured on the device itself — matmul throughput in
// f32 and f16, matvec throughput (memory-bound, what decode is made of), on-device memory
// bandwidth, host<->device bandwidth and latency — plus the correctness self-test. Profiles are
// cached by device id and driver version, so a node measures once per driver.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "device/device.hpp"
#include "telemetry/selftest.hpp"

namespace crossgpu::telemetry {

struct DeviceProfile {
  std::string device_id;
  std::string device_name;
  std::string driver_version;
  // The crossgpu kernels the rates were measured with (kernels_revision()): a cached profile of
  // other kernels (an older build, the CPU device's portable path) is measured again.
  std::string kernels;
  std::string measured_at;  // ISO 8601 UTC
  double matmul_f32_flops = 0;        // FLOP/s
  double matmul_f16_flops = 0;        // FLOP/s; 0 when the device has no 16-bit storage
  double matvec_f32_bytes_per_s = 0;  // matrix bytes read per second
  double matvec_f16_bytes_per_s = 0;
  // Q8_0 weights read per second by ops::matvec_weights: what decoding a quantized model runs,
  // and on some devices (lavapipe) several times slower than the f32 matvec.
  double matvec_q8_0_bytes_per_s = 0;
  double copy_bytes_per_s = 0;        // on-device copy, bytes read + written per second
  double upload_bytes_per_s = 0;      // host -> device from ordinary host memory
  double download_bytes_per_s = 0;
  double round_trip_seconds = 0;      // a 4-byte upload + wait
  double profile_seconds = 0;         // how long profiling took
  bool self_test_passed = false;
  std::vector<std::string> self_test_notes;
};

struct ProfileOptions {
  double target_seconds_per_measure = 0.02;  // sizes grow until one run takes this long
  int repetitions = 3;                        // median of this many timed runs
};

DeviceProfile profile_device(Device& device, const ProfileOptions& options = {});

// Names the kernels this build runs: a revision bumped when kernel speed changes materially,
// and the CPU device's instruction set path. Part of a profile's cache identity, since a
// profile from slower kernels predicts stage times the run never sees (and a slowdown watch
// measuring against it would not notice a device that really slowed).
std::string kernels_revision();

// The weight bytes per second that decoding reads at: the quantized matvec when it was measured
// (downloaded models are quantized, and some devices run it far slower than f32), else the
// faster of the f32 and f16 matvec (profiles from before that measurement).
double decode_bytes_per_s(const DeviceProfile& profile);

// The multiply-adds per second a decode step reaches: the faster of the measured matmuls and what
// the measured matvecs imply (two FLOPs per weight they read). A device whose matvec outruns its
// matmul (the CPU device's AVX2 weight dots against its plain f32 matmul: 10.6 against 0.8
// GFLOP/s) was otherwise predicted compute-bound at the matmul's rate, 10x slower than it decodes.
double decode_flops_per_s(const DeviceProfile& profile);

void to_json(nlohmann::json& out, const DeviceProfile& profile);
// Throws Error{invalid_argument} naming the field when the JSON is not a valid profile.
DeviceProfile profile_from_json(const nlohmann::json& in);

// Profiles on disk, one JSON file per device id and driver version. A corrupt or foreign file is
// ignored (and replaced on the next store), never trusted.
class ProfileCache {
 public:
  explicit ProfileCache(std::filesystem::path directory);
  std::optional<DeviceProfile> load(const Device& device) const;
  void store(const DeviceProfile& profile) const;
  // Loads, or profiles and stores.
  DeviceProfile get(Device& device, const ProfileOptions& options = {}) const;
  std::filesystem::path path_for(const std::string& device_id, const std::string& driver_version) const;

 private:
  std::filesystem::path directory_;
};

}  // namespace crossgpu::telemetry
