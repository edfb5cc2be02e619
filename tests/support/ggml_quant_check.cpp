// crossgpu-ggml-quant-check BINS_DIR [CPU_LIBRARY]: crossgpu's weight decoders against llama.cpp's
// own, and llama.cpp's quantized dot products against exact ones (make check-ggml-quant; not in
// make test: it needs node-llama-cpp's prebuilt libraries).
//
// BINS_DIR is node-llama-cpp's prebuilt folder (…/@node-llama-cpp/linux-x64/bins/linux-x64). Its
// libggml-base.so is loaded, and each type's decoder is taken from ggml_get_type_traits(type)->to_float:
// the very code llama.cpp runs on a file's weights. Part 1 decodes the same bytes with both, for
// every type, on blocks crossgpu's quantizer writes and on random bytes (every bit pattern of the
// quants and scales; the f16/bf16 scale fields kept finite), and counts elements whose float
// bits differ (NaN equal to NaN). Part 2 explains why quantized models drift from llama.cpp's tokens:
// llama.cpp's CPU backend (CPU_LIBRARY, default libggml-cpu-x64.so, the baseline build) first
// quantizes the activation vector to the type's vec_dot_type (q8_0, q8_1 or q8_K) and then takes an
// integer dot; crossgpu dots the dequantized weights with the f32 activations. Both are compared
// with the exact (double) dot of the same dequantized row, as mean relative error over many rows.
// Exit status: 1 when any decoded element differs, 0 otherwise (part 2 is a measurement).
#include <dlfcn.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"

namespace {

using crossgpu::kernels::WeightType;
namespace ref = crossgpu::kernels::reference;

// The layouts of ggml.h / ggml-cpu.h of the llama.cpp that node-llama-cpp 3.21.1 ships (v0.4.0):
// declared here to call through the loaded library, not copied code.
using ToFloat = void (*)(const void* x, float* y, std::int64_t k);
using FromFloat = void (*)(const float* x, void* y, std::int64_t k);
using VecDot = void (*)(int n, float* s, std::size_t bs, const void* x, std::size_t bx, const void* y,
                        std::size_t by, int nrc);
struct GgmlTypeTraits {
  const char* type_name;
  std::int64_t blck_size;
  std::int64_t blck_size_interleave;
  std::size_t type_size;
  bool is_quantized;
  ToFloat to_float;
  FromFloat from_float_ref;
};
struct GgmlTypeTraitsCpu {
  FromFloat from_float;
  VecDot vec_dot;
  int vec_dot_type;
  std::int64_t nrows;
};
using GetTraits = const GgmlTypeTraits* (*)(int type);
using GetTraitsCpu = const GgmlTypeTraitsCpu* (*)(int type);

void* open_library(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), dlerror());
    std::exit(2);
  }
  return handle;
}

template <typename F>
F symbol(void* handle, const char* name) {
  void* p = dlsym(handle, name);
  if (!p) {
    std::fprintf(stderr, "missing symbol %s\n", name);
    std::exit(2);
  }
  return reinterpret_cast<F>(p);
}

constexpr std::size_t kCols = 512;  // two k-quant super-blocks, sixteen 32-element blocks
constexpr std::size_t kRows = 256;

// Weights shaped like a real model's: mostly small, a few outliers per row.
std::vector<float> random_row(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> row(kCols);
  for (float& v : row) v = normal(rng);
  for (int i = 0; i < 4; ++i) row[rng() % kCols] *= 12.0f;
  return row;
}

// Byte offsets of the f16 (bf16 for bf16) fields of a block that scale it, which random bytes
// would otherwise make inf or NaN.
std::vector<std::size_t> scale_fields(WeightType type) {
  switch (type) {
    case WeightType::q4_0: case WeightType::q5_0: case WeightType::q8_0: case WeightType::iq4_nl: return {0};
    case WeightType::q4_1: case WeightType::q5_1: case WeightType::q4_k: case WeightType::q5_k: return {0, 2};
    case WeightType::q6_k: return {208};
    case WeightType::f16: case WeightType::bf16: return {0};
    default: return {};
  }
}

// A random finite half (f16) or bfloat16 of a sensible magnitude.
std::uint16_t finite_half(WeightType type, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  const float v = u(rng) * (type == WeightType::bf16 ? 1.0f : 0.01f);
  if (type == WeightType::bf16) return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(v) >> 16);
  std::vector<std::byte> h(2);
  ref::quantize_row(WeightType::f16, std::span<const float>(&v, 1), h);
  std::uint16_t out;
  std::memcpy(&out, h.data(), 2);
  return out;
}

std::vector<std::byte> random_bytes(WeightType type, std::mt19937& rng) {
  std::vector<std::byte> row(crossgpu::kernels::row_bytes(type, kCols));
  for (std::byte& b : row) b = static_cast<std::byte>(rng());
  if (type == WeightType::f32) {
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    for (std::size_t i = 0; i < kCols; ++i) {
      const float v = u(rng);
      std::memcpy(row.data() + 4 * i, &v, 4);
    }
    return row;
  }
  const std::size_t block = crossgpu::kernels::block_bytes(type);
  for (std::size_t at = 0; at < row.size(); at += block) {
    for (std::size_t field : scale_fields(type)) {
      const std::uint16_t h = finite_half(type, rng);
      std::memcpy(row.data() + at + field, &h, 2);
    }
  }
  return row;
}

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

