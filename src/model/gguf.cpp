#include "model/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace crossgpu::model {
namespace {

constexpr std::uint32_t magic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int max_array_depth = 4;
constexpr std::uint32_t max_dims = 4;        // GGML_MAX_DIMS
constexpr std::uint64_t max_elements = 1ull << 48;

struct TypeEntry {
  std::uint32_t number;
  TypeTraits traits;
  bool supported;
};

// Every ggml type number with its block layout, so that sizes of tensors crossgpu cannot run are
// still validated; `supported` marks the ones the kernels read.
constexpr TypeEntry type_table[] = {
    {0, {"F32", 1, 4}, true},        {1, {"F16", 1, 2}, true},        {2, {"Q4_0", 32, 18}, true},
    {3, {"Q4_1", 32, 20}, true},     {6, {"Q5_0", 32, 22}, true},     {7, {"Q5_1", 32, 24}, true},
    {8, {"Q8_0", 32, 34}, true},     {9, {"Q8_1", 32, 36}, false},    {10, {"Q2_K", 256, 84}, false},
    {11, {"Q3_K", 256, 110}, false}, {12, {"Q4_K", 256, 144}, true},  {13, {"Q5_K", 256, 176}, true},
    {14, {"Q6_K", 256, 210}, true},  {15, {"Q8_K", 256, 292}, false}, {20, {"IQ4_NL", 32, 18}, true},
    {23, {"IQ4_XS", 256, 136}, false}, {24, {"I8", 1, 1}, false},     {25, {"I16", 1, 2}, false},
    {26, {"I32", 1, 4}, false},      {27, {"I64", 1, 8}, false},      {28, {"F64", 1, 8}, false},
    {30, {"BF16", 1, 2}, true},
};

// The supported names, for the error that refuses the others.
constexpr const char* kSupportedNames = "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL";

const TypeEntry* type_entry(std::uint32_t number) {
  for (const TypeEntry& e : type_table) {
    if (e.number == number) return &e;
  }
  return nullptr;
}

// A bounds-checked cursor over the file. Every read names what it was reading on failure.
class Cursor {
 public:
  explicit Cursor(std::span<const std::byte> bytes) : bytes_(bytes) {}

  std::uint64_t position() const { return position_; }
  std::uint64_t remaining() const { return bytes_.size() - position_; }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  std::string string(const char* what) {
    const auto length = read<std::uint64_t>(what);
    need(length, what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + position_), length);
    position_ += length;
    return s;
  }

  // A count of items that each take at least `min_item_bytes` of the file: a count the rest of
  // the file cannot hold is rejected before anything is allocated for it.
  std::uint64_t count(const char* what, std::uint64_t min_item_bytes) {
    const auto n = read<std::uint64_t>(what);
    if (min_item_bytes > 0 && n > remaining() / min_item_bytes) {
      fail(Errc::invalid_argument, "GGUF: {} is {} at byte {}, but only {} bytes remain in the file", what, n,
           position_ - 8, remaining());
    }
    return n;
  }

  void need(std::uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail(Errc::invalid_argument, "GGUF: truncated while reading {} at byte {} ({} bytes needed, {} left)", what,
           position_, n, remaining());
    }
  }

  void seek(std::uint64_t position) {
    if (position > bytes_.size()) fail(Errc::invalid_argument, "GGUF: data section starts past the end of the file");
    position_ = position;
  }

 private:
  std::span<const std::byte> bytes_;
  std::uint64_t position_ = 0;
};

std::uint64_t min_value_bytes(std::uint32_t type) {
  switch (type) {
    case gguf_type::uint8: case gguf_type::int8: case gguf_type::boolean: return 1;
    case gguf_type::uint16: case gguf_type::int16: return 2;
    case gguf_type::uint32: case gguf_type::int32: case gguf_type::float32: return 4;
    case gguf_type::uint64: case gguf_type::int64: case gguf_type::float64: return 8;
    case gguf_type::string: return 8;   // the length
    case gguf_type::array: return 12;   // element type + count
    default: return 0;
  }
}

GgufValue read_value(Cursor& c, std::uint32_t type, int depth);

GgufValue read_array(Cursor& c, int depth) {
  if (depth >= max_array_depth) fail(Errc::invalid_argument, "GGUF: arrays nested deeper than {}", max_array_depth);
  const auto element_type = c.read<std::uint32_t>("array element type");
  const std::uint64_t min_bytes = min_value_bytes(element_type);
  if (min_bytes == 0) fail(Errc::invalid_argument, "GGUF: unknown array element type {}", element_type);
  const std::uint64_t n = c.count("array length", min_bytes);
  GgufArray items;
  items.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) items.push_back(read_value(c, element_type, depth + 1));
  return {std::move(items), gguf_type::array};
}

