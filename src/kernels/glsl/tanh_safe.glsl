// tanh from exp(-2|z|) <= 1: Vulkan bounds GLSL's tanh only through sinh/cosh, which overflow
// (and give NaN on some drivers) for |z| beyond about 44; this form never overflows and every
// divisor lies in [1, 2].
float tanh_safe(float z) {
  const float e = exp(-2.0 * abs(z));
  const float t = (1.0 - e) / (1.0 + e);
  return z < 0.0 ? -t : t;
}
