// The kernels' own contract: each shader declares the workgroup size its KernelSpec states, and
// the CPU backend's implementation equals the reference (it runs the reference on slices of its
// bindings, so the results are bit for bit the same, except the reduction, whose blocks add up
// in a different order) and covers exactly the dispatched workgroups, like the shader.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "device/cpu/cpu_device.hpp"
#include "kernels/kernels.hpp"
#include "kernels/ops.hpp"
#include "kernels/push_constants.hpp"
#include "kernels/reference/reference.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using reference::Half;
using reference::matrix;
using testing::all_equal;

const KernelSpec* const kAllKernels[] = {
    &kernels::fill_f32,   &kernels::copy_f32,    &kernels::add_f32,      &kernels::mul_f32,
    &kernels::scale_f32,  &kernels::axpy_f32,    &kernels::silu_f32,     &kernels::matmul_f32,
    &kernels::matmul_f16, &kernels::matvec_f32,  &kernels::matvec_f16,   &kernels::softmax_f32,
    &kernels::rms_norm_f32, &kernels::reduce_f32};

// The x of OpExecutionMode <entry> LocalSize x y z, or 0 when the module has none.
std::uint32_t local_size_x(std::span<const std::uint32_t> spirv) {
  constexpr std::uint32_t kOpExecutionMode = 16;
  constexpr std::uint32_t kLocalSize = 17;
  for (std::size_t i = 5; i < spirv.size();) {  // after the 5-word header
    const std::uint32_t words = spirv[i] >> 16;
    if (words == 0) break;
    if ((spirv[i] & 0xffff) == kOpExecutionMode && words >= 6 && spirv[i + 2] == kLocalSize) {
      return spirv[i + 3];
    }
    i += words;
  }
  return 0;
}

TEST(KernelSpecs, ShadersMatchTheirSpecs) {
  for (const KernelSpec* kernel : kAllKernels) {
    SCOPED_TRACE(kernel->name);
    ASSERT_GT(kernel->spirv.size(), 5u);
    EXPECT_EQ(kernel->spirv[0], 0x07230203u) << "not SPIR-V";
    EXPECT_EQ(local_size_x(kernel->spirv), kernel->local_size_x);
    EXPECT_LE(kernel->push_constant_bytes, 128u);
    EXPECT_GT(kernel->binding_count, 0u);
    EXPECT_NE(kernel->cpu, nullptr);
  }
}

// Every CPU kernel through the ops on a CPU device, against the reference on the same inputs.
class CpuKernelTest : public ::testing::Test {
 protected:
  template <typename T>
  Buffer upload(const std::vector<T>& values) {
    Buffer buffer = device->allocate(values.size() * sizeof(T));
    device->stream().upload(buffer, std::span<const T>(values)).wait();
    return buffer;
  }
  std::vector<float> download(BufferRef buffer, std::uint64_t n) {
    std::vector<float> out(n);
    device->stream().download(buffer, std::span<float>(out)).wait();
    return out;
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "  seed %llu\n", (unsigned long long)rng.seed());
  }

  std::shared_ptr<Device> device = make_cpu_device(2);
  Stream& stream = device->stream();
  testing::Rng rng;
};

TEST_F(CpuKernelTest, ElementwiseEqualsReference) {
  const std::uint64_t n = 300'007;
  const auto a = rng.floats(n, -5, 5);
  const auto b = rng.floats(n, -5, 5);
  Buffer da = upload(a), db = upload(b), out = device->allocate(n * 4);
  std::vector<float> want(n);

  ops::add(stream, da, db, out, n);
  reference::add(a, b, want);
  EXPECT_TRUE(all_equal(download(out, n), want));
  ops::mul(stream, da, db, out, n);
  reference::mul(a, b, want);
  EXPECT_TRUE(all_equal(download(out, n), want));
  ops::scale(stream, da, out, n, 1.5f);
  reference::scale(a, want, 1.5f);
  EXPECT_TRUE(all_equal(download(out, n), want));
  ops::silu(stream, da, out, n);
  reference::silu(a, want);
  EXPECT_TRUE(all_equal(download(out, n), want));
  ops::copy(stream, db, out, n);
  ops::axpy(stream, -0.75f, da, out, n);
  want = b;
  reference::axpy(-0.75f, a, want);
  EXPECT_TRUE(all_equal(download(out, n), want));
}

