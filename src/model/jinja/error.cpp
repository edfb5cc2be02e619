#include "model/jinja/error.hpp"

#include <fmt/format.h>

namespace crossgpu::model::jinja {

std::string_view template_errc_name(TemplateErrc code) noexcept {
  switch (code) {
    case TemplateErrc::syntax: return "syntax error";
    case TemplateErrc::undefined: return "undefined value";
    case TemplateErrc::type: return "type error";
    case TemplateErrc::raised: return "raise_exception";
    case TemplateErrc::limit: return "limit exceeded";
  }
  return "error";
}

namespace {
std::string full_message(TemplateErrc kind, SourcePos pos, const std::string& what) {
  if (pos.line == 0) return fmt::format("chat template: {}: {}", template_errc_name(kind), what);
  return fmt::format("chat template line {}, column {}: {}: {}", pos.line, pos.column,
                     template_errc_name(kind), what);
}
}  // namespace

TemplateError::TemplateError(TemplateErrc kind, SourcePos pos, const std::string& what)
    : Error(kind == TemplateErrc::limit ? Errc::out_of_range : Errc::invalid_argument,
            full_message(kind, pos, what)),
      kind_(kind), pos_(pos), detail_(what) {}

void throw_template_error(TemplateErrc kind, SourcePos pos, const std::string& what) {
  throw TemplateError(kind, pos, what);
}

}  // namespace crossgpu::model::jinja
