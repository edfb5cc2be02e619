#include "telemetry/selftest.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <span>

#include "core/error.hpp"
#include "kernels/ops.hpp"
#include "kernels/reference/reference.hpp"

namespace crossgpu::telemetry {
namespace {

using reference::Half;
using Clock = std::chrono::steady_clock;

// Odd shapes on purpose: partial workgroups and tiles at every edge.
constexpr std::uint64_t kElements = 4099;
constexpr std::uint64_t kRows = 7, kCols = 513;  // softmax and rms_norm, inside kElements
constexpr ops::MatmulShape kMatmul{.m = 37, .n = 41, .k = 65};
constexpr std::uint64_t kMatvecRows = 129, kMatvecCols = 300;
constexpr float kScale = 0.5f;
constexpr int kWarmRuns = 5;

struct Inputs {
  std::vector<float> a, b;    // elementwise operands, kElements each
  std::vector<float> ma, mb;  // matmul A (m x k) and B (k x n)
  std::vector<float> va, vx;  // matvec A (rows x cols) and x (cols)
  std::vector<Half> ma16, mb16, va16;
};

std::vector<float> uniform(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> out(n);
  for (float& v : out) v = dist(rng);
  return out;
}

std::vector<Half> to_half(const std::vector<float>& values) {
  std::vector<Half> out(values.size());
  std::transform(values.begin(), values.end(), out.begin(), reference::to_half);
  return out;
}

Inputs make_inputs(std::uint32_t seed) {
  std::mt19937 rng(seed);
  Inputs in;
  in.a = uniform(kElements, rng);
  in.b = uniform(kElements, rng);
  in.ma = uniform(kMatmul.m * kMatmul.k, rng);
  in.mb = uniform(kMatmul.k * kMatmul.n, rng);
  in.va = uniform(kMatvecRows * kMatvecCols, rng);
  in.vx = uniform(kMatvecCols, rng);
  in.ma16 = to_half(in.ma);
  in.mb16 = to_half(in.mb);
  in.va16 = to_half(in.va);
  return in;
}

// One result of the chain: what the reference says and how close the device must come.
struct Check {
  std::string name;
  std::vector<float> expected;
  float atol = 0, rtol = 0;
  bool f16 = false;  // needs caps.storage_16bit
};

template <typename T>
std::span<const T> view(const std::vector<T>& v) {
  return v;
}

// Tolerances: exactly rounded ops get a few ulps; transcendental and accumulating ops get room
// for a different (but correct) evaluation order or exp implementation.
std::vector<Check> expected_chain(const Inputs& in) {
  namespace ref = reference;
  std::vector<float> c(kElements), d(kElements), e(kElements), f(kRows * kCols), g(kRows * kCols);
  ref::add(in.a, in.b, c);
  ref::scale(c, d, kScale);
  ref::silu(d, e);
  ref::softmax(ref::matrix(view(e).first(kRows * kCols), kRows, kCols),
               ref::matrix(std::span(f), kRows, kCols));
  ref::rms_norm(ref::matrix(view(c).first(kRows * kCols), kRows, kCols), view(in.b).first(kCols),
                ref::matrix(std::span(g), kRows, kCols), 1e-5f);
  const float total = ref::sum(e);
  return {{"add", c, 0, 1e-6f},          {"scale", d, 0, 1e-6f},
          {"silu", e, 1e-6f, 1e-5f},     {"softmax", f, 1e-7f, 1e-4f},
          {"rms_norm", g, 1e-6f, 1e-4f}, {"sum", {total}, 1e-3f, 1e-4f}};
}

template <typename T>
Check expected_matmul(const char* name, const std::vector<T>& a, const std::vector<T>& b) {
  namespace ref = reference;
  std::vector<float> c(kMatmul.m * kMatmul.n);
  ref::matmul(ref::matrix(view(a), kMatmul.m, kMatmul.k),
              ref::matrix(view(b), kMatmul.k, kMatmul.n),
              ref::matrix(std::span(c), kMatmul.m, kMatmul.n));
  const bool f16 = sizeof(T) == 2;
  return {name, std::move(c), f16 ? 1e-4f : 1e-5f, f16 ? 1e-3f : 1e-4f, f16};
}

template <typename T>
Check expected_matvec(const char* name, const std::vector<T>& a, const std::vector<float>& x) {
  std::vector<float> y(kMatvecRows);
  reference::matvec(reference::matrix(view(a), kMatvecRows, kMatvecCols), view(x), std::span(y));
  const bool f16 = sizeof(T) == 2;
  return {name, std::move(y), f16 ? 1e-4f : 1e-5f, f16 ? 1e-3f : 1e-4f, f16};
}

// In the order that enqueue_chain() writes its outputs.
std::vector<Check> expected_results(const Inputs& in) {
  std::vector<Check> checks = expected_chain(in);
  checks.push_back(expected_matmul("matmul_f32", in.ma, in.mb));
  checks.push_back(expected_matvec("matvec_f32", in.va, in.vx));
  checks.push_back(expected_matmul("matmul_f16", in.ma16, in.mb16));
  checks.push_back(expected_matvec("matvec_f16", in.va16, in.vx));
  return checks;
}

// Device buffers of one run, in the order of expected_results().
struct DeviceChain {
  Buffer a, b, ma, mb, va, vx, ma16, mb16, va16;
  std::vector<Buffer> outputs;
};

template <typename T>
Buffer upload_new(Device& device, const std::vector<T>& host) {
  Buffer buffer = device.allocate(host.size() * sizeof(T));
  device.stream().upload(buffer, std::span<const T>(host));
  return buffer;
}

DeviceChain upload_inputs(Device& device, const Inputs& in, const std::vector<Check>& checks,
                          bool f16) {
  DeviceChain chain{upload_new(device, in.a),  upload_new(device, in.b),
                    upload_new(device, in.ma), upload_new(device, in.mb),
                    upload_new(device, in.va), upload_new(device, in.vx)};
  if (f16) {
    chain.ma16 = upload_new(device, in.ma16);
    chain.mb16 = upload_new(device, in.mb16);
    chain.va16 = upload_new(device, in.va16);
  }
  for (const Check& check : checks) {
    chain.outputs.push_back(device.allocate(check.expected.size() * sizeof(float)));
  }
  device.synchronize();
  return chain;
}

// The ops, in the order of expected_results(); each reads the outputs of the ones before it, so
// the stream's ordering is part of what is tested.
void enqueue_chain(Stream& s, const DeviceChain& c, bool f16) {
  const std::vector<Buffer>& out = c.outputs;
  ops::add(s, c.a, c.b, out[0], kElements);
  ops::scale(s, out[0], out[1], kElements, kScale);
  ops::silu(s, out[1], out[2], kElements);
  ops::softmax(s, out[2], out[3], kRows, kCols);
  ops::rms_norm(s, out[0], c.b, out[4], kRows, kCols, 1e-5f);
  ops::sum(s, out[2], out[5], kElements);
  ops::matmul(s, c.ma, c.mb, out[6], kMatmul);
  ops::matvec(s, c.va, c.vx, out[7], kMatvecRows, kMatvecCols);
  if (f16) {
    ops::matmul(s, c.ma16, c.mb16, out[8], kMatmul, ops::DType::f16);
    ops::matvec(s, c.va16, c.vx, out[9], kMatvecRows, kMatvecCols, ops::DType::f16);
  }
}

// First mismatch of `got` against `check`, or an empty string.
std::string compare(const Check& check, const std::vector<float>& got, double& max_error) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    const float want = check.expected[i];
    const float error = std::fabs(got[i] - want);
    max_error = std::max<double>(max_error, error / std::max(1.0f, std::fabs(want)));
    if (!(error <= check.atol + check.rtol * std::fabs(want))) {  // NaN fails too
      return fmt::format("{}[{}] = {:.9g}, reference {:.9g} (|diff| {:.3g})", check.name, i, got[i],
                         want, error);
    }
  }
  return {};
}


