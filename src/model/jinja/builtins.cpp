#include "model/jinja/builtins.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "model/jinja/text.hpp"

namespace crossgpu::model::jinja {

void Budget::fail(TemplateErrc kind, const std::string& what) const { throw_template_error(kind, pos(), what); }

namespace {

using K = Value::Kind;

constexpr std::array<std::string_view, 35> filter_names = {
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "int", "items", "join", "last", "length", "list", "lower", "map", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "title",
    "tojson", "trim", "unique", "upper", "wordcount", "indent"};

constexpr std::array<std::string_view, 36> test_names = {
    "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true",
    "false", "mapping", "iterable", "sequence", "callable", "equalto", "eq", "==", "ne", "!=",
    "odd", "even", "divisibleby", "in", "lower", "upper", "sameas", "gt", ">", "lt", "<", "ge",
    ">=", "le", "<=", "greaterthan", "lessthan"};

const Value& need(const CallArgs& args, std::size_t i, std::string_view name, Budget& b, const char* fn) {
  const Value* v = args.get(i, name);
  if (!v) b.fail(TemplateErrc::type, fmt::format("{}: missing argument '{}'", fn, name));
  return *v;
}

std::optional<std::string> opt_string(const CallArgs& args, std::size_t i, std::string_view name, Budget& b,
                                      const char* fn) {
  const Value* v = args.get(i, name);
  if (!v || v->is_none() || v->is_undefined()) return std::nullopt;
  if (!v->is_string()) b.fail(TemplateErrc::type, fmt::format("{}: '{}' must be a string, not {}", fn, name, kind_name(v->kind())));
  return v->as_string();
}

const std::string& string_of(const Value& v, Budget& b, const char* fn) {
  if (!v.is_string()) b.fail(TemplateErrc::type, fmt::format("{} needs a string, got {}", fn, kind_name(v.kind())));
  return v.as_string();
}

std::int64_t int_arg(const Value* v, std::int64_t fallback, Budget& b, const char* fn) {
  if (!v || v->is_none()) return fallback;
  if (v->kind() == K::integer) return v->as_int();
  if (v->kind() == K::boolean) return v->as_bool() ? 1 : 0;
  b.fail(TemplateErrc::type, fmt::format("{}: expected an integer, got {}", fn, kind_name(v->kind())));
}

Value checked(std::string s, Budget& b) {
  b.check_size(s.size());
  return Value(std::move(s));
}

// Python's ordering for sort(): numbers with numbers, strings with strings.
bool less_than(const Value& a, const Value& b, bool case_sensitive, Budget& budget) {
  if (a.is_number() && b.is_number()) return a.as_number() < b.as_number();
  if (a.is_string() && b.is_string()) {
    if (case_sensitive) return a.as_string() < b.as_string();
    return text::lower(a.as_string()) < text::lower(b.as_string());
  }
  budget.fail(TemplateErrc::type, fmt::format("cannot order {} and {}", kind_name(a.kind()), kind_name(b.kind())));
}

Value attribute_of(const Value& v, const std::string& path, Budget& b) {
  Value cur = v;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    cur = subscript(cur, Value(part), b);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

Value join_filter(const Value& v, const CallArgs& args, Budget& b) {
  const std::string sep = opt_string(args, 0, "d", b, "join").value_or("");
  const Value* attribute = args.get(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& e : items_of(v, b)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attribute && attribute->is_string() ? attribute_of(e, attribute->as_string(), b) : e);
    b.check_size(out.size());
  }
  return Value(std::move(out));
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...).
Value select_filter(const Value& v, const CallArgs& args, bool by_attr, bool keep, Budget& b) {
  std::size_t next = 0;
  std::string attr;
  if (by_attr) attr = string_of(need(args, next++, "attribute", b, "selectattr"), b, "selectattr");
  std::string test;
  if (next < args.positional.size()) test = string_of(args.positional[next++], b, "select");
  CallArgs test_args;
  for (std::size_t i = next; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
  if (!test.empty() && !has_test(test)) b.fail(TemplateErrc::type, "no test named '" + test + "'");
  Array out;
  for (const Value& e : items_of(v, b)) {
    const Value subject = by_attr ? attribute_of(e, attr, b) : e;
    const bool ok = test.empty() ? subject.truthy() : apply_test(test, subject, test_args, b);
    if (ok == keep) out.push_back(e);
  }
  return out;
}

Value map_filter(const Value& v, const CallArgs& args, Budget& b) {
  Array out;
  if (const Value* attr = args.get(99, "attribute")) {
    const Value* fallback = args.get(99, "default");
    for (const Value& e : items_of(v, b)) {
      Value x = attribute_of(e, string_of(*attr, b, "map"), b);
      out.push_back(x.is_undefined() && fallback ? *fallback : x);
    }
    return out;
  }
  const std::string name = string_of(need(args, 0, "filter", b, "map"), b, "map");
  if (!has_filter(name)) b.fail(TemplateErrc::type, "no filter named '" + name + "'");
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& e : items_of(v, b)) out.push_back(apply_filter(name, e, rest, b));
  return out;
}

Value sort_filter(const Value& v, const CallArgs& args, Budget& b) {
  const bool reverse = args.get(0, "reverse") && args.get(0, "reverse")->truthy();
  const bool case_sensitive = args.get(1, "case_sensitive") && args.get(1, "case_sensitive")->truthy();
  const Value* attr = args.get(2, "attribute");
  Array items = items_of(v, b);
  const auto key = [&](const Value& e) { return attr && attr->is_string() ? attribute_of(e, attr->as_string(), b) : e; };
  b.charge(items.size() * 8);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_than(key(y), key(x), case_sensitive, b) : less_than(key(x), key(y), case_sensitive, b);
  });
  return items;
}

