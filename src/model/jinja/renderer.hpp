// Runs a parsed template: statements write to the output, expressions compute Values. Scopes
// follow Jinja2: a for loop's body (each iteration) and a macro call get their own scope, `set`
// writes to the innermost one, so a variable set inside a loop is gone after it (namespace()
// exists for that). Every statement, expression and loop iteration costs a step; output,
// strings, steps and macro call depth are bounded by Limits.
#pragma once

#include <string>

#include "model/jinja/ast.hpp"

namespace crossgpu::model::jinja {

std::string render_body(const Body& body, const Object& variables, const Limits& limits);

}  // namespace crossgpu::model::jinja
