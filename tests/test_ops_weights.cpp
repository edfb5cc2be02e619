// The weight ops (matvec_weights, matmul_weights, get_rows) on every device and every weight
// type, against the reference: rows encoded by quant::quantize_row from fresh random floats,
// dequantized by quant::dequantize_row, then dotted in double.
//
// Tolerance of a dot product of length k: 4 * sqrt(k) * eps32 * sum |w x| for the f32
// accumulation (see test_ops_matrix.cpp; the factor 4 allows for the tree of matvec), plus
// 4 * eps32 * sum m_c |x_c| for the dequantization, where m_c is the largest magnitude in the
// block of c: a shader may fuse the decoder's scale * q - min into one fma, which rounds
// differently from the reference by at most an ulp of the larger term.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ops_weights.hpp"
#include "kernels/reference/quant.hpp"
#include "support/test_devices.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using kernels::WeightType;
using testing::all_close;
using testing::kEps32;
using testing::throws_errc;
namespace quant = kernels::reference;

constexpr const auto& kTypes = kernels::kWeightTypes;

// A rows x cols matrix as stored (bytes) and as the reference reads it (values).
struct Weights {
  WeightType type;
  std::uint64_t rows, cols, row_bytes;
  std::vector<std::byte> bytes;
  std::vector<float> values;
  std::vector<float> block_max;  // per element: the largest |value| of its block

  std::span<const float> row(std::uint64_t r) const {
    return std::span(values).subspan(r * cols, cols);
  }
};

Weights make_weights(testing::Rng& rng, WeightType type, std::uint64_t rows, std::uint64_t cols) {
  Weights w{type, rows, cols, kernels::row_bytes(type, cols), {}, {}, {}};
  w.bytes.resize(rows * w.row_bytes);
  w.values.resize(rows * cols);
  for (std::uint64_t r = 0; r < rows; ++r) {
    const auto x = rng.floats(cols);
    const auto bytes = std::span(w.bytes).subspan(r * w.row_bytes, w.row_bytes);
    quant::quantize_row(type, x, bytes);
    quant::dequantize_row(type, bytes, std::span(w.values).subspan(r * cols, cols));
  }
  const std::uint64_t block = kernels::block_elements(type);
  w.block_max.resize(w.values.size());
  for (std::uint64_t first = 0; first < w.values.size(); first += block) {
    float m = 0.0f;
    for (std::uint64_t i = first; i < first + block; ++i) m = std::max(m, std::abs(w.values[i]));
    std::fill_n(w.block_max.begin() + static_cast<std::ptrdiff_t>(first), block, m);
  }
  return w;
}

// Y[t, r] = sum_c W[r, c] X[t, c] in double, and its tolerance.
struct Expected {
  std::vector<float> values;
  std::vector<double> tolerance;
};

Expected expected_products(const Weights& w, const std::vector<float>& x, std::uint64_t tokens) {
  Expected out{std::vector<float>(tokens * w.rows), std::vector<double>(tokens * w.rows)};
  const double accumulation = 4.0 * std::sqrt(static_cast<double>(w.cols)) * kEps32;
  for (std::uint64_t t = 0; t < tokens; ++t) {
    for (std::uint64_t r = 0; r < w.rows; ++r) {
      double sum = 0.0, abs_sum = 0.0, block_sum = 0.0;
      for (std::uint64_t c = 0; c < w.cols; ++c) {
        const double wv = w.values[r * w.cols + c], xv = x[t * w.cols + c];
        sum += wv * xv;
        abs_sum += std::abs(wv * xv);
        block_sum += w.block_max[r * w.cols + c] * std::abs(xv);
      }
      out.values[t * w.rows + r] = static_cast<float>(sum);
      out.tolerance[t * w.rows + r] = accumulation * abs_sum + 4.0 * kEps32 * block_sum + 1e-30;
    }
  }
  return out;
}

struct Offsets {
  std::uint64_t w = 0, x = 0, y = 0;
};

