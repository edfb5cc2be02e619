// RoPE and causal grouped-query attention against the reference (double) on fresh random
// inputs, on every device, and their errors on bad inputs.
//
// Tolerances (absolute; inputs lie in [-1, 1] unless a test says otherwise):
// - rope: kEps32 * (64 + 4 * position) * 2. The angle position * inv_freq is computed in f32:
//   the product rounds (0.5 ulp of the angle) and inv_freq = exp2(-2i/d * log2(base)) is off by a
//   few ulp, so the angle is off by up to about 4 * position * eps (inv_freq <= 1); a rotation
//   moves an element by (angle error) * (|a| + |b|) <= 2 * angle error. The constant 64 covers the
//   range reduction, sin/cos (accurate to a few eps after reduction) and the two products.
// - attention: kEps32 * (64 + 8 * S + 4 * sqrt(context)), S = scale * head_dim * max|q| * max|k|
//   bounds |score|. A score's f32 dot product is off by about S * eps * sqrt(head_dim) /
//   sqrt(head_dim) (the scale cancels the growth); exp(x) is within 3 + 2|x| ulp for |x| <= 2S;
//   an output is a convex combination of |v| <= 1, so relative weight errors become absolute
//   output errors; the sums over `context` positions add a random-walk error.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/kernel_registry.hpp"
#include "kernels/ops_attention.hpp"
#include "kernels/reference/attention_reference.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using ops::AttentionShape;
using ops::RopeMode;
using testing::all_close;
using testing::kEps32;
using testing::throws_errc;

class RopeTest : public testing::DeviceOpsTest {
 protected:
  void check(std::uint64_t tokens, std::uint64_t heads, std::uint64_t head_dim,
             std::uint64_t start_pos, float base, RopeMode mode) {
    SCOPED_TRACE(::testing::Message() << "rope " << tokens << "x" << heads << "x" << head_dim
                                      << " from " << start_pos << " base " << base << " mode "
                                      << static_cast<int>(mode));
    const std::uint64_t n = tokens * heads * head_dim;
    const auto x = rng.floats(n);
    Buffer dx = upload(x, 12);
    ops::rope(stream(), {dx, 12}, tokens, heads, head_dim, start_pos, base, mode).wait();
    auto want = x;
    reference::rope(want, tokens, heads, head_dim, start_pos, base, mode == RopeMode::neox);
    const std::uint64_t per_token = heads * head_dim;
    EXPECT_TRUE(all_close(download<float>(dx, n, 12), want, [&](std::size_t i) {
      const double position = static_cast<double>(start_pos + i / per_token);
      return kEps32 * (64 + 4 * position) * 2;
    }));
  }
};

TEST_P(RopeTest, NormalPairsMatchReference) {
  check(5, 4, 64, 37, 10000.0f, RopeMode::normal);
  check(3, 2, 128, 8000, 500000.0f, RopeMode::normal);  // llama 3's base, far positions
  check(17, 3, 8, 0, 10000.0f, RopeMode::normal);
  check(1, 32, 128, 4095, 10000.0f, RopeMode::normal);  // decode
}

TEST_P(RopeTest, NeoxPairsMatchReference) {
  check(5, 4, 64, 37, 10000.0f, RopeMode::neox);
  check(3, 2, 128, 8000, 500000.0f, RopeMode::neox);
  check(17, 3, 8, 1, 10000.0f, RopeMode::neox);
  check(1, 32, 128, 4095, 10000.0f, RopeMode::neox);
}

// Position 0 is the identity: angle 0 for every pair.
TEST_P(RopeTest, PositionZeroIsIdentity) {
  const auto x = rng.floats(2 * 16);
  Buffer dx = upload(x);
  ops::rope(stream(), dx, 1, 2, 16, 0, 10000.0f, RopeMode::normal).wait();
  EXPECT_TRUE(testing::all_equal(download<float>(dx, x.size()), x));
}