Value items_filter(const Value& v, Budget& b) {
  if (v.is_undefined()) return Array{};
  if (v.kind() != K::object) b.fail(TemplateErrc::type, fmt::format("items needs a dict, got {}", kind_name(v.kind())));
  Array out;
  for (const auto& [k, e] : v.as_object().items()) out.push_back(Array{Value(k), e});
  return out;
}

Value dictsort_filter(const Value& v, const CallArgs& args, Budget& b) {
  const bool case_sensitive = args.get(0, "case_sensitive") && args.get(0, "case_sensitive")->truthy();
  const bool by_value = args.get(1, "by") && args.get(1, "by")->is_string() && args.get(1, "by")->as_string() == "value";
  const bool reverse = args.get(2, "reverse") && args.get(2, "reverse")->truthy();
  Array items = items_filter(v, b).as_array();
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value& kx = x.as_array()[by_value ? 1 : 0];
    const Value& ky = y.as_array()[by_value ? 1 : 0];
    return reverse ? less_than(ky, kx, case_sensitive, b) : less_than(kx, ky, case_sensitive, b);
  });
  return items;
}

Value int_filter(const Value& v, const CallArgs& args, Budget& b) {
  const Value* fallback = args.get(0, "default");
  const Value def = fallback ? *fallback : Value(std::int64_t{0});
  switch (v.kind()) {
    case K::integer: return v;
    case K::boolean: return std::int64_t{v.as_bool() ? 1 : 0};
    case K::floating: {
      const double d = v.as_number();
      if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return def;
      return static_cast<std::int64_t>(d);
    }
    case K::string: {
      const std::string s = text::strip(v.as_string(), std::nullopt, text::Side::both);
      try {
        std::size_t used = 0;
        const long long n = std::stoll(s, &used, 10);
        if (used == s.size()) return std::int64_t{n};
        const double d = std::stod(s, &used);
        if (used == s.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
      } catch (const std::exception&) {
      }
      return def;
    }
    default: (void)b; return def;
  }
}

Value float_filter(const Value& v, const CallArgs& args) {
  const Value* fallback = args.get(0, "default");
  const Value def = fallback ? *fallback : Value(0.0);
  if (v.is_number()) return v.as_number();
  if (v.kind() == K::boolean) return v.as_bool() ? 1.0 : 0.0;
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const std::string s = text::strip(v.as_string(), std::nullopt, text::Side::both);
      const double d = std::stod(s, &used);
      if (used == s.size()) return d;
    } catch (const std::exception&) {
    }
  }
  return def;
}

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Value indent_filter(const Value& v, const CallArgs& args, Budget& b) {
  const Value* w = args.get(0, "width");
  const std::string pad = w && w->is_string() ? w->as_string() : std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, int_arg(w, 4, b, "indent"))), ' ');
  const bool first = args.get(1, "first") && args.get(1, "first")->truthy();
  const bool blank = args.get(2, "blank") && args.get(2, "blank")->truthy();
  const std::vector<std::string> lines = text::split(to_str(v), std::string("\n"), -1);
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    const bool indent = (i > 0 || first) && (blank || !text::strip(lines[i], std::nullopt, text::Side::both).empty());
    if (indent) out += pad;
    out += lines[i];
    b.check_size(out.size());
  }
  return Value(std::move(out));
}

