#include "model/jinja/template.hpp"

#include "model/jinja/parser.hpp"
#include "model/jinja/renderer.hpp"

namespace crossgpu::model::jinja {

Template::Template(std::string_view source, const Limits& limits, const LexOptions& options)
    : body_(std::make_shared<const Body>(parse(tokenize(source, options, limits), limits))), limits_(limits) {}

std::string Template::render(const Object& variables) const { return render_body(*body_, variables, limits_); }

std::string Template::render(const nlohmann::ordered_json& variables) const {
  if (!variables.is_object()) {
    throw_template_error(TemplateErrc::type, {}, "the variables of a template must be a JSON object");
  }
  const Value v = Value::from_json(variables);
  return render(v.as_object());
}

}  // namespace crossgpu::model::jinja
