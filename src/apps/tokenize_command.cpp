// `crossgpu tokenize --model FILE [--special] [--json] TEXT`: the token ids and pieces of a text
// under a model's tokenizer, one "id -> 'piece'" line per token as llama.cpp's llama-tokenize
// prints them (--json: ids, texts, pieces and types). The work is model::list_tokens.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/commands.hpp"
#include "model/tokenizer_listing.hpp"

namespace crossgpu::apps {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool special = false;
  bool json = false;
};

int run_tokenize(const TokenizeOptions& o) {
  const model::Tokenizer tokenizer = model::tokenizer_from_file(o.model);
  const auto tokens = model::list_tokens(tokenizer, o.text, o.special);
  if (!o.json) {
    for (const auto& t : tokens) fmt::print("{:>6} -> '{}'\n", t.id, t.piece);
    return 0;
  }
  nlohmann::json out = {{"count", tokens.size()}, {"ids", nlohmann::json::array()}, {"texts", nlohmann::json::array()},
                         {"pieces", nlohmann::json::array()}, {"types", nlohmann::json::array()}};
  for (const auto& t : tokens) {
    out["ids"].push_back(t.id);
    out["texts"].push_back(t.text);
    out["pieces"].push_back(t.piece);
    out["types"].push_back(model::token_type_name(t.type));
  }
  // A piece may be part of a UTF-8 character: its bytes that are not text print as U+FFFD.
  fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace

void add_tokenize_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand("tokenize", "print the token ids and pieces of a text under a model's tokenizer");
  command->add_option("--model", o->model, "GGUF model file (only its tokenizer is read)")->required()->check(CLI::ExistingFile);
  command->add_flag("--special", o->special, "special tokens written in the text (<|im_start|>) become their ids");
  command->add_flag("--json", o->json, "print JSON: count, ids, texts, pieces, types");
  command->add_option("text", o->text, "the text to tokenize")->required();
  command->callback([o, &exit_code] { exit_code = run_tokenize(*o); });
}

}  // namespace crossgpu::apps
