// Windowed, soft-capped causal attention with the position in the push constants:
// attention_window_body.glsl.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "attention_window_body.glsl"
