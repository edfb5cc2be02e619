// libFuzzer target for the GGUF reader: any bytes either parse into a file whose every tensor
// span lies inside the input, or fail with crossgpu::Error - never a crash, hang or huge
// allocation.
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/error.hpp"
#include "model/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = crossgpu::model::GgufFile::parse(bytes);
    for (const auto& info : file.tensors()) {
      try {
        const auto span = file.tensor_data(info);
        if (span.data() < bytes.data() || span.data() + span.size() > bytes.data() + bytes.size()) __builtin_trap();
      } catch (const crossgpu::Error&) {
      }
    }
  } catch (const crossgpu::Error&) {
  }
  return 0;
}
