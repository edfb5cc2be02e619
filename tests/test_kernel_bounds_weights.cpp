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
  WeightsMatvecPush bad{1, 96, 10, 0, 0, 0};  // Q2_K: a ggml type the kernels do not read
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {1024, 1024, 1024}); },
                          Errc::invalid_argument, "weight type 10"));
  bad = {1, 128, kQ4_K, 0, 0, 0};  // a partial 256-element block
  EXPECT_TRUE(throws_errc([&] { check("matvec_weights", bad, {1024, 1024, 1024}); },
                          Errc::invalid_argument, "q4_k"));
  const std::vector<std::byte> short_push(8);
  const std::vector<std::uint64_t> bytes = {1024, 1024, 1024};
  EXPECT_TRUE(throws_errc([&] { check_weight_kernel_bounds("get_rows_weights", short_push, bytes); },
                          Errc::invalid_argument));
}

// The formats of downloaded files: W's extent from each one's block size, as whole words.
// q5_0: 3 rows of 96 = 3 * 66 = 198 bytes, read as 50 words; q4_1: 20-byte blocks; q5_1: 24;
// iq4_nl: 18; q5_k: 176 per 256; bf16: 2 per element (3 rows of 7: 42 bytes, 11 words).
TEST(WeightKernelBounds, DownloadedFormatsReachWholeWordsOfW) {
  struct Case {
    std::uint32_t type, cols;
    std::uint64_t w_bytes;  // 3 rows, rounded up to whole words
  };
  const Case cases[] = {{6, 96, 200}, {3, 96, 180}, {7, 64, 144}, {20, 96, 164}, {13, 512, 1056}, {30, 7, 44}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    const WeightsMatvecPush push{3, c.cols, c.type, 0, 0, 0};
    EXPECT_TRUE(check("matvec_weights", push, {c.w_bytes, c.cols * 4, 12}));
    EXPECT_TRUE(throws_errc([&] { check("matvec_weights", push, {c.w_bytes - 1, c.cols * 4, 12}); },
                            Errc::out_of_range, "binding 0"));
  }
  // A partial block of each blocked format.
  for (std::uint32_t type : {3u, 6u, 7u, 20u, 13u}) {
    const WeightsMatvecPush push{1, 48, type, 0, 0, 0};
    EXPECT_TRUE(throws_errc([&] { check("matvec_weights", push, {1024, 1024, 1024}); },
                            Errc::invalid_argument, "columns are not whole"));
  }
}

// The specialized fused variants of the new types are weight kernels too, with the same extents.
TEST(WeightKernelBounds, FusedVariantsOfEveryTypeAreChecked) {
  kernels::FusedMatvecPush push{};
  push.cols = 256;
  push.rows_per_group = 128;
  push.segments = 1;
  push.rows[0] = 2;
  push.type[0] = 13;  // q5_k: 2 rows of 176 bytes
  const std::vector<std::uint64_t> good = {352, 1024, 8, 1024};
  EXPECT_TRUE(check("matvec_fused_rows.q5_k.norm", push, good));
  EXPECT_TRUE(check("matvec_fused.iq4_nl", push, good));
  EXPECT_TRUE(throws_errc([&] { check("matvec_fused.q5_k", push, {348, 1024, 8, 1024}); }, Errc::out_of_range,
                          "binding 0"));
}

// 5 rows of 256 q4_k (144 bytes each), 3 tokens, Y with row stride 8.
TEST(WeightKernelBounds, MatmulChecksEveryOperand) {
  const WeightsMatmulPush good{5, 256, 3, kQ4_K, 0, 0, 0, 8};
  const std::vector<std::uint64_t> bytes = {5 * 144, 3 * 256 * 4, (2 * 8 + 5) * 4};
  EXPECT_TRUE(check("matmul_weights", good, bytes));
  EXPECT_TRUE(check("matmul_weights_tiled", good, bytes));  // the same contract
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
