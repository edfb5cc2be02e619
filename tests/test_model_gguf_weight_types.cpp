// GGUF tensors of every weight type the kernels read: written with the reference quantizer, read
// back in place with the block sizes ggml defines, and refused with a typed error when the file
// is truncated inside their data or names a row that is not whole blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"
#include "model/gguf.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using kernels::WeightType;
using testing::throws_errc;

constexpr std::uint64_t kCols = 512, kRows = 3;

std::vector<float> values() {
  std::vector<float> v(kCols * kRows);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  return v;
}

std::vector<std::byte> encoded(WeightType type) {
  const std::uint64_t row = kernels::row_bytes(type, kCols);
  std::vector<std::byte> out(row * kRows);
  const auto v = values();
  for (std::uint64_t r = 0; r < kRows; ++r) {
    kernels::reference::quantize_row(type, std::span(v).subspan(r * kCols, kCols), std::span(out).subspan(r * row, row));
  }
  return out;
}

std::string name_of(WeightType type) { return std::string("w.") + kernels::to_string(type); }

// One tensor of each type, in kWeightTypes' order (the last is the file's last data).
std::vector<std::byte> file_of_every_type() {
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  for (WeightType type : kernels::kWeightTypes) {
    writer.add_tensor(name_of(type), {kCols, kRows}, static_cast<TensorType>(type), encoded(type));
  }
  return writer.bytes();
}

// The byte offset of the first dimension of tensor `name` in its tensor info: after the name
// (u64 length + bytes) and the u32 dimension count.
std::size_t dim0_at(const std::vector<std::byte>& file, const std::string& name) {
  const auto* begin = reinterpret_cast<const char*>(file.data());
  const std::string_view all(begin, file.size());
  const std::size_t at = all.find(name);
  EXPECT_NE(at, std::string_view::npos) << name;
  return at + name.size() + 4;
}

TEST(GgufWeightTypes, EveryTypeReadsBackInPlace) {
  const auto file = file_of_every_type();
  const GgufFile f = GgufFile::parse(file);
  for (WeightType type : kernels::kWeightTypes) {
    SCOPED_TRACE(kernels::to_string(type));
    const TensorInfo& info = f.tensor(name_of(type));
    EXPECT_EQ(info.type, static_cast<std::uint32_t>(type));
    const auto data = f.tensor_data(info);
    ASSERT_EQ(data.size(), kernels::row_bytes(type, kCols) * kRows);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), encoded(type).begin()));
    const auto traits = traits_of(info.type);
    ASSERT_TRUE(traits);
    EXPECT_EQ(traits->block_elements, kernels::block_elements(type));
    EXPECT_EQ(traits->block_bytes, kernels::block_bytes(type));
  }
}

// Cut inside the last tensor's data (bf16), or anywhere before: refused when parsed.
TEST(GgufWeightTypes, TruncatedTensorDataIsRefused) {
  const auto file = file_of_every_type();
  for (std::size_t cut : {std::size_t{1}, std::size_t{2}, kCols * 2, file.size() / 2}) {
    SCOPED_TRACE(cut);
    const std::vector<std::byte> shorter(file.begin(), file.end() - static_cast<std::ptrdiff_t>(cut));
    EXPECT_TRUE(throws_errc([&] { GgufFile::parse(shorter); }, Errc::invalid_argument));
  }
}

// A row length that is not whole blocks of its type, or rows reaching past the file.
TEST(GgufWeightTypes, HostileRowSizesAreRefused) {
  const auto file = file_of_every_type();
  for (WeightType type : kernels::kWeightTypes) {
    SCOPED_TRACE(kernels::to_string(type));
    std::vector<std::byte> bad = file;
    const std::size_t at = dim0_at(bad, name_of(type));
    if (kernels::block_elements(type) > 1) {
      const std::uint64_t partial = kCols + 16;
      std::memcpy(bad.data() + at, &partial, 8);
      EXPECT_TRUE(throws_errc([&] { GgufFile::parse(bad); }, Errc::invalid_argument, "not a multiple of its block"));
    }
    const std::uint64_t huge = kCols << 24;
    std::memcpy(bad.data() + at, &huge, 8);
    EXPECT_TRUE(throws_errc([&] { GgufFile::parse(bad); }, Errc::invalid_argument));
  }
}

}  // namespace
}  // namespace crossgpu::model
