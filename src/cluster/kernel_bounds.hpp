// Where each built-in kernel reads and writes, from its push constants: the node checks that
// every element a remote dispatch can touch lies inside its binding. The shaders index with the
// caller's counts and offsets and trust them (the ops layer checks them locally), and GPU
// backends do not bounds-check storage buffers, so a hostile push block would otherwise read or
// write memory outside the caller's buffers.
#pragma once

#include <cstdint>
#include <span>

#include "device/kernel.hpp"

namespace crossgpu::cluster {

// `binding_bytes[i]`: the size of binding i as bound. Throws Errc::out_of_range naming the
// binding and the extent the push constants imply, Errc::invalid_argument for degenerate counts,
// and Errc::unsupported for a kernel without a rule (it cannot be dispatched remotely).
void check_kernel_bounds(const KernelSpec& kernel, std::span<const std::byte> push,
                         std::span<const std::uint64_t> binding_bytes, Groups groups);

}  // namespace crossgpu::cluster