// Elements of `row` whose decoded floats differ between crossgpu and ggml; `worst` the largest gap.
std::size_t decode_mismatches(WeightType type, const std::vector<std::byte>& row, ToFloat ggml, double& worst) {
  std::vector<float> ours(kCols), theirs(kCols);
  ref::dequantize_row(type, row, ours);
  ggml(row.data(), theirs.data(), static_cast<std::int64_t>(kCols));
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kCols; ++i) {
    if (same_float(ours[i], theirs[i])) continue;
    ++bad;
    worst = std::max(worst, std::fabs(double{ours[i]} - theirs[i]));
  }
  return bad;
}

struct DotErrors {
  double llama_cpp = 0;  // mean |ggml vec_dot - exact| / mean |exact|
  double crossgpu = 0;
  const char* activation_type = "";
};

DotErrors dot_errors(WeightType type, const GgmlTypeTraits* traits, const GgmlTypeTraitsCpu* cpu,
                     GetTraits get_traits, GetTraitsCpu get_traits_cpu, std::mt19937& rng) {
  const GgmlTypeTraits* act = get_traits(cpu->vec_dot_type);
  // The activation's own from_float (the weight type's would quantize to the weight type).
  const FromFloat quantize_activation = get_traits_cpu(cpu->vec_dot_type)->from_float;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(kCols), w(kCols);
  std::vector<std::byte> row(crossgpu::kernels::row_bytes(type, kCols));
  std::vector<std::byte> qx(kCols / act->blck_size * act->type_size + 64);
  double err_ggml = 0, err_ours = 0, scale = 0;
  for (std::size_t r = 0; r < kRows; ++r) {
    for (float& v : x) v = normal(rng);  // an RMS-normed activation: unit scale
    ref::quantize_row(type, random_row(rng), row);
    traits->to_float(row.data(), w.data(), static_cast<std::int64_t>(kCols));
    double exact = 0;
    for (std::size_t i = 0; i < kCols; ++i) exact += double{w[i]} * x[i];
    const void* rhs = x.data();
    if (cpu->vec_dot_type != static_cast<int>(WeightType::f32)) {
      quantize_activation(x.data(), qx.data(), static_cast<std::int64_t>(kCols));
      rhs = qx.data();
    }
    float got = 0;
    cpu->vec_dot(static_cast<int>(kCols), &got, 0, row.data(), 0, rhs, 0, 1);
    err_ggml += std::fabs(got - exact);
    err_ours += std::fabs(double{ref::dot_row(type, row, x)} - exact);
    scale += std::fabs(exact);
  }
  return {err_ggml / scale, err_ours / scale, act->type_name};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: crossgpu-ggml-quant-check BINS_DIR [CPU_LIBRARY]\n");
    return 2;
  }
  const std::string dir = argv[1];
  void* base = open_library(dir + "/libggml-base.so");
  void* cpu = open_library(dir + "/" + (argc == 3 ? argv[2] : "libggml-cpu-x64.so"));
  const auto get_traits = symbol<GetTraits>(base, "ggml_get_type_traits");
  const auto get_traits_cpu = symbol<GetTraitsCpu>(cpu, "ggml_get_type_traits_cpu");
  symbol<void (*)()>(cpu, "ggml_cpu_init")();
  std::mt19937 rng(20261207);
  std::size_t total_bad = 0;
  std::printf("%-7s %-8s %-22s %-22s %-8s %s\n", "type", "ggml", "decode: quantizer rows", "decode: random bytes",
              "act", "dot rel. error: llama.cpp / crossgpu");
  for (const WeightType type : crossgpu::kernels::kWeightTypes) {
    const GgmlTypeTraits* traits = get_traits(static_cast<int>(type));
    const GgmlTypeTraitsCpu* cpu_traits = get_traits_cpu(static_cast<int>(type));
    if (type == WeightType::f32) continue;  // stored as is: nothing to decode
    if (!traits || !traits->to_float || !cpu_traits || !cpu_traits->vec_dot) {
      std::printf("%-7s ggml has no decoder\n", crossgpu::kernels::to_string(type));
      ++total_bad;
      continue;
    }
    if (traits->blck_size != static_cast<std::int64_t>(crossgpu::kernels::block_elements(type)) ||
        traits->type_size != crossgpu::kernels::block_bytes(type)) {
      std::printf("%-7s block size differs: ggml %lld elements / %zu bytes\n", crossgpu::kernels::to_string(type),
                  static_cast<long long>(traits->blck_size), traits->type_size);
      ++total_bad;
      continue;
    }
    double worst_q = 0, worst_r = 0;
    std::size_t bad_q = 0, bad_r = 0;
    std::vector<std::byte> row(crossgpu::kernels::row_bytes(type, kCols));
    for (std::size_t r = 0; r < kRows; ++r) {
      ref::quantize_row(type, random_row(rng), row);
      bad_q += decode_mismatches(type, row, traits->to_float, worst_q);
      bad_r += decode_mismatches(type, random_bytes(type, rng), traits->to_float, worst_r);
    }
    const DotErrors dot = dot_errors(type, traits, cpu_traits, get_traits, get_traits_cpu, rng);
    char q[64], rb[64];
    std::snprintf(q, sizeof q, "%zu/%zu differ", bad_q, kRows * kCols);
    std::snprintf(rb, sizeof rb, "%zu/%zu differ", bad_r, kRows * kCols);
    std::printf("%-7s %-8s %-22s %-22s %-8s %.2e / %.2e\n", crossgpu::kernels::to_string(type), traits->type_name, q,
                rb, dot.activation_type, dot.llama_cpp, dot.crossgpu);
    if (bad_q + bad_r) std::printf("        largest difference %.3g / %.3g\n", worst_q, worst_r);
    total_bad += bad_q + bad_r;
  }
  std::printf(total_bad ? "FAIL: decoders differ from llama.cpp's\n"
                        : "every decoded element is bit for bit llama.cpp's\n");
  return total_bad ? 1 : 0;
}
