// The remote-dispatch bounds rules of the weight kernels (src/cluster/kernel_bounds_weights.cpp):
// what a node accepts from a peer's push constants, and what it refuses before the shader could
// read or write outside a binding.
#include <gtest/gtest.h>

#include <vector>

#include "cluster/kernel_bounds_weights.hpp"
#include "kernels/push_constants_weights.hpp"
#include "kernels/weight_type.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

using cluster::check_weight_kernel_bounds;
using kernels::WeightsGetRowsPush;
using kernels::WeightsMatmulPush;
using kernels::WeightsMatvecPush;
using testing::throws_errc;

constexpr std::uint32_t kQ4_0 = 2, kQ4_K = 12, kF32 = 0;

template <typename Push>
bool check(std::string_view name, const Push& push, std::vector<std::uint64_t> bytes) {
  return check_weight_kernel_bounds(name, std::as_bytes(std::span(&push, 1)), bytes);
}

TEST(WeightKernelBounds, OtherKernelsAreLeftToTheOtherRules) {
  const WeightsMatvecPush push{};
  EXPECT_FALSE(check("matvec_f32", push, {4, 4, 4}));
  EXPECT_FALSE(check("", push, {4, 4, 4}));
}

// 3 rows of 96 q4_0 elements: 162 bytes, read as 41 words (164 bytes).
TEST(WeightKernelBounds, MatvecReachesWholeWordsOfW) {
  const WeightsMatvecPush good{3, 96, kQ4_0, 0, 0, 0};
  EXPECT_TRUE(check("matvec_weights", good, {164, 96 * 4, 3 * 4}));
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", good, {163, 96 * 4, 12}); },
                          Errc::out_of_range, "binding 0"));
  WeightsMatvecPush bad = good;
  bad.w_offset = 4;
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {164, 384, 12}); },
                          Errc::out_of_range, "binding 0"));
  bad = good;
  bad.x_offset = 1;
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {164, 384, 12}); },
                          Errc::out_of_range, "binding 1"));
  bad = good;
  bad.y_offset = 1;
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {164, 384, 12}); },
                          Errc::out_of_range, "binding 2"));
  // rows * row bytes beyond 64 bits must not wrap into something small.
  bad = {0xFFFFFFFFu, 0xFFFFFFF0u, kF32, 0, 0, 0};
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {1 << 20, 1 << 20, 1 << 20}); },
                          Errc::out_of_range));
  bad = {0, 96, kQ4_0, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};  // no rows: nothing is touched
  EXPECT_TRUE(check("matvec_weights", bad, {0, 0, 0}));
}

TEST(WeightKernelBounds, TypesAndBlocksAreChecked) {
  WeightsMatvecPush bad{1, 96, 3, 0, 0, 0};
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {1024, 1024, 1024}); },
                          Errc::invalid_argument, "weight type 3"));
  bad = {1, 128, kQ4_K, 0, 0, 0};  // a partial 256-element block
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {1024, 1024, 1024}); },
                          Errc::invalid_argument, "q4_k"));
  const std::vector<std::byte> short_push(8);
  const std::vector<std::uint64_t> bytes = {1024, 1024, 1024};
  EXPECT_TRUE(throws_errc([&] { check_weight_kernel_bounds("get_rows_weights", short_push, bytes); },
                          Errc::invalid_argument));
}

// 5 rows of 256 q4_k (144 bytes each), 3 tokens, Y with row stride 8.
TEST(WeightKernelBounds, MatmulChecksEveryOperand) {
  const WeightsMatmulPush good{5, 256, 3, kQ4_K, 0, 0, 0, 8};
  const std::vector<std::uint64_t> bytes = {5 * 144, 3 * 256 * 4, (2 * 8 + 5) * 4};
  EXPECT_TRUE(check("matmul_weights", good, bytes));
  WeightsMatmulPush bad = good;
  bad.ldy = 9;
  EXPECT_TRUE(throws_errc([&] { check("matmul_weights", bad, bytes); }, Errc::out_of_range,
                          "binding 2"));
  bad = good;
  bad.tokens = 4;
  EXPECT_TRUE(throws_errc([&] { check("matmul_weights", bad, bytes); }, Errc::out_of_range,
                          "binding 1"));
  bad = good;
  bad.rows = 6;
  EXPECT_TRUE(throws_errc([&] { check("matmul_weights", bad, bytes); }, Errc::out_of_range,
                          "binding 0"));
  bad = good;
  bad.tokens = 0;  // the shader clamps to tokens - 1
  EXPECT_TRUE(throws_errc([&] { check("matmul_weights", bad, bytes); }, Errc::invalid_argument));
}

// A slice of 4 rows of 32 q4_0 (18 bytes each: 72 bytes, 18 words) of a 100-row table.
TEST(WeightKernelBounds, GetRowsReadsOnlyTheBoundSlice) {
  const WeightsGetRowsPush good{6, 32, kQ4_0, 100, 40, 4, 0, 0, 0};
  const std::vector<std::uint64_t> bytes = {72, 6 * 4, 6 * 32 * 4};
  EXPECT_TRUE(check("get_rows_weights", good, bytes));
  WeightsGetRowsPush bad = good;
  bad.row_count = 5;
  EXPECT_TRUE(throws_errc([&] { check("get_rows_weights", bad, bytes); }, Errc::out_of_range,
                          "binding 0"));
  bad = good;
  bad.count = 7;
  EXPECT_TRUE(throws_errc([&] { check("get_rows_weights", bad, bytes); }, Errc::out_of_range,
                          "binding 1"));
  bad = good;
  bad.out_offset = 1;
  EXPECT_TRUE(throws_errc([&] { check("get_rows_weights", bad, bytes); }, Errc::out_of_range,
                          "binding 2"));
  bad = good;
  bad.table_rows = 0;  // ids are clamped and then checked against the slice: still safe
  EXPECT_TRUE(check("get_rows_weights", bad, bytes));
}

}  // namespace
}  // namespace crossgpu
