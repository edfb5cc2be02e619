#include "model/jinja/renderer.hpp"

#include <unordered_map>

#include "model/jinja/builtins.hpp"
#include "model/jinja/globals.hpp"

namespace crossgpu::model::jinja {
namespace {

using K = Value::Kind;
using Scope = std::unordered_map<std::string, Value>;

class Renderer final : public Budget {
 public:
  Renderer(const Limits& limits, const Object& variables) : limits_(limits) {
    scopes_.emplace_back();
    const Object globals = template_globals();
    for (const auto& [k, v] : globals.items()) scopes_.back()[k] = v;
    for (const auto& [k, v] : variables.items()) scopes_.back()[k] = v;
  }

  std::string run(const Body& body) {
    if (exec(body) != Flow::normal) fail(TemplateErrc::syntax, "'break' or 'continue' outside a loop");
    return std::move(out_);
  }

  void charge(std::size_t steps) override {
    steps_ += steps;
    if (steps_ > limits_.max_steps) {
      fail(TemplateErrc::limit, fmt::format("rendering took more than {} steps", limits_.max_steps));
    }
  }
  void check_size(std::size_t bytes) override {
    if (bytes > limits_.max_output_bytes) {
      fail(TemplateErrc::limit, fmt::format("a string or the output grew past {} bytes", limits_.max_output_bytes));
    }
  }
  SourcePos pos() const override { return pos_; }

 private:
  enum class Flow { normal, brk, cont };

  void at(SourcePos p) {
    pos_ = p;
    charge(1);
  }

  void emit(std::string_view s) {
    check_size(out_.size() + s.size());
    out_ += s;
  }

  Flow exec(const Body& body) {
    for (const Node& n : body) {
      const Flow f = exec(n);
      if (f != Flow::normal) return f;
    }
    return Flow::normal;
  }

  Flow exec(const Node& n) {
    at(n.pos);
    switch (n.kind) {
      case Node::Kind::text: emit(n.text); return Flow::normal;
      case Node::Kind::output: {
        const Value v = eval(*n.expr);
        emit(to_str(v));
        return Flow::normal;
      }
      case Node::Kind::if_chain:
        for (const auto& [cond, body] : n.branches) {
          if (!cond || eval(*cond).truthy()) return exec(body);
        }
        return Flow::normal;
      case Node::Kind::for_loop: return for_loop(n);
      case Node::Kind::set: set(n); return Flow::normal;
      case Node::Kind::set_block: assign(n.targets[0], Value(capture(n.body))); return Flow::normal;
      case Node::Kind::macro: define_macro(n); return Flow::normal;
      case Node::Kind::loop_break: return Flow::brk;
      case Node::Kind::loop_continue: return Flow::cont;
      case Node::Kind::scope: return exec(n.body);
    }
    return Flow::normal;
  }

  std::string capture(const Body& body) {
    std::string saved = std::move(out_);
    out_.clear();
    const Flow f = exec(body);
    std::string captured = std::move(out_);
    out_ = std::move(saved);
    if (f != Flow::normal) fail(TemplateErrc::syntax, "'break' or 'continue' outside a loop");
    return captured;
  }

  void assign(const std::string& name, Value v) { scopes_.back()[name] = std::move(v); }