class WeightOpsTest : public testing::DeviceOpsTest {
 protected:
  void check_matvec(WeightType type, std::uint64_t rows, std::uint64_t cols, Offsets at = {}) {
    SCOPED_TRACE(::testing::Message() << "matvec_weights " << kernels::to_string(type) << " "
                                      << rows << "x" << cols);
    const Weights w = make_weights(rng, type, rows, cols);
    const auto x = rng.floats(cols);
    Buffer dw = upload(w.bytes, at.w);
    Buffer dx = upload(x, at.x);
    Buffer dy = device().allocate(at.y + rows * 4);
    ops::matvec_weights(stream(), {dw, at.w}, {dx, at.x}, {dy, at.y}, rows, cols, type).wait();
    const Expected want = expected_products(w, x, 1);
    EXPECT_TRUE(all_close(download<float>(dy, rows, at.y), want.values,
                          [&](std::size_t i) { return want.tolerance[i]; }));
  }

  void check_matmul(WeightType type, std::uint64_t rows, std::uint64_t cols, std::uint64_t tokens,
                    Offsets at = {}, ops::MatmulTiling tiling = ops::MatmulTiling::automatic) {
    SCOPED_TRACE(::testing::Message() << "matmul_weights " << kernels::to_string(type) << " "
                                      << rows << "x" << cols << ", " << tokens << " tokens, tiling "
                                      << static_cast<int>(tiling));
    const Weights w = make_weights(rng, type, rows, cols);
    const auto x = rng.floats(tokens * cols);
    Buffer dw = upload(w.bytes, at.w);
    Buffer dx = upload(x, at.x);
    Buffer dy = device().allocate(at.y + tokens * rows * 4);
    ops::matmul_weights(stream(), {dw, at.w}, {dx, at.x}, {dy, at.y}, rows, cols, tokens, type, tiling)
        .wait();
    const Expected want = expected_products(w, x, tokens);
    EXPECT_TRUE(all_close(download<float>(dy, tokens * rows, at.y), want.values,
                          [&](std::size_t i) { return want.tolerance[i]; }));
  }

  // out[i] must be row min(ids[i], rows - 1) of w, up to the fma of a decoder.
  ::testing::AssertionResult rows_match(const Weights& w, const std::vector<std::uint32_t>& ids,
                                        const std::vector<float>& got) {
    std::vector<float> want;
    std::vector<double> tolerance;
    for (std::uint32_t id : ids) {
      const std::uint64_t r = std::min<std::uint64_t>(id, w.rows - 1);
      for (std::uint64_t c = 0; c < w.cols; ++c) {
        want.push_back(w.values[r * w.cols + c]);
        tolerance.push_back(2.0 * kEps32 * w.block_max[r * w.cols + c]);
      }
    }
    return all_close(got, want, [&](std::size_t i) { return tolerance[i]; });
  }

  void check_get_rows(WeightType type, std::uint64_t table_rows, std::uint64_t cols,
                      std::uint64_t count, Offsets at = {}) {
    SCOPED_TRACE(::testing::Message() << "get_rows " << kernels::to_string(type) << " "
                                      << table_rows << "x" << cols << ", " << count << " ids");
    const Weights w = make_weights(rng, type, table_rows, cols);
    // Ids inside the table and past it (clamped to its last row), the largest u32 among them.
    std::vector<std::uint32_t> ids(count);
    for (auto& id : ids) id = static_cast<std::uint32_t>(rng.next() % (table_rows + 3));
    ids.back() = std::numeric_limits<std::uint32_t>::max();
    Buffer dw = upload(w.bytes, at.w);
    Buffer di = upload(ids, at.x);
    Buffer dout = device().allocate(at.y + count * cols * 4);
    ops::get_rows(stream(), {dw, at.w}, table_rows, cols, type, {di, at.x}, {dout, at.y}, count)
        .wait();
    EXPECT_TRUE(rows_match(w, ids, download<float>(dout, count * cols, at.y)));
  }

