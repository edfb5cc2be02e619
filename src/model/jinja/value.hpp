// The values a template computes with, modelled on Python's as Jinja2 sees them: undefined,
// None, bool, int, float, str (UTF-8), list, dict (insertion-ordered, as Python's), namespace
// (the one mutable object) and callables (macros, globals such as raise_exception). Lists and
// dicts are immutable and shared, so copying a Value is cheap.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossgpu::model::jinja {

class Value;
using Array = std::vector<Value>;

class Object;

struct Namespace;
struct CallArgs;
class Budget;
struct Callable {
  std::string name;
  std::function<Value(const CallArgs&, Budget&)> call;
};

struct Undefined {
  std::string name;  // what was looked up, for error messages
};
struct None {};

class Value {
 public:
  enum class Kind { undefined, none, boolean, integer, floating, string, array, object, ns, callable };

  Value() : v_(Undefined{}) {}
  Value(Undefined u) : v_(std::move(u)) {}
  Value(None) : v_(None{}) {}
  Value(bool b) : v_(b) {}
  Value(std::int64_t i) : v_(i) {}
  Value(int i) : v_(std::int64_t{i}) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::make_shared<const Array>(std::move(a))) {}
  Value(Object o);  // in value.cpp: Object is complete there
  Value(std::shared_ptr<Namespace> n) : v_(std::move(n)) {}
  Value(std::shared_ptr<const Callable> c) : v_(std::move(c)) {}

  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::undefined; }
  bool is_none() const { return kind() == Kind::none; }
  bool is_string() const { return kind() == Kind::string; }
  bool is_number() const { return kind() == Kind::integer || kind() == Kind::floating; }

  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(v_); }
  double as_number() const;  // int or float
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return *std::get<std::shared_ptr<const Array>>(v_); }
  const Object& as_object() const { return *std::get<std::shared_ptr<const Object>>(v_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(v_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(v_); }
  const std::string& undefined_name() const { return std::get<Undefined>(v_).name; }

  bool truthy() const;

 private:
  std::variant<Undefined, None, bool, std::int64_t, double, std::string, std::shared_ptr<const Array>,
               std::shared_ptr<const Object>, std::shared_ptr<Namespace>, std::shared_ptr<const Callable>>
      v_;
};

class Object {
 public:
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);  // replaces, keeping the key's place
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<std::pair<std::string, Value>> items_;
};

// namespace(): attributes a template may assign from inside a loop ({% set ns.x = ... %}).
struct Namespace {
  Object attrs;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // The keyword `name`, else positional[index], else nullptr.
  const Value* get(std::size_t index, std::string_view name) const;
};

const char* kind_name(Value::Kind kind);

// str(value) as Python prints it in {{ }}: None, True, 1.5, ['a', 1], {'k': 'v'}; undefined is "".
std::string to_str(const Value& v);
// repr(value): strings quoted as Python quotes them.
std::string to_repr(const Value& v);
// json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=false), as transformers' tojson;
// indent < 0: one line with ", " and ": " separators.
std::string to_json(const Value& v, int indent = -1);
// Python's == (1 == 1.0, True == 1, lists and dicts element by element).
bool equals(const Value& a, const Value& b);

// Python float repr: 1.0, 0.1, 1e-05, 1e+16, inf, nan.
std::string float_repr(double d);

}  // namespace crossgpu::model::jinja
