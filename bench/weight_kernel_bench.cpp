// The decode matvec over quantized weights, the kernel that bounds decode speed: the plain
// matvec_weights (one workgroup per row, a shared-memory tree) and matvec_fused (one subgroup
// per row) at the shapes of a 4096-wide model (GPU) or of the 1024-wide bench model
// (lavapipe and the CPU device), as GB/s of weights read. The baseline in the same run is the
// device's copy bandwidth (telemetry's profile measures it; here a device-to-device copy of the
// same bytes): a bandwidth-bound matvec reads its weights at that rate. Results are checked
// against the CPU reference's dot products.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "bench.hpp"
#include "core/error.hpp"
#include "kernels/ops_weights.hpp"
#include "kernels/reference/quant.hpp"

namespace crossgpu::bench {
namespace {

using kernels::WeightType;

struct Shape {
  std::uint64_t rows, cols;
};

std::vector<Shape> shapes_for(const Device& device, bool quick) {
  if (quick) return {{256, 512}};
  if (device.properties().type == DeviceType::cpu) return {{1024, 1024}, {2816, 1024}};
  return {{4096, 4096}, {14336, 4096}};
}

// Random weights of `type` as stored, and x.
struct HostWeights {
  std::vector<std::byte> bytes;
  std::vector<float> x, expected;
};

HostWeights make_weights(WeightType type, const Shape& s, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  HostWeights h;
  const std::uint64_t row_bytes = kernels::row_bytes(type, s.cols);
  h.bytes.resize(s.rows * row_bytes + 4);
  std::vector<float> row(s.cols);
  h.x.resize(s.cols);
  for (float& v : h.x) v = dist(rng);
  for (std::uint64_t r = 0; r < s.rows; ++r) {
    for (float& v : row) v = dist(rng);
    const auto out = std::span(h.bytes).subspan(r * row_bytes, row_bytes);
    kernels::reference::quantize_row(type, row, out);
    h.expected.push_back(kernels::reference::dot_row(type, out, h.x));
  }
  return h;
}

std::string check(const std::vector<float>& got, const std::vector<float>& want) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(double(got[i]) - want[i]) / (1.0 + std::fabs(want[i]));
    if (!(error <= 1e-3)) return fmt::format("WRONG: [{}] = {} vs {}", i, got[i], want[i]);
  }
  return "ok";
}

}  // namespace

void run_weight_kernel_bench(const std::vector<std::shared_ptr<Device>>& devices,
                             const BenchConfig& config, Report& report) {
  apps::Table table({{"kernel"},
                     {"type"},
                     {"shape", apps::Align::right},
                     {"device"},
                     {"median", apps::Align::right},
                     {"weights GB/s", apps::Align::right},
                     {"copy GB/s", apps::Align::right},
                     {"of copy", apps::Align::right},
                     {"check"}});
  std::uint32_t seed = 7;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    Device& device = *devices[i];
    const std::string label = fmt::format("[{}] {}", i, device.properties().name);
    Stream& s = device.stream();
    for (const Shape& shape : shapes_for(device, config.quick)) {
      for (WeightType type : {WeightType::q8_0, WeightType::q4_0, WeightType::q4_k, WeightType::q6_k,
                              WeightType::f16}) {
        const HostWeights h = make_weights(type, shape, seed++);
        const std::uint64_t weight_bytes = shape.rows * kernels::row_bytes(type, shape.cols);
        Buffer w = device.allocate(h.bytes.size());
        s.upload(w, std::span<const std::byte>(h.bytes)).wait();
        Buffer x = device.allocate(shape.cols * 4);
        s.upload(x, std::span<const float>(h.x)).wait();
        Buffer y = device.allocate(shape.rows * 4);
        // The baseline: a copy of the same bytes on the device.
        Buffer copy = device.allocate(weight_bytes);
        const Timing copy_t = measure(config.bandwidth, [&] { s.copy(w, 0, copy, 0, weight_bytes).wait(); });
        const double copy_gbs = gb_per_s(2.0 * double(weight_bytes), copy_t.median_s) / 2.0;  // read rate
        auto run_kernel = [&](const char* name, const std::function<void()>& body) {
          const Timing t = measure(config.compute, body);
          std::vector<float> got(shape.rows);
          s.download(y, std::span(got)).wait();
          Record r{.section = "weight_kernel", .op = name, .device_id = device.id(),
                   .device = device.properties().name, .dtype = kernels::to_string(type),
                   .shape = fmt::format("{}x{}", shape.rows, shape.cols), .bytes = weight_bytes,
                   .timing = t, .baseline = "device copy (read rate)",
                   .baseline_s = double(weight_bytes) / (copy_gbs * 1e9), .check = check(got, h.expected)};
          table.add_row({name, kernels::to_string(type), r.shape, label, duration_label(t.median_s),
                         fmt::format("{:.1f}", r.gb_per_s()), fmt::format("{:.1f}", copy_gbs),
                         fmt::format("{:.0f}%", 100.0 * r.speedup()), r.check});
          report.add(std::move(r));
        };
        run_kernel("matvec_weights", [&] {
          ops::matvec_weights(s, w, x, y, shape.rows, shape.cols, type).wait();
        });
        ops::FusedMatvec job{.w = w, .segments = {{0, shape.rows, type}}, .cols = shape.cols, .x = x, .y = y};
        job.mapping = ops::RowMapping::invocation_per_row;
        run_kernel("matvec_fused rows", [&] { ops::matvec_fused(s, job).wait(); });
        const auto& caps = device.properties().caps;
        if (caps.subgroup_shuffle && caps.subgroup_arithmetic && device.properties().limits.subgroup_size >= 8) {
          job.mapping = ops::RowMapping::invocation_per_row_shuffled;
          run_kernel("matvec_fused lanes", [&] { ops::matvec_fused(s, job).wait(); });
        }
        if (device.properties().caps.subgroup_arithmetic) {
          job.mapping = ops::RowMapping::subgroup_per_row;
          run_kernel("matvec_fused subgroups", [&] { ops::matvec_fused(s, job).wait(); });
        }
      }
    }
  }
  Report::print(
      "decode matvec over quantized weights: median time per call (enqueue + wait); of copy = "
      "weight read rate / the device's copy read rate on the same bytes",
      table);
}

}  // namespace crossgpu::bench
