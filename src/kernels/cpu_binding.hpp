// What the CPU implementations of the kernels share: typed, bounds-checked views of the bound
// ranges and the push-constant block. A kernel that would read past a binding fails with
// Errc::internal instead of touching memory it does not own (the ops never let that happen).
#pragma once

#include <cstring>
#include <span>
#include <type_traits>

#include "core/error.hpp"
#include "device/kernel.hpp"
#include "kernels/reference/reference.hpp"

namespace crossgpu::kernels::cpu {

template <typename Push>
Push read_push(const CpuKernelArgs& args) {
  static_assert(std::is_trivially_copyable_v<Push>);
  if (args.push.size() != sizeof(Push)) {
    fail(Errc::internal, "CPU kernel: {} bytes of push constants, expected {}", args.push.size(),
         sizeof(Push));
  }
  Push push;
  std::memcpy(&push, args.push.data(), sizeof(Push));
  return push;
}

// Elements [offset, offset + count) of binding `index`, as T.
template <typename T>
std::span<T> slice(const CpuKernelArgs& args, std::size_t index, std::uint64_t offset,
                   std::uint64_t count) {
  const CpuBinding& binding = args.buffers[index];
  const std::uint64_t elements = binding.bytes / sizeof(T);
  if (offset > elements || count > elements - offset) {
    fail(Errc::internal, "CPU kernel: binding {} holds {} elements, elements [{}, {}+{}) asked",
         index, elements, offset, offset, count);
  }
  return {reinterpret_cast<T*>(binding.data) + offset, count};
}

// rows x cols with row stride `stride` starting at element `offset` of binding `index`.
template <typename T>
reference::MatrixView<T> matrix(const CpuKernelArgs& args, std::size_t index,
                                std::uint64_t offset, std::uint64_t rows, std::uint64_t cols,
                                std::uint64_t stride) {
  const std::uint64_t extent = rows == 0 ? 0 : (rows - 1) * stride + cols;
  return {slice<T>(args, index, offset, extent), rows, cols, stride};
}

// How many of `n` items the dispatched workgroups cover, `per_group` items each: the shaders
// stop at n, and the CPU does not do work the GPU would not.
inline std::uint64_t covered(std::uint64_t n, std::uint64_t groups, std::uint64_t per_group) {
  return groups >= (n + per_group - 1) / per_group ? n : groups * per_group;
}

}  // namespace crossgpu::kernels::cpu
