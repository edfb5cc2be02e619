// GGUF, the model file format of llama.cpp and most downloadable models: versions 2 and 3,
// metadata of every type, tensor infos, alignment, and tensor data read in place from a memory
// mapping. Every count, length, offset and size in the file is checked against the file before
// it is used: a malformed, truncated or hostile file gives Errc::invalid_argument naming the
// problem and where it is — never a crash, never an allocation the file's size does not justify.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace crossgpu::model {

// ggml's tensor type numbers, as stored in the file. The ones crossgpu runs are listed; a file
// with another type is refused when that tensor is used, with its name.
enum class TensorType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  iq4_nl = 20,
  bf16 = 30,
};

struct TypeTraits {
  const char* name;
  std::uint64_t block_elements;  // elements per block
  std::uint64_t block_bytes;     // bytes per block
};

// nullopt for a type number crossgpu does not support.
std::optional<TypeTraits> traits_of(std::uint32_t type);

// A metadata value. Arrays hold one element type (the file says which); nested arrays allowed.
struct GgufValue;
using GgufArray = std::vector<GgufValue>;
struct GgufValue {
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, GgufArray> value;
  std::uint32_t type = 0;  // the GGUF value type number, for round-tripping
};

struct TensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;  // ggml order: dims[0] is the contiguous (row) dimension
  std::uint32_t type = 0;
  std::uint64_t offset = 0;  // from the start of the data section
  std::uint64_t elements = 0;
  std::uint64_t bytes = 0;
};

class GgufFile {
 public:
  // Maps and parses the file. Throws Error{io} if it cannot be read, Error{invalid_argument}
  // if it is not a valid GGUF file.
  static GgufFile open(const std::filesystem::path& path);
  // Parses bytes already in memory (tests, fuzzing); `bytes` must outlive the object.
  static GgufFile parse(std::span<const std::byte> bytes);

  std::uint32_t version() const noexcept { return version_; }
  std::uint64_t alignment() const noexcept { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const noexcept { return metadata_; }
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  // Typed accessors; throw Error{not_found} / Error{invalid_argument} naming the key.
  std::string get_string(const std::string& key) const;
  std::uint64_t get_uint(const std::string& key) const;
  double get_float(const std::string& key) const;

  const TensorInfo& tensor(const std::string& name) const;
  const TensorInfo* find_tensor(const std::string& name) const;  // nullptr when absent
  // The tensor's bytes inside the mapping; throws Error{unsupported} for a type crossgpu does
  // not run, naming the tensor and the type.
  std::span<const std::byte> tensor_data(const TensorInfo& info) const;

 private:
  GgufFile() = default;
  void parse_all();

  std::shared_ptr<const void> mapping_;  // keeps an mmap alive; empty for parse()
  std::span<const std::byte> bytes_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> tensor_index_;
};

// Writes GGUF v3 files: for tests, and for `make demo`'s generated model.
class GgufWriter {
 public:
  explicit GgufWriter(std::uint64_t alignment = 32) : alignment_(alignment) {}
  void add(const std::string& key, GgufValue value);
  void add_string(const std::string& key, std::string value);
  void add_uint32(const std::string& key, std::uint32_t value);
  void add_float32(const std::string& key, float value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  // `data` must hold exactly the bytes the dims and type call for.
  void add_tensor(const std::string& name, std::vector<std::uint64_t> dims, TensorType type,
                  std::vector<std::byte> data);
  std::vector<std::byte> bytes() const;
  void write(const std::filesystem::path& path) const;  // atomically: temp file, then rename

 private:
  struct PendingTensor {
    TensorInfo info;
    std::vector<std::byte> data;
  };
  std::uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

// GGUF value type numbers.
namespace gguf_type {
inline constexpr std::uint32_t uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5,
                               float32 = 6, boolean = 7, string = 8, array = 9, uint64 = 10,
                               int64 = 11, float64 = 12;
}

}  // namespace crossgpu::model
