// libFuzzer target for the Jinja engine (src/model/jinja): the input is a chat template's source,
// rendered with a fixed conversation under small limits. Any outcome is fine except a crash, a
// hang or an exception other than jinja::TemplateError: a template from a downloaded model file
// must never take the process down.
// Seeds: fuzz/corpus/chat_template (the real templates of the families in tests/chat_templates).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/jinja/template.hpp"

namespace {

const nlohmann::ordered_json& variables() {
  static const nlohmann::ordered_json v = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi {{ x }}"},
      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello.", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
      {"role": "tool", "content": "42"},
      {"role": "user", "content": "Bye \u00e9\ud83d\ude42"}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]})");
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace crossgpu::model::jinja;
  Limits limits;
  limits.max_steps = 200'000;
  limits.max_output_bytes = 1 << 20;
  try {
    const Template t(std::string_view(reinterpret_cast<const char*>(data), size), limits);
    (void)t.render(variables());
  } catch (const TemplateError&) {
  }
  return 0;
}
