// The syntax tree of a template: expressions and statements, each with its source position.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/jinja/error.hpp"
#include "model/jinja/value.hpp"

namespace crossgpu::model::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    literal,   // literal
    name,      // name
    list,      // items
    tuple,     // items
    dict,      // pairs
    unary,     // op ("not", "-", "+"), items[0]
    binary,    // op, items[0], items[1]  ("or", "and", "+", "-", "~", "*", "/", "//", "%", "**")
    compare,   // items[0] ops[0] items[1] ops[1] items[2] ... ("==", "<", "in", "not in", ...)
    attr,      // items[0].name
    item,      // items[0][items[1]]
    slice,     // items[0][items[1]:items[2]:items[3]] (each may be null)
    call,      // items[0](items[1..], kwargs)
    filter,    // items[0] | name(items[1..], kwargs)
    test,      // items[0] is [not] name(items[1..])
    cond,      // items[0] if items[1] else items[2] (items[2] may be null)
  };
  Kind kind{};
  SourcePos pos;
  Value literal;
  std::string name;
  std::string op;
  std::vector<std::string> ops;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::pair<ExprPtr, ExprPtr>> pairs;
  bool negated = false;
};

struct Node;
using Body = std::vector<Node>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Node {
  enum class Kind {
    text,        // text
    output,      // {{ expr }}
    if_chain,    // branches: (condition, body); a null condition is the else
    for_loop,    // targets in expr [if filter]: body, else_body
    set,         // targets = expr, or targets[0].attr = expr
    set_block,   // {% set targets[0] %}body{% endset %}
    macro,       // {% macro name(params) %}body{% endmacro %}
    loop_break,  // {% break %}
    loop_continue,
    scope,       // a body run as is ({% generation %})
  };
  Kind kind{};
  SourcePos pos;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::string> targets;
  std::string attr;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::string name;
  std::vector<MacroParam> params;
};

}  // namespace crossgpu::model::jinja
