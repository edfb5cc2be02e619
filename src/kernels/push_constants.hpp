// The push-constant blocks of the kernels, as the C++ side writes them. Each struct mirrors the
// `layout(push_constant) uniform Push` block of the shaders named beside it, member for member:
// only 4-byte scalars, so the std430 layout is the C++ layout (the static_asserts pin the sizes).
//
// Element offsets (`*_offset`) count elements from the start of the bound range, not bytes: the
// ops bind ranges that start on the device's offset alignment and pass the operand's remaining
// offset here. Every index fits 32 bits because a binding never exceeds kMaxBindingBytes.
#pragma once

#include <cstdint>

namespace crossgpu::kernels {

// Bindings are capped at 2 GiB whatever the device allows, so that 32-bit element indices
// (what the shaders use) reach every element of a binding.
inline constexpr std::uint64_t kMaxBindingBytes = std::uint64_t{1} << 31;

// Workgroup shapes, as declared in the shaders (local_size_x).
inline constexpr std::uint32_t kElementwiseThreads = 256;  // fill, copy, add, ... silu
inline constexpr std::uint32_t kMatmulThreads = 256;       // 16 x 16 invocations
inline constexpr std::uint32_t kMatmulTile = 64;           // C tile of one workgroup
inline constexpr std::uint32_t kRowThreads = 128;          // matvec, softmax, rms_norm
inline constexpr std::uint32_t kReduceThreads = 256;
inline constexpr std::uint32_t kReduceItems = 16;  // elements folded by one invocation
inline constexpr std::uint32_t kReduceBlock = kReduceThreads * kReduceItems;

// fill_f32.comp
struct FillPush {
  std::uint32_t n;
  std::uint32_t out_offset;
  float value;
};
static_assert(sizeof(FillPush) == 12);

// copy_f32, scale_f32, axpy_f32, silu_f32.comp (x -> y; alpha unused by copy and silu)
struct UnaryPush {
  std::uint32_t n;
  std::uint32_t x_offset;
  std::uint32_t y_offset;
  float alpha;
};
static_assert(sizeof(UnaryPush) == 16);

// add_f32, mul_f32.comp
struct BinaryPush {
  std::uint32_t n;
  std::uint32_t a_offset;
  std::uint32_t b_offset;
  std::uint32_t out_offset;
};
static_assert(sizeof(BinaryPush) == 16);

// matmul_f32, matmul_f16.comp
struct MatmulPush {
  std::uint32_t m;
  std::uint32_t n;
  std::uint32_t k;
  std::uint32_t lda;
  std::uint32_t ldb;
  std::uint32_t ldc;
  std::uint32_t a_offset;
  std::uint32_t b_offset;
  std::uint32_t c_offset;
  std::uint32_t accumulate;  // 1: C += A * B
};
static_assert(sizeof(MatmulPush) == 40);

// matvec_f32, matvec_f16.comp
struct MatvecPush {
  std::uint32_t rows;
  std::uint32_t cols;
  std::uint32_t lda;
  std::uint32_t a_offset;
  std::uint32_t x_offset;
  std::uint32_t y_offset;
};
static_assert(sizeof(MatvecPush) == 24);

// softmax_f32.comp
struct SoftmaxPush {
  std::uint32_t rows;
  std::uint32_t cols;
  std::uint32_t x_offset;
  std::uint32_t y_offset;
};
static_assert(sizeof(SoftmaxPush) == 16);

// rms_norm_f32.comp
struct RmsNormPush {
  std::uint32_t rows;
  std::uint32_t cols;
  std::uint32_t x_offset;
  std::uint32_t w_offset;
  std::uint32_t y_offset;
  float eps;
};
static_assert(sizeof(RmsNormPush) == 24);

// reduce_f32.comp
enum class ReduceOp : std::uint32_t { sum = 0, max = 1 };
struct ReducePush {
  std::uint32_t n;
  std::uint32_t x_offset;
  std::uint32_t out_offset;
  ReduceOp op;
};
static_assert(sizeof(ReducePush) == 16);

}  // namespace crossgpu::kernels