GgufValue read_value(Cursor& c, std::uint32_t type, int depth) {
  switch (type) {
    case gguf_type::uint8: return {std::uint64_t{c.read<std::uint8_t>("uint8")}, type};
    case gguf_type::int8: return {std::int64_t{c.read<std::int8_t>("int8")}, type};
    case gguf_type::uint16: return {std::uint64_t{c.read<std::uint16_t>("uint16")}, type};
    case gguf_type::int16: return {std::int64_t{c.read<std::int16_t>("int16")}, type};
    case gguf_type::uint32: return {std::uint64_t{c.read<std::uint32_t>("uint32")}, type};
    case gguf_type::int32: return {std::int64_t{c.read<std::int32_t>("int32")}, type};
    case gguf_type::uint64: return {c.read<std::uint64_t>("uint64"), type};
    case gguf_type::int64: return {c.read<std::int64_t>("int64"), type};
    case gguf_type::float32: return {double{c.read<float>("float32")}, type};
    case gguf_type::float64: return {c.read<double>("float64"), type};
    case gguf_type::boolean: {
      const auto b = c.read<std::uint8_t>("bool");
      if (b > 1) fail(Errc::invalid_argument, "GGUF: boolean value {} is neither 0 nor 1", b);
      return {b == 1, type};
    }
    case gguf_type::string: return {c.string("string value"), type};
    case gguf_type::array: return read_array(c, depth);
    default: fail(Errc::invalid_argument, "GGUF: unknown metadata value type {}", type);
  }
}

std::uint64_t checked_product(const std::vector<std::uint64_t>& dims, const std::string& tensor) {
  std::uint64_t elements = 1;
  for (std::uint64_t d : dims) {
    if (d == 0) fail(Errc::invalid_argument, "GGUF: tensor '{}' has a zero dimension", tensor);
    if (d > max_elements || elements > max_elements / d) {
      fail(Errc::invalid_argument, "GGUF: tensor '{}' has more than 2^48 elements", tensor);
    }
    elements *= d;
  }
  return elements;
}

TensorInfo read_tensor_info(Cursor& c) {
  TensorInfo t;
  t.name = c.string("tensor name");
  const auto n_dims = c.read<std::uint32_t>("tensor dimension count");
  if (n_dims == 0 || n_dims > max_dims) {
    fail(Errc::invalid_argument, "GGUF: tensor '{}' has {} dimensions (1 to {} allowed)", t.name, n_dims, max_dims);
  }
  for (std::uint32_t i = 0; i < n_dims; ++i) t.dims.push_back(c.read<std::uint64_t>("tensor dimension"));
  t.type = c.read<std::uint32_t>("tensor type");
  t.offset = c.read<std::uint64_t>("tensor data offset");
  t.elements = checked_product(t.dims, t.name);
  const TypeEntry* entry = type_entry(t.type);
  if (entry == nullptr) fail(Errc::invalid_argument, "GGUF: tensor '{}' has unknown type {}", t.name, t.type);
  if (t.dims[0] % entry->traits.block_elements != 0) {
    fail(Errc::invalid_argument, "GGUF: tensor '{}' of type {} has rows of {} elements, not a multiple of its block of {}",
         t.name, entry->traits.name, t.dims[0], entry->traits.block_elements);
  }
  t.bytes = t.elements / entry->traits.block_elements * entry->traits.block_bytes;
  return t;
}

}  // namespace

std::optional<TypeTraits> traits_of(std::uint32_t type) {
  const TypeEntry* e = type_entry(type);
  if (e == nullptr || !e->supported) return std::nullopt;
  return e->traits;
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes) {
  GgufFile f;
  f.bytes_ = bytes;
  f.parse_all();
  return f;
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(Errc::io, "cannot open model file {}: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(Errc::io, "model file {} is not a regular file", path.string());
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size < 24) {
    ::close(fd);
    fail(Errc::invalid_argument, "GGUF: {} is {} bytes, too small for a header", path.string(), size);
  }
  void* address = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (address == MAP_FAILED) fail(Errc::io, "cannot map model file {}: {}", path.string(), std::strerror(errno));
  GgufFile f;
  f.mapping_ = std::shared_ptr<const void>(address, [size](const void* p) { munmap(const_cast<void*>(p), size); });
  f.bytes_ = {static_cast<const std::byte*>(address), size};
  try {
    f.parse_all();
  } catch (const Error& e) {
    fail(e.code(), "{}: {}", path.string(), e.what());
  }
  return f;
}