  // Awkward column counts per type: not multiples of the workgroup, several blocks, one block.
  static std::vector<std::uint64_t> cols_for(WeightType type) {
    switch (kernels::block_elements(type)) {
      case 1: return {1, 77, 1000};
      case 32: return {32, 96, 1184};
      default: return {256, 768};
    }
  }
};

TEST_P(WeightOpsTest, MatvecMatchesReference) {
  for (WeightType type : kTypes) {
    for (std::uint64_t cols : cols_for(type)) {
      for (std::uint64_t rows : {1, 67, 130}) check_matvec(type, rows, cols);
    }
  }
}

TEST_P(WeightOpsTest, MatvecAtOffsets) {
  for (WeightType type : kTypes) check_matvec(type, 33, cols_for(type)[1], {36, 4, 8});
}

TEST_P(WeightOpsTest, MatmulMatchesReference) {
  for (WeightType type : kTypes) {
    const auto cols = cols_for(type);
    check_matmul(type, 1, cols[0], 1);
    check_matmul(type, 130, cols[1], 1);   // rows not a multiple of a group's 16
    check_matmul(type, 67, cols.back(), 70);  // tokens over one group's 64
    check_matmul(type, 6, cols[1], 5, {4, 4, 12});
  }
}

TEST_P(WeightOpsTest, MatmulPrefillOf512Tokens) {
  check_matmul(WeightType::q4_k, 9, 512, 512);
  check_matmul(WeightType::q8_0, 9, 160, 512);
  check_matmul(WeightType::q5_k, 9, 256, 512);
}

// Both kernels pinned on every device, so the GPU one is checked on lavapipe too: shapes that
// are not multiples of the 64 x 64 tile nor of the 32-column unit (plain types), a single row
// and token, several tiles both ways, operands at offsets.
TEST_P(WeightOpsTest, MatmulTilingsMatchReference) {
  for (auto tiling : {ops::MatmulTiling::tiled, ops::MatmulTiling::token_per_invocation}) {
    for (WeightType type : kTypes) {
      const auto cols = cols_for(type);
      check_matmul(type, 1, cols[0], 1, {}, tiling);
      check_matmul(type, 130, cols[1], 70, {}, tiling);  // 3 x 2 tiles, ragged both ways
      check_matmul(type, 67, cols.back(), 9, {4, 4, 12}, tiling);
    }
    check_matmul(WeightType::q4_k, 70, 512, 200, {}, tiling);
  }
}

TEST_P(WeightOpsTest, GetRowsMatchesReferenceAndClampsIds) {
  for (WeightType type : kTypes) {
    for (std::uint64_t cols : cols_for(type)) check_get_rows(type, 7, cols, 25);
    check_get_rows(type, 3, cols_for(type)[1], 9, {8, 4, 4});
  }
}

// A table beyond one storage-buffer range (128 MiB on lavapipe): get_rows binds it in slices,
// matvec by rows. Random q8_0 bytes with sane scales stand in for a quantized token embedding.
TEST_P(WeightOpsTest, TableBeyondOneStorageBufferRange) {
  const std::uint64_t cols = 4096, rows = 32'800;  // 142.8 MB of q8_0
  Weights w{WeightType::q8_0, rows, cols, kernels::row_bytes(WeightType::q8_0, cols), {}, {}, {}};
  w.bytes = testing::random_bytes(rows * w.row_bytes, static_cast<std::uint32_t>(rng.next()));
  for (std::uint64_t at = 0; at < w.bytes.size(); at += 34) {
    w.bytes[at] = std::byte{0x00};
    w.bytes[at + 1] = std::byte{0x20};  // d = 2^-7
  }
  Buffer dw = upload(w.bytes);
  const auto x = rng.floats(cols);
  Buffer dx = upload(x);
  Buffer dy = device().allocate(rows * 4);
  ops::matvec_weights(stream(), dw, dx, dy, rows, cols, WeightType::q8_0).wait();
  const auto got = download<float>(dy, rows);
  std::vector<float> want(rows);
  for (std::uint64_t r = 0; r < rows; ++r) {
    want[r] = quant::dot_row(w.type, std::span(w.bytes).subspan(r * w.row_bytes, w.row_bytes), x);
  }
  // |w| <= 2^-7 * 128 = 1 and |x| < 1: the accumulation bound with sum |w x| <= cols.
  EXPECT_TRUE(all_close(got, want, [&](std::size_t) { return 4.0 * 64.0 * kEps32 * cols; }));

  // Around lavapipe's slice boundary (30840 rows of 4352 bytes in 128 MiB) and past the end.
  const std::vector<std::uint32_t> ids = {0, 15'000, 30'839, 30'840, 30'841, 32'799, 40'000};
  Buffer di = upload(ids);
  Buffer dout = device().allocate(ids.size() * cols * 4);
  ops::get_rows(stream(), dw, rows, cols, w.type, di, dout, ids.size()).wait();
  const auto rows_got = download<float>(dout, ids.size() * cols);
  std::vector<float> rows_want(ids.size() * cols);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::uint64_t r = std::min<std::uint64_t>(ids[i], rows - 1);
    quant::dequantize_row(w.type, std::span(w.bytes).subspan(r * w.row_bytes, w.row_bytes),
                          std::span(rows_want).subspan(i * cols, cols));
  }
  EXPECT_TRUE(testing::all_equal(rows_got, rows_want));  // d * q8 is exact in f32
}

