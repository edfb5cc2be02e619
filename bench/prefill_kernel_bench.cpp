// The prefill matmul over quantized weights (ops::matmul_weights: Y = X * W^T for a batch of
// prompt tokens), each of its kernels on each device, as GFLOP/s (2 x rows x cols x tokens per
// call) at the projections' shapes of a 4096-wide model (GPU) or of the 1024-wide bench model
// (lavapipe and the CPU device). The baseline in the same run is the other kernel on the same
// device and the same data ("tiled" against "token/inv."). Results are checked against the CPU
// reference's dot products for the first and the last token.
#include <fmt/format.h>

#include <cmath>
#include <random>

#include "bench.hpp"
#include "kernels/ops_weights.hpp"
#include "kernels/reference/quant.hpp"

namespace crossgpu::bench {
namespace {

using kernels::WeightType;

struct Shape {
  std::uint64_t rows, cols, tokens;
};

std::vector<Shape> shapes_for(const Device& device, bool quick) {
  if (quick) return {{256, 512, 64}};
  if (device.properties().type == DeviceType::cpu) return {{1024, 1024, 64}, {2816, 1024, 64}};
  return {{4096, 4096, 64}, {14336, 4096, 64}, {4096, 4096, 512}, {14336, 4096, 512}};
}

struct Data {
  std::vector<std::byte> bytes;
  std::vector<float> x;
  std::vector<float> first, last;  // the reference's Y rows of token 0 and token tokens - 1
};

Data make_data(WeightType type, const Shape& s, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Data d;
  const std::uint64_t row_bytes = kernels::row_bytes(type, s.cols);
  d.bytes.resize(s.rows * row_bytes + 4);
  d.x.resize(s.cols * s.tokens);
  for (float& v : d.x) v = dist(rng);
  std::vector<float> row(s.cols);
  const auto x0 = std::span<const float>(d.x).first(s.cols);
  const auto xl = std::span<const float>(d.x).subspan((s.tokens - 1) * s.cols, s.cols);
  for (std::uint64_t r = 0; r < s.rows; ++r) {
    for (float& v : row) v = dist(rng);
    const auto out = std::span(d.bytes).subspan(r * row_bytes, row_bytes);
    kernels::reference::quantize_row(type, row, out);
    d.first.push_back(kernels::reference::dot_row(type, out, x0));
    d.last.push_back(kernels::reference::dot_row(type, out, xl));
  }
  return d;
}

std::string check(const std::vector<float>& got, const Data& d, const Shape& s) {
  for (std::uint64_t r = 0; r < s.rows; ++r) {
    for (const auto& [t, want] : {std::pair{std::uint64_t{0}, d.first[r]}, std::pair{s.tokens - 1, d.last[r]}}) {
      const float g = got[t * s.rows + r];
      const double error = std::fabs(double(g) - want) / (1.0 + std::fabs(want));
      if (!(error <= 1e-3)) return fmt::format("WRONG: [{}, {}] = {} vs {}", t, r, g, want);
    }
  }
  return "ok";
}

}  // namespace

void run_prefill_kernel_bench(const std::vector<std::shared_ptr<Device>>& devices,
                              const BenchConfig& config, Report& report) {
  apps::Table table({{"kernel"},
                     {"type"},
                     {"rows x cols x tokens", apps::Align::right},
                     {"device"},
                     {"median", apps::Align::right},
                     {"GFLOP/s", apps::Align::right},
                     {"vs token/inv.", apps::Align::right},
                     {"check"}});
  std::uint32_t seed = 11;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    Device& device = *devices[i];
    const std::string label = fmt::format("[{}] {}", i, device.properties().name);
    Stream& s = device.stream();
    const bool can_tile = device.properties().limits.max_workgroup_invocations >= 256;
    for (const Shape& shape : shapes_for(device, config.quick)) {
      for (WeightType type : {WeightType::q8_0, WeightType::q4_0, WeightType::q4_k, WeightType::q6_k,
                              WeightType::f16}) {
        const Data d = make_data(type, shape, seed++);
        Buffer w = device.allocate(d.bytes.size());
        s.upload(w, std::span<const std::byte>(d.bytes)).wait();
        Buffer x = device.allocate(d.x.size() * 4);
        s.upload(x, std::span<const float>(d.x)).wait();
        Buffer y = device.allocate(shape.rows * shape.tokens * 4);
        const double flops = 2.0 * double(shape.rows) * double(shape.cols) * double(shape.tokens);
        double baseline_s = 0;
        auto run_kernel = [&](const char* name, ops::MatmulTiling tiling) {
          const Timing t = measure(config.compute, [&] {
            ops::matmul_weights(s, w, x, y, shape.rows, shape.cols, shape.tokens, type, tiling).wait();
          });
          std::vector<float> got(shape.rows * shape.tokens);
          s.download(y, std::span(got)).wait();
          if (baseline_s == 0) baseline_s = t.median_s;
          Record r{.section = "prefill_kernel", .op = name, .device_id = device.id(),
                   .device = device.properties().name, .dtype = kernels::to_string(type),
                   .shape = fmt::format("{}x{}x{}", shape.rows, shape.cols, shape.tokens),
                   .bytes = d.bytes.size(), .flops = flops, .timing = t,
                   .baseline = "matmul_weights token per invocation", .baseline_s = baseline_s,
                   .check = check(got, d, shape)};
          table.add_row({name, kernels::to_string(type), r.shape, label, duration_label(t.median_s),
                         fmt::format("{:.1f}", r.gflop_per_s()), fmt::format("{:.2f}x", r.speedup()),
                         r.check});
          report.add(std::move(r));
        };
        run_kernel("token/inv.", ops::MatmulTiling::token_per_invocation);
        if (can_tile) run_kernel("tiled 64x64", ops::MatmulTiling::tiled);
      }
    }
  }
  Report::print("prefill matmul over quantized weights: median time per call (enqueue + wait)", table);
}

}  // namespace crossgpu::bench
