// The kernels of the architectures beyond llama (Llama 3 rope scaling, Gemma 2/3): each a shader
// (glsl/<name>.comp) and a CPU function of the same contract, like kernels.hpp. In the
// remote-dispatch registry (kernel_registry.cpp) with bounds rules in cluster/kernel_bounds*, so
// a stage of these architectures runs on another node's device too. Most callers want the ops
// (ops_arch.hpp).
#pragma once

#include "device/kernel.hpp"

namespace crossgpu::kernels {

// Elementwise ({x, y} UnaryPush; groups ceil(n / 256)):
extern const KernelSpec gelu_tanh_f32;  // y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
extern const KernelSpec softcap_f32;    // y = alpha * tanh(x / alpha)
// RoPE with frequency factors, in place: {x, factors} RopeFreqsPush.
extern const KernelSpec rope_freqs_f32;
// Windowed, soft-capped causal attention: {q, k, v, out} AttentionWindowPush.
extern const KernelSpec attention_window_f32;
// The same two with the position read on the device, for recorded decode steps:
extern const KernelSpec attention_window_at_f32;  // {q, k, v, out, position} AttentionWindowAtPush
extern const KernelSpec rope_kv_freqs_f32;        // {qkv, k_cache, v_cache, position, factors} RopeKvFreqsPush

}  // namespace crossgpu::kernels