// matvec_fused: segments of mixed types packed with gaps in one buffer, against the reference
// composition in double (rms_norm, the products, silu * up, the residual add).
struct FusedCase {
  std::vector<WeightType> types;
  std::vector<std::uint64_t> rows;
  std::uint64_t cols;
  bool norm, swiglu, accumulate;
};

// Every mapping of rows onto invocations the device has (lavapipe runs the GPU one too), the
// automatic one on the CPU device.
std::vector<ops::RowMapping> mappings_of(const Device& device) {
  const DeviceProperties& props = device.properties();
  if (!props.caps.subgroup_arithmetic) return {ops::RowMapping::automatic};
  std::vector<ops::RowMapping> list{ops::RowMapping::subgroup_per_row, ops::RowMapping::invocation_per_row};
  if (props.caps.subgroup_shuffle && props.limits.subgroup_size >= 8) {
    list.push_back(ops::RowMapping::invocation_per_row_shuffled);
  }
  return list;
}

class FusedMatvecTest : public WeightOpsTest {
 protected:
  void check_fused(const FusedCase& c) {
    for (ops::RowMapping mapping : mappings_of(device())) check_fused(c, mapping);
  }

  void check_fused(const FusedCase& c, ops::RowMapping mapping) {
    SCOPED_TRACE(::testing::Message() << "mapping " << static_cast<int>(mapping));
    SCOPED_TRACE(::testing::Message() << "matvec_fused " << c.types.size() << " segments, cols "
                                      << c.cols << (c.norm ? " norm" : "") << (c.swiglu ? " swiglu" : "")
                                      << (c.accumulate ? " accumulate" : ""));
    std::vector<Weights> ws;
    std::vector<std::byte> packed(8);  // the operand starts 8 bytes in: offsets are relative
    ops::FusedMatvec job;
    for (std::size_t s = 0; s < c.types.size(); ++s) {
      ws.push_back(make_weights(rng, c.types[s], c.rows[s], c.cols));
      const std::uint64_t at = (packed.size() - 8 + 3) / 4 * 4 + 4 * s;  // gaps between segments
      packed.resize(8 + at);
      packed.insert(packed.end(), ws.back().bytes.begin(), ws.back().bytes.end());
      job.segments.push_back({at, c.rows[s], c.types[s]});
    }
    packed.resize(packed.size() + 4);
    const auto x = rng.floats(c.cols);
    const auto g = rng.floats(c.cols);
    std::uint64_t out_rows = 0;
    for (std::size_t s = 0; s < c.rows.size(); ++s) out_rows += (c.swiglu && s > 0) ? 0 : c.rows[s];
    const auto y0 = rng.floats(out_rows);
    Buffer dw = upload(packed);
    Buffer dx = upload(x, 4);
    Buffer dg = upload(g);
    Buffer dy = upload(y0, 12);
    job.w = {dw, 8};
    job.cols = c.cols;
    job.x = {dx, 4};
    job.y = {dy, 12};
    if (c.norm) job.norm = ops::TensorRef(dg);
    job.eps = 1e-5f;
    job.swiglu = c.swiglu;
    job.accumulate = c.accumulate;
    job.mapping = mapping;
    ops::matvec_fused(stream(), job).wait();

    // x' and the products in double, with tolerances as in expected_products.
    std::vector<double> xn(x.begin(), x.end());
    if (c.norm) {
      double squares = 0.0;
      for (float v : x) squares += double(v) * v;
      const double inv = 1.0 / std::sqrt(squares / double(c.cols) + 1e-5);
      for (std::uint64_t i = 0; i < c.cols; ++i) xn[i] = x[i] * inv * g[i];
    }
    auto product = [&](const Weights& w, std::uint64_t r, double& tol) {
      double sum = 0.0, abs_sum = 0.0, block_sum = 0.0;
      for (std::uint64_t i = 0; i < c.cols; ++i) {
        sum += w.values[r * c.cols + i] * xn[i];
        abs_sum += std::abs(w.values[r * c.cols + i] * xn[i]);
        block_sum += w.block_max[r * c.cols + i] * std::abs(xn[i]);
      }
      tol = 8.0 * std::sqrt(double(c.cols)) * kEps32 * abs_sum + 4.0 * kEps32 * block_sum +
            8.0 * kEps32 * std::abs(sum);  // the last for the folded norm's scale
      return sum;
    };
    std::vector<float> want;
    std::vector<double> tolerance;
    for (std::size_t s = 0; s < ws.size(); ++s) {
      if (c.swiglu && s > 0) break;
      for (std::uint64_t r = 0; r < c.rows[s]; ++r) {
        double tol = 0.0;
        double v = product(ws[s], r, tol);
        if (c.swiglu) {
          double tol_up = 0.0;
          const double up = product(ws[1], r, tol_up);
          const double silu = v / (1.0 + std::exp(-v));
          tol = 1.1 * std::abs(up) * tol + std::abs(silu) * tol_up + 4.0 * kEps32 * std::abs(silu * up);
          v = silu * up;
        }
        if (c.accumulate) {
          const double before = y0[want.size()];
          tol += kEps32 * (std::abs(before) + std::abs(v));
          v += before;
        }
        want.push_back(static_cast<float>(v));
        tolerance.push_back(tol + 1e-30);
      }
    }
    EXPECT_TRUE(all_close(download<float>(dy, out_rows, 12), want,
                          [&](std::size_t i) { return tolerance[i]; }));
  }
};

