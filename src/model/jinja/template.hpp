// A Jinja template, parsed once and rendered many times: the subset of Jinja2 that the chat
// templates of model files use (see docs/ARCHITECTURE.md, "chat templates"). Rendering is pure:
// it reads the variables, writes a string, and stops at the limits with a TemplateError.
//
//   jinja::Template t(source);                       // throws TemplateError{syntax} with line/column
//   std::string prompt = t.render(variables_json);   // throws TemplateError on a runtime fault
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "model/jinja/error.hpp"
#include "model/jinja/lexer.hpp"
#include "model/jinja/value.hpp"

namespace crossgpu::model::jinja {

struct Node;

class Template {
 public:
  explicit Template(std::string_view source, const Limits& limits = {}, const LexOptions& options = {});
  std::string render(const Object& variables) const;
  // Each top-level key of `variables` (a JSON object) becomes a variable.
  std::string render(const nlohmann::ordered_json& variables) const;

 private:
  std::shared_ptr<const std::vector<Node>> body_;
  Limits limits_;
};

}  // namespace crossgpu::model::jinja
