// Windowed, soft-capped causal attention with the position read on the device (recorded decode
// steps): attention_window_body.glsl.
#version 450
#extension GL_GOOGLE_include_directive : require
#define POSITION_FROM_BUFFER
#include "attention_window_body.glsl"
