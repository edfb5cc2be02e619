// The architecture ops (kernels/ops_arch.hpp) on every device against the reference (double) on
// fresh random inputs: GELU-tanh, soft-capping, RoPE with frequency factors, windowed and
// soft-capped attention; and their errors on bad inputs.
//
// Tolerances (absolute): gelu and softcap are a few exp/divide roundings of a value of order
// |x|: kEps32 * 16 * (1 + |x|). rope_freqs: as rope in test_ops_attention (the angle's f32 error
// grows with the position), with the factor division adding an ulp. attention_window: as
// attention (kEps32 * (64 + 8 S + 4 sqrt(context))), S bounding |score|.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ops_arch.hpp"
#include "kernels/reference/arch_reference.hpp"
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

class ArchOpsTest : public testing::DeviceOpsTest {};

TEST_P(ArchOpsTest, GeluTanhMatchesReference) {
  for (const std::uint64_t n : {1, 255, 257, 5000}) {
    const auto x = rng.floats(n, -12.0f, 12.0f);
    Buffer dx = upload(x, 8);
    Buffer dy = device().allocate(n * 4 + 4);
    ops::gelu_tanh(stream(), {dx, 8}, {dy, 4}, n).wait();
    std::vector<float> want(n);
    reference::gelu_tanh(x, want);
    EXPECT_TRUE(all_close(download<float>(dy, n, 4), want, [&](std::size_t i) {
      return kEps32 * 16 * (1 + std::fabs(x[i]));
    }));
  }
}

TEST_P(ArchOpsTest, SoftcapMatchesReferenceInPlace) {
  const std::uint64_t n = 3001;
  const auto x = rng.floats(n, -400.0f, 400.0f);  // beyond tanh's overflow of sinh/cosh
  Buffer dx = upload(x, 4);
  ops::softcap(stream(), {dx, 4}, {dx, 4}, n, 30.0f).wait();
  std::vector<float> want(n);
  reference::softcap(x, want, 30.0f);
  EXPECT_TRUE(all_close(download<float>(dx, n, 4), want, [](std::size_t) { return kEps32 * 16 * 31; }));
}

TEST_P(ArchOpsTest, RopeFreqsMatchesReference) {
  struct Case {
    std::uint64_t tokens, heads, dim, pos;
    float base, scale;
    RopeMode mode;
  };
  for (const Case c : {Case{5, 4, 64, 37, 500000.0f, 1.0f, RopeMode::normal},
                       Case{3, 2, 128, 8000, 500000.0f, 0.125f, RopeMode::neox},
                       Case{17, 3, 8, 0, 10000.0f, 1.0f, RopeMode::neox},
                       Case{1, 32, 128, 4095, 10000.0f, 0.5f, RopeMode::normal}}) {
    SCOPED_TRACE(::testing::Message() << c.tokens << "x" << c.heads << "x" << c.dim << " at " << c.pos);
    const std::uint64_t n = c.tokens * c.heads * c.dim;
    const auto x = rng.floats(n);
    const auto factors = rng.floats(c.dim / 2, 1.0f, 8.0f);  // Llama 3's lie in [1, 8]
    Buffer dx = upload(x, 12);
    Buffer df = upload(factors, 4);
    ops::rope_freqs(stream(), {dx, 12}, {df, 4}, c.tokens, c.heads, c.dim, c.pos,
                    {.freq_base = c.base, .freq_scale = c.scale, .mode = c.mode})
        .wait();
    auto want = x;
    reference::rope_freqs(want, c.tokens, c.heads, c.dim, c.pos,
                          {c.base, c.scale, c.mode == RopeMode::neox, factors});
    const std::uint64_t per_token = c.heads * c.dim;
    EXPECT_TRUE(all_close(download<float>(dx, n, 12), want, [&](std::size_t i) {
      return kEps32 * (64 + 6 * static_cast<double>(c.pos + i / per_token)) * 2;
    }));
  }
}

