// Row-wise softmax: y[r, c] = exp(x[r, c] - m) / sum_c exp(x[r, c] - m), m = max_c x[r, c].
// Subtracting the row maximum keeps every exp in (0, 1]: no overflow whatever the inputs.
// Push constants: kernels/push_constants.hpp SoftmaxPush. Groups: x = rows.
#version 450
layout(local_size_x = 128) in;

// No readonly/writeonly: the op allows y to be the same range as x (in place). Each element is
// read and written by one invocation, after the last barrier.
layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint x_offset;
  uint y_offset;
} p;

const uint THREADS = 128;
shared float partial[THREADS];

// Combines the per-invocation values in `partial` (tree); every invocation gets the result.
float reduce_max(float value) {
  const uint lid = gl_LocalInvocationID.x;
  partial[lid] = value;
  barrier();
  for (uint half_ = THREADS / 2; half_ > 0; half_ /= 2) {
    if (lid < half_) partial[lid] = max(partial[lid], partial[lid + half_]);
    barrier();
  }
  const float result = partial[0];
  barrier();  // partial is reused by the next reduction
  return result;
}

float reduce_sum(float value) {
  const uint lid = gl_LocalInvocationID.x;
  partial[lid] = value;
  barrier();
  for (uint half_ = THREADS / 2; half_ > 0; half_ /= 2) {
    if (lid < half_) partial[lid] += partial[lid + half_];
    barrier();
  }
  const float result = partial[0];
  barrier();
  return result;
}

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint lid = gl_LocalInvocationID.x;
  const uint xr = p.x_offset + row * p.cols;
  const uint yr = p.y_offset + row * p.cols;

  float local_max = uintBitsToFloat(0xff800000u);  // -inf
  for (uint c = lid; c < p.cols; c += THREADS) local_max = max(local_max, x[xr + c]);
  const float row_max = reduce_max(local_max);

  float local_sum = 0.0;
  for (uint c = lid; c < p.cols; c += THREADS) local_sum += exp(x[xr + c] - row_max);
  const float inv_sum = 1.0 / reduce_sum(local_sum);

  for (uint c = lid; c < p.cols; c += THREADS) y[yr + c] = exp(x[xr + c] - row_max) * inv_sum;
}
