// Row-wise RMSNorm: y[r, c] = x[r, c] * w[c] / sqrt(mean_c(x[r, c]^2) + eps).
// Push constants: kernels/push_constants.hpp RmsNormPush. Groups: x = rows.
#version 450
layout(local_size_x = 128) in;

// No readonly/writeonly on X and Y: the op allows y to be the same range as x (in place).
layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 2) buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint x_offset;
  uint w_offset;
  uint y_offset;
  float eps;
} p;

const uint THREADS = 128;
shared float partial[THREADS];

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint lid = gl_LocalInvocationID.x;
  const uint xr = p.x_offset + row * p.cols;
  const uint yr = p.y_offset + row * p.cols;

  float squares = 0.0;
  for (uint c = lid; c < p.cols; c += THREADS) {
    const float v = x[xr + c];
    squares = fma(v, v, squares);
  }
  partial[lid] = squares;
  barrier();
  for (uint half_ = THREADS / 2; half_ > 0; half_ /= 2) {
    if (lid < half_) partial[lid] += partial[lid + half_];
    barrier();
  }
  const float inv_rms = inversesqrt(partial[0] / float(p.cols) + p.eps);

  for (uint c = lid; c < p.cols; c += THREADS) {
    y[yr + c] = x[xr + c] * inv_rms * w[p.w_offset + c];
  }
}
