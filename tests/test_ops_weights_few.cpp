// ops::matmul_weights_few (the decode step of several sequences on GPUs) on every device and
// every weight type, against the reference: fresh random rows encoded by quant::quantize_row,
// decoded by quant::dequantize_row, then dotted in double with each token's row of X. The
// tolerance is test_ops_weights.cpp's: the f32 accumulation (4 sqrt(k) eps32 sum |w x|) plus an
// ulp per decoded weight (a shader may fuse scale * q - min into one fma).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ops_weights_few.hpp"
#include "kernels/reference/quant.hpp"
#include "kernels/weight_few_kernels.hpp"
#include "support/test_devices.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using kernels::WeightType;
using testing::kEps32;
using testing::throws_errc;
namespace quant = kernels::reference;

// Where the operands start and how far apart Y's rows are (0: dense).
struct Layout {
  std::uint64_t w_at = 0, x_at = 0, y_at = 0, ldy = 0;
};

class FewTokensMatmulTest : public testing::DeviceOpsTest {
 protected:
  // Runs the op on `tokens` random rows of X against a random rows x cols matrix of `type` and
  // compares every stored element; Y's elements between rows (ldy > rows) must stay untouched.
  void check(WeightType type, std::uint64_t rows, std::uint64_t cols, std::uint64_t tokens, Layout at = {}) {
    SCOPED_TRACE(::testing::Message() << kernels::to_string(type) << " " << rows << "x" << cols << ", " << tokens
                                      << " tokens, ldy " << at.ldy);
    const std::uint64_t row_bytes = kernels::row_bytes(type, cols);
    const std::uint64_t ldy = at.ldy == 0 ? rows : at.ldy;
    std::vector<std::byte> encoded(rows * row_bytes);
    std::vector<float> decoded(rows * cols);
    for (std::uint64_t r = 0; r < rows; ++r) {
      const auto row = std::span(encoded).subspan(r * row_bytes, row_bytes);
      quant::quantize_row(type, rng.floats(cols), row);
      quant::dequantize_row(type, row, std::span(decoded).subspan(r * cols, cols));
    }
    const auto x = rng.floats(tokens * cols);
    constexpr float kUntouched = 12345.0f;
    const std::vector<float> y0(tokens * ldy, kUntouched);
    Buffer dw = upload(encoded, at.w_at);
    Buffer dx = upload(x, at.x_at);
    Buffer dy = upload(y0, at.y_at);
    ops::matmul_weights_few(stream(), {dw, at.w_at}, {dx, at.x_at}, {dy, at.y_at}, rows, cols, tokens, type,
                            at.ldy)
        .wait();
    const auto got = download<float>(dy, tokens * ldy, at.y_at);

    std::vector<float> want(got.size(), kUntouched);
    std::vector<double> tolerance(got.size(), 0.0);
    for (std::uint64_t t = 0; t < tokens; ++t) {
      for (std::uint64_t r = 0; r < rows; ++r) {
        double dot = 0.0, magnitude = 0.0;
        for (std::uint64_t c = 0; c < cols; ++c) {
          const double product = double{decoded[r * cols + c]} * x[t * cols + c];
          dot += product;
          magnitude += std::abs(product);
        }
        want[t * ldy + r] = static_cast<float>(dot);
        tolerance[t * ldy + r] = (4.0 * std::sqrt(double(cols)) + 4.0) * kEps32 * magnitude + 1e-30;
      }
    }
    EXPECT_TRUE(testing::all_close(got, want, [&](std::size_t i) { return tolerance[i]; }));
  }
};

// One variant per type (5 tokens per group), an odd number of rows (the last subgroup's second
// row repeats the first) over two groups of kFewRowsPerGroup and a partial third.
TEST_P(FewTokensMatmulTest, EveryWeightTypeMatchesTheReference) {
  for (WeightType type : kernels::kWeightTypes) check(type, 2 * kernels::kFewRowsPerGroup + 3, 512, 5);
}

// Token counts across the variants and the split of more than kFewTokens over groups (12: two
// groups of 6, 16: two of 8), on the two types of the models.
TEST_P(FewTokensMatmulTest, TokenCountsFromOneToSixteen) {
  for (WeightType type : {WeightType::q8_0, WeightType::q4_k}) {
    for (std::uint64_t tokens : {1, 2, 3, 8, 9, 12, 16}) check(type, 40, 768, tokens);
  }
}

// Operands inside larger buffers (W at a word, X at a 16-byte boundary, Y at an odd element) and
// Y rows wider than the matrix (a packed Q|K|V row), so other rows' columns stay as they were;
// q4_0 rows of 18 * n bytes start off a word.
TEST_P(FewTokensMatmulTest, OffsetsAndRowStride) {
  check(WeightType::q4_0, 21, 96, 4, {.w_at = 12, .x_at = 48, .y_at = 28, .ldy = 37});
  check(WeightType::q8_0, 16, 2048, 7, {.w_at = 4, .x_at = 16, .y_at = 4, .ldy = 20});
  check(WeightType::f32, 9, 36, 3, {.ldy = 11});  // a plain row ending inside a 32-element unit
}

TEST_P(FewTokensMatmulTest, BadInputsAreRefused) {
  Buffer w = device().allocate(4096), x = device().allocate(4096), y = device().allocate(4096);
  Stream& s = stream();
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights_few(s, w, x, y, 2, 6, 2, WeightType::f32); },
                          Errc::invalid_argument, "multiple of"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights_few(s, w, {x, 8}, y, 2, 32, 2, WeightType::q8_0); },
                          Errc::misaligned, "vec4"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights_few(s, {w, 2}, x, y, 2, 32, 2, WeightType::q8_0); },
                          Errc::misaligned, "32-bit words"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights_few(s, w, x, y, 4, 32, 2, WeightType::q8_0, 3); },
                          Errc::invalid_argument, "ldy"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights_few(s, w, x, y, 1000, 32, 2, WeightType::q8_0); },
                          Errc::out_of_range, "needs"));
}

// Chosen on GPUs only, for 2 to 16 tokens and X as the kernel reads it: on lavapipe and the
// CPU device the other paths are the faster ones.
TEST_P(FewTokensMatmulTest, FitsOnlyGpusAndFewTokens) {
  Buffer x = device().allocate(1024);
  const DeviceProperties& p = device().properties();
  const bool gpu = p.backend == Backend::vulkan && p.type != DeviceType::cpu && p.caps.subgroup_arithmetic;
  EXPECT_EQ(ops::matmul_weights_few_fits(device(), 8, 4096, x), gpu);
  EXPECT_FALSE(ops::matmul_weights_few_fits(device(), 1, 4096, x));
  EXPECT_FALSE(ops::matmul_weights_few_fits(device(), ops::kMaxFewTokens + 1, 4096, x));
  EXPECT_FALSE(ops::matmul_weights_few_fits(device(), 8, 4096, {x, 8}));
}

INSTANTIATE_TEST_SUITE_P(Devices, FewTokensMatmulTest, testing::every_device(), testing::device_param_name);

}  // namespace
}  // namespace crossgpu
