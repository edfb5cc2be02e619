// Writing a TokenizerSpec as the GGUF metadata llama.cpp's converters produce.
#include "model/vocab.hpp"

namespace crossgpu::model {
namespace {

namespace key = tokenizer_key;

template <typename T, typename F>
GgufValue array_of(const std::vector<T>& items, F&& to_value) {
  GgufArray out;
  out.reserve(items.size());
  for (const T& item : items) out.push_back(to_value(item));
  return {std::move(out), gguf_type::array};
}

void add_optional_id(GgufWriter& writer, const char* name, const std::optional<std::uint32_t>& id) {
  if (id) writer.add_uint32(name, *id);
}

void add_optional_bool(GgufWriter& writer, const char* name, const std::optional<bool>& value) {
  if (value) writer.add(name, {*value, gguf_type::boolean});
}

}  // namespace

void add_tokenizer_metadata(GgufWriter& writer, const TokenizerSpec& spec) {
  writer.add_string(key::model, spec.kind);
  if (!spec.pre.empty()) writer.add_string(key::pre, spec.pre);
  if (!spec.tokens.empty()) writer.add_string_array(key::tokens, spec.tokens);
  if (!spec.scores.empty()) {
    writer.add(key::scores, array_of(spec.scores, [](float s) { return GgufValue{double{s}, gguf_type::float32}; }));
  }
  if (!spec.token_types.empty()) {
    writer.add(key::token_type, array_of(spec.token_types, [](TokenType t) {
                 return GgufValue{static_cast<std::int64_t>(t), gguf_type::int32};
               }));
  }
  if (!spec.merges.empty()) writer.add_string_array(key::merges, spec.merges);
  add_optional_id(writer, key::bos, spec.bos);
  add_optional_id(writer, key::eos, spec.eos);
  add_optional_id(writer, key::unk, spec.unk);
  add_optional_id(writer, key::pad, spec.pad);
  add_optional_id(writer, key::eot, spec.eot);
  add_optional_bool(writer, key::add_bos, spec.add_bos);
  add_optional_bool(writer, key::add_eos, spec.add_eos);
  add_optional_bool(writer, key::add_space_prefix, spec.add_space_prefix);
  if (!spec.chat_template.empty()) writer.add_string(key::chat_template, spec.chat_template);
}

}  // namespace crossgpu::model
