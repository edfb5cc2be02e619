// The filters, tests and methods of the Jinja subset, with Python's behaviour where Jinja2 takes
// it from Python (str.strip, str.split, len, json.dumps through transformers' tojson).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "model/jinja/error.hpp"
#include "model/jinja/value.hpp"

namespace crossgpu::model::jinja {

// What a builtin may spend, and where its errors point to.
class Budget {
 public:
  virtual ~Budget() = default;
  virtual void charge(std::size_t steps) = 0;       // throws limit
  virtual void check_size(std::size_t bytes) = 0;   // a string being built; throws limit
  virtual SourcePos pos() const = 0;
  [[noreturn]] void fail(TemplateErrc kind, const std::string& what) const;
};

bool has_filter(std::string_view name);
bool has_test(std::string_view name);

Value apply_filter(const std::string& name, const Value& value, const CallArgs& args, Budget& budget);
bool apply_test(const std::string& name, const Value& value, const CallArgs& args, Budget& budget);
// obj.name(args) for the str and dict methods templates call; nullopt when obj has no such method.
std::optional<Value> call_method(const Value& obj, const std::string& name, const CallArgs& args, Budget& budget);
bool has_method(const Value& obj, const std::string& name);

// Python's len() (code points for strings), iter() as a list (dict keys, string characters).
std::size_t length_of(const Value& v, Budget& budget);
Array items_of(const Value& v, Budget& budget);
// a[i] / a[key] with Python's negative indexes; undefined when absent.
Value subscript(const Value& target, const Value& key, Budget& budget);
Value slice(const Value& target, const Value& start, const Value& stop, const Value& step, Budget& budget);

}  // namespace crossgpu::model::jinja
