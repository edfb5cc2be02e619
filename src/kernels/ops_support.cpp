#include "kernels/ops_support.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::ops {

std::uint64_t size_of(DType type) noexcept { return type == DType::f16 ? 2 : 4; }

const char* to_string(DType type) noexcept { return type == DType::f16 ? "f16" : "f32"; }

namespace detail {
namespace {

std::uint64_t byte_size(const char* op, const Operand& operand) {
  const std::uint64_t element = size_of(operand.type);
  if (operand.elements > std::numeric_limits<std::uint64_t>::max() / element) {
    fail(Errc::out_of_range, "{}: operand '{}' of {} {} elements is larger than any buffer", op,
         operand.name, operand.elements, to_string(operand.type));
  }
  return operand.elements * element;
}

void check_one(Stream& stream, const char* op, const Operand& operand) {
  const std::uint64_t element = size_of(operand.type);
  const std::uint64_t offset = operand.ref.byte_offset;
  const std::string what = fmt::format("{}: operand '{}'", op, operand.name);
  // Device and liveness first: a freed or foreign buffer has no meaningful size.
  stream.device().resolve(operand.ref.buffer, 0, 0, what.c_str());
  if (offset % element != 0) {
    fail(Errc::misaligned,
         "{} starts at byte offset {}, not a multiple of its {}-byte {} elements; offsets must "
         "count whole elements",
         what, offset, element, to_string(operand.type));
  }
  const std::uint64_t bytes = byte_size(op, operand);
  const std::uint64_t size = operand.ref.buffer.size;
  if (offset > size || bytes > size - offset) {
    fail(Errc::out_of_range,
         "{} needs {} {} elements ({} bytes) from byte offset {}, but its buffer holds {} bytes; "
         "pass fewer elements or a larger buffer",
         what, operand.elements, to_string(operand.type), bytes, offset, size);
  }
  // The size above came with the reference; the device checks against the allocation itself.
  stream.device().resolve(operand.ref.buffer, offset, bytes, what.c_str());
}

struct ByteRange {
  std::uint64_t begin;
  std::uint64_t end;
};

ByteRange bytes_of(const Operand& operand) {
  return {operand.ref.byte_offset,
          operand.ref.byte_offset + operand.elements * size_of(operand.type)};
}

bool same_range(const Operand& a, const Operand& b) {
  return a.ref.byte_offset == b.ref.byte_offset && a.type == b.type && a.elements == b.elements;
}

void check_overlap(const char* op, const Operand& out, const Operand& in, InPlace in_place) {
  if (out.ref.buffer.handle != in.ref.buffer.handle || out.elements == 0 || in.elements == 0) {
    return;
  }
  const ByteRange a = bytes_of(out);
  const ByteRange b = bytes_of(in);
  if (a.end <= b.begin || b.end <= a.begin) return;
  if (in_place == InPlace::allowed && same_range(out, in)) return;
  fail(Errc::invalid_argument,
       "{}: output '{}' (bytes [{}, {})) overlaps input '{}' (bytes [{}, {})) in the same buffer; "
       "{}",
       op, out.name, a.begin, a.end, in.name, b.begin, b.end,
       in_place == InPlace::allowed ? "only an exact match (in place) is allowed"
                                    : "this op cannot run in place: use a separate output");
}

}  // namespace

void validate(Stream& stream, const char* op, std::initializer_list<Operand> operands,
              InPlace in_place) {
  for (const Operand& operand : operands) check_one(stream, op, operand);
  for (const Operand& out : operands) {
    if (!out.output) continue;
    for (const Operand& in : operands) {
      if (&in != &out) check_overlap(op, out, in, in_place);
    }
  }
}

void require_type(const Device& device, const char* op, DType type) {
  if (type == DType::f16 && !device.properties().caps.storage_16bit) {
    fail(Errc::unsupported,
         "{}: device '{}' cannot read f16 storage buffers (no storageBuffer16BitAccess); convert "
         "the operands to f32 or use another device",
         op, device.properties().name);
  }
}

std::uint64_t BindingLimits::max_elements(DType type) const {
  // A window starts up to alignment - 1 bytes before its first element.
  return (max_bytes - (alignment - 1)) / size_of(type);
}

BindingLimits binding_limits(const Device& device) {
  const DeviceLimits& limits = device.properties().limits;
  BindingLimits out;
  out.alignment = std::max<std::uint64_t>(1, limits.min_storage_buffer_offset_alignment);
  const std::uint64_t range = std::min(limits.max_storage_buffer_range, kernels::kMaxBindingBytes);
  out.max_bytes = range / out.alignment * out.alignment;
  if (out.max_bytes < 64 * out.alignment) {
    fail(Errc::unsupported, "device '{}': storage-buffer range {} is too small for the kernels",
         device.properties().name, format_bytes(limits.max_storage_buffer_range));
  }
  return out;
}

Window window(const TensorRef& ref, DType type, std::uint64_t first, std::uint64_t count,
              const BindingLimits& limits) {
  return rows_window(ref, type, first, 1, count, count, limits);
}

Window rows_window(const TensorRef& ref, DType type, std::uint64_t first, std::uint64_t rows,
                   std::uint64_t cols, std::uint64_t stride, const BindingLimits& limits) {
  const std::uint64_t element = size_of(type);
  const std::uint64_t start = ref.byte_offset + first * element;
  const std::uint64_t base = start - start % limits.alignment;
  const std::uint64_t extent = rows == 0 ? 0 : (rows - 1) * stride + cols;
  const std::uint64_t bytes = start - base + extent * element;
  if (bytes > limits.max_bytes || bytes == 0) {
    fail(Errc::internal, "window of {} bytes does not fit a binding of at most {} bytes", bytes,
         limits.max_bytes);
  }
  return {BufferRange{ref.buffer, base, bytes}, to_u32((start - base) / element)};
}

std::uint64_t matrix_elements(const char* op, std::uint64_t rows, std::uint64_t cols) {
  if (cols != 0 && rows > std::numeric_limits<std::uint64_t>::max() / cols) {
    fail(Errc::out_of_range, "{}: a {} x {} matrix is larger than any buffer", op, rows, cols);
  }
  return rows * cols;
}

std::uint32_t to_u32(std::uint64_t value) {
  if (value > std::numeric_limits<std::uint32_t>::max()) {
    fail(Errc::internal, "{} does not fit the 32 bits of a push constant", value);
  }
  return static_cast<std::uint32_t>(value);
}

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

}  // namespace detail
}  // namespace crossgpu::ops
