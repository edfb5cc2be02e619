#include "model/jinja/value.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "model/jinja/error.hpp"

namespace crossgpu::model::jinja {

Value::Value(Object o) : v_(std::make_shared<const Object>(std::move(o))) {}

const Value* Object::find(std::string_view key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Object::set(const std::string& key, Value value) {
  for (auto& [k, v] : items_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(key, std::move(value));
}

const Value* CallArgs::get(std::size_t index, std::string_view name) const {
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return index < positional.size() ? &positional[index] : nullptr;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return None{};
    case nlohmann::json::value_t::boolean: return j.get<bool>();
    case nlohmann::json::value_t::number_integer: return j.get<std::int64_t>();
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return static_cast<double>(u);
      return static_cast<std::int64_t>(u);
    }
    case nlohmann::json::value_t::number_float: return j.get<double>();
    case nlohmann::json::value_t::string: return j.get<std::string>();
    case nlohmann::json::value_t::array: {
      Array a;
      a.reserve(j.size());
      for (const auto& e : j) a.push_back(from_json(e));
      return a;
    }
    case nlohmann::json::value_t::object: {
      Object o;
      for (const auto& [k, e] : j.items()) o.set(k, from_json(e));
      return o;
    }
    default: return Undefined{};
  }
}

double Value::as_number() const {
  if (kind() == Kind::integer) return static_cast<double>(as_int());
  return std::get<double>(v_);
}

bool Value::truthy() const {
  switch (kind()) {
    case Kind::undefined:
    case Kind::none: return false;
    case Kind::boolean: return as_bool();
    case Kind::integer: return as_int() != 0;
    case Kind::floating: return as_number() != 0.0;
    case Kind::string: return !as_string().empty();
    case Kind::array: return !as_array().empty();
    case Kind::object: return as_object().size() != 0;
    default: return true;
  }
}

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::undefined: return "undefined";
    case Value::Kind::none: return "none";
    case Value::Kind::boolean: return "boolean";
    case Value::Kind::integer: return "integer";
    case Value::Kind::floating: return "float";
    case Value::Kind::string: return "string";
    case Value::Kind::array: return "list";
    case Value::Kind::object: return "dict";
    case Value::Kind::ns: return "namespace";
    case Value::Kind::callable: return "callable";
  }
  return "value";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // The shortest digits that read back as d, then Python's layout: fixed for exponents -4..15,
  // scientific (with at least two exponent digits) beyond.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  const std::size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<std::size_t>(exponent) + 1 >= digits.size()) {
      out = digits + std::string(static_cast<std::size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<std::size_t>(exponent) + 1) + "." +
            digits.substr(static_cast<std::size_t>(exponent) + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += exp;
  }
  return negative ? "-" + out : out;
}

namespace {

std::string quote_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == static_cast<unsigned char>(q)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + q;
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", c);
          out += hex;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void json_value(std::string& out, const Value& v, int indent, int depth) {
  const auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * d), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind()) {
    case Value::Kind::none:
    case Value::Kind::undefined: out += "null"; break;
    case Value::Kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::integer: out += std::to_string(v.as_int()); break;
    case Value::Kind::floating: {
      const double d = v.as_number();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : float_repr(d);
      break;
    }
    case Value::Kind::string: json_string(out, v.as_string()); break;
    case Value::Kind::array: {
      const Array& a = v.as_array();
      if (a.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i) out += item_sep;
        newline(depth + 1);
        json_value(out, a[i], indent, depth + 1);
      }
      newline(depth);
      out += ']';
      break;
    }
    case Value::Kind::object:
    case Value::Kind::ns: {
      const Object& o = v.kind() == Value::Kind::ns ? v.as_namespace().attrs : v.as_object();
      if (o.size() == 0) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& [k, e] : o.items()) {
        if (!first) out += item_sep;
        first = false;
        newline(depth + 1);
        json_string(out, k);
        out += ": ";
        json_value(out, e, indent, depth + 1);
      }
      newline(depth);
      out += '}';
      break;
    }
    case Value::Kind::callable:
      throw_template_error(TemplateErrc::type, {}, "tojson: a callable is not JSON serializable");
  }
}

}  // namespace

std::string to_repr(const Value& v) {
  if (v.is_string()) return quote_repr(v.as_string());
  return to_str(v);
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::undefined: return "";
    case Value::Kind::none: return "None";
    case Value::Kind::boolean: return v.as_bool() ? "True" : "False";
    case Value::Kind::integer: return std::to_string(v.as_int());
    case Value::Kind::floating: return float_repr(v.as_number());
    case Value::Kind::string: return v.as_string();
    case Value::Kind::array: {
      std::string out = "[";
      const Array& a = v.as_array();
      for (std::size_t i = 0; i < a.size(); ++i) out += (i ? ", " : "") + to_repr(a[i]);
      return out + "]";
    }
    case Value::Kind::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : v.as_object().items()) {
        out += (first ? "" : ", ") + quote_repr(k) + ": " + to_repr(e);
        first = false;
      }
      return out + "}";
    }
    case Value::Kind::ns: return "<Namespace>";
    case Value::Kind::callable: return "<function " + v.as_callable().name + ">";
  }
  return "";
}

std::string to_json(const Value& v, int indent) {
  std::string out;
  json_value(out, v, indent, 0);
  return out;
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  const auto numeric = [](const Value& v) { return v.is_number() || v.kind() == K::boolean; };
  if (numeric(a) && numeric(b)) {
    const auto num = [](const Value& v) { return v.kind() == K::boolean ? (v.as_bool() ? 1.0 : 0.0) : v.as_number(); };
    if (a.kind() == K::integer && b.kind() == K::integer) return a.as_int() == b.as_int();
    return num(a) == num(b);
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::undefined:
    case K::none: return true;
    case K::string: return a.as_string() == b.as_string();
    case K::array: {
      const Array &x = a.as_array(), &y = b.as_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case K::object: {
      const Object &x = a.as_object(), &y = b.as_object();
      if (x.size() != y.size()) return false;
      for (const auto& [k, e] : x.items()) {
        const Value* o = y.find(k);
        if (!o || !equals(e, *o)) return false;
      }
      return true;
    }
    case K::ns: return &a.as_namespace() == &b.as_namespace();
    case K::callable: return &a.as_callable() == &b.as_callable();
    default: return false;
  }
}

}  // namespace crossgpu::model::jinja
