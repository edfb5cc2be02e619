// The CPU device's weight-row dot products (kernels/cpu_dot.hpp), each implementation (portable,
// and avx2 where this CPU has it) against a double-precision sum over the reference decoder's
// values, on fresh random rows of every weight type: odd block counts, rows at odd byte
// addresses, block scales over four decades, several vectors at once (dot_weights_tokens).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "kernels/cpu_dot.hpp"
#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using kernels::WeightType;
using kernels::cpu::Simd;
using testing::kEps32;

struct Row {
  std::vector<std::byte> storage;  // the row starts at storage.data() + shift
  std::size_t shift = 0;
  std::vector<float> values;       // as the reference decodes them
  std::vector<float> block_max;    // per element: the largest |value| of its block
  const std::byte* bytes() const { return storage.data() + shift; }
};

// A random row whose blocks are scaled by 10^[-2, 2), stored `shift` bytes past an aligned start.
Row make_row(testing::Rng& rng, WeightType type, std::uint64_t cols, std::size_t shift) {
  std::vector<float> x = rng.floats(cols);
  const std::uint64_t block = kernels::block_elements(type);
  const std::uint64_t span = std::max<std::uint64_t>(block, 32);
  for (std::uint64_t first = 0; first < cols; first += span) {
    const float factor = std::pow(10.0f, rng.uniform(-2.0f, 2.0f));
    for (std::uint64_t i = first; i < std::min(cols, first + span); ++i) x[i] *= factor;
  }
  Row row;
  row.shift = shift;
  const std::uint64_t bytes = kernels::row_bytes(type, cols);
  row.storage.resize(bytes + shift);
  const std::span<std::byte> stored(row.storage.data() + shift, bytes);
  kernels::reference::quantize_row(type, x, stored);
  row.values.resize(cols);
  kernels::reference::dequantize_row(type, stored, row.values);
  row.block_max.resize(cols);
  for (std::uint64_t first = 0; first < cols; first += block) {
    float m = 0.0f;
    for (std::uint64_t i = first; i < first + block; ++i) m = std::max(m, std::abs(row.values[i]));
    std::fill_n(row.block_max.begin() + static_cast<std::ptrdiff_t>(first), block, m);
  }
  return row;
}

struct Expected {
  double value, tolerance;
};

// The double sum, and test_ops_weights' tolerance: f32 accumulation (4 sqrt(n) eps of the sum of
// |products|) plus 4 eps per element of its block's largest value (a decoder's rounding).
Expected expected_dot(const Row& row, const float* x) {
  double sum = 0.0, abs_sum = 0.0, block_sum = 0.0;
  for (std::size_t c = 0; c < row.values.size(); ++c) {
    sum += double{row.values[c]} * x[c];
    abs_sum += std::abs(double{row.values[c]} * x[c]);
    block_sum += row.block_max[c] * std::abs(double{x[c]});
  }
  const double accumulation = 4.0 * std::sqrt(static_cast<double>(row.values.size())) * kEps32;
  return {sum, accumulation * abs_sum + 4.0 * kEps32 * block_sum + 1e-30};
}

std::vector<std::uint64_t> cols_for(WeightType type) {
  switch (kernels::block_elements(type)) {
    case 1: return {1, 7, 8, 15, 16, 17, 33, 1000, 1024};
    case 32: return {32, 64, 96, 1184, 32 * 37};
    default: return {256, 512, 768, 256 * 11};
  }
}

std::vector<Simd> implementations() {
  std::vector<Simd> out = {Simd::portable};
  if (kernels::cpu::simd_available(Simd::avx2)) out.push_back(Simd::avx2);
  return out;
}

const char* name(Simd simd) { return simd == Simd::avx2 ? "avx2" : "portable"; }

class CpuDotTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "  seed %llu\n", (unsigned long long)rng.seed());
  }
  testing::Rng rng;
};

