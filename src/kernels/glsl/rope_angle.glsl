// The rotation of RoPE pair i of a head at a position, shared by rope_f32.comp and
// rope_kv_f32.comp.
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

// (cos, sin) of position * freq_base^(-2i / head_dim).
vec2 rope_rotation(uint position, uint i, uint head_dim, float freq_base) {
  // freq_base^(-2i / head_dim) as exp2: log2 and exp2 have ulp-level bounds in Vulkan, pow has
  // none of its own.
  const float inv_freq = exp2(-2.0 * float(i) / float(head_dim) * log2(freq_base));
  const float angle = reduce_angle(float(position) * inv_freq);
  return vec2(cos(angle), sin(angle));
}
