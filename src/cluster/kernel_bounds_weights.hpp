// The remote-dispatch bounds rules of the weight kernels (kernels/ops_weights.hpp): from the push
// constants, the bytes of W and the elements of x, y, ids and out that a dispatch can touch, all
// of which must lie inside their bindings (see kernel_bounds.hpp for why).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace crossgpu::cluster {

// False when `name` is not a weight kernel (the caller tries other rules). For a weight kernel:
// returns true when the dispatch stays inside its bindings, else throws Errc::out_of_range
// naming the binding, or Errc::invalid_argument for an unknown weight type, a row that is not
// whole blocks, or counts the shader would clamp below zero. `push` must already have the
// kernel's push-constant size (check_kernel_bounds checks that first).
bool check_weight_kernel_bounds(std::string_view name, std::span<const std::byte> push,
                                std::span<const std::uint64_t> binding_bytes);

}  // namespace crossgpu::cluster
