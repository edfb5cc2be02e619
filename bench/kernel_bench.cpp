// matmul and matvec throughput (f32 and f16 inputs) on each device through kernels/ops.hpp,
// against the CPU reference timed on the same inputs in the same run. Every device's result is
// checked against the reference's, so a fast wrong kernel shows up as wrong, not as fast.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "bench.hpp"
#include "core/error.hpp"
#include "kernels/ops.hpp"
#include "kernels/reference/reference.hpp"

namespace crossgpu::bench {
namespace {

using reference::Half;

struct KernelCase {
  bool matvec = false;  // else matmul
  ops::DType type = ops::DType::f32;
  std::uint64_t m = 0;  // rows of A (and of the output)
  std::uint64_t n = 1;  // columns of B and C; 1 for matvec
  std::uint64_t k = 0;  // columns of A

  const char* op() const { return matvec ? "matvec" : "matmul"; }
  std::string shape() const {
    return matvec ? fmt::format("{}x{}", m, k) : fmt::format("{}x{}x{}", m, n, k);
  }
  double flops() const {
    return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  }
  // Every operand read or written once: the least traffic the op can cause.
  std::uint64_t bytes() const {
    const std::uint64_t element = ops::size_of(type);
    if (matvec) return m * k * element + k * 4 + m * 4;  // x and y are f32
    return (m * k + k * n) * element + m * n * 4;
  }
};

std::vector<KernelCase> kernel_cases(bool quick) {
  const std::vector<std::uint64_t> square =
      quick ? std::vector<std::uint64_t>{64, 128} : std::vector<std::uint64_t>{256, 512, 1024};
  const std::vector<std::uint64_t> vector =
      quick ? std::vector<std::uint64_t>{256, 1024} : std::vector<std::uint64_t>{1024, 4096};
  std::vector<KernelCase> cases;
  for (ops::DType type : {ops::DType::f32, ops::DType::f16}) {
    for (std::uint64_t s : square) cases.push_back({false, type, s, s, s});
    for (std::uint64_t s : vector) cases.push_back({true, type, s, 1, s});
  }
  return cases;
}

// Inputs on the host, in f32 and as the halves that an f16 case uploads; x of a matvec is f32.
struct HostCase {
  std::vector<float> a, b;
  std::vector<Half> a16, b16;
  std::vector<float> expected;
};

HostCase make_host_case(const KernelCase& c, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  HostCase h;
  h.a.resize(c.m * c.k);
  h.b.resize(c.k * c.n);
  for (float& v : h.a) v = dist(rng);
  for (float& v : h.b) v = dist(rng);
  if (c.type == ops::DType::f16) {
    h.a16.resize(h.a.size());
    std::transform(h.a.begin(), h.a.end(), h.a16.begin(), reference::to_half);
    if (!c.matvec) {
      h.b16.resize(h.b.size());
      std::transform(h.b.begin(), h.b.end(), h.b16.begin(), reference::to_half);
    }
  }
  h.expected.resize(c.m * c.n);
  return h;
}

template <typename T>
void reference_run(const KernelCase& c, const std::vector<T>& a, const std::vector<T>& b,
                   const std::vector<float>& x, std::vector<float>& out) {
  namespace ref = reference;
  const auto a_view = ref::matrix(std::span<const T>(a), c.m, c.k);
  if (c.matvec) {
    ref::matvec(a_view, std::span<const float>(x), std::span(out));
  } else {
    ref::matmul(a_view, ref::matrix(std::span<const T>(b), c.k, c.n),
                ref::matrix(std::span(out), c.m, c.n));
  }
}

Timing time_reference(const KernelCase& c, HostCase& h, TimingPolicy policy) {
  policy.warmup_runs = 0;  // no JIT, and the vectors were touched when they were filled
  return measure(policy, [&] {
    if (c.type == ops::DType::f16) {
      reference_run(c, h.a16, h.b16, h.b, h.expected);
    } else {
      reference_run(c, h.a, h.b, h.b, h.expected);
    }
  });
}

template <typename T>
Buffer upload_vector(Device& device, const std::vector<T>& values) {
  Buffer buffer = device.allocate(values.size() * sizeof(T));
  device.stream().upload(buffer, std::span<const T>(values));
  return buffer;
}

// "ok", or the worst element. Inputs are identical on both sides (halves included), so only
// the order of the f32 accumulation differs.
std::string verify(const std::vector<float>& got, const std::vector<float>& want) {
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(double(got[i]) - want[i]) / (1.0 + std::fabs(want[i]));
    if (!(error <= worst)) {  // NaN counts as the worst
      worst = std::isnan(error) ? INFINITY : error;
      at = i;
    }
  }
  if (worst <= 1e-3) return "ok";
  return fmt::format("WRONG: [{}] = {} vs {}", at, got[at], want[at]);
}

Record run_on_device(Device& device, const KernelCase& c, const HostCase& h,
                     const TimingPolicy& policy) {
  const bool f16 = c.type == ops::DType::f16;
  Buffer a = f16 ? upload_vector(device, h.a16) : upload_vector(device, h.a);
  Buffer b = (f16 && !c.matvec) ? upload_vector(device, h.b16) : upload_vector(device, h.b);
  Buffer out = device.allocate(c.m * c.n * sizeof(float));
  Stream& s = device.stream();
  s.synchronize();
  const Timing t = measure(policy, [&] {
    if (c.matvec) {
      ops::matvec(s, a, b, out, c.m, c.k, c.type).wait();
    } else {
      ops::matmul(s, a, b, out, {.m = c.m, .n = c.n, .k = c.k}, c.type).wait();
    }
  });
  std::vector<float> got(c.m * c.n);
  s.download(out, std::span(got)).wait();
  return Record{.section = "kernel",
                .op = c.op(),
                .device_id = device.id(),
                .device = device.properties().name,
                .dtype = ops::to_string(c.type),
                .shape = c.shape(),
                .bytes = c.bytes(),
                .flops = c.flops(),
                .timing = t,
                .check = verify(got, h.expected)};
}

std::vector<std::string> table_row(const Record& r, const std::string& device_label) {
  const std::string speedup = r.baseline.empty() ? "1.00x" : fmt::format("{:.2f}x", r.speedup());
  return {r.op,
          r.dtype,
          r.shape,
          device_label,
          duration_label(r.timing.median_s),
          fmt::format("{:.2f}", r.gflop_per_s()),
          fmt::format("{:.2f}", r.gb_per_s()),
          speedup,
          r.check};
}

}  // namespace

