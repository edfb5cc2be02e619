// Template source -> tokens. Text between tags is one token; inside {{ }} and {% %} the lexer
// splits names, numbers, strings and operators. Whitespace control is applied here, as Jinja2
// does: "-" at a tag's edge strips all whitespace on that side, lstrip_blocks strips spaces and
// tabs from the start of a line up to a block or comment tag, trim_blocks drops the first newline
// after one. {% raw %}...{% endraw %} becomes text. {# comments #} disappear.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/jinja/error.hpp"

namespace crossgpu::model::jinja {

enum class Tok { text, expr_open, expr_close, stmt_open, stmt_close, name, string, integer, floating, op, end };

struct Token {
  Tok type;
  std::string value;
  SourcePos pos;
};

struct LexOptions {
  // Both on, as transformers' apply_chat_template and @huggingface/jinja render chat templates.
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  // Jinja2's keep_trailing_newline=False: one newline at the very end of the source is dropped.
  bool keep_trailing_newline = false;
};

std::vector<Token> tokenize(std::string_view source, const LexOptions& options, const Limits& limits);

}  // namespace crossgpu::model::jinja
