#include "kernels/weight_type.hpp"

#include "core/error.hpp"

namespace crossgpu::kernels {
namespace {

struct Format {
  WeightType type;
  const char* name;
  std::uint64_t elements;
  std::uint64_t bytes;
};

// ggml's block_* structs (ggml-common.h): QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = QK4_NL = 32,
// QK_K = 256.
constexpr Format kFormats[] = {
    {WeightType::f32, "f32", 1, 4},         {WeightType::f16, "f16", 1, 2},
    {WeightType::q4_0, "q4_0", 32, 18},     {WeightType::q4_1, "q4_1", 32, 20},
    {WeightType::q5_0, "q5_0", 32, 22},     {WeightType::q5_1, "q5_1", 32, 24},
    {WeightType::q8_0, "q8_0", 32, 34},     {WeightType::q4_k, "q4_k", 256, 144},
    {WeightType::q5_k, "q5_k", 256, 176},   {WeightType::q6_k, "q6_k", 256, 210},
    {WeightType::iq4_nl, "iq4_nl", 32, 18}, {WeightType::bf16, "bf16", 1, 2}};

constexpr const char* kNames = "f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, iq4_nl, bf16";

const Format* find(std::uint32_t number) {
  for (const Format& format : kFormats) {
    if (static_cast<std::uint32_t>(format.type) == number) return &format;
  }
  return nullptr;
}

// A WeightType cast from an unchecked integer may hold any value: refuse it by name.
const Format& format_of(WeightType type) {
  if (const Format* format = find(static_cast<std::uint32_t>(type))) return *format;
  fail(Errc::invalid_argument, "weight type {} is not one the kernels read ({})",
       static_cast<std::uint32_t>(type), kNames);
}

}  // namespace

std::optional<WeightType> weight_type_from(std::uint32_t ggml_type) {
  if (const Format* format = find(ggml_type)) return format->type;
  return std::nullopt;
}

const char* to_string(WeightType type) {
  const Format* format = find(static_cast<std::uint32_t>(type));
  return format != nullptr ? format->name : "unknown";
}

std::optional<WeightType> weight_type_named(std::string_view name) {
  for (const Format& format : kFormats) {
    if (name == format.name) return format.type;
  }
  return std::nullopt;
}

const char* weight_type_names() { return kNames; }

std::uint64_t block_elements(WeightType type) { return format_of(type).elements; }

std::uint64_t block_bytes(WeightType type) { return format_of(type).bytes; }

std::uint64_t row_bytes(WeightType type, std::uint64_t cols) {
  const Format& format = format_of(type);
  if (cols % format.elements != 0) {
    fail(Errc::invalid_argument,
         "a {} row holds whole blocks of {} elements, but {} columns were given", format.name,
         format.elements, cols);
  }
  return cols / format.elements * format.bytes;
}

}  // namespace crossgpu::kernels
