// Rotary position embedding, in place on x = [tokens][heads][head_dim]: pair i of each head of
// token t turns by angle (start_pos + t) * freq_base^(-2i / head_dim). One pair per invocation.
// Push constants: kernels/push_constants_attention.hpp RopePush. Groups: x = ceil(tokens * heads
// * (head_dim / 2) / 256).
#version 450
layout(local_size_x = 256) in;

// Read and written by the same invocation: no readonly/writeonly.
layout(std430, set = 0, binding = 0) buffer X { float x[]; };

layout(push_constant) uniform Push {
  uint tokens;
  uint heads;
  uint head_dim;
  uint x_offset;
  uint start_pos;
  float freq_base;
  uint mode;  // 0: pairs (2i, 2i + 1); 2: pairs (i, i + head_dim / 2)
} p;

// 2*pi as a short head (8 significant bits, so k * TWO_PI_HI is exact for k < 2^16) and the
// rest. Vulkan bounds the error of sin and cos only on [-pi, pi]; at position 8000 the angle of
// pair 0 is 8000 radians, so the angle is brought into that range first (Cody-Waite).
const float TWO_PI_HI = 6.28125;
const float TWO_PI_LO = 1.9353071795864769e-3;
const float INV_TWO_PI = 0.15915494309189535;

float reduce_angle(float angle) {
  const float k = round(angle * INV_TWO_PI);
  return (angle - k * TWO_PI_HI) - k * TWO_PI_LO;
}

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint pairs = p.tokens * p.heads * half_dim;
  const uint g = gl_GlobalInvocationID.x;
  if (g >= pairs) return;
  const uint i = g % half_dim;
  const uint head = g / half_dim;  // token * heads + head index
  const uint token = head / p.heads;

  // freq_base^(-2i / head_dim) as exp2: log2 and exp2 have ulp-level bounds in Vulkan, pow has
  // none of its own.
  const float inv_freq = exp2(-2.0 * float(i) / float(p.head_dim) * log2(p.freq_base));
  const float angle = reduce_angle(float(p.start_pos + token) * inv_freq);
  const float c = cos(angle);
  const float s = sin(angle);

  const uint first = p.x_offset + head * p.head_dim + (p.mode == 2u ? i : 2u * i);
  const uint second = first + (p.mode == 2u ? half_dim : 1u);
  const float a = x[first];
  const float b = x[second];
  x[first] = a * c - b * s;
  x[second] = a * s + b * c;
}
