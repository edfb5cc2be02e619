#include "telemetry/profiler.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "kernels/cpu_dot.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_weights.hpp"

namespace crossgpu::telemetry {
namespace {

using Clock = std::chrono::steady_clock;

// Median seconds of `repetitions` runs after one warm-up run (pipeline creation, first touch).
double median_seconds(int repetitions, const std::function<void()>& run) {
  run();
  std::vector<double> times;
  for (int i = 0; i < repetitions; ++i) {
    const auto start = Clock::now();
    run();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + repetitions / 2, times.end());
  return times[repetitions / 2];
}

// Grows the problem (doubling `size`) until one run takes the target time or the limit is
// reached, then returns work per second. `run(size)` does the work and waits; `work(size)` is
// its FLOPs or bytes.
double rate(const ProfileOptions& o, std::uint64_t size, std::uint64_t max_size,
            const std::function<void(std::uint64_t)>& run, const std::function<double(std::uint64_t)>& work) {
  for (;;) {
    const double seconds = median_seconds(o.repetitions, [&] { run(size); });
    if (seconds >= o.target_seconds_per_measure || size * 2 > max_size) return work(size) / seconds;
    size *= 2;
  }
}

std::uint64_t cap_bytes(Device& device, std::uint64_t wanted) {
  std::uint64_t free_bytes = 0;
  for (const MemoryHeap& h : device.refreshed_properties().heaps) {
    if (h.device_local) free_bytes = std::max(free_bytes, h.free_bytes);
  }
  return std::max<std::uint64_t>(1 << 20, std::min({wanted, free_bytes / 8, device.properties().limits.max_allocation_bytes}));
}

double matmul_rate(Device& device, const ProfileOptions& o, ops::DType type) {
  const std::uint64_t max_n = 4096;
  const std::uint64_t bytes = max_n * max_n * 4;
  if (cap_bytes(device, bytes) < bytes) return 0;  // small device: skip rather than guess
  Buffer a = device.allocate(bytes), b = device.allocate(bytes), c = device.allocate(bytes);
  // Defined inputs: stale memory may hold NaNs or denormals, which slow some devices down.
  ops::fill(device.stream(), a, bytes / 4, 0.5f);
  ops::fill(device.stream(), b, bytes / 4, 0.25f);
  device.synchronize();
  return rate(
      o, 64, max_n,
      [&](std::uint64_t n) {
        ops::matmul(device.stream(), a, b, c, {.m = n, .n = n, .k = n}, type).wait();
      },
      [](std::uint64_t n) { return 2.0 * static_cast<double>(n) * n * n; });
}

double matvec_rate(Device& device, const ProfileOptions& o, ops::DType type) {
  const std::uint64_t element = ops::size_of(type);
  const std::uint64_t max_bytes = cap_bytes(device, 256ull << 20);
  const std::uint64_t cols = 4096;
  const std::uint64_t max_rows = max_bytes / (cols * element);
  Buffer a = device.allocate(max_rows * cols * element), x = device.allocate(cols * 4), y = device.allocate(max_rows * 4);
  ops::fill(device.stream(), a, max_rows * cols * element / 4, 0.5f);
  ops::fill(device.stream(), x, cols, 0.25f);
  device.synchronize();
  return rate(
      o, 64, max_rows,
      [&](std::uint64_t rows) { ops::matvec(device.stream(), a, x, y, rows, cols, type).wait(); },
      [&](std::uint64_t rows) { return static_cast<double>(rows * cols * element); });
}

// The quantized matvec of decode: Q8_0 rows of 4096 (ggml's layout) times an f32 vector.
double matvec_q8_0_rate(Device& device, const ProfileOptions& o) {
  const std::uint64_t cols = 4096, row = kernels::row_bytes(kernels::WeightType::q8_0, cols);
  const std::uint64_t max_rows = cap_bytes(device, 256ull << 20) / row;
  Buffer a = device.allocate(max_rows * row), x = device.allocate(cols * 4), y = device.allocate(max_rows * 4);
  // Every block's f16 scale 0x3800 (0.5) and quants 0x01: finite, defined values.
  ops::fill(device.stream(), a, max_rows * row / 4, std::bit_cast<float>(0x01013800u));
  ops::fill(device.stream(), x, cols, 0.25f);
  device.synchronize();
  return rate(
      o, 64, max_rows,
      [&](std::uint64_t rows) {
        ops::matvec_weights(device.stream(), a, x, y, rows, cols, kernels::WeightType::q8_0).wait();
      },
      [&](std::uint64_t rows) { return static_cast<double>(rows * row); });
}

double copy_rate(Device& device, const ProfileOptions& o) {
  const std::uint64_t max_bytes = cap_bytes(device, 512ull << 20);
  Buffer a = device.allocate(max_bytes), b = device.allocate(max_bytes);
  return rate(
      o, 1 << 20, max_bytes, [&](std::uint64_t n) { device.stream().copy(a, 0, b, 0, n).wait(); },
      [](std::uint64_t n) { return 2.0 * static_cast<double>(n); });
}

void transfer_rates(Device& device, const ProfileOptions& o, DeviceProfile& p) {
  const std::uint64_t max_bytes = cap_bytes(device, 256ull << 20);
  Buffer buffer = device.allocate(max_bytes);
  std::vector<std::byte> host(max_bytes, std::byte{1});
  Stream& s = device.stream();
  auto bytes = [](std::uint64_t n) { return static_cast<double>(n); };
  p.upload_bytes_per_s = rate(
      o, 1 << 20, max_bytes, [&](std::uint64_t n) { s.upload(buffer, 0, std::span(host).first(n)).wait(); }, bytes);
  p.download_bytes_per_s = rate(
      o, 1 << 20, max_bytes, [&](std::uint64_t n) { s.download(buffer, 0, std::span(host).first(n)).wait(); }, bytes);
  Buffer tiny = device.allocate(4);
  std::byte word[4] = {};
  // Keep the stream busy with a copy so the upload really goes through the queue, as it does
  // between kernels in a model run.
  p.round_trip_seconds = median_seconds(std::max(o.repetitions, 9), [&] {
    s.copy(buffer, 0, buffer, 8, 4);
    s.upload(tiny, 0, std::span<const std::byte>(word)).wait();
  });
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return text;
}

}  // namespace

std::string kernels_revision() {
  // 2: the CPU device's AVX2 weight dots (commit 6d79581) made its decode ~4x faster.
  constexpr int kRevision = 2;
  const bool avx2 = kernels::cpu::selected_simd() == kernels::cpu::Simd::avx2;
  return std::to_string(kRevision) + (avx2 ? "-avx2" : "-portable");
}

DeviceProfile profile_device(Device& device, const ProfileOptions& options) {
  const auto start = Clock::now();
  DeviceProfile p;
  p.device_id = device.id();
  p.device_name = device.properties().name;
  p.driver_version = device.properties().driver_version;
  p.kernels = kernels_revision();
  p.measured_at = now_iso();
  const SelfTestReport test = self_test(device);
  p.self_test_passed = test.passed;
  p.self_test_notes = test.notes;
  p.matmul_f32_flops = matmul_rate(device, options, ops::DType::f32);
  if (device.properties().caps.storage_16bit) p.matmul_f16_flops = matmul_rate(device, options, ops::DType::f16);
  p.matvec_f32_bytes_per_s = matvec_rate(device, options, ops::DType::f32);
  if (device.properties().caps.storage_16bit) p.matvec_f16_bytes_per_s = matvec_rate(device, options, ops::DType::f16);
  p.matvec_q8_0_bytes_per_s = matvec_q8_0_rate(device, options);
  p.copy_bytes_per_s = copy_rate(device, options);
  transfer_rates(device, options, p);
  p.profile_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return p;
}

double decode_bytes_per_s(const DeviceProfile& p) {
  if (p.matvec_q8_0_bytes_per_s > 0) return p.matvec_q8_0_bytes_per_s;
  return std::max(p.matvec_f32_bytes_per_s, p.matvec_f16_bytes_per_s);
}

double decode_flops_per_s(const DeviceProfile& p) {
  constexpr double kQ8_0WeightsPerByte = 32.0 / 34.0;  // a block: 32 int8 weights and an f16 scale
  const double from_matvec = 2.0 * std::max({p.matvec_q8_0_bytes_per_s * kQ8_0WeightsPerByte,
                                             p.matvec_f32_bytes_per_s / 4.0, p.matvec_f16_bytes_per_s / 2.0});
  return std::max({p.matmul_f32_flops, p.matmul_f16_flops, from_matvec});
}

void to_json(nlohmann::json& out, const DeviceProfile& p) {
  out = {{"device_id", p.device_id},
         {"device_name", p.device_name},
         {"driver_version", p.driver_version},
         {"kernels", p.kernels},
         {"measured_at", p.measured_at},
         {"matmul_f32_flops", p.matmul_f32_flops},
         {"matmul_f16_flops", p.matmul_f16_flops},
         {"matvec_f32_bytes_per_s", p.matvec_f32_bytes_per_s},
         {"matvec_f16_bytes_per_s", p.matvec_f16_bytes_per_s},
         {"matvec_q8_0_bytes_per_s", p.matvec_q8_0_bytes_per_s},
         {"copy_bytes_per_s", p.copy_bytes_per_s},
         {"upload_bytes_per_s", p.upload_bytes_per_s},
         {"download_bytes_per_s", p.download_bytes_per_s},
         {"round_trip_seconds", p.round_trip_seconds},
         {"profile_seconds", p.profile_seconds},
         {"self_test_passed", p.self_test_passed},
         {"self_test_notes", p.self_test_notes}};
}

DeviceProfile profile_from_json(const nlohmann::json& in) {
  auto field = [&](const char* name) -> const nlohmann::json& {
    if (!in.is_object() || !in.contains(name)) fail(Errc::invalid_argument, "profile lacks '{}'", name);
    return in.at(name);
  };
  auto number = [&](const char* name) {
    const auto& v = field(name);
    if (!v.is_number() || !(v.get<double>() >= 0)) fail(Errc::invalid_argument, "profile field '{}' is not a rate", name);
    return v.get<double>();
  };
  auto text = [&](const char* name) {
    const auto& v = field(name);
    if (!v.is_string()) fail(Errc::invalid_argument, "profile field '{}' is not text", name);
    return v.get<std::string>();
  };
  DeviceProfile p;
  p.device_id = text("device_id");
  p.device_name = text("device_name");
  p.driver_version = text("driver_version");
  p.kernels = text("kernels");  // absent in caches from before it: re-profiled
  p.measured_at = text("measured_at");
  p.matmul_f32_flops = number("matmul_f32_flops");
  p.matmul_f16_flops = number("matmul_f16_flops");
  p.matvec_f32_bytes_per_s = number("matvec_f32_bytes_per_s");
  p.matvec_f16_bytes_per_s = number("matvec_f16_bytes_per_s");
  p.matvec_q8_0_bytes_per_s = number("matvec_q8_0_bytes_per_s");  // absent in older caches: re-profiled
  p.copy_bytes_per_s = number("copy_bytes_per_s");
  p.upload_bytes_per_s = number("upload_bytes_per_s");
  p.download_bytes_per_s = number("download_bytes_per_s");
  p.round_trip_seconds = number("round_trip_seconds");
  p.profile_seconds = number("profile_seconds");
  if (!field("self_test_passed").is_boolean()) fail(Errc::invalid_argument, "profile field 'self_test_passed' is not a flag");
  p.self_test_passed = field("self_test_passed").get<bool>();
  for (const auto& note : field("self_test_notes")) {
    if (!note.is_string()) fail(Errc::invalid_argument, "profile field 'self_test_notes' holds a non-string");
    p.self_test_notes.push_back(note.get<std::string>());
  }
  return p;
}

ProfileCache::ProfileCache(std::filesystem::path directory) : directory_(std::move(directory)) {}

std::filesystem::path ProfileCache::path_for(const std::string& device_id, const std::string& driver_version) const {
  std::string name = device_id + "-" + driver_version;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
  }
  return directory_ / (name + ".json");
}

std::optional<DeviceProfile> ProfileCache::load(const Device& device) const {
  const auto path = path_for(device.id(), device.properties().driver_version);
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    DeviceProfile p = profile_from_json(nlohmann::json::parse(in));
    if (p.device_id != device.id() || p.driver_version != device.properties().driver_version) return std::nullopt;
    if (p.kernels != kernels_revision()) return std::nullopt;  // measured with other kernels
    return p;
  } catch (const std::exception& e) {
    log::warn("ignoring the cached profile {}: {}", path.string(), e.what());
    return std::nullopt;
  }
}

void ProfileCache::store(const DeviceProfile& profile) const {
  const auto path = path_for(profile.device_id, profile.driver_version);
  std::filesystem::create_directories(directory_);
  const auto temp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << nlohmann::json(profile).dump(2) << '\n';
    if (!out) fail(Errc::io, "cannot write the device profile to {}", temp);
  }
  std::filesystem::rename(temp, path);
}

DeviceProfile ProfileCache::get(Device& device, const ProfileOptions& options) const {
  if (auto cached = load(device)) return *cached;
  DeviceProfile p = profile_device(device, options);
  store(p);
  return p;
}

}  // namespace crossgpu::telemetry
