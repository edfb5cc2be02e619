// matvec_fused_body.glsl with one invocation per row (CPU-like devices, and devices without
// subgroup arithmetic).
#version 450
#extension GL_GOOGLE_include_directive : require
#define ROW_PER_INVOCATION
#include "matvec_fused_body.glsl"
