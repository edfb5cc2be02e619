// The built-in kernels by name: how a kernel named on the wire (DispatchRequest.kernel) becomes a
// KernelSpec. Only kernels compiled into this binary can run; a peer never sends code.
#pragma once

#include <span>
#include <string_view>

#include "device/kernel.hpp"

namespace crossgpu::kernels {

// Every built-in KernelSpec, in a stable order.
std::span<const KernelSpec* const> builtin_kernels() noexcept;

// The built-in kernel called `name`, or nullptr.
const KernelSpec* find_kernel(std::string_view name) noexcept;

// Like find_kernel, but throws Errc::not_found listing the kernels that exist.
const KernelSpec& kernel_by_name(std::string_view name);

}  // namespace crossgpu::kernels