void GgufFile::parse_all() {
  Cursor c(bytes_);
  if (c.read<std::uint32_t>("magic") != magic) fail(Errc::invalid_argument, "GGUF: not a GGUF file (bad magic)");
  version_ = c.read<std::uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    fail(Errc::invalid_argument, "GGUF: version {} is not supported (2 and 3 are)", version_);
  }
  const std::uint64_t tensor_count = c.count("tensor count", 32);
  const std::uint64_t kv_count = c.count("metadata count", 13);
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    std::string key = c.string("metadata key");
    const auto type = c.read<std::uint32_t>("metadata value type");
    GgufValue value = read_value(c, type, 0);
    if (!metadata_.emplace(key, std::move(value)).second) {
      fail(Errc::invalid_argument, "GGUF: metadata key '{}' appears twice", key);
    }
  }
  if (const GgufValue* a = find("general.alignment")) {
    const auto* v = std::get_if<std::uint64_t>(&a->value);
    if (v == nullptr || *v == 0 || (*v & (*v - 1)) != 0 || *v > (1u << 20)) {
      fail(Errc::invalid_argument, "GGUF: general.alignment must be a power of two up to 1 MiB");
    }
    alignment_ = *v;
  }
  tensors_.reserve(tensor_count);
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo t = read_tensor_info(c);
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
      fail(Errc::invalid_argument, "GGUF: tensor '{}' appears twice", t.name);
    }
    tensors_.push_back(std::move(t));
  }
  data_offset_ = (c.position() + alignment_ - 1) / alignment_ * alignment_;
  c.seek(data_offset_);
  const std::uint64_t data_bytes = bytes_.size() - data_offset_;
  for (const TensorInfo& t : tensors_) {
    if (t.offset % alignment_ != 0) {
      fail(Errc::invalid_argument, "GGUF: tensor '{}' data offset {} is not aligned to {}", t.name, t.offset, alignment_);
    }
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset) {
      fail(Errc::invalid_argument, "GGUF: tensor '{}' data [{}, +{}) lies past the end of the file ({} data bytes)",
           t.name, t.offset, t.bytes, data_bytes);
    }
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {
const GgufValue& require(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) fail(Errc::not_found, "GGUF: metadata key '{}' is missing", key);
  return *v;
}

// The GGUF spec's name of a value type number, for errors that say what a key holds instead.
const char* value_type_name(std::uint32_t type) {
  static constexpr const char* kNames[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32", "float32",
                                           "bool",  "string", "array",  "uint64", "int64",  "float64"};
  return type < std::size(kNames) ? kNames[type] : "an unknown type";
}

[[noreturn]] void wrong_type(const std::string& key, const GgufValue& v, const char* expected) {
  fail(Errc::invalid_argument, "GGUF: metadata '{}' holds {}{}, expected {}", key, value_type_name(v.type),
       std::holds_alternative<std::int64_t>(v.value) ? " (negative)" : "", expected);
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  const auto* s = std::get_if<std::string>(&v.value);
  if (s == nullptr) wrong_type(key, v, "a string");
  return *s;
}

std::uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& value = require(*this, key);
  const auto& v = value.value;
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return *u;
  if (const auto* i = std::get_if<std::int64_t>(&v); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  wrong_type(key, value, "a non-negative integer");
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& value = require(*this, key);
  const auto& v = value.value;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  wrong_type(key, value, "a number");
}

const TensorInfo& GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) fail(Errc::not_found, "GGUF: the model has no tensor '{}'", name);
  return tensors_[it->second];
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> GgufFile::tensor_data(const TensorInfo& info) const {
  const TypeEntry* entry = type_entry(info.type);
  if (entry == nullptr || !entry->supported) {
    fail(Errc::unsupported, "tensor '{}' has type {} ({}), which crossgpu does not run yet ({})",
         info.name, entry ? entry->traits.name : "unknown", info.type, kSupportedNames);
  }
  return bytes_.subspan(data_offset_ + info.offset, info.bytes);
}

// --- writer ---

void GgufWriter::add(const std::string& key, GgufValue value) { metadata_.emplace_back(key, std::move(value)); }
void GgufWriter::add_string(const std::string& key, std::string value) { add(key, {std::move(value), gguf_type::string}); }
void GgufWriter::add_uint32(const std::string& key, std::uint32_t value) { add(key, {std::uint64_t{value}, gguf_type::uint32}); }
void GgufWriter::add_float32(const std::string& key, float value) { add(key, {double{value}, gguf_type::float32}); }

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  GgufArray items;
  for (const auto& v : values) items.push_back({v, gguf_type::string});
  add(key, {std::move(items), gguf_type::array});
}

