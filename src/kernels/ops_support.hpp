// What every op does around its kernel: validate the operands once, then cut the work into
// dispatches whose bindings respect the device's limits. Internal to the kernels library.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <type_traits>

#include "device/device.hpp"
#include "device/kernel.hpp"
#include "kernels/ops.hpp"

namespace crossgpu::ops::detail {

struct Operand {
  const char* name;  // as in the op's signature: "a", "x", "out"
  TensorRef ref;
  std::uint64_t elements = 0;
  DType type = DType::f32;
  bool output = false;
};

enum class InPlace { allowed, forbidden };

// Throws unless every operand is aligned to its element size, lies inside its buffer, lives on
// the stream's device, and no output overlaps an input (an exact match is allowed with
// InPlace::allowed: same buffer, offset, type and element count).
void validate(Stream& stream, const char* op, std::initializer_list<Operand> operands,
              InPlace in_place);

// Throws Errc::unsupported unless the device can bind f16 storage buffers.
void require_type(const Device& device, const char* op, DType type);

// What one binding may span on a device: at most `max_bytes`, starting on a multiple of
// `alignment`.
struct BindingLimits {
  std::uint64_t max_bytes = 0;
  std::uint64_t alignment = 1;

  // The most elements of `type` that any window can hold, wherever it starts.
  std::uint64_t max_elements(DType type) const;
};
BindingLimits binding_limits(const Device& device);

// Elements [first, first + count) of an operand as a binding that starts on the alignment,
// and the element offset of `first` inside it (what the push constants carry).
struct Window {
  BufferRange range;
  std::uint32_t offset = 0;
};
Window window(const TensorRef& ref, DType type, std::uint64_t first, std::uint64_t count,
              const BindingLimits& limits);

// Elements [first, first + count) spread as rows: `rows` rows of `cols` elements `stride`
// apart (the last row ends after `cols`).
Window rows_window(const TensorRef& ref, DType type, std::uint64_t first, std::uint64_t rows,
                   std::uint64_t cols, std::uint64_t stride, const BindingLimits& limits);

// rows * cols, or Errc::out_of_range when that overflows.
std::uint64_t matrix_elements(const char* op, std::uint64_t rows, std::uint64_t cols);

std::uint32_t to_u32(std::uint64_t value);
std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b);

// Calls body(first, count) over [0, total) in pieces of at most `step`; returns the last
// body's Event (a complete Event when total == 0).
template <typename Body>
Event for_each_chunk(std::uint64_t total, std::uint64_t step, Body&& body) {
  Event last;
  for (std::uint64_t first = 0; first < total; first += step) {
    last = body(first, std::min(step, total - first));
  }
  return last;
}

template <typename Push>
Event dispatch(Stream& stream, const KernelSpec& kernel,
               std::initializer_list<BufferRange> bindings, const Push& push, Groups groups) {
  static_assert(std::is_trivially_copyable_v<Push>);
  return stream.dispatch(kernel, std::span(bindings.begin(), bindings.size()),
                         std::as_bytes(std::span(&push, 1)), groups);
}

}  // namespace crossgpu::ops::detail