TEST_P(FusedMatvecTest, QkvSegmentsOfMixedTypesWithNorm) {
  check_fused({{WeightType::q4_k, WeightType::q6_k, WeightType::q8_0}, {67, 19, 19}, 512, true, false, false});
  check_fused({{WeightType::q8_0, WeightType::q4_0, WeightType::f16}, {130, 1, 33}, 1184, true, false, false});
  check_fused({{WeightType::f32}, {5}, 77, false, false, false});
}

// Every type alone, so that each specialized variant (one per type, norm or not, per mapping)
// runs against the reference: with the norm, and accumulating without it.
TEST_P(FusedMatvecTest, EveryTypeInItsOwnVariant) {
  for (WeightType type : kTypes) {
    SCOPED_TRACE(kernels::to_string(type));
    check_fused({{type}, {67}, 512, true, false, false});
    check_fused({{type, type}, {9, 33}, 768, false, false, true});
  }
}

// The formats of downloaded files mixed in one job: outside the unspecialized kernel's types they
// run segment by segment (Q5_K_M's q5_k beside q6_k among them). SwiGLU cannot be cut.
TEST_P(FusedMatvecTest, DownloadedFormatsMixed) {
  check_fused({{WeightType::q5_k, WeightType::q4_1, WeightType::iq4_nl}, {19, 33, 5}, 512, true, false, false});
  check_fused({{WeightType::q5_0, WeightType::bf16, WeightType::q5_1}, {7, 3, 40}, 256, false, false, true});
  check_fused({{WeightType::q5_k, WeightType::q6_k, WeightType::q5_k}, {20, 9, 9}, 768, true, false, false});
  check_fused({{WeightType::q5_k, WeightType::q5_k}, {20, 20}, 768, true, true, false});
  // SwiGLU of a q5_0 gate and a q8_0 up: one invocation needs both, so it is refused.
  Buffer w = upload(std::vector<std::byte>(22 * 2 + 34 * 2 + 4));
  Buffer x = upload(std::vector<float>(32, 1.0f));
  Buffer y = device().allocate(8);
  ops::FusedMatvec job{.w = w, .segments = {{0, 2, WeightType::q5_0}, {44, 2, WeightType::q8_0}}, .cols = 32,
                       .x = x, .y = y, .swiglu = true};
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(stream(), job); }, Errc::unsupported, "swiglu of a q5_0 and a q8_0"));
}

