// Common include of the Vulkan backend: vulkan.hpp's RAII wrappers plus the translation of
// Vulkan failures into crossgpu errors. Only files under device/vulkan include this.
#pragma once

#include <vulkan/vulkan_raii.hpp>

#include "core/error.hpp"

namespace crossgpu::vulkan {

// Maps a vk::Result to the crossgpu error code a caller can act on.
Errc errc_of(vk::Result result) noexcept;

// Runs `body`, turning vk::SystemError into crossgpu::Error with `what` as context.
template <typename Body>
decltype(auto) guarded(const char* what, Body&& body) {
  try {
    return body();
  } catch (const vk::SystemError& e) {
    const auto result = static_cast<vk::Result>(e.code().value());
    fail(errc_of(result), "{}: Vulkan error {}", what, vk::to_string(result));
  }
}

}  // namespace crossgpu::vulkan
