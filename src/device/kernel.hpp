// A kernel is one compute program with two implementations: SPIR-V for GPU backends and a host
// function for the CPU backend. Both read the same bindings and the same push-constant block, so
// an op is written once (kernels/ops.hpp) and runs on every backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace crossgpu {

class ThreadPool;

// Workgroup counts of one dispatch. x may exceed the device's per-dimension limit: backends
// split it (vkCmdDispatchBase), so shaders see a contiguous gl_WorkGroupID.x.
struct Groups {
  std::uint64_t x = 1;
  std::uint32_t y = 1;
  std::uint32_t z = 1;
};

struct CpuBinding {
  std::byte* data = nullptr;
  std::uint64_t bytes = 0;
};

struct CpuKernelArgs {
  std::span<const CpuBinding> buffers;
  std::span<const std::byte> push;
  Groups groups;
  ThreadPool& pool;
};

using CpuKernelFn = void (*)(const CpuKernelArgs&);

struct KernelSpec {
  std::string_view name;
  std::span<const std::uint32_t> spirv;  // entry point "main"; set 0, storage buffers 0..n-1
  std::uint32_t binding_count = 0;
  std::uint32_t push_constant_bytes = 0;  // <= 128, the guaranteed minimum
  std::uint32_t local_size_x = 1;         // must match the shader's local_size_x
  CpuKernelFn cpu = nullptr;
  // Values of the shader's specialization constants 0, 1, ... (u32 or bool each): one SPIR-V
  // compiled into variants, each a KernelSpec of its own name. Empty: the shader's defaults.
  std::span<const std::uint32_t> constants = {};
};

}  // namespace crossgpu
