// `crossgpu template --model FILE --messages FILE.json [--add-generation-prompt]`: prints the
// prompt a model is given for a conversation, rendered with the file's own chat template
// (tokenizer.chat_template; the built-in format when it has none), byte for byte as Hugging Face
// renders it: nothing is added, not even a final newline. The work is model::ChatTemplate.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "apps/commands.hpp"
#include "core/error.hpp"
#include "model/chat_template.hpp"
#include "model/gguf.hpp"

namespace crossgpu::apps {
namespace {

struct TemplateOptions {
  std::string model;
  std::string messages;
  bool add_generation_prompt = false;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Errc::io, "cannot open {}", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int run_template(const TemplateOptions& o) {
  const model::ChatTemplate chat = model::ChatTemplate::from_gguf(model::GgufFile::open(o.model));
  const model::ChatInput input = model::parse_chat_input(read_text(o.messages));
  const std::string prompt = chat.render_json(input.messages, o.add_generation_prompt, input.variables);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

}  // namespace

void add_template_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TemplateOptions>();
  CLI::App* command = app.add_subcommand("template", "print the prompt a model's chat template makes of a conversation");
  command->add_option("--model", o->model, "GGUF model file (only its tokenizer metadata is read)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--messages", o->messages,
                      "JSON file: an array of {role, content} messages, or {\"messages\": [...], other variables}")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_flag("--add-generation-prompt", o->add_generation_prompt,
                    "end with the opening of the assistant's turn, as for generation");
  command->callback([o, &exit_code] { exit_code = run_template(*o); });
}

}  // namespace crossgpu::apps