TEST_F(CpuDotTest, EveryTypeAndImplementationMatchesTheReference) {
  for (Simd simd : implementations()) {
    for (WeightType type : kernels::kWeightTypes) {
      for (std::uint64_t cols : cols_for(type)) {
        for (std::size_t shift : {0, 1, 6}) {
          SCOPED_TRACE(::testing::Message() << name(simd) << " " << kernels::to_string(type) << " cols " << cols
                                            << " at +" << shift);
          const Row row = make_row(rng, type, cols, shift);
          const std::vector<float> x = rng.floats(cols, -2.0f, 2.0f);
          const Expected want = expected_dot(row, x.data());
          const float got = kernels::cpu::dot_weights(type, row.bytes(), x.data(), cols, simd);
          EXPECT_NEAR(got, want.value, want.tolerance);
        }
      }
    }
  }
}

// A wrong decoder gives far more than rounding: the tolerance is tight enough to see one element
// of a 256-element block decoded wrong (a check that the test can fail).
TEST_F(CpuDotTest, ToleranceSeesOneWrongElement) {
  for (WeightType type : {WeightType::q8_0, WeightType::q4_k, WeightType::q6_k}) {
    SCOPED_TRACE(kernels::to_string(type));
    const std::uint64_t cols = 768;
    Row row = make_row(rng, type, cols, 0);
    const std::vector<float> x = rng.floats(cols, 0.5f, 1.0f);
    const Expected want = expected_dot(row, x.data());
    const auto worst = std::max_element(row.values.begin(), row.values.end(),
                                        [](float a, float b) { return std::abs(a) < std::abs(b); });
    const double one_element_off = std::abs(*worst) * 0.5;  // an element with a wrong high bit or scale
    EXPECT_GT(one_element_off, want.tolerance);
  }
}

TEST_F(CpuDotTest, SeveralVectorsAtOnceMatchTheReference) {
  for (Simd simd : implementations()) {
  for (WeightType type : kernels::kWeightTypes) {
    // Spans of 256 elements and a part span (32-element blocks: 11 blocks = 352).
    const std::uint64_t cols = kernels::block_elements(type) == 1 ? 77 : kernels::block_elements(type) == 32 ? 352 : 512;
    for (std::uint64_t tokens : {1u, 3u, 9u, 17u}) {
      SCOPED_TRACE(::testing::Message() << name(simd) << " " << kernels::to_string(type) << " " << tokens << " vectors");
      const Row row = make_row(rng, type, cols, 1);
      const std::uint64_t stride = cols + 3;  // vectors with a gap between them
      const std::vector<float> x = rng.floats(tokens * stride);
      const std::uint64_t out_stride = 2;
      std::vector<float> out(tokens * out_stride, -1.0f);
      kernels::cpu::dot_weights_tokens(type, row.bytes(), x.data(), stride, tokens, cols, out.data(), out_stride, simd);
      for (std::uint64_t t = 0; t < tokens; ++t) {
        const Expected want = expected_dot(row, x.data() + t * stride);
        EXPECT_NEAR(out[t * out_stride], want.value, want.tolerance) << "vector " << t;
        EXPECT_EQ(out[t * out_stride + 1], -1.0f) << "wrote between outputs";
      }
    }
  }
  }
}

TEST(CpuDotSelection, TakesAvx2WhereTheCpuHasItUnlessForcedPortable) {
  const char* forced = std::getenv("CROSSGPU_CPU_SIMD");
  if (forced != nullptr && std::string_view(forced) == "portable") {
    EXPECT_EQ(kernels::cpu::selected_simd(), Simd::portable);
  } else {
    EXPECT_EQ(kernels::cpu::selected_simd() == Simd::avx2, kernels::cpu::simd_available(Simd::avx2));
  }
#if !defined(__x86_64__)
  EXPECT_FALSE(kernels::cpu::simd_available(Simd::avx2));
#endif
}

}  // namespace
}  // namespace crossgpu
