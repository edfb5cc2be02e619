// y = A * x with an f16 matrix (16-bit storage only; the arithmetic is f32); x and y are f32,
// accumulation is f32. A is rows x cols, row-major with leading dimension lda. Push constants:
// kernels/push_constants.hpp MatvecPush. Groups: x = rows (one workgroup per row).
//
// The 128 invocations of a workgroup stride over the row together (neighbours read neighbouring
// elements), then their partial sums meet in a shared-memory tree. The tree needs no subgroup
// operations, so the shader runs on every Vulkan 1.1 device whatever its subgroup size.
#version 450
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer A { float16_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint lda;
  uint a_offset;
  uint x_offset;
  uint y_offset;
} p;

const uint THREADS = 128;
shared float partial[THREADS];

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;  // uniform across the workgroup: no barrier is skipped by some only
  const uint lid = gl_LocalInvocationID.x;
  const uint a_row = p.a_offset + row * p.lda;
  float acc = 0.0;
  for (uint c = lid; c < p.cols; c += THREADS) {
    acc = fma(float(a[a_row + c]), x[p.x_offset + c], acc);
  }
  partial[lid] = acc;
  barrier();
  for (uint half_ = THREADS / 2; half_ > 0; half_ /= 2) {
    if (lid < half_) partial[lid] += partial[lid + half_];
    barrier();
  }
  if (lid == 0) y[p.y_offset + row] = partial[0];
}
