// The ops: the first kernels of crossgpu, callable on any device's stream. Each op validates its
// operands, splits the work into dispatches that fit the device's limits (storage-buffer range,
// offset alignment, workgroup counts) and enqueues them; it returns the Event of the last dispatch
// (a stream is in order, so that event completing means the whole op completed).
//
//   ops::add(gpu.stream(), a, b, out, n).wait();
//   ops::matmul(gpu.stream(), a, b, c, {.m = 64, .n = 32, .k = 128}).wait();
//
// Conventions shared by every op:
// - Operands are TensorRefs: a buffer and a byte offset. A Buffer or BufferRef converts to one
//   (offset 0). Offsets must be multiples of the element size (Errc::misaligned); the op handles
//   the device's binding-offset alignment itself.
// - Elements are f32 unless a DType says otherwise; matrices are dense and row-major.
// - The element counts given must fit inside the buffers (Errc::out_of_range); every buffer must
//   belong to the stream's device (Errc::wrong_device) and be live (Errc::freed_handle).
// - Zero elements (n == 0, rows == 0, ...) is a no-op returning a complete Event (reductions
//   write their identity, see below). Operands are still validated.
// - Outputs may be the very same range as an input of the same element type (in place), as
//   noted per op; any other overlap of an output with an input is Errc::invalid_argument.
// - Errors are crossgpu::Error, thrown before anything is enqueued.
#pragma once

#include <cstdint>

#include "device/buffer.hpp"
#include "device/event.hpp"
#include "device/stream.hpp"

namespace crossgpu::ops {

enum class DType : std::uint8_t { f32, f16 };

std::uint64_t size_of(DType type) noexcept;
const char* to_string(DType type) noexcept;

// Where an operand lives: a buffer and a byte offset into it.
struct TensorRef {
  BufferRef buffer;
  std::uint64_t byte_offset = 0;

  TensorRef() = default;
  TensorRef(BufferRef ref, std::uint64_t offset = 0)  // NOLINT: implicit, like Buffer -> BufferRef
      : buffer(ref), byte_offset(offset) {}
  TensorRef(const Buffer& owner, std::uint64_t offset = 0)  // NOLINT: a Buffer is usable as is
      : buffer(owner.ref()), byte_offset(offset) {}
};

// --- elementwise (f32; n elements; in place allowed: out may equal an input) ---

// out[i] = value
Event fill(Stream& stream, TensorRef out, std::uint64_t n, float value);
// dst[i] = src[i]; src and dst must not overlap.
Event copy(Stream& stream, TensorRef src, TensorRef dst, std::uint64_t n);
// out[i] = a[i] + b[i]
Event add(Stream& stream, TensorRef a, TensorRef b, TensorRef out, std::uint64_t n);
// out[i] = a[i] * b[i]
Event mul(Stream& stream, TensorRef a, TensorRef b, TensorRef out, std::uint64_t n);
// out[i] = alpha * x[i]
Event scale(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n, float alpha);
// y[i] = alpha * x[i] + y[i]
Event axpy(Stream& stream, float alpha, TensorRef x, TensorRef y, std::uint64_t n);
// out[i] = x[i] / (1 + exp(-x[i]))  (SiLU, a.k.a. swish)
Event silu(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n);

// --- matrices ---

struct MatmulShape {
  std::uint64_t m = 0;  // rows of A and C
  std::uint64_t n = 0;  // columns of B and C
  std::uint64_t k = 0;  // columns of A, rows of B
};

// C[m x n] = A[m x k] * B[k x n]. A and B are of type `inputs` (f16 needs caps.storage_16bit,
// else Errc::unsupported); products are accumulated in f32 and C is always f32.
// C must not overlap A or B.
Event matmul(Stream& stream, TensorRef a, TensorRef b, TensorRef c, MatmulShape shape,
             DType inputs = DType::f32);

// y[rows] = A[rows x cols] * x[cols]. A is of type `matrix` (f16 weights are the common case;
// needs caps.storage_16bit); x and y are f32; accumulation is f32. y must not overlap A or x.
Event matvec(Stream& stream, TensorRef a, TensorRef x, TensorRef y, std::uint64_t rows,
             std::uint64_t cols, DType matrix = DType::f32);

// --- row-wise over a rows x cols f32 matrix (in place allowed: y may equal x) ---

// y[r, :] = exp(x[r, :] - max(x[r, :])) / sum(exp(x[r, :] - max(x[r, :])))
Event softmax(Stream& stream, TensorRef x, TensorRef y, std::uint64_t rows, std::uint64_t cols);
// y[r, c] = x[r, c] * weight[c] / sqrt(mean(x[r, :]^2) + eps)
Event rms_norm(Stream& stream, TensorRef x, TensorRef weight, TensorRef y, std::uint64_t rows,
               std::uint64_t cols, float eps = 1e-5f);

// --- reductions of n f32 elements to the one f32 at `out` ---
// They use a scratch buffer of about n / 1024 bytes, allocated on the device for the call and
// released when the work completes. n == 0 writes the identity (0 for sum, -inf for max).
// The order of additions differs from a sequential loop (a tree), and max of NaN is unspecified.

Event sum(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n);
Event max(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n);

}  // namespace crossgpu::ops