class AttentionTest : public testing::DeviceOpsTest {
 protected:
  // q in [-q_max, q_max], k and v in [-1, 1]; every operand at an odd element offset.
  void check(const AttentionShape& s, float q_max = 1.0f) {
    SCOPED_TRACE(::testing::Message()
                 << "attention tokens " << s.tokens << " heads " << s.heads << "/" << s.kv_heads
                 << " dim " << s.head_dim << " from " << s.start_pos);
    const std::uint64_t n = s.tokens * s.heads * s.head_dim;
    const std::uint64_t kv_n = (s.start_pos + s.tokens) * s.kv_heads * s.head_dim;
    const auto q = rng.floats(n, -q_max, q_max);
    const auto k = rng.floats(kv_n);
    const auto v = rng.floats(kv_n);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    Buffer dq = upload(q, 4);
    Buffer dk = upload(k, 12);
    Buffer dv = upload(v, 8);
    Buffer dout = device().allocate(n * 4 + 20);
    ops::attention(stream(), {dq, 4}, {dk, 12}, {dv, 8}, {dout, 20}, s, scale).wait();
    std::vector<float> want(n);
    reference::attention(q, k, v, want,
                         {s.tokens, s.heads, s.kv_heads, s.head_dim, s.start_pos}, scale);
    const double bound = scale * static_cast<double>(s.head_dim) * q_max;
    const double context = static_cast<double>(s.start_pos + s.tokens);
    const double tolerance = kEps32 * (64 + 8 * bound + 4 * std::sqrt(context));
    EXPECT_TRUE(all_close(download<float>(dout, n, 20), want,
                          [tolerance](std::size_t) { return tolerance; }));
  }
};

TEST_P(AttentionTest, DecodeAtTheFirstPosition) {
  check({.tokens = 1, .heads = 4, .kv_heads = 4, .head_dim = 64, .start_pos = 0});
}

// 3000 positions: the context is split across workgroups and combined.
TEST_P(AttentionTest, DecodeWithLongContext) {
  check({.tokens = 1, .heads = 8, .kv_heads = 2, .head_dim = 128, .start_pos = 2999}, 4.0f);
}

TEST_P(AttentionTest, DecodeAt8192Positions) {
  check({.tokens = 1, .heads = 4, .kv_heads = 1, .head_dim = 128, .start_pos = 8191});
}

TEST_P(AttentionTest, PrefillFromTheStart) {
  check({.tokens = 37, .heads = 4, .kv_heads = 2, .head_dim = 64, .start_pos = 0}, 4.0f);
  check({.tokens = 300, .heads = 4, .kv_heads = 1, .head_dim = 64, .start_pos = 0});
}

TEST_P(AttentionTest, PrefillAfterEarlierTokens) {
  check({.tokens = 20, .heads = 6, .kv_heads = 3, .head_dim = 8, .start_pos = 300}, 4.0f);
  check({.tokens = 9, .heads = 2, .kv_heads = 2, .head_dim = 128, .start_pos = 130});
}

TEST_P(AttentionTest, GroupRatiosAndHeadSizes) {
  for (const std::uint64_t ratio : {1, 2, 4}) {
    for (const std::uint64_t dim : {8, 64, 128, 256}) {
      check({.tokens = 3, .heads = 4 * ratio, .kv_heads = 4, .head_dim = dim, .start_pos = 61});
    }
  }
  check({.tokens = 2, .heads = 3, .kv_heads = 1, .head_dim = 6, .start_pos = 5});  // odd sizes
}

// Scores near 550: exp of them overflows f32 unless the maximum is subtracted first.
TEST_P(AttentionTest, LargeScoresDoNotOverflow) {
  const AttentionShape s{.tokens = 2, .heads = 2, .kv_heads = 1, .head_dim = 64, .start_pos = 400};
  const std::uint64_t n = s.tokens * s.heads * s.head_dim;
  const std::uint64_t kv_n = (s.start_pos + s.tokens) * s.head_dim;
  const auto q = rng.floats(n, 8.0f, 9.0f);
  const auto k = rng.floats(kv_n, 0.9f, 1.0f);
  const auto v = rng.floats(kv_n);
  Buffer dq = upload(q), dk = upload(k), dv = upload(v);
  Buffer dout = device().allocate(n * 4);
  ops::attention(stream(), dq, dk, dv, dout, s, 1.0f).wait();
  std::vector<float> want(n);
  reference::attention(q, k, v, want, {2, 2, 1, 64, 400}, 1.0f);
  // Scores up to 576: exp's error bound grows to ~1200 ulp of the weights, times the softmax's
  // peakedness; still far below the 1e-2 an overflow or a wrong maximum would give.
  EXPECT_TRUE(all_close(download<float>(dout, n), want, [](std::size_t) { return 1e-3; }));
}