Value reverse_filter(const Value& v, Budget& b) {
  if (v.is_string()) {
    std::vector<std::string> cps = text::code_points(v.as_string());
    std::string out;
    for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
    return out;
  }
  Array items = items_of(v, b);
  std::reverse(items.begin(), items.end());
  return items;
}

Value unique_filter(const Value& v, Budget& b) {
  Array out;
  const Array items = items_of(v, b);
  b.charge(items.size() * items.size() / 16 + 1);
  for (const Value& e : items) {
    if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equals(o, e); })) out.push_back(e);
  }
  return out;
}

Value round_filter(const Value& v, const CallArgs& args, Budget& b) {
  if (!v.is_number()) b.fail(TemplateErrc::type, fmt::format("round needs a number, got {}", kind_name(v.kind())));
  const std::int64_t precision = int_arg(args.get(0, "precision"), 0, b, "round");
  const std::string method = opt_string(args, 1, "method", b, "round").value_or("common");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_number() * scale;
  const double r = method == "floor" ? std::floor(x) : method == "ceil" ? std::ceil(x) : std::round(x);
  return r / scale;
}

}  // namespace

bool has_filter(std::string_view name) {
  return std::find(filter_names.begin(), filter_names.end(), name) != filter_names.end();
}

bool has_test(std::string_view name) {
  return std::find(test_names.begin(), test_names.end(), name) != test_names.end();
}

std::size_t length_of(const Value& v, Budget& b) {
  switch (v.kind()) {
    case K::undefined: return 0;
    case K::string: return text::length(v.as_string());
    case K::array: return v.as_array().size();
    case K::object: return v.as_object().size();
    default: b.fail(TemplateErrc::type, fmt::format("a {} has no length", kind_name(v.kind())));
  }
}

Array items_of(const Value& v, Budget& b) {
  switch (v.kind()) {
    case K::undefined: return {};
    case K::array: return v.as_array();
    case K::object: {
      Array keys;
      for (const auto& [k, e] : v.as_object().items()) keys.emplace_back(k);
      return keys;
    }
    case K::string: {
      Array chars;
      for (std::string& c : text::code_points(v.as_string())) chars.emplace_back(std::move(c));
      b.charge(chars.size());
      return chars;
    }
    default: b.fail(TemplateErrc::type, fmt::format("a {} is not iterable", kind_name(v.kind())));
  }
}

Value subscript(const Value& target, const Value& key, Budget& b) {
  switch (target.kind()) {
    case K::undefined:
      b.fail(TemplateErrc::undefined, fmt::format("'{}' is undefined, so it has no item {}",
                                                  target.undefined_name(), to_repr(key)));
    case K::object: {
      if (!key.is_string()) return Undefined{to_repr(key)};
      const Value* v = target.as_object().find(key.as_string());
      return v ? *v : Value(Undefined{key.as_string()});
    }
    case K::ns: {
      if (!key.is_string()) return Undefined{to_repr(key)};
      const Value* v = target.as_namespace().attrs.find(key.as_string());
      return v ? *v : Value(Undefined{key.as_string()});
    }
    case K::array:
    case K::string: {
      if (key.kind() != K::integer) return Undefined{to_repr(key)};
      const bool str = target.is_string();
      const std::vector<std::string> cps = str ? text::code_points(target.as_string()) : std::vector<std::string>{};
      const std::int64_t n = static_cast<std::int64_t>(str ? cps.size() : target.as_array().size());
      std::int64_t i = key.as_int();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Undefined{"[" + std::to_string(key.as_int()) + "]"};
      return str ? Value(cps[static_cast<std::size_t>(i)]) : target.as_array()[static_cast<std::size_t>(i)];
    }
    default: return Undefined{to_repr(key)};
  }
}