TEST_P(FusedMatvecTest, SwigluOfTwoSegments) {
  check_fused({{WeightType::q8_0, WeightType::q8_0}, {131, 131}, 96, true, true, false});
  check_fused({{WeightType::q4_k, WeightType::q6_k}, {20, 20}, 768, false, true, false});
}

TEST_P(FusedMatvecTest, AccumulatesIntoY) {
  check_fused({{WeightType::q6_k}, {70}, 256, false, false, true});
  check_fused({{WeightType::q4_0}, {9}, 1184, true, false, true});
}

// More rows than one workgroup takes (the invocation-per-row kernels take 256, or 128 SwiGLU
// pairs): groups after the first, in a second segment too.
TEST_P(FusedMatvecTest, RowsOverSeveralGroups) {
  check_fused({{WeightType::q8_0, WeightType::q4_k}, {300, 270}, 256, true, false, true});
  check_fused({{WeightType::q6_k, WeightType::q6_k}, {140, 140}, 512, true, true, false});
}

TEST_P(FusedMatvecTest, RejectsBadJobs) {
  Buffer w = upload(std::vector<std::byte>(34 * 8));
  Buffer x = upload(std::vector<float>(64, 1.0f));
  Buffer y = device().allocate(64 * 4);
  ops::FusedMatvec job{.w = w, .segments = {}, .cols = 64, .x = x, .y = y};
  Stream& s = stream();
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::invalid_argument));  // none
  job.segments = {{0, 4, WeightType::q8_0}, {0, 4, WeightType::q8_0}, {0, 4, WeightType::q8_0},
                  {0, 4, WeightType::q8_0}};
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::invalid_argument));  // four
  job.segments = {{0, 4, WeightType::q8_0}, {0, 3, WeightType::q8_0}};
  job.swiglu = true;
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::invalid_argument));  // unequal
  job.swiglu = false;
  job.segments = {{2, 1, WeightType::q8_0}};
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::misaligned));
  job.segments = {{0, 5, WeightType::q8_0}};  // 5 rows of 68 bytes: past the 272-byte buffer
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::out_of_range));
  job.segments = {{0, 2, WeightType::q8_0}};
  job.cols = 48;  // not whole blocks
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::invalid_argument));
  job.cols = 64;
  job.y = ops::TensorRef(w, 4);  // output over the weights
  EXPECT_TRUE(throws_errc([&] { ops::matvec_fused(s, job); }, Errc::invalid_argument));
}

INSTANTIATE_TEST_SUITE_P(Devices, FusedMatvecTest, testing::every_device(),
                         testing::device_param_name);

