#include "model/jinja/globals.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "model/jinja/builtins.hpp"

namespace crossgpu::model::jinja {
namespace {

Value callable(std::string name, std::function<Value(const CallArgs&, Budget&)> fn) {
  return Value(std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)}));
}

Value raise_exception(const CallArgs& args, Budget& b) {
  const Value* message = args.get(0, "message");
  b.fail(TemplateErrc::raised, message ? to_str(*message) : std::string("raise_exception() called"));
}

Value make_namespace(const CallArgs& args, Budget& b) {
  auto ns = std::make_shared<Namespace>();
  for (const Value& p : args.positional) {
    if (p.kind() != Value::Kind::object) b.fail(TemplateErrc::type, "namespace() takes a dict or keyword arguments");
    for (const auto& [k, v] : p.as_object().items()) ns->attrs.set(k, v);
  }
  for (const auto& [k, v] : args.keyword) ns->attrs.set(k, v);
  return Value(std::move(ns));
}

Value make_dict(const CallArgs& args, Budget& b) {
  Object o;
  for (const Value& p : args.positional) {
    if (p.kind() != Value::Kind::object) b.fail(TemplateErrc::type, "dict() takes a dict or keyword arguments");
    for (const auto& [k, v] : p.as_object().items()) o.set(k, v);
  }
  for (const auto& [k, v] : args.keyword) o.set(k, v);
  return o;
}

Value range(const CallArgs& args, Budget& b) {
  std::int64_t bounds[3] = {0, 0, 1};
  const std::size_t n = args.positional.size();
  if (n < 1 || n > 3) b.fail(TemplateErrc::type, "range() takes 1 to 3 integers");
  for (std::size_t i = 0; i < n; ++i) {
    if (args.positional[i].kind() != Value::Kind::integer) b.fail(TemplateErrc::type, "range() takes integers");
  }
  if (n == 1) {
    bounds[1] = args.positional[0].as_int();
  } else {
    for (std::size_t i = 0; i < n; ++i) bounds[i] = args.positional[i].as_int();
  }
  const auto [start, stop, step] = bounds;
  if (step == 0) b.fail(TemplateErrc::type, "range() step must not be zero");
  // The length first, so that range(10**9) fails at the step limit before allocating anything.
  const long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  const long double count = span <= 0 ? 0 : std::ceil(span / (step > 0 ? step : -static_cast<long double>(step)));
  b.charge(static_cast<std::size_t>(std::min<long double>(count, 1e18L)));
  Array out;
  out.reserve(static_cast<std::size_t>(count));
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
  return out;
}

Value strftime_now(const CallArgs& args, Budget& b) {
  const Value* format = args.get(0, "format");
  if (!format || !format->is_string()) b.fail(TemplateErrc::type, "strftime_now() takes a format string");
  if (format->as_string().size() > 256) b.fail(TemplateErrc::limit, "strftime_now() format longer than 256 bytes");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[2048];
  const std::size_t n = std::strftime(buf, sizeof buf, format->as_string().c_str(), &local);
  return std::string(buf, n);
}

}  // namespace

Object template_globals() {
  Object g;
  g.set("raise_exception", callable("raise_exception", raise_exception));
  g.set("namespace", callable("namespace", make_namespace));
  g.set("dict", callable("dict", make_dict));
  g.set("range", callable("range", range));
  g.set("strftime_now", callable("strftime_now", strftime_now));
  return g;
}

}  // namespace crossgpu::model::jinja