Value slice(const Value& target, const Value& start, const Value& stop, const Value& step, Budget& b) {
  const auto bound = [&](const Value& v, const char* what) -> std::optional<std::int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (v.kind() != K::integer) b.fail(TemplateErrc::type, fmt::format("slice {} must be an integer, got {}", what, kind_name(v.kind())));
    return v.as_int();
  };
  const std::int64_t st = bound(step, "step").value_or(1);
  if (st == 0) b.fail(TemplateErrc::type, "slice step cannot be zero");
  const bool str = target.is_string();
  if (!str && target.kind() != K::array) {
    b.fail(TemplateErrc::type, fmt::format("a {} cannot be sliced", kind_name(target.kind())));
  }
  const std::vector<std::string> cps = str ? text::code_points(target.as_string()) : std::vector<std::string>{};
  const std::int64_t n = static_cast<std::int64_t>(str ? cps.size() : target.as_array().size());
  // Python's slice.indices()
  const auto clamp = [&](std::optional<std::int64_t> v, std::int64_t def) {
    if (!v) return def;
    std::int64_t x = *v;
    if (x < 0) x += n;
    if (st > 0) return std::clamp<std::int64_t>(x, 0, n);
    return std::clamp<std::int64_t>(x, -1, n - 1);
  };
  const std::int64_t lo = clamp(bound(start, "start"), st > 0 ? 0 : n - 1);
  const std::int64_t hi = clamp(bound(stop, "stop"), st > 0 ? n : -1);
  b.charge(static_cast<std::size_t>(n));
  std::string s;
  Array a;
  for (std::int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) {
    if (str) {
      s += cps[static_cast<std::size_t>(i)];
    } else {
      a.push_back(target.as_array()[static_cast<std::size_t>(i)]);
    }
  }
  return str ? Value(std::move(s)) : Value(std::move(a));
}

Value apply_filter(const std::string& name, const Value& v, const CallArgs& args, Budget& b) {
  b.charge(1);
  if (name == "trim") return text::strip(to_str(v), opt_string(args, 0, "chars", b, "trim"), text::Side::both);
  if (name == "length" || name == "count") return static_cast<std::int64_t>(length_of(v, b));
  if (name == "tojson") {
    const Value* indent = args.get(0, "indent");
    return checked(to_json(v, static_cast<int>(std::clamp<std::int64_t>(int_arg(indent, -1, b, "tojson"), -1, 64))), b);
  }
  if (name == "upper") return text::upper(to_str(v));
  if (name == "lower") return text::lower(to_str(v));
  if (name == "title") return text::title(to_str(v));
  if (name == "capitalize") return text::capitalize(to_str(v));
  if (name == "default" || name == "d") {
    const Value* fallback = args.get(0, "default_value");
    const bool boolean = args.get(1, "boolean") && args.get(1, "boolean")->truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return fallback ? *fallback : Value(std::string());
    return v;
  }
  if (name == "join") return join_filter(v, args, b);
  if (name == "first" || name == "last") {
    if (v.is_string()) return subscript(v, Value(std::int64_t{name == "first" ? 0 : -1}), b);
    const Array items = items_of(v, b);
    if (items.empty()) return Undefined{name};
    return name == "first" ? items.front() : items.back();
  }
  if (name == "items") return items_filter(v, b);
  if (name == "string") return to_str(v);
  if (name == "int") return int_filter(v, args, b);
  if (name == "float") return float_filter(v, args);
  if (name == "replace") {
    const std::string& from = string_of(need(args, 0, "old", b, "replace"), b, "replace");
    const std::string& to = string_of(need(args, 1, "new", b, "replace"), b, "replace");
    const std::int64_t count = int_arg(args.get(2, "count"), -1, b, "replace");
    return checked(text::replace(to_str(v), from, to, static_cast<long>(count)), b);
  }
  if (name == "list") return items_of(v, b);
  if (name == "reverse") return reverse_filter(v, b);
  if (name == "sort") return sort_filter(v, args, b);
  if (name == "unique") return unique_filter(v, b);
  if (name == "map") return map_filter(v, args, b);
  if (name == "select" || name == "reject") return select_filter(v, args, false, name == "select", b);
  if (name == "selectattr" || name == "rejectattr") return select_filter(v, args, true, name == "selectattr", b);
  if (name == "dictsort") return dictsort_filter(v, args, b);
  if (name == "abs") {
    if (v.kind() == K::integer) return v.as_int() < 0 ? Value(-v.as_int()) : v;
    if (v.is_number()) return std::fabs(v.as_number());
    b.fail(TemplateErrc::type, fmt::format("abs needs a number, got {}", kind_name(v.kind())));
  }
  if (name == "round") return round_filter(v, args, b);
  if (name == "safe") return v;
  if (name == "e" || name == "escape") return checked(escape_html(to_str(v)), b);
  if (name == "wordcount") return static_cast<std::int64_t>(text::split(to_str(v), std::nullopt, -1).size());
  if (name == "indent") return indent_filter(v, args, b);
  b.fail(TemplateErrc::type, "no filter named '" + name + "'");
}