TEST_P(ArchOpsTest, AttentionWindowMatchesReference) {
  struct Case {
    AttentionShape s;
    std::uint64_t window;
    float softcap;
  };
  for (const Case c : {Case{{.tokens = 1, .heads = 4, .kv_heads = 2, .head_dim = 64, .start_pos = 0}, 4, 0.0f},
                       Case{{.tokens = 37, .heads = 4, .kv_heads = 2, .head_dim = 64, .start_pos = 0}, 8, 50.0f},
                       Case{{.tokens = 9, .heads = 6, .kv_heads = 3, .head_dim = 256, .start_pos = 300}, 128, 0.0f},
                       Case{{.tokens = 3, .heads = 8, .kv_heads = 1, .head_dim = 128, .start_pos = 400}, 0, 2.0f},
                       Case{{.tokens = 20, .heads = 2, .kv_heads = 2, .head_dim = 8, .start_pos = 5}, 300, 0.0f}}) {
    const AttentionShape& s = c.s;
    SCOPED_TRACE(::testing::Message() << "tokens " << s.tokens << " from " << s.start_pos << " window " << c.window
                                      << " cap " << c.softcap);
    const std::uint64_t n = s.tokens * s.heads * s.head_dim;
    const std::uint64_t kv_n = (s.start_pos + s.tokens) * s.kv_heads * s.head_dim;
    const auto q = rng.floats(n, -4.0f, 4.0f);
    const auto k = rng.floats(kv_n);
    const auto v = rng.floats(kv_n);
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    Buffer dq = upload(q, 4);
    Buffer dk = upload(k, 12);
    Buffer dv = upload(v, 8);
    Buffer dout = device().allocate(n * 4 + 20);
    ops::attention_window(stream(), {dq, 4}, {dk, 12}, {dv, 8}, {dout, 20}, s, scale,
                          {.window = c.window, .softcap = c.softcap})
        .wait();
    std::vector<float> want(n);
    reference::attention_window(q, k, v, want, {s.tokens, s.heads, s.kv_heads, s.head_dim, s.start_pos}, scale,
                                c.window, c.softcap);
    const double bound = scale * static_cast<double>(s.head_dim) * 4;
    const double tolerance =
        kEps32 * (64 + 8 * bound + 4 * std::sqrt(static_cast<double>(s.start_pos + s.tokens)));
    EXPECT_TRUE(all_close(download<float>(dout, n, 20), want, [tolerance](std::size_t) { return tolerance; }));
  }
}

// A window of one position is the value row itself: softmax of one score.
TEST_P(ArchOpsTest, AWindowOfOneReturnsTheOwnValue) {
  const AttentionShape s{.tokens = 5, .heads = 2, .kv_heads = 1, .head_dim = 16, .start_pos = 3};
  const auto q = rng.floats(5 * 2 * 16), k = rng.floats(8 * 16), v = rng.floats(8 * 16);
  Buffer dq = upload(q), dk = upload(k), dv = upload(v);
  Buffer dout = device().allocate(q.size() * 4);
  ops::attention_window(stream(), dq, dk, dv, dout, s, 0.25f, {.window = 1}).wait();
  const auto got = download<float>(dout, q.size());
  for (std::uint64_t t = 0; t < 5; ++t) {
    for (std::uint64_t h = 0; h < 2; ++h) {
      for (std::uint64_t d = 0; d < 16; ++d) EXPECT_FLOAT_EQ(got[(t * 2 + h) * 16 + d], v[(3 + t) * 16 + d]);
    }
  }
}

