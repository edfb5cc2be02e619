// The GGUF reader against hand-built files: every value type, every supported tensor type, and
// every kind of malformed, truncated and hostile input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.hpp"
#include "model/gguf.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using testing::throws_errc;

std::vector<std::byte> random_data(std::size_t n, std::mt19937& rng) {
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

GgufWriter sample_writer(std::mt19937& rng) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_uint32("llama.block_count", 2);
  w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add("u8", {std::uint64_t{200}, gguf_type::uint8});
  w.add("i8", {std::int64_t{-100}, gguf_type::int8});
  w.add("u16", {std::uint64_t{60000}, gguf_type::uint16});
  w.add("i16", {std::int64_t{-30000}, gguf_type::int16});
  w.add("i32", {std::int64_t{-7}, gguf_type::int32});
  w.add("u64", {std::uint64_t{1} << 40, gguf_type::uint64});
  w.add("i64", {std::int64_t{-(1ll << 40)}, gguf_type::int64});
  w.add("f64", {2.5, gguf_type::float64});
  w.add("flag", {true, gguf_type::boolean});
  w.add_string_array("tokenizer.ggml.tokens", {"<s>", "</s>", "hello", "▁world"});
  w.add("nested", {GgufArray{{GgufArray{{std::uint64_t{1}, gguf_type::uint32}}, gguf_type::array}}, gguf_type::array});
  w.add_tensor("f32", {8, 3}, TensorType::f32, random_data(8 * 3 * 4, rng));
  w.add_tensor("f16", {16}, TensorType::f16, random_data(32, rng));
  w.add_tensor("q8_0", {64, 2}, TensorType::q8_0, random_data(4 * 34, rng));
  w.add_tensor("q4_0", {32}, TensorType::q4_0, random_data(18, rng));
  w.add_tensor("q4_k", {256}, TensorType::q4_k, random_data(144, rng));
  w.add_tensor("q6_k", {256, 2}, TensorType::q6_k, random_data(2 * 210, rng));
  return w;
}

TEST(Gguf, RoundTripsEveryValueTypeAndTensorType) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  const GgufWriter w = sample_writer(rng);
  const std::vector<std::byte> bytes = w.bytes();
  const GgufFile f = GgufFile::parse(bytes);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_uint("llama.block_count"), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(std::get<std::uint64_t>(f.find("u8")->value), 200u);
  EXPECT_EQ(std::get<std::int64_t>(f.find("i8")->value), -100);
  EXPECT_EQ(std::get<std::int64_t>(f.find("i64")->value), -(1ll << 40));
  EXPECT_EQ(std::get<double>(f.find("f64")->value), 2.5);
  EXPECT_TRUE(std::get<bool>(f.find("flag")->value));
  const auto& tokens = std::get<GgufArray>(f.find("tokenizer.ggml.tokens")->value);
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(std::get<std::string>(tokens[3].value), "▁world");
  ASSERT_EQ(f.tensors().size(), 6u);
  for (const TensorInfo& t : f.tensors()) {
    const std::span<const std::byte> data = f.tensor_data(t);
    EXPECT_EQ(data.size(), t.bytes) << t.name;
    EXPECT_EQ(static_cast<std::uint64_t>(data.data() - bytes.data()) % f.alignment(), 0u) << t.name;
  }
  EXPECT_EQ(f.tensor("q6_k").dims, (std::vector<std::uint64_t>{256, 2}));
  EXPECT_TRUE(throws_errc([&] { f.tensor("missing"); }, Errc::not_found, "missing"));
  EXPECT_TRUE(throws_errc([&] { f.get_uint("general.architecture"); }, Errc::invalid_argument, "general.architecture"));
}

TEST(Gguf, ReadsVersion2AndFilesFromDisk) {
  std::mt19937 rng(1);
  std::vector<std::byte> bytes = sample_writer(rng).bytes();
  bytes[4] = std::byte{2};
  EXPECT_EQ(GgufFile::parse(bytes).version(), 2u);
  const auto path = std::filesystem::temp_directory_path() / ("crossgpu-gguf-" + std::to_string(::getpid()) + ".gguf");
  sample_writer(rng).write(path);
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.tensors().size(), 6u);
  std::filesystem::remove(path);
  EXPECT_TRUE(throws_errc([&] { GgufFile::open(path); }, Errc::io, path.string()));
}

TEST(Gguf, EveryTruncationIsAClearErrorNeverACrash) {
  std::mt19937 rng(2);
  const std::vector<std::byte> bytes = sample_writer(rng).bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::span<const std::byte> prefix(bytes.data(), n);
    try {
      GgufFile::parse(prefix);
      // A prefix can only parse if it ends after the last tensor's data and every byte cut was
      // alignment padding.
      EXPECT_GE(n, bytes.size() - 32) << "a truncated file of " << n << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument) << e.what();
    }
  }
}

// Patches a little-endian value into a copy of `bytes`.
template <typename T>
std::vector<std::byte> patched(std::vector<std::byte> bytes, std::size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof(T));
  return bytes;
}

std::vector<std::byte> one_key_file(std::uint32_t type, const GgufValue& value) {
  GgufWriter w;
  w.add("k", value);
  std::vector<std::byte> bytes = w.bytes();
  std::memcpy(bytes.data() + 24 + 8 + 1, &type, 4);  // header, key length, "k", then the type
  return bytes;
}