bool apply_test(const std::string& name, const Value& v, const CallArgs& args, Budget& b) {
  b.charge(1);
  const auto arg = [&]() -> const Value& { return need(args, 0, "other", b, name.c_str()); };
  const auto integer = [&](const char* fn) {
    if (v.kind() != K::integer) b.fail(TemplateErrc::type, fmt::format("the {} test needs an integer, got {}", fn, kind_name(v.kind())));
    return v.as_int();
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind() == K::integer;
  if (name == "float") return v.kind() == K::floating;
  if (name == "boolean") return v.kind() == K::boolean;
  if (name == "true") return v.kind() == K::boolean && v.as_bool();
  if (name == "false") return v.kind() == K::boolean && !v.as_bool();
  if (name == "mapping") return v.kind() == K::object;
  if (name == "iterable") return v.kind() == K::array || v.kind() == K::object || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.kind() == K::array || v.kind() == K::object || v.is_string();
  if (name == "callable") return v.kind() == K::callable;
  if (name == "equalto" || name == "eq" || name == "==") return equals(v, arg());
  if (name == "ne" || name == "!=") return !equals(v, arg());
  if (name == "sameas") return equals(v, arg()) && v.kind() == arg().kind();
  if (name == "odd") return integer("odd") % 2 != 0;
  if (name == "even") return integer("even") % 2 == 0;
  if (name == "divisibleby") {
    const std::int64_t d = int_arg(&need(args, 0, "num", b, "divisibleby"), 1, b, "divisibleby");
    if (d == 0) b.fail(TemplateErrc::type, "divisibleby 0");
    return integer("divisibleby") % d == 0;
  }
  if (name == "in") {
    const Value& seq = need(args, 0, "seq", b, "in");
    if (seq.is_string()) return v.is_string() && seq.as_string().find(v.as_string()) != std::string::npos;
    if (seq.kind() == K::object) return v.is_string() && seq.as_object().find(v.as_string()) != nullptr;
    const Array items = items_of(seq, b);
    return std::any_of(items.begin(), items.end(), [&](const Value& e) { return equals(e, v); });
  }
  if (name == "lower") return v.is_string() && text::lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && text::upper(v.as_string()) == v.as_string();
  const bool ordering = name == "gt" || name == ">" || name == "lt" || name == "<" || name == "ge" ||
                        name == ">=" || name == "le" || name == "<=" || name == "greaterthan" || name == "lessthan";
  if (ordering) {
    const Value& o = arg();
    if (name == "gt" || name == ">" || name == "greaterthan") return less_than(o, v, true, b);
    if (name == "lt" || name == "<" || name == "lessthan") return less_than(v, o, true, b);
    if (name == "ge" || name == ">=") return !less_than(v, o, true, b);
    return !less_than(o, v, true, b);
  }
  b.fail(TemplateErrc::type, "no test named '" + name + "'");
}

bool has_method(const Value& obj, const std::string& name) {
  static constexpr std::array<std::string_view, 17> str_methods = {
      "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "upper", "lower", "title",
      "capitalize", "replace", "find", "count", "join", "isdigit", "isspace", "splitlines"};
  static constexpr std::array<std::string_view, 4> dict_methods = {"items", "keys", "values", "get"};
  if (obj.is_string()) return std::find(str_methods.begin(), str_methods.end(), name) != str_methods.end();
  if (obj.kind() == K::object) return std::find(dict_methods.begin(), dict_methods.end(), name) != dict_methods.end();
  return false;
}

namespace {

bool affix_test(const std::string& s, const Value& affix, bool prefix, Budget& b) {
  const auto one = [&](const std::string& a) { return prefix ? s.starts_with(a) : s.ends_with(a); };
  if (affix.is_string()) return one(affix.as_string());
  if (affix.kind() == K::array) {
    return std::any_of(affix.as_array().begin(), affix.as_array().end(),
                       [&](const Value& a) { return one(string_of(a, b, prefix ? "startswith" : "endswith")); });
  }
  b.fail(TemplateErrc::type, fmt::format("{} needs a string, got {}", prefix ? "startswith" : "endswith", kind_name(affix.kind())));
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& args, Budget& b) {
  if (name == "startswith" || name == "endswith") return affix_test(s, need(args, 0, "prefix", b, name.c_str()), name == "startswith", b);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const text::Side side = name == "strip" ? text::Side::both : name == "lstrip" ? text::Side::left : text::Side::right;
    return text::strip(s, opt_string(args, 0, "chars", b, name.c_str()), side);
  }
  if (name == "split") {
    const auto sep = opt_string(args, 0, "sep", b, "split");
    if (sep && sep->empty()) b.fail(TemplateErrc::type, "split: empty separator");
    const std::int64_t max = int_arg(args.get(1, "maxsplit"), -1, b, "split");
    Array out;
    for (std::string& part : text::split(s, sep, static_cast<long>(max))) out.emplace_back(std::move(part));
    b.charge(out.size());
    return out;
  }
  if (name == "splitlines") {
    Array out;
    for (std::string& part : text::split(s, std::string("\n"), -1)) out.emplace_back(std::move(part));
    if (!out.empty() && out.back().as_string().empty()) out.pop_back();
    return out;
  }
  if (name == "upper") return text::upper(s);
  if (name == "lower") return text::lower(s);
  if (name == "title") return text::title(s);
  if (name == "capitalize") return text::capitalize(s);
  if (name == "replace") {
    const std::string& from = string_of(need(args, 0, "old", b, "replace"), b, "replace");
    const std::string& to = string_of(need(args, 1, "new", b, "replace"), b, "replace");
    return checked(text::replace(s, from, to, static_cast<long>(int_arg(args.get(2, "count"), -1, b, "replace"))), b);
  }
  if (name == "find") {
    const std::size_t at = s.find(string_of(need(args, 0, "sub", b, "find"), b, "find"));
    return at == std::string::npos ? std::int64_t{-1} : static_cast<std::int64_t>(text::length(s.substr(0, at)));
  }
  if (name == "count") {
    const std::string& sub = string_of(need(args, 0, "sub", b, "count"), b, "count");
    if (sub.empty()) return static_cast<std::int64_t>(text::length(s) + 1);
    std::int64_t n = 0;
    for (std::size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return n;
  }
  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& e : items_of(need(args, 0, "iterable", b, "join"), b)) {
      if (!first) out += s;
      first = false;
      out += string_of(e, b, "str.join");
      b.check_size(out.size());
    }
    return out;
  }
  if (name == "isdigit") return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (name == "isspace") {
    const auto cps = text::code_points(s);
    return !cps.empty() && std::all_of(cps.begin(), cps.end(), [](const std::string& c) { return text::is_space(c); });
  }
  return Undefined{name};
}

Value dict_method(const Object& o, const std::string& name, const CallArgs& args, Budget& b) {
  Array out;
  if (name == "get") {
    const Value& key = need(args, 0, "key", b, "get");
    const Value* fallback = args.get(1, "default");
    const Value* v = key.is_string() ? o.find(key.as_string()) : nullptr;
    return v ? *v : fallback ? *fallback : Value(None{});
  }
  for (const auto& [k, v] : o.items()) {
    if (name == "items") out.push_back(Array{Value(k), v});
    if (name == "keys") out.emplace_back(k);
    if (name == "values") out.push_back(v);
  }
  return out;
}

}  // namespace

std::optional<Value> call_method(const Value& obj, const std::string& name, const CallArgs& args, Budget& b) {
  if (!has_method(obj, name)) return std::nullopt;
  b.charge(1);
  if (obj.is_string()) return string_method(obj.as_string(), name, args, b);
  return dict_method(obj.as_object(), name, args, b);
}

}  // namespace crossgpu::model::jinja