void GgufWriter::add_tensor(const std::string& name, std::vector<std::uint64_t> dims, TensorType type,
                            std::vector<std::byte> data) {
  TensorInfo info;
  info.name = name;
  info.dims = std::move(dims);
  info.type = static_cast<std::uint32_t>(type);
  info.elements = checked_product(info.dims, name);
  const TypeTraits t = *traits_of(info.type);
  info.bytes = info.elements / t.block_elements * t.block_bytes;
  if (data.size() != info.bytes) {
    fail(Errc::invalid_argument, "tensor '{}' needs {} bytes of data, {} given", name, info.bytes, data.size());
  }
  tensors_.push_back({std::move(info), std::move(data)});
}

namespace {

void put(std::vector<std::byte>& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + n);
}
template <typename T>
void put(std::vector<std::byte>& out, T value) { put(out, &value, sizeof(T)); }
void put_string(std::vector<std::byte>& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  put(out, s.data(), s.size());
}

void put_value(std::vector<std::byte>& out, const GgufValue& v) {
  switch (v.type) {
    case gguf_type::uint8: put<std::uint8_t>(out, static_cast<std::uint8_t>(std::get<std::uint64_t>(v.value))); break;
    case gguf_type::uint16: put<std::uint16_t>(out, static_cast<std::uint16_t>(std::get<std::uint64_t>(v.value))); break;
    case gguf_type::uint32: put<std::uint32_t>(out, static_cast<std::uint32_t>(std::get<std::uint64_t>(v.value))); break;
    case gguf_type::uint64: put<std::uint64_t>(out, std::get<std::uint64_t>(v.value)); break;
    case gguf_type::int8: put<std::int8_t>(out, static_cast<std::int8_t>(std::get<std::int64_t>(v.value))); break;
    case gguf_type::int16: put<std::int16_t>(out, static_cast<std::int16_t>(std::get<std::int64_t>(v.value))); break;
    case gguf_type::int32: put<std::int32_t>(out, static_cast<std::int32_t>(std::get<std::int64_t>(v.value))); break;
    case gguf_type::int64: put<std::int64_t>(out, std::get<std::int64_t>(v.value)); break;
    case gguf_type::float32: put<float>(out, static_cast<float>(std::get<double>(v.value))); break;
    case gguf_type::float64: put<double>(out, std::get<double>(v.value)); break;
    case gguf_type::boolean: put<std::uint8_t>(out, std::get<bool>(v.value) ? 1 : 0); break;
    case gguf_type::string: put_string(out, std::get<std::string>(v.value)); break;
    case gguf_type::array: {
      const auto& items = std::get<GgufArray>(v.value);
      put<std::uint32_t>(out, items.empty() ? gguf_type::uint8 : items.front().type);
      put<std::uint64_t>(out, items.size());
      for (const auto& item : items) put_value(out, item);
      break;
    }
    default: fail(Errc::invalid_argument, "GGUF writer: unknown value type {}", v.type);
  }
}

}  // namespace

std::vector<std::byte> GgufWriter::bytes() const {
  std::vector<std::byte> out;
  put<std::uint32_t>(out, magic);
  put<std::uint32_t>(out, 3);
  put<std::uint64_t>(out, tensors_.size());
  const bool has_alignment = alignment_ != 32;
  put<std::uint64_t>(out, metadata_.size() + (has_alignment ? 1 : 0));
  if (has_alignment) {
    put_string(out, "general.alignment");
    put<std::uint32_t>(out, gguf_type::uint32);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(alignment_));
  }
  for (const auto& [key, value] : metadata_) {
    put_string(out, key);
    put<std::uint32_t>(out, value.type);
    put_value(out, value);
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(out, t.info.name);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(t.info.dims.size()));
    for (std::uint64_t d : t.info.dims) put<std::uint64_t>(out, d);
    put<std::uint32_t>(out, t.info.type);
    put<std::uint64_t>(out, offset);
    offset = (offset + t.info.bytes + alignment_ - 1) / alignment_ * alignment_;
  }
  out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_);
  for (const auto& t : tensors_) {
    put(out, t.data.data(), t.data.size());
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_);
  }
  return out;
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const std::vector<std::byte> data = bytes();
  const auto temp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!out) fail(Errc::io, "cannot write {}", temp);
  }
  std::filesystem::rename(temp, path);
}

}  // namespace crossgpu::model