TEST_P(ArchOpsTest, RefusesBadArguments) {
  Stream& st = stream();
  Buffer x = device().allocate(1024), f = device().allocate(64), small = device().allocate(8);
  EXPECT_TRUE(throws_errc([&] { ops::softcap(st, x, x, 16, 0.0f); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::softcap(st, x, x, 16, INFINITY); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::gelu_tanh(st, x, x, 1000); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { ops::rope_freqs(st, x, f, 1, 2, 7, 0, {}); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::rope_freqs(st, x, f, 1, 2, 8, 0, {.freq_scale = 0.0f}); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::rope_freqs(st, x, small, 1, 1, 64, 0, {}); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { ops::rope_freqs(st, x, f, 1, 1, 8, 1u << 24, {}); }, Errc::out_of_range));
  const AttentionShape s{.tokens = 1, .heads = 3, .kv_heads = 2, .head_dim = 8, .start_pos = 0};
  EXPECT_TRUE(throws_errc([&] { ops::attention_window(st, x, x, x, f, s, 1.0f, {}); }, Errc::invalid_argument));
  AttentionShape big = s;
  big.heads = 2;
  big.head_dim = 512;
  EXPECT_TRUE(throws_errc([&] { ops::attention_window(st, x, x, x, f, big, 1.0f, {}); }, Errc::unsupported));
  AttentionShape ok = s;
  ok.heads = 2;
  EXPECT_TRUE(throws_errc([&] { ops::attention_window(st, x, x, x, f, ok, 1.0f, {.softcap = -1.0f}); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::attention_window(st, x, x, x, x, ok, 1.0f, {}); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::attention_window(st, x, x, small, f, ok, 1.0f, {}); }, Errc::out_of_range));
}

// The recorded-decode variants: the position read from a device buffer (clamped to max), each
// against the reference at that position.
TEST_P(ArchOpsTest, RopeKvFreqsMatchesReference) {
  const std::uint64_t heads = 4, kv_heads = 2, dim = 64, tokens = 2, max = 40;
  for (const std::uint32_t pos : {0u, 17u, 40u, 1000u}) {  // 1000: clamped to 40
    SCOPED_TRACE(::testing::Message() << "position " << pos);
    const std::uint64_t stride = (heads + 2 * kv_heads) * dim, kv_row = kv_heads * dim;
    const auto qkv = rng.floats(tokens * stride);
    const auto factors = rng.floats(dim / 2, 1.0f, 8.0f);
    Buffer dqkv = upload(qkv, 4), df = upload(factors, 8), dpos = upload(std::vector<std::uint32_t>{pos}, 4);
    Buffer dk = device().allocate((max + tokens) * kv_row * 4), dv = device().allocate((max + tokens) * kv_row * 4);
    const ops::RopeKvShape shape{.tokens = tokens, .heads = heads, .kv_heads = kv_heads, .head_dim = dim,
                                 .freq_base = 500000.0f, .mode = RopeMode::normal};
    ops::rope_kv_freqs(stream(), {dqkv, 4}, dk, dv, {df, 8}, shape, 0.5f, {{dpos, 4}, max}).wait();
    const std::uint64_t at = std::min<std::uint64_t>(pos, max);
    const reference::RopeFreqs rope{500000.0f, 0.5f, false, factors};
    const auto got_qkv = download<float>(dqkv, qkv.size(), 4);
    const auto got_k = download<float>(dk, tokens * kv_row, at * kv_row * 4);
    const auto got_v = download<float>(dv, tokens * kv_row, at * kv_row * 4);
    const auto tolerance = [&](std::size_t) { return kEps32 * (64 + 6 * static_cast<double>(at + tokens)) * 2; };
    for (std::uint64_t t = 0; t < tokens; ++t) {
      std::vector<float> q(qkv.begin() + t * stride, qkv.begin() + t * stride + heads * dim);
      std::vector<float> k(qkv.begin() + t * stride + heads * dim, qkv.begin() + t * stride + heads * dim + kv_row);
      const std::vector<float> v(qkv.begin() + t * stride + heads * dim + kv_row, qkv.begin() + (t + 1) * stride);
      reference::rope_freqs(q, 1, heads, dim, at + t, rope);
      reference::rope_freqs(k, 1, kv_heads, dim, at + t, rope);
      EXPECT_TRUE(all_close(std::span(got_qkv).subspan(t * stride, heads * dim), q, tolerance));
      EXPECT_TRUE(all_close(std::span(got_k).subspan(t * kv_row, kv_row), k, tolerance));
      EXPECT_TRUE(testing::all_equal(std::span(got_v).subspan(t * kv_row, kv_row), v));
    }
  }
}

TEST_P(ArchOpsTest, AttentionWindowAtMatchesReference) {
  const AttentionShape s{.tokens = 1, .heads = 4, .kv_heads = 2, .head_dim = 128};
  const std::uint64_t max = 300, kv_n = (max + 1) * s.kv_heads * s.head_dim;
  const auto k = rng.floats(kv_n), v = rng.floats(kv_n);
  const auto q = rng.floats(s.heads * s.head_dim, -4.0f, 4.0f);
  Buffer dq = upload(q, 4), dk = upload(k, 8), dv = upload(v, 12);
  for (const std::uint32_t pos : {0u, 5u, 200u, 300u, 5000u}) {
    SCOPED_TRACE(::testing::Message() << "position " << pos);
    Buffer dpos = upload(std::vector<std::uint32_t>{pos});
    Buffer dout = device().allocate(q.size() * 4);
    ops::attention_window_at(stream(), {dq, 4}, {dk, 8}, {dv, 12}, dout, s, 0.125f, {.window = 16, .softcap = 3.0f},
                             {dpos, max})
        .wait();
    const std::uint64_t at = std::min<std::uint64_t>(pos, max);
    std::vector<float> want(q.size());
    reference::attention_window(q, k, v, want, {1, s.heads, s.kv_heads, s.head_dim, at}, 0.125f, 16, 3.0f);
    const double tolerance = kEps32 * (64 + 8 * 0.125 * 128 * 4 + 4 * std::sqrt(static_cast<double>(at + 1)));
    EXPECT_TRUE(all_close(download<float>(dout, q.size()), want, [&](std::size_t) { return tolerance; }));
  }
}

TEST_P(ArchOpsTest, RecordedVariantsRefuseBadArguments) {
  Stream& st = stream();
  Buffer x = device().allocate(4096), f = device().allocate(256), pos = device().allocate(4);
  Buffer small = device().allocate(8);
  const ops::RopeKvShape rope{.tokens = 1, .heads = 2, .kv_heads = 1, .head_dim = 8};
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv_freqs(st, x, x, f, f, rope, 1.0f, {pos, 3}); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv_freqs(st, x, f, x, f, rope, 0.0f, {pos, 3}); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::rope_kv_freqs(st, x, f, f, x, rope, 1.0f, {pos, 1000}); }, Errc::out_of_range));
  const AttentionShape s{.tokens = 1, .heads = 2, .kv_heads = 1, .head_dim = 8};
  EXPECT_TRUE(throws_errc([&] { ops::attention_window_at(st, x, x, x, x, s, 1.0f, {}, {pos, 3}); },
                          Errc::invalid_argument));  // out over q
  EXPECT_TRUE(throws_errc([&] { ops::attention_window_at(st, f, x, x, small, s, 1.0f, {}, {pos, 3}); },
                          Errc::out_of_range));  // out too small
}

INSTANTIATE_TEST_SUITE_P(Devices, ArchOpsTest, testing::every_device(), testing::device_param_name);

}  // namespace
}  // namespace crossgpu
