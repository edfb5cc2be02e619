// Bounds rules of the transformer kernels (rope_f32, attention_f32, attention_combine_f32) for
// remote dispatches: the part of kernel_bounds.cpp's rule chain that knows their push blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace crossgpu::cluster {

// False when `name` is not one of these kernels. Otherwise returns true if every element the
// push constants let the shader touch lies inside its binding; throws Errc::out_of_range naming
// the binding when one does not, and Errc::invalid_argument for parameters the shader cannot run
// safely with (KV heads that do not divide the heads, a head larger than its shared memory).
// `push` has the kernel's push-constant size (the caller checked it).
bool check_attention_kernel_bounds(std::string_view name, std::span<const std::byte> push,
                                   std::span<const std::uint64_t> binding_bytes);

}  // namespace crossgpu::cluster
