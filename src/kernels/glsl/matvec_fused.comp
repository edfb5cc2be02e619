// matvec_fused_body.glsl with one subgroup per row (GPUs with subgroup arithmetic).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "matvec_fused_body.glsl"