void run_kernel_bench(const std::vector<std::shared_ptr<Device>>& devices,
                      const BenchConfig& config, Report& report) {
  apps::Table table({{"op"},
                     {"dtype"},
                     {"shape", apps::Align::right},
                     {"device"},
                     {"median", apps::Align::right},
                     {"GFLOP/s", apps::Align::right},
                     {"GB/s", apps::Align::right},
                     {"vs ref", apps::Align::right},
                     {"check"}});
  std::uint32_t seed = 1;
  for (const KernelCase& c : kernel_cases(config.quick)) {
    HostCase host = make_host_case(c, seed++);
    Record ref{.section = "kernel",
               .op = c.op(),
               .device_id = "host",
               .device = "cpu reference",
               .dtype = ops::to_string(c.type),
               .shape = c.shape(),
               .bytes = c.bytes(),
               .flops = c.flops(),
               .timing = time_reference(c, host, config.compute)};
    table.add_row(table_row(ref, "cpu reference"));
    for (std::size_t i = 0; i < devices.size(); ++i) {
      const std::string label = fmt::format("[{}] {}", i, devices[i]->properties().name);
      if (c.type == ops::DType::f16 && !devices[i]->properties().caps.storage_16bit) {
        table.add_row({c.op(), ops::to_string(c.type), c.shape(), label, "-", "-", "-", "-",
                       "unsupported: no 16-bit storage"});
        continue;
      }
      Record record;
      try {
        record = run_on_device(*devices[i], c, host, config.compute);
      } catch (const Error& e) {
        table.add_row({c.op(), ops::to_string(c.type), c.shape(), label, "-", "-", "-", "-",
                       fmt::format("error {}: {}", errc_name(e.code()), e.what())});
        continue;
      }
      record.baseline = "cpu reference";
      record.baseline_s = ref.timing.median_s;
      table.add_row(table_row(record, label));
      report.add(std::move(record));
    }
    report.add(std::move(ref));
  }
  Report::print(
      "kernels: median time per op (enqueue + wait); vs ref = CPU reference time / "
      "device time",
      table);
}

}  // namespace crossgpu::bench
