// The remote-dispatch bounds rules of the transformer kernels: what the ops dispatch passes, and
// push blocks that would reach past a binding, or run the shader with a broken shape, are refused.
#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "cluster/kernel_bounds_attention.hpp"
#include "kernels/push_constants_arch.hpp"
#include "kernels/push_constants_attention.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

using cluster::check_attention_kernel_bounds;
using testing::throws_errc;

template <typename Push>
bool check(std::string_view name, const Push& push, std::vector<std::uint64_t> bytes) {
  return check_attention_kernel_bounds(name, std::as_bytes(std::span(&push, 1)), bytes);
}

// Decode at position 99 with 4 query heads on 2 KV heads of 8: q and out 32 floats, K and V
// 100 positions of 16 floats.
kernels::AttentionPush decode() {
  return {.tokens = 1, .heads = 4, .kv_heads = 2, .head_dim = 8, .start_pos = 99, .chunk = 128,
          .splits = 1, .q_offset = 0, .k_offset = 0, .v_offset = 0, .out_offset = 0,
          .scale = 0.35f};
}

TEST(KernelBoundsAttention, OtherKernelsAreNotTheirs) {
  EXPECT_FALSE(check("matvec_f32", decode(), {128, 6400, 6400, 128}));
}

TEST(KernelBoundsAttention, AttentionWithinItsBindingsPasses) {
  EXPECT_TRUE(check("attention_f32", decode(), {128, 6400, 6400, 128}));
  auto split = decode();
  split.splits = 3;  // partials: 4 rows * 3 * (8 + 2) floats
  EXPECT_TRUE(check("attention_f32", split, {128, 6400, 6400, 480}));
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", split, {128, 6400, 6400, 476}); },
                          Errc::out_of_range, "binding 3"));
}

TEST(KernelBoundsAttention, AttentionReachingPastTheCacheIsRefused) {
  auto p = decode();
  p.start_pos = 100;  // 101 positions
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", p, {128, 6400, 6464, 128}); },
                          Errc::out_of_range, "binding 1"));
  p.start_pos = 0xffffffffu;  // would wrap in 32 bits
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", p, {128, 6400, 6400, 128}); },
                          Errc::out_of_range));
  p = decode();
  p.q_offset = 1;
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", p, {128, 6400, 6400, 128}); },
                          Errc::out_of_range, "binding 0"));
}

TEST(KernelBoundsAttention, AttentionShapesTheShaderCannotRunAreRefused) {
  auto p = decode();
  p.kv_heads = 0;
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", p, {128, 6400, 6400, 128}); },
                          Errc::invalid_argument));
  p.kv_heads = 3;
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", p, {128, 6400, 6400, 128}); },
                          Errc::invalid_argument));
  p = decode();
  p.head_dim = kernels::kMaxHeadDim + 1;  // past the shared query row
  EXPECT_TRUE(throws_errc([&] { check("attention_f32", p, {1u << 20, 1u << 24, 1u << 24, 1u << 20}); },
                          Errc::invalid_argument, "head_dim"));
}

TEST(KernelBoundsAttention, RopeAndCombine) {
  const kernels::RopePush rope{.tokens = 2, .heads = 3, .head_dim = 8, .x_offset = 4,
                               .start_pos = 7, .freq_base = 1e4f, .mode = 0};
  EXPECT_TRUE(check("rope_f32", rope, {(4 + 48) * 4}));
  EXPECT_TRUE(throws_errc([&] { check("rope_f32", rope, {(4 + 47) * 4}); }, Errc::out_of_range,
                          "binding 0"));
  const kernels::AttentionCombinePush combine{.rows = 4, .splits = 3, .head_dim = 8,
                                              .part_offset = 0, .out_offset = 2};
  EXPECT_TRUE(check("attention_combine_f32", combine, {480, (2 + 32) * 4}));
  EXPECT_TRUE(throws_errc([&] { check("attention_combine_f32", combine, {480, 32 * 4}); },
                          Errc::out_of_range, "binding 1"));
}

// The kernels of the architectures beyond llama (kernels/arch_kernels.hpp).
TEST(KernelBoundsAttention, RopeWithFrequencyFactors) {
  const kernels::RopeFreqsPush rope{.tokens = 2, .heads = 3, .head_dim = 8, .x_offset = 4,
                                    .start_pos = 7, .freq_base = 1e4f, .mode = 0,
                                    .freq_scale = 1.0f, .factors_offset = 1};
  EXPECT_TRUE(check("rope_freqs_f32", rope, {(4 + 48) * 4, (1 + 4) * 4}));
  EXPECT_TRUE(throws_errc([&] { check("rope_freqs_f32", rope, {(4 + 48) * 4, 4 * 4}); },
                          Errc::out_of_range, "binding 1"));
  EXPECT_TRUE(throws_errc([&] { check("rope_freqs_f32", rope, {(4 + 47) * 4, 5 * 4}); },
                          Errc::out_of_range, "binding 0"));
  // Decode at a position read on the device, clamped to max_pos 99: caches of 100 positions.
  kernels::RopeKvFreqsPush kv{};
  kv.base = {.tokens = 1, .heads = 4, .kv_heads = 2, .head_dim = 8, .max_pos = 99};
  kv.base.freq_base = 1e4f;
  kv.freq_scale = 1.0f;
  kv.factors_offset = 0;
  EXPECT_TRUE(check("rope_kv_freqs_f32", kv, {64 * 4, 1600 * 4, 1600 * 4, 4, 4 * 4}));
  EXPECT_TRUE(throws_errc([&] { check("rope_kv_freqs_f32", kv, {64 * 4, 1600 * 4, 1600 * 4, 4, 3 * 4}); },
                          Errc::out_of_range, "binding 4"));
  EXPECT_TRUE(throws_errc([&] { check("rope_kv_freqs_f32", kv, {64 * 4, 1599 * 4, 1600 * 4, 4, 4 * 4}); },
                          Errc::out_of_range, "binding 1"));
}

TEST(KernelBoundsAttention, WindowedAttentionReadsNoMoreThanFullAttention) {
  const kernels::AttentionWindowPush window{.tokens = 1, .heads = 4, .kv_heads = 2, .head_dim = 8,
                                            .start_pos = 99, .window = 16, .q_offset = 0,
                                            .k_offset = 0, .v_offset = 0, .out_offset = 0,
                                            .scale = 0.35f, .softcap = 50.0f};
  EXPECT_TRUE(check("attention_window_f32", window, {128, 6400, 6400, 128}));
  EXPECT_TRUE(throws_errc([&] { check("attention_window_f32", window, {128, 6396, 6400, 128}); },
                          Errc::out_of_range, "binding 1"));
  auto uneven = window;
  uneven.kv_heads = 3;
  EXPECT_TRUE(throws_errc([&] { check("attention_window_f32", uneven, {128, 9600, 9600, 128}); },
                          Errc::invalid_argument));
  const kernels::AttentionWindowAtPush at{.base = window, .position_offset = 2};
  EXPECT_TRUE(check("attention_window_at_f32", at, {128, 6400, 6400, 128, 12}));
  EXPECT_TRUE(throws_errc([&] { check("attention_window_at_f32", at, {128, 6400, 6400, 128, 8}); },
                          Errc::out_of_range, "binding 4"));
}

}  // namespace
}  // namespace crossgpu