  void bind(const std::vector<std::string>& targets, const Value& v) {
    if (targets.size() == 1) {
      assign(targets[0], v);
      return;
    }
    const Array items = items_of(v, *this);
    if (items.size() != targets.size()) {
      fail(TemplateErrc::type, fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    }
    for (std::size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
  }

  void set(const Node& n) {
    Value v = eval(*n.expr);
    if (n.attr.empty()) {
      bind(n.targets, v);
      return;
    }
    pos_ = n.pos;
    const Value target = lookup(n.targets[0]);
    if (target.kind() != K::ns) {
      fail(TemplateErrc::type, fmt::format("cannot set '{}.{}': only a namespace() takes attributes, '{}' is {}",
                                           n.targets[0], n.attr, n.targets[0], kind_name(target.kind())));
    }
    target.as_namespace().attrs.set(n.attr, std::move(v));
  }

  Value loop_object(const Array& items, std::size_t i) {
    const auto n = static_cast<std::int64_t>(items.size());
    const auto k = static_cast<std::int64_t>(i);
    Object loop;
    loop.set("index", k + 1);
    loop.set("index0", k);
    loop.set("revindex", n - k);
    loop.set("revindex0", n - k - 1);
    loop.set("first", i == 0);
    loop.set("last", k == n - 1);
    loop.set("length", n);
    loop.set("depth", 1);
    loop.set("depth0", 0);
    loop.set("previtem", i > 0 ? items[i - 1] : Value(Undefined{"previtem"}));
    loop.set("nextitem", k + 1 < n ? items[i + 1] : Value(Undefined{"nextitem"}));
    loop.set("cycle", Value(std::make_shared<const Callable>(Callable{
                          "cycle", [i](const CallArgs& args, Budget& b) -> Value {
                            if (args.positional.empty()) b.fail(TemplateErrc::type, "loop.cycle() needs values");
                            return args.positional[i % args.positional.size()];
                          }})));
    return loop;
  }

  Flow for_loop(const Node& n) {
    const Value iterable = eval(*n.expr);
    Array items = items_of(iterable, *this);
    if (n.filter) {
      Array kept;
      for (const Value& item : items) {
        scopes_.emplace_back();
        bind(n.targets, item);
        const bool keep = eval(*n.filter).truthy();
        scopes_.pop_back();
        if (keep) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(n.else_body);
    for (std::size_t i = 0; i < items.size(); ++i) {
      at(n.pos);
      scopes_.emplace_back();
      bind(n.targets, items[i]);
      assign("loop", loop_object(items, i));
      const Flow f = exec(n.body);
      scopes_.pop_back();
      if (f == Flow::brk) break;
    }
    return Flow::normal;
  }

  void define_macro(const Node& n) {
    const Node* macro = &n;
    Renderer* self = this;
    assign(n.name, Value(std::make_shared<const Callable>(Callable{
                       n.name, [self, macro](const CallArgs& args, Budget&) { return self->call_macro(*macro, args); }})));
  }

  Value call_macro(const Node& m, const CallArgs& args) {
    if (++call_depth_ > limits_.max_call_depth) {
      fail(TemplateErrc::limit, fmt::format("macro calls nest deeper than {}", limits_.max_call_depth));
    }
    if (args.positional.size() > m.params.size()) {
      fail(TemplateErrc::type, fmt::format("macro '{}' takes {} arguments, {} given", m.name, m.params.size(), args.positional.size()));
    }
    std::vector<Scope> saved = std::move(scopes_);
    scopes_ = {saved.front(), Scope{}};
    for (std::size_t i = 0; i < m.params.size(); ++i) {
      const MacroParam& p = m.params[i];
      const Value* given = args.get(i, p.name);
      assign(p.name, given ? *given : p.default_value ? eval(*p.default_value) : Value(Undefined{p.name}));
    }
    std::string result;
    try {
      result = capture(m.body);
    } catch (...) {
      scopes_ = std::move(saved);
      --call_depth_;
      throw;
    }
    scopes_ = std::move(saved);
    --call_depth_;
    return Value(std::move(result));
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return Undefined{name};
  }

  CallArgs arguments(const Expr& e, std::size_t first) {
    CallArgs args;
    for (std::size_t i = first; i < e.items.size(); ++i) args.positional.push_back(eval(*e.items[i]));
    for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v));
    return args;
  }

  Value eval(const Expr& e) {
    at(e.pos);
    switch (e.kind) {
      case Expr::Kind::literal: return e.literal;
      case Expr::Kind::name: return lookup(e.name);
      case Expr::Kind::list:
      case Expr::Kind::tuple: {
        Array a;
        for (const ExprPtr& item : e.items) a.push_back(eval(*item));
        return a;
      }
      case Expr::Kind::dict: return dict(e);
      case Expr::Kind::unary: return unary(e);
      case Expr::Kind::binary: return binary(e);
      case Expr::Kind::compare: return compare(e);
      case Expr::Kind::attr: return attribute(eval(*e.items[0]), e);
      case Expr::Kind::item: {
        const Value target = eval(*e.items[0]);
        const Value key = eval(*e.items[1]);
        pos_ = e.pos;
        return subscript(target, key, *this);
      }
      case Expr::Kind::slice: {
        const Value target = eval(*e.items[0]);
        const auto part = [&](std::size_t i) { return e.items[i] ? eval(*e.items[i]) : Value(None{}); };
        const Value a = part(1), b = part(2), c = part(3);
        pos_ = e.pos;
        return slice(target, a, b, c, *this);
      }
      case Expr::Kind::call: return call(e);
      case Expr::Kind::filter: {
        const Value v = eval(*e.items[0]);
        const CallArgs args = arguments(e, 1);
        pos_ = e.pos;
        return apply_filter(e.name, v, args, *this);
      }
      case Expr::Kind::test: {
        const Value v = eval(*e.items[0]);
        const CallArgs args = arguments(e, 1);
        pos_ = e.pos;
        return apply_test(e.name, v, args, *this) != e.negated;
      }
      case Expr::Kind::cond:
        if (eval(*e.items[1]).truthy()) return eval(*e.items[0]);
        return e.items[2] ? eval(*e.items[2]) : Value(Undefined{"else"});
    }
    return Undefined{};
  }

  Value dict(const Expr& e) {
    Object o;
    for (const auto& [k, v] : e.pairs) {
      const Value key = eval(*k);
      if (!key.is_string()) fail(TemplateErrc::type, "dict keys must be strings");
      o.set(key.as_string(), eval(*v));
    }
    return o;
  }

  Value attribute(const Value& target, const Expr& e) {
    pos_ = e.pos;
    switch (target.kind()) {
      case K::undefined:
        fail(TemplateErrc::undefined, fmt::format("'{}' is undefined, so it has no attribute '{}'",
                                                  target.undefined_name(), e.name));
      case K::object:
      case K::ns: return subscript(target, Value(e.name), *this);
      default: return Undefined{e.name};
    }
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.items[0];
    if (callee.kind == Expr::Kind::attr) {
      const Value target = eval(*callee.items[0]);
      const CallArgs args = arguments(e, 1);
      pos_ = e.pos;
      if (auto result = call_method(target, callee.name, args, *this)) return *result;
      return invoke(attribute(target, callee), args, callee.name);
    }
    const Value f = eval(callee);
    const CallArgs args = arguments(e, 1);
    pos_ = e.pos;
    return invoke(f, args, callee.kind == Expr::Kind::name ? callee.name : "value");
  }

  Value invoke(const Value& f, const CallArgs& args, const std::string& name) {
    if (f.is_undefined()) fail(TemplateErrc::undefined, fmt::format("'{}' is undefined, so it cannot be called", name));
    if (f.kind() != K::callable) fail(TemplateErrc::type, fmt::format("'{}' is a {}, not a function", name, kind_name(f.kind())));
    return f.as_callable().call(args, *this);
  }

  Value unary(const Expr& e) {
    const Value v = eval(*e.items[0]);
    pos_ = e.pos;
    if (e.op == "not") return !v.truthy();
    if (v.kind() == K::integer) {
      if (e.op == "+") return v;
      if (v.as_int() == INT64_MIN) fail(TemplateErrc::type, "integer overflow");
      return -v.as_int();
    }
    if (v.kind() == K::floating) return e.op == "-" ? -v.as_number() : v.as_number();
    undefined_operand(v, e.op);
    fail(TemplateErrc::type, fmt::format("unary '{}' needs a number, got {}", e.op, kind_name(v.kind())));
  }

  void undefined_operand(const Value& v, const std::string& op) {
    if (v.is_undefined()) {
      fail(TemplateErrc::undefined, fmt::format("'{}' is undefined, so it cannot be used with '{}'", v.undefined_name(), op));
    }
  }

  Value binary(const Expr& e) {
    if (e.op == "and" || e.op == "or") {
      Value l = eval(*e.items[0]);
      if (l.truthy() == (e.op == "or")) return l;
      return eval(*e.items[1]);
    }
    const Value l = eval(*e.items[0]);
    const Value r = eval(*e.items[1]);
    pos_ = e.pos;
    if (e.op == "~") {
      std::string s = to_str(l);
      const std::string rs = to_str(r);
      check_size(s.size() + rs.size());
      return s + rs;
    }
    undefined_operand(l, e.op);
    undefined_operand(r, e.op);
    if (e.op == "+") {
      if (l.is_string() && r.is_string()) {
        check_size(l.as_string().size() + r.as_string().size());
        return l.as_string() + r.as_string();
      }
      if (l.kind() == K::array && r.kind() == K::array) {
        Array a = l.as_array();
        charge(a.size() + r.as_array().size());
        a.insert(a.end(), r.as_array().begin(), r.as_array().end());
        return a;
      }
    }
    if (e.op == "*" && (l.is_string() || r.is_string()) && (l.kind() == K::integer || r.kind() == K::integer)) {
      const std::string& s = l.is_string() ? l.as_string() : r.as_string();
      const std::int64_t n = std::max<std::int64_t>(0, l.is_string() ? r.as_int() : l.as_int());
      if (n > 0 && s.size() > 0) check_size(s.size() * static_cast<std::size_t>(std::min<std::int64_t>(n, INT32_MAX)));
      std::string out;
      for (std::int64_t i = 0; i < n; ++i) out += s;
      return out;
    }
    if (l.is_number() && r.is_number()) return arithmetic(e.op, l, r);
    fail(TemplateErrc::type, fmt::format("unsupported operand types for '{}': {} and {}", e.op, kind_name(l.kind()), kind_name(r.kind())));
  }

  Value arithmetic(const std::string& op, const Value& l, const Value& r) {
    if (l.kind() == K::integer && r.kind() == K::integer && op != "/") {
      const std::int64_t a = l.as_int(), b = r.as_int();
      std::int64_t out = 0;
      bool overflow = false;
      if (op == "+") overflow = __builtin_add_overflow(a, b, &out);
      if (op == "-") overflow = __builtin_sub_overflow(a, b, &out);
      if (op == "*") overflow = __builtin_mul_overflow(a, b, &out);
      if (op == "//" || op == "%") {
        if (b == 0) fail(TemplateErrc::type, "integer division or modulo by zero");
        if (a == INT64_MIN && b == -1) fail(TemplateErrc::type, "integer overflow");
        std::int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
          --q;
          m += b;
        }
        out = op == "//" ? q : m;
      }
      if (op == "**") {
        if (b < 0) return std::pow(static_cast<double>(a), static_cast<double>(b));
        out = 1;
        for (std::int64_t i = 0; i < b && !overflow; ++i) overflow = __builtin_mul_overflow(out, a, &out);
      }
      if (overflow) fail(TemplateErrc::type, fmt::format("integer overflow in '{}'", op));
      return out;
    }
    const double a = l.as_number(), b = r.as_number();
    if (op == "+") return a + b;
    if (op == "-") return a - b;
    if (op == "*") return a * b;
    if (op == "**") return std::pow(a, b);
    if (b == 0) fail(TemplateErrc::type, "float division by zero");
    if (op == "/") return a / b;
    if (op == "//") return std::floor(a / b);
    const double m = std::fmod(a, b);
    return m != 0 && ((m < 0) != (b < 0)) ? m + b : m;
  }

  bool contains(const Value& container, const Value& item) {
    switch (container.kind()) {
      case K::undefined: return false;
      case K::string:
        if (!item.is_string()) fail(TemplateErrc::type, fmt::format("'in <string>' needs a string on the left, got {}", kind_name(item.kind())));
        return container.as_string().find(item.as_string()) != std::string::npos;
      case K::array:
        for (const Value& e : container.as_array()) {
          if (equals(e, item)) return true;
        }
        return false;
      case K::object: return item.is_string() && container.as_object().find(item.as_string()) != nullptr;
      default: fail(TemplateErrc::type, fmt::format("'in' needs a string, list or dict on the right, got {}", kind_name(container.kind())));
    }
  }

  bool compare_one(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return equals(l, r);
    if (op == "!=") return !equals(l, r);
    if (op == "in") return contains(r, l);
    if (op == "not in") return !contains(r, l);
    const auto num = [](const Value& v) { return v.is_number() || v.kind() == K::boolean; };
    const auto as_num = [](const Value& v) { return v.kind() == K::boolean ? (v.as_bool() ? 1.0 : 0.0) : v.as_number(); };
    int c = 0;
    if (num(l) && num(r)) {
      if (l.kind() == K::integer && r.kind() == K::integer) {
        c = l.as_int() < r.as_int() ? -1 : l.as_int() > r.as_int() ? 1 : 0;
      } else {
        const double a = as_num(l), b = as_num(r);
        if (a != a || b != b) return false;
        c = a < b ? -1 : a > b ? 1 : 0;
      }
    } else if (l.is_string() && r.is_string()) {
      c = l.as_string().compare(r.as_string());
    } else {
      undefined_operand(l, op);
      undefined_operand(r, op);
      fail(TemplateErrc::type, fmt::format("'{}' is not supported between {} and {}", op, kind_name(l.kind()), kind_name(r.kind())));
    }
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
  }

  Value compare(const Expr& e) {
    Value l = eval(*e.items[0]);
    for (std::size_t i = 0; i < e.ops.size(); ++i) {
      Value r = eval(*e.items[i + 1]);
      pos_ = e.pos;
      if (!compare_one(e.ops[i], l, r)) return false;
      l = std::move(r);
    }
    return true;
  }

  const Limits& limits_;
  std::string out_;
  std::size_t steps_ = 0;
  int call_depth_ = 0;
  SourcePos pos_;
  std::vector<Scope> scopes_;
};

}  // namespace

std::string render_body(const Body& body, const Object& variables, const Limits& limits) {
  return Renderer(limits, variables).run(body);
}

}  // namespace crossgpu::model::jinja