TEST_P(WeightOpsTest, EmptyShapes) {
  Buffer w = upload(std::vector<float>(64, 1.0f));
  Buffer x = upload(std::vector<float>(64, 1.0f));
  Buffer y = upload(std::vector<float>(8, 7.0f));
  ops::matvec_weights(stream(), w, x, y, 0, 32, WeightType::q8_0).wait();
  ops::get_rows(stream(), w, 1, 32, WeightType::q8_0, x, y, 0).wait();
  EXPECT_EQ(download<float>(y, 8), std::vector<float>(8, 7.0f));
  ops::matvec_weights(stream(), w, x, y, 3, 0, WeightType::q4_k).wait();  // empty sums
  ops::matmul_weights(stream(), w, x, {y, 12}, 2, 0, 2, WeightType::q6_k).wait();
  EXPECT_EQ(download<float>(y, 8), (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 7}));
}

TEST_P(WeightOpsTest, BadInputsAreRefused) {
  const Weights w = make_weights(rng, WeightType::q4_0, 3, 96);  // 3 * 54 = 162 bytes
  Buffer dw = upload(w.bytes);
  Buffer x = upload(rng.floats(200));
  Buffer y = upload(std::vector<float>(200, 7.0f));
  Buffer ids = upload(std::vector<std::uint32_t>{0, 1, 2});
  auto& s = stream();
  const auto q4 = WeightType::q4_0;
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, dw, x, y, 3, 80, q4); },
                          Errc::invalid_argument, "multiple of 32"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights(s, dw, x, y, 3, 48, 2, WeightType::q4_k); },
                          Errc::invalid_argument, "q4_k"));
  EXPECT_TRUE(throws_errc([&] { ops::get_rows(s, dw, 3, 100, q4, ids, y, 3); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc(
      [&] { ops::matvec_weights(s, dw, x, y, 3, 96, static_cast<WeightType>(10)); },
      Errc::invalid_argument, "weight type 10"));  // Q2_K: known to ggml, not read here
  // W beyond its buffer, or too close to its end to read as whole words.
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, dw, x, y, 4, 96, q4); },
                          Errc::out_of_range, "operand 'w'"));
  Buffer exact = device().allocate(162);
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, exact, x, y, 3, 96, q4); },
                          Errc::out_of_range, "whole 32-bit words"));
  EXPECT_TRUE(throws_errc([&] { ops::get_rows(s, {dw, 8}, 3, 96, q4, ids, y, 3); },
                          Errc::out_of_range, "operand 'table'"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul_weights(s, dw, x, y, 3, 96, 3, q4); },
                          Errc::out_of_range, "operand 'x'"));
  EXPECT_TRUE(throws_errc([&] { ops::get_rows(s, dw, 3, 96, q4, ids, y, 5); },
                          Errc::out_of_range, "operand 'ids'"));
  // Offsets: W and ids are read as words; f32 operands as whole elements.
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, {dw, 2}, x, y, 1, 96, q4); },
                          Errc::misaligned, "32-bit words"));
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, {dw, 2}, x, y, 1, 1, WeightType::f16); },
                          Errc::misaligned));
  EXPECT_TRUE(throws_errc([&] { ops::get_rows(s, dw, 3, 96, q4, {ids, 2}, y, 1); },
                          Errc::misaligned, "operand 'ids'"));
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, dw, {x, 1}, y, 3, 96, q4); },
                          Errc::misaligned, "operand 'x'"));
  // Outputs overlapping inputs; ids into an empty table.
  EXPECT_TRUE(throws_errc([&] { ops::matvec_weights(s, dw, x, {dw, 100}, 3, 96, q4); },
                          Errc::invalid_argument, "overlaps"));
  EXPECT_TRUE(throws_errc([&] { ops::get_rows(s, dw, 3, 96, q4, y, y, 1); },
                          Errc::invalid_argument, "overlaps"));
  EXPECT_TRUE(throws_errc([&] { ops::get_rows(s, dw, 0, 96, q4, ids, y, 2); },
                          Errc::invalid_argument, "empty table"));
  EXPECT_EQ(download<float>(y, 200), std::vector<float>(200, 7.0f));  // nothing ran
}

INSTANTIATE_TEST_SUITE_P(Devices, WeightOpsTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
