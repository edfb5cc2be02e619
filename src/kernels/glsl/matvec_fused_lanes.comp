// matvec_fused_body.glsl with one invocation per row and x' shared by subgroup shuffles
// (CPU-like devices with subgroups of at least 8 lanes, such as lavapipe on x86-64).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#define ROW_PER_INVOCATION
#define X_SHUFFLE
#include "matvec_fused_body.glsl"
