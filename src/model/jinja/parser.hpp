// Tokens -> syntax tree, with Jinja2's grammar and operator precedence (lowest first):
// x if c else y, or, and, not, comparisons and `in`, + -, ~, * / // %, **, unary - +, then
// filters (|f), tests (is t) and postfix access (.a, [i], [a:b:c], f(x)). Nesting of blocks and
// expressions is bounded (Limits::max_nesting) so a hostile template cannot exhaust the stack.
#pragma once

#include <vector>

#include "model/jinja/ast.hpp"
#include "model/jinja/lexer.hpp"

namespace crossgpu::model::jinja {

Body parse(const std::vector<Token>& tokens, const Limits& limits);

}  // namespace crossgpu::model::jinja