TEST(Gguf, HostileHeadersAreRefusedWithTheReason) {
  std::mt19937 rng(3);
  const std::vector<std::byte> good = sample_writer(rng).bytes();
  auto refused = [](const std::vector<std::byte>& bytes, std::string_view needle) {
    return throws_errc([&] { GgufFile::parse(bytes); }, Errc::invalid_argument, needle);
  };
  EXPECT_TRUE(refused(patched<std::uint32_t>(good, 0, 0x12345678), "magic"));
  EXPECT_TRUE(refused(patched<std::uint32_t>(good, 4, 1), "version 1"));
  EXPECT_TRUE(refused(patched<std::uint32_t>(good, 4, 99), "version 99"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(good, 8, 1ull << 60), "tensor count"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(good, 16, ~0ull), "metadata count"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(good, 24, 1ull << 62), "metadata key"));  // key length
  EXPECT_TRUE(refused(one_key_file(99, {std::uint64_t{1}, gguf_type::uint32}), "unknown metadata value type 99"));
  EXPECT_TRUE(refused(one_key_file(gguf_type::boolean, {std::uint64_t{7}, gguf_type::uint32}), "boolean"));
  // An array claiming 2^40 elements in a small file.
  GgufWriter arr;
  arr.add_string_array("a", {"x"});
  std::vector<std::byte> a = arr.bytes();
  EXPECT_TRUE(refused(patched<std::uint64_t>(a, 24 + 8 + 1 + 4 + 4, 1ull << 40), "array length"));
  // Arrays nested five deep.
  GgufValue deep{std::uint64_t{1}, gguf_type::uint32};
  for (int i = 0; i < 5; ++i) deep = {GgufArray{deep}, gguf_type::array};
  GgufWriter nest;
  nest.add("deep", deep);
  EXPECT_TRUE(refused(nest.bytes(), "nested"));
  GgufWriter dup;
  dup.add_uint32("same", 1);
  dup.add_uint32("same", 2);
  EXPECT_TRUE(refused(dup.bytes(), "twice"));
  GgufWriter align;
  align.add_uint32("general.alignment", 24);
  EXPECT_TRUE(refused(align.bytes(), "power of two"));
}

// A file with one F32 tensor of 8 elements; returns the byte position of its info's fields.
struct OneTensor {
  std::vector<std::byte> bytes;
  std::size_t n_dims_at, dim0_at, type_at, offset_at;
};

OneTensor one_tensor() {
  GgufWriter w;
  w.add_tensor("t", {8}, TensorType::f32, std::vector<std::byte>(32));
  OneTensor t{w.bytes(), 0, 0, 0, 0};
  t.n_dims_at = 24 + 8 + 1;  // after the header and the name "t"
  t.dim0_at = t.n_dims_at + 4;
  t.type_at = t.dim0_at + 8;
  t.offset_at = t.type_at + 4;
  return t;
}

TEST(Gguf, HostileTensorInfosAreRefusedWithTheReason) {
  const OneTensor t = one_tensor();
  ASSERT_NO_THROW(GgufFile::parse(t.bytes));
  auto refused = [](const std::vector<std::byte>& bytes, std::string_view needle) {
    return throws_errc([&] { GgufFile::parse(bytes); }, Errc::invalid_argument, needle);
  };
  EXPECT_TRUE(refused(patched<std::uint32_t>(t.bytes, t.n_dims_at, 0), "0 dimensions"));
  EXPECT_TRUE(refused(patched<std::uint32_t>(t.bytes, t.n_dims_at, 9), "9 dimensions"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(t.bytes, t.dim0_at, 0), "zero dimension"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(t.bytes, t.dim0_at, 1ull << 62), "2^48"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(t.bytes, t.dim0_at, 1ull << 20), "past the end"));
  EXPECT_TRUE(refused(patched<std::uint32_t>(t.bytes, t.type_at, 4242), "unknown type 4242"));
  EXPECT_TRUE(refused(patched<std::uint32_t>(t.bytes, t.type_at, 8), "multiple of its block"));  // Q8_0, 8 elements
  EXPECT_TRUE(refused(patched<std::uint64_t>(t.bytes, t.offset_at, 4), "not aligned"));
  EXPECT_TRUE(refused(patched<std::uint64_t>(t.bytes, t.offset_at, ~0ull - 31), "past the end"));
}

TEST(Gguf, KnownButUnsupportedTypesFailOnUseNamingTheTensor) {
  OneTensor t = one_tensor();
  // Q2_K (10): 256-element blocks of 84 bytes; make the tensor one block with enough data.
  std::vector<std::byte> bytes = patched<std::uint64_t>(t.bytes, t.dim0_at, 256);
  bytes = patched<std::uint32_t>(bytes, t.type_at, 10);
  bytes.resize(bytes.size() + 84);
  const GgufFile f = GgufFile::parse(bytes);
  EXPECT_TRUE(throws_errc([&] { f.tensor_data(f.tensor("t")); }, Errc::unsupported, "Q2_K"));
}

TEST(Gguf, RandomBytesNeverCrash) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  std::vector<std::byte> good = sample_writer(rng).bytes();
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> mutated = good;
    for (int flips = 1 + rng() % 8; flips > 0; --flips) mutated[rng() % mutated.size()] = static_cast<std::byte>(rng());
    try {
      const GgufFile f = GgufFile::parse(mutated);
      for (const TensorInfo& info : f.tensors()) {
        try {
          EXPECT_EQ(f.tensor_data(info).size(), info.bytes);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), Errc::unsupported);
        }
      }
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == Errc::invalid_argument) << e.what();
    }
  }
}

}  // namespace
}  // namespace crossgpu::model