TEST_P(AttentionTest, ZeroTokensIsANoOp) {
  Buffer q = upload(std::vector<float>(8, 1.0f));
  ops::attention(stream(), q, q, q, q, {.tokens = 0, .heads = 2, .kv_heads = 1, .head_dim = 4},
                 1.0f)
      .wait();
  ops::rope(stream(), q, 0, 2, 4, 0, 10000.0f, RopeMode::normal).wait();
  EXPECT_EQ(download<float>(q, 8), std::vector<float>(8, 1.0f));
}

TEST_P(AttentionTest, BadShapesAreRejected) {
  Buffer a = upload(std::vector<float>(4096, 0.5f));
  Buffer out = upload(std::vector<float>(4096, 7.0f));
  const auto run = [&](AttentionShape s, float scale = 1.0f) {
    ops::attention(stream(), a, a, a, out, s, scale);
  };
  EXPECT_TRUE(throws_errc([&] { run({1, 6, 4, 8, 0}); }, Errc::invalid_argument, "kv_heads"));
  EXPECT_TRUE(throws_errc([&] { run({1, 4, 0, 8, 0}); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { run({1, 1, 1, 300, 0}); }, Errc::unsupported, "256"));
  EXPECT_TRUE(throws_errc([&] { run({1, 2, 1, 8, 0}, std::numeric_limits<float>::infinity()); },
                          Errc::invalid_argument, "scale"));
  // The KV cache must hold start_pos + tokens positions.
  EXPECT_TRUE(throws_errc([&] { run({1, 2, 1, 8, 512}); }, Errc::out_of_range, "k_cache"));
  EXPECT_TRUE(throws_errc([&] { run({1, 2, 1, 8, ~0ull}); }, Errc::out_of_range));
  // out overlapping an input.
  EXPECT_TRUE(throws_errc(
      [&] { ops::attention(stream(), a, out, out, {a, 16}, {1, 2, 1, 8, 0}, 1.0f); },
      Errc::invalid_argument, "overlaps input 'q'"));
  EXPECT_TRUE(throws_errc(
      [&] { ops::attention(stream(), out, a, out, {a, 16}, {1, 2, 1, 8, 0}, 1.0f); },
      Errc::invalid_argument, "k_cache"));
  EXPECT_EQ(download<float>(out, 4096), std::vector<float>(4096, 7.0f));
}

TEST_P(AttentionTest, BadRopeArgumentsAreRejected) {
  Buffer x = upload(std::vector<float>(64, 7.0f));
  const auto run = [&](std::uint64_t dim, std::uint64_t start, float base, RopeMode mode) {
    ops::rope(stream(), x, 1, 2, dim, start, base, mode);
  };
  EXPECT_TRUE(throws_errc([&] { run(7, 0, 1e4f, RopeMode::normal); }, Errc::invalid_argument,
                          "odd"));
  EXPECT_TRUE(throws_errc([&] { run(8, 0, 0.0f, RopeMode::normal); }, Errc::invalid_argument,
                          "freq_base"));
  EXPECT_TRUE(throws_errc([&] { run(8, 0, std::nanf(""), RopeMode::neox); },
                          Errc::invalid_argument, "freq_base"));
  EXPECT_TRUE(throws_errc([&] { run(8, 0, 1e4f, static_cast<RopeMode>(1)); },
                          Errc::invalid_argument, "RopeMode"));
  EXPECT_TRUE(throws_errc([&] { run(8, 1u << 24, 1e4f, RopeMode::normal); }, Errc::out_of_range,
                          "2^24"));
  EXPECT_TRUE(throws_errc([&] { run(64, 0, 1e4f, RopeMode::normal); }, Errc::out_of_range,
                          "operand 'x'"));
  EXPECT_EQ(download<float>(x, 64), std::vector<float>(64, 7.0f));
}

// rope_kv and attention_at: the position is read from a device buffer (as a recorded decode step
// does), against the reference at that position; a position past `max` is clamped to it.
class DevicePositionTest : public testing::DeviceOpsTest {
 protected:
  void check_rope_kv(const ops::RopeKvShape& s, std::uint32_t position, std::uint64_t max_pos) {
    SCOPED_TRACE(::testing::Message() << "rope_kv heads " << s.heads << "/" << s.kv_heads << " dim "
                                      << s.head_dim << " at " << position << " max " << max_pos);
    const std::uint64_t dim = s.head_dim, kv_row = s.kv_heads * dim;
    const std::uint64_t stride = (s.heads + 2 * s.kv_heads) * dim;
    const std::uint64_t cache_n = (max_pos + s.tokens) * kv_row;
    const auto qkv = rng.floats(s.tokens * stride);
    const auto k0 = rng.floats(cache_n), v0 = rng.floats(cache_n);
    Buffer dqkv = upload(qkv, 8);
    Buffer dk = upload(k0, 4), dv = upload(v0, 12);
    Buffer dpos = upload(std::vector<std::uint32_t>{99, position}, 0);
    ops::rope_kv(stream(), {dqkv, 8}, {dk, 4}, {dv, 12}, s, {{dpos, 4}, max_pos}).wait();
    const std::uint64_t pos = std::min<std::uint64_t>(position, max_pos);
    auto want_qkv = qkv;
    auto want_k = k0, want_v = v0;
    for (std::uint64_t t = 0; t < s.tokens; ++t) {
      float* row = want_qkv.data() + t * stride;
      std::span<float> q(row, s.heads * dim), k(row + s.heads * dim, kv_row), v(row + s.heads * dim + kv_row, kv_row);
      std::vector<float> key(k.begin(), k.end());
      reference::rope(q, 1, s.heads, dim, pos + t, s.freq_base, s.mode == RopeMode::neox);
      reference::rope(key, 1, s.kv_heads, dim, pos + t, s.freq_base, s.mode == RopeMode::neox);
      std::copy(key.begin(), key.end(), want_k.begin() + static_cast<std::ptrdiff_t>((pos + t) * kv_row));
      std::copy(v.begin(), v.end(), want_v.begin() + static_cast<std::ptrdiff_t>((pos + t) * kv_row));
    }
    const double tolerance = kEps32 * (64 + 4 * static_cast<double>(pos + s.tokens)) * 2;
    auto tol = [tolerance](std::size_t) { return tolerance; };
    EXPECT_TRUE(all_close(download<float>(dqkv, qkv.size(), 8), want_qkv, tol));
    EXPECT_TRUE(all_close(download<float>(dk, cache_n, 4), want_k, tol));
    EXPECT_TRUE(testing::all_equal(download<float>(dv, cache_n, 12), want_v));  // copied exactly
  }

  void check_attention_at(const AttentionShape& shape, std::uint32_t position, std::uint64_t max_pos) {
    SCOPED_TRACE(::testing::Message() << "attention_at heads " << shape.heads << "/" << shape.kv_heads
                                      << " at " << position << " max " << max_pos);
    AttentionShape s = shape;
    s.start_pos = std::min<std::uint64_t>(position, max_pos);
    const std::uint64_t n = s.tokens * s.heads * s.head_dim;
    const std::uint64_t cache_n = (max_pos + s.tokens) * s.kv_heads * s.head_dim;
    const auto q = rng.floats(n), k = rng.floats(cache_n), v = rng.floats(cache_n);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    Buffer dq = upload(q, 4), dk = upload(k), dv = upload(v, 8);
    Buffer dout = device().allocate(n * 4);
    Buffer dpos = upload(std::vector<std::uint32_t>{position});
    const std::uint64_t scratch_bytes = ops::attention_at_scratch_bytes(shape, max_pos);
    Buffer scratch = device().allocate(std::max<std::uint64_t>(scratch_bytes, 4));
    ops::attention_at(stream(), {dq, 4}, dk, {dv, 8}, dout, shape, scale, {dpos, max_pos}, scratch).wait();
    std::vector<float> want(n);
    const std::uint64_t used = (s.start_pos + s.tokens) * s.kv_heads * s.head_dim;
    reference::attention(q, std::span(k).first(used), std::span(v).first(used), want,
                         {s.tokens, s.heads, s.kv_heads, s.head_dim, s.start_pos}, scale);
    const double tolerance = kEps32 * (64 + 8 * scale * s.head_dim + 4 * std::sqrt(double(s.start_pos + 1)));
    EXPECT_TRUE(all_close(download<float>(dout, n), want, [tolerance](std::size_t) { return tolerance; }));
  }
};

TEST_P(DevicePositionTest, RopeKvRotatesQueriesAndWritesTheCacheAtThePosition) {
  check_rope_kv({.tokens = 1, .heads = 8, .kv_heads = 2, .head_dim = 64, .freq_base = 10000.0f}, 37, 100);
  check_rope_kv({.tokens = 1, .heads = 4, .kv_heads = 4, .head_dim = 128, .freq_base = 500000.0f,
                 .mode = RopeMode::neox}, 0, 10);
  check_rope_kv({.tokens = 3, .heads = 4, .kv_heads = 1, .head_dim = 16, .freq_base = 10000.0f}, 5, 20);
  check_rope_kv({.tokens = 1, .heads = 2, .kv_heads = 2, .head_dim = 32, .freq_base = 10000.0f}, 4000, 63);  // clamped
}

TEST_P(DevicePositionTest, AttentionAtMatchesAttentionAtThePosition) {
  const AttentionShape one{.tokens = 1, .heads = 8, .kv_heads = 2, .head_dim = 64};
  check_attention_at(one, 0, 511);
  check_attention_at(one, 300, 511);
  check_attention_at(one, 4095, 4095);  // a context split across workgroups
  check_attention_at({.tokens = 1, .heads = 4, .kv_heads = 4, .head_dim = 128}, 9999, 700);  // clamped
}

TEST_P(DevicePositionTest, BadOperandsAreRejected) {
  Buffer qkv = device().allocate(4 * 64 * 4), cache = device().allocate(8 * 2 * 16 * 4);
  Buffer pos = device().allocate(4);
  const ops::RopeKvShape s{.tokens = 1, .heads = 2, .kv_heads = 1, .head_dim = 16};
  Stream& st = stream();
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv(st, qkv, cache, cache, s, {pos, 3}); }, Errc::invalid_argument));
  Buffer v = device().allocate(8 * 2 * 16 * 4);
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv(st, qkv, cache, v, s, {pos, 100}); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv(st, qkv, cache, v, {.tokens = 1, .heads = 2, .kv_heads = 1, .head_dim = 15},
                                             {pos, 3}); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv(st, qkv, cache, v, s, {{pos, 2}, 3}); }, Errc::misaligned));
  EXPECT_TRUE(throws_errc(
      [&] {
        ops::attention_at(st, qkv, cache, v, qkv, {.tokens = 1, .heads = 2, .kv_heads = 1, .head_dim = 16}, 0.25f,
                          {pos, 3}, pos);
      },
      Errc::invalid_argument));  // out over q
}

INSTANTIATE_TEST_SUITE_P(Devices, DevicePositionTest, testing::every_device(), testing::device_param_name);
INSTANTIATE_TEST_SUITE_P(Devices, RopeTest, testing::every_device(), testing::device_param_name);
INSTANTIATE_TEST_SUITE_P(Devices, AttentionTest, testing::every_device(),
                         testing::device_param_name);

// The kernels are reachable by name, which is how a remote dispatch names them.
TEST(AttentionKernels, AreRegistered) {
  for (const char* name : {"rope_f32", "attention_f32", "attention_combine_f32", "attention_at_f32", "rope_kv_f32"}) {
    EXPECT_NE(kernels::find_kernel(name), nullptr) << name;
  }
}

}  // namespace
}  // namespace crossgpu
