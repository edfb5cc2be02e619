// attention_body.glsl with the first query token's position read from a device buffer
// (binding 4, clamped to the push constants' start_pos), so that a recorded decode step replays
// unchanged at every position.
#version 450
#extension GL_GOOGLE_include_directive : require
#define POSITION_FROM_BUFFER
#include "attention_body.glsl"