double run_ms(Device& device, const DeviceChain& chain, bool f16) {
  const auto start = Clock::now();
  enqueue_chain(device.stream(), chain, f16);
  device.synchronize();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Cold pays pipeline creation (the shader JIT on lavapipe); warm is the median of later runs.
void time_chain(Device& device, const DeviceChain& chain, bool f16, SelfTestReport& report) {
  report.cold_ms = run_ms(device, chain, f16);
  std::vector<double> warm;
  for (int i = 0; i < kWarmRuns; ++i) warm.push_back(run_ms(device, chain, f16));
  std::nth_element(warm.begin(), warm.begin() + kWarmRuns / 2, warm.end());
  report.warm_ms = warm[kWarmRuns / 2];
}

void check_outputs(Device& device, const DeviceChain& chain, const std::vector<Check>& checks,
                   bool f16, SelfTestReport& report) {
  for (std::size_t i = 0; i < checks.size(); ++i) {
    if (checks[i].f16 && !f16) continue;
    std::vector<float> got(checks[i].expected.size());
    device.stream().download(chain.outputs[i], std::span(got)).wait();
    ++report.checks;
    const std::string mismatch = compare(checks[i], got, report.max_error);
    if (!mismatch.empty()) {
      report.passed = false;
      report.notes.push_back(mismatch);
    }
  }
}


SelfTestReport run_self_test(Device& device, const Inputs& in, const std::vector<Check>& checks) {
  SelfTestReport report;
  const bool f16 = device.properties().caps.storage_16bit;
  if (!f16) report.notes.push_back("f16 ops skipped: the device has no 16-bit storage");
  try {
    const DeviceChain chain = upload_inputs(device, in, checks, f16);
    time_chain(device, chain, f16, report);
    check_outputs(device, chain, checks, f16, report);
  } catch (const Error& e) {
    report.passed = false;
    report.notes.push_back(fmt::format("error {}: {}", errc_name(e.code()), e.what()));
  }
  return report;
}

}  // namespace

SelfTestReport self_test(Device& device, std::uint32_t seed) {
  const Inputs inputs = make_inputs(seed);
  return run_self_test(device, inputs, expected_results(inputs));
}

}  // namespace crossgpu::telemetry