TEST_F(CpuKernelTest, MatricesEqualReference) {
  const std::uint64_t m = 70, n = 45, k = 129;
  const auto a = rng.floats(m * k), b = rng.floats(k * n);
  const auto ha = rng.halves(m * k), hb = rng.halves(k * n);
  Buffer da = upload(a), db = upload(b), dha = upload(ha), dhb = upload(hb);
  Buffer out = device->allocate(m * n * 4);
  std::vector<float> want(m * n);

  ops::matmul(stream, da, db, out, {m, n, k});
  reference::matmul(matrix<const float>(a, m, k), matrix<const float>(b, k, n),
                    matrix<float>(want, m, n));
  EXPECT_TRUE(all_equal(download(out, m * n), want));
  ops::matmul(stream, dha, dhb, out, {m, n, k}, ops::DType::f16);
  reference::matmul(matrix<const Half>(ha, m, k), matrix<const Half>(hb, k, n),
                    matrix<float>(want, m, n));
  EXPECT_TRUE(all_equal(download(out, m * n), want));

  const std::vector<float> x(b.begin(), b.begin() + k);
  Buffer dx = upload(x);
  want.resize(m);
  ops::matvec(stream, da, dx, out, m, k);
  reference::matvec(matrix<const float>(a, m, k), x, want);
  EXPECT_TRUE(all_equal(download(out, m), want));
  ops::matvec(stream, dha, dx, out, m, k, ops::DType::f16);
  reference::matvec(matrix<const Half>(ha, m, k), x, want);
  EXPECT_TRUE(all_equal(download(out, m), want));
}

TEST_F(CpuKernelTest, RowsEqualReference) {
  const std::uint64_t rows = 300, cols = 257;
  const auto x = rng.floats(rows * cols, -4, 4);
  const auto w = rng.floats(cols);
  Buffer dx = upload(x), dw = upload(w), out = device->allocate(rows * cols * 4);
  std::vector<float> want(rows * cols);

  ops::softmax(stream, dx, out, rows, cols);
  reference::softmax(matrix<const float>(x, rows, cols), matrix<float>(want, rows, cols));
  EXPECT_TRUE(all_equal(download(out, rows * cols), want));
  ops::rms_norm(stream, dx, dw, out, rows, cols, 1e-6f);
  reference::rms_norm(matrix<const float>(x, rows, cols), w, matrix<float>(want, rows, cols),
                      1e-6f);
  EXPECT_TRUE(all_equal(download(out, rows * cols), want));
}

TEST_F(CpuKernelTest, ReductionsMatchReference) {
  const std::uint64_t n = 5'000'011;
  const auto x = rng.floats(n, -1, 1);
  Buffer dx = upload(x), out = device->allocate(8);
  ops::sum(stream, dx, out, n);
  ops::max(stream, dx, {out, 4}, n);
  const auto got = download(out, 2);
  double abs_sum = 0;
  for (float v : x) abs_sum += std::abs(v);
  // Each block of 4096 is summed in double and rounded once, then the partials again: two f32
  // roundings of partial sums, each within eps32/2 of sum |x|.
  EXPECT_NEAR(got[0], reference::sum(x), 2 * testing::kEps32 * abs_sum);
  EXPECT_EQ(got[1], reference::max(x));
}

// Called directly with fewer workgroups than n needs, the CPU kernel stops where the shader
// would: it writes groups * local_size elements, no more.
TEST(CpuKernelCoverage, OnlyDispatchedWorkgroupsWrite) {
  ThreadPool pool(2);
  std::vector<float> out(1000, -1.0f);
  const CpuBinding binding{reinterpret_cast<std::byte*>(out.data()), out.size() * 4};
  const kernels::FillPush push{1000, 0, 3.0f};
  const CpuKernelArgs args{std::span(&binding, 1), std::as_bytes(std::span(&push, 1)),
                           Groups{2, 1, 1}, pool};
  kernels::fill_f32.cpu(args);
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i], i < 2 * kernels::kElementwiseThreads ? 3.0f : -1.0f) << i;
  }
}

TEST(CpuKernelCoverage, ABindingTooSmallIsAnInternalError) {
  ThreadPool pool(1);
  std::vector<float> out(10);
  const CpuBinding binding{reinterpret_cast<std::byte*>(out.data()), out.size() * 4};
  const kernels::FillPush push{11, 0, 3.0f};
  const CpuKernelArgs args{std::span(&binding, 1), std::as_bytes(std::span(&push, 1)),
                           Groups{1, 1, 1}, pool};
  EXPECT_THROW(kernels::fill_f32.cpu(args), Error);
  EXPECT_EQ(out, std::vector<float>(10, 0.0f));
}

}  // namespace
}  // namespace crossgpu
