#include "model/jinja/parser.hpp"

#include <charconv>
#include <cstdlib>
#include <initializer_list>

#include "model/jinja/builtins.hpp"

namespace crossgpu::model::jinja {
namespace {

Node make_node(Node::Kind kind, SourcePos pos) {
  Node n;
  n.kind = kind;
  n.pos = pos;
  return n;
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const Limits& limits) : t_(tokens), limits_(limits) {}

  Body run() {
    Body body = parse_body({});
    if (peek().type != Tok::end) error(peek(), "unexpected '" + end_tag_ + "': no block is open");
    return body;
  }

 private:
  // Nesting guard: every recursive entry point holds one.
  struct Depth {
    Parser& p;
    explicit Depth(Parser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > p.limits_.max_nesting) {
        throw_template_error(TemplateErrc::limit, at.pos,
                             fmt::format("blocks and expressions nest deeper than {}", p.limits_.max_nesting));
      }
    }
    ~Depth() { --p.depth_; }
  };

  const Token& peek(std::size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = peek();
    if (i_ < t_.size() - 1) ++i_;
    return t;
  }
  bool is_op(std::string_view op, std::size_t ahead = 0) const {
    return peek(ahead).type == Tok::op && peek(ahead).value == op;
  }
  bool is_name(std::string_view name, std::size_t ahead = 0) const {
    return peek(ahead).type == Tok::name && peek(ahead).value == name;
  }
  [[noreturn]] static void error(const Token& at, const std::string& what) {
    throw_template_error(TemplateErrc::syntax, at.pos, what);
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::end: return "the end of the template";
      case Tok::text: return "text";
      case Tok::expr_close: return "'}}'";
      case Tok::stmt_close: return "'%}'";
      case Tok::expr_open: return "'{{'";
      case Tok::stmt_open: return "'{%'";
      case Tok::string: return "a string";
      default: return "'" + t.value + "'";
    }
  }
  void expect_op(std::string_view op) {
    if (!is_op(op)) error(peek(), "expected '" + std::string(op) + "', found " + describe(peek()));
    next();
  }
  std::string expect_name() {
    if (peek().type != Tok::name) error(peek(), "expected a name, found " + describe(peek()));
    return next().value;
  }
  void expect(Tok type, const char* what) {
    if (peek().type != type) error(peek(), std::string("expected ") + what + ", found " + describe(peek()));
    next();
  }

  // Statements until one of `ends` ({% endfor %}, {% else %}, ...); the end tag's name is left in
  // end_tag_ with the stream just after the name.
  Body parse_body(std::initializer_list<std::string_view> ends) {
    Body body;
    end_tag_.clear();
    while (true) {
      const Token& t = peek();
      if (t.type == Tok::end) return body;
      if (t.type == Tok::text) {
        body.push_back(make_node(Node::Kind::text, t.pos));
        body.back().text = t.value;
        next();
      } else if (t.type == Tok::expr_open) {
        next();
        Node n{.kind = Node::Kind::output, .pos = t.pos};
        n.expr = expression();
        expect(Tok::expr_close, "'}}'");
        body.push_back(std::move(n));
      } else if (t.type == Tok::stmt_open) {
        const Token& name = peek(1);
        if (name.type != Tok::name) error(name, "expected a tag name after '{%', found " + describe(name));
        for (std::string_view end : ends) {
          if (name.value == end) {
            next();
            next();
            end_tag_ = name.value;
            return body;
          }
        }
        if (name.value.starts_with("end") || name.value == "else" || name.value == "elif") {
          if (ends.size() == 0) error(name, "unexpected '" + name.value + "': no block is open");
          error(name, "unexpected '" + name.value + "' here");
        }
        next();
        body.push_back(statement());
      } else {
        error(t, "unexpected " + describe(t));
      }
    }
  }

  Body block_body(const Token& opener, std::initializer_list<std::string_view> ends) {
    Depth guard(*this, opener);
    Body body = parse_body(ends);
    if (end_tag_.empty()) error(opener, "unterminated '" + opener.value + "' block: the template ends before its end tag");
    return body;
  }

  Node statement() {
    const Token& tag = next();
    const std::string& k = tag.value;
    if (k == "if") return if_statement(tag);
    if (k == "for") return for_statement(tag);
    if (k == "set") return set_statement(tag);
    if (k == "macro") return macro_statement(tag);
    if (k == "break" || k == "continue") {
      expect(Tok::stmt_close, "'%}'");
      return make_node(k == "break" ? Node::Kind::loop_break : Node::Kind::loop_continue, tag.pos);
    }
    if (k == "generation") {
      expect(Tok::stmt_close, "'%}'");
      Node n{.kind = Node::Kind::scope, .pos = tag.pos};
      n.body = block_body(tag, {"endgeneration"});
      expect(Tok::stmt_close, "'%}'");
      return n;
    }
    error(tag, "unknown tag '" + k + "'");
  }

  Node if_statement(const Token& tag) {
    Node n{.kind = Node::Kind::if_chain, .pos = tag.pos};
    ExprPtr cond = expression();
    while (true) {
      expect(Tok::stmt_close, "'%}'");
      Body body = block_body(tag, {"elif", "else", "endif"});
      n.branches.emplace_back(std::move(cond), std::move(body));
      const std::string end = end_tag_;
      if (end == "endif") break;
      if (end == "else") {
        expect(Tok::stmt_close, "'%}'");
        Body else_body = block_body(tag, {"endif"});
        n.branches.emplace_back(nullptr, std::move(else_body));
        break;
      }
      cond = expression();
    }
    expect(Tok::stmt_close, "'%}'");
    return n;
  }

  std::vector<std::string> target_names() {
    std::vector<std::string> names{expect_name()};
    while (is_op(",")) {
      next();
      names.push_back(expect_name());
    }
    return names;
  }

  Node for_statement(const Token& tag) {
    Node n{.kind = Node::Kind::for_loop, .pos = tag.pos};
    if (is_op("(")) error(peek(), "parenthesised loop targets are not supported");
    n.targets = target_names();
    if (!is_name("in")) error(peek(), "expected 'in' in the for tag, found " + describe(peek()));
    next();
    n.expr = or_expr();  // a bare `if` after the iterable filters it, so no conditional here
    if (is_name("if")) {
      next();
      n.filter = expression();
    }
    if (is_name("recursive")) error(peek(), "recursive loops are not supported");
    expect(Tok::stmt_close, "'%}'");
    n.body = block_body(tag, {"else", "endfor"});
    if (end_tag_ == "else") {
      expect(Tok::stmt_close, "'%}'");
      n.else_body = block_body(tag, {"endfor"});
    }
    expect(Tok::stmt_close, "'%}'");
    return n;
  }

  Node set_statement(const Token& tag) {
    Node n{.kind = Node::Kind::set, .pos = tag.pos};
    n.targets = {expect_name()};
    if (is_op(".")) {
      next();
      n.attr = expect_name();
    } else {
      while (is_op(",")) {
        next();
        n.targets.push_back(expect_name());
      }
    }
    if (peek().type == Tok::stmt_close && n.attr.empty() && n.targets.size() == 1) {
      next();
      n.kind = Node::Kind::set_block;
      n.body = block_body(tag, {"endset"});
      expect(Tok::stmt_close, "'%}'");
      return n;
    }
    expect_op("=");
    n.expr = tuple_or_expression();
    expect(Tok::stmt_close, "'%}'");
    return n;
  }

  Node macro_statement(const Token& tag) {
    Node n{.kind = Node::Kind::macro, .pos = tag.pos};
    n.name = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      MacroParam p{expect_name(), nullptr};
      if (is_op("=")) {
        next();
        p.default_value = expression();
      }
      n.params.push_back(std::move(p));
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
    expect(Tok::stmt_close, "'%}'");
    n.body = block_body(tag, {"endmacro"});
    expect(Tok::stmt_close, "'%}'");
    return n;
  }

  ExprPtr make(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = at.pos;
    return e;
  }

  // `a, b` without brackets where Jinja2 allows an implicit tuple (set values).
  ExprPtr tuple_or_expression() {
    const Token& at = peek();
    ExprPtr first = expression();
    if (!is_op(",")) return first;
    ExprPtr t = make(Expr::Kind::tuple, at);
    t->items.push_back(std::move(first));
    while (is_op(",")) {
      next();
      t->items.push_back(expression());
    }
    return t;
  }

  ExprPtr expression() {
    const Token& at = peek();
    Depth guard(*this, at);
    ExprPtr e = or_expr();
    if (!is_name("if")) return e;
    next();
    ExprPtr c = make(Expr::Kind::cond, at);
    c->items.push_back(std::move(e));
    c->items.push_back(or_expr());
    if (is_name("else")) {
      next();
      c->items.push_back(expression());
    } else {
      c->items.push_back(nullptr);
    }
    return c;
  }

  ExprPtr binary(std::string op, ExprPtr l, ExprPtr r, const Token& at) {
    ExprPtr b = make(Expr::Kind::binary, at);
    b->op = std::move(op);
    b->items.push_back(std::move(l));
    b->items.push_back(std::move(r));
    return b;
  }

  ExprPtr or_expr() {
    ExprPtr l = and_expr();
    while (is_name("or")) {
      const Token& at = next();
      l = binary("or", std::move(l), and_expr(), at);
    }
    return l;
  }

  ExprPtr and_expr() {
    ExprPtr l = not_expr();
    while (is_name("and")) {
      const Token& at = next();
      l = binary("and", std::move(l), not_expr(), at);
    }
    return l;
  }

  ExprPtr not_expr() {
    if (!is_name("not")) return compare();
    const Token& at = next();
    Depth guard(*this, at);
    ExprPtr u = make(Expr::Kind::unary, at);
    u->op = "not";
    u->items.push_back(not_expr());
    return u;
  }

  ExprPtr compare() {
    const Token& at = peek();
    ExprPtr first = math1();
    ExprPtr c;
    while (true) {
      std::string op;
      if (peek().type == Tok::op && (peek().value == "==" || peek().value == "!=" || peek().value == "<" ||
                                     peek().value == ">" || peek().value == "<=" || peek().value == ">=")) {
        op = next().value;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "not in";
      } else {
        break;
      }
      if (!c) {
        c = make(Expr::Kind::compare, at);
        c->items.push_back(std::move(first));
      }
      c->ops.push_back(op);
      c->items.push_back(math1());
    }
    return c ? std::move(c) : std::move(first);
  }

  ExprPtr math1() {
    ExprPtr l = concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      l = binary(at.value, std::move(l), concat(), at);
    }
    return l;
  }

  ExprPtr concat() {
    ExprPtr l = math2();
    while (is_op("~")) {
      const Token& at = next();
      l = binary("~", std::move(l), math2(), at);
    }
    return l;
  }

  ExprPtr math2() {
    ExprPtr l = power();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      l = binary(at.value, std::move(l), power(), at);
    }
    return l;
  }

  ExprPtr power() {
    ExprPtr l = unary(true);
    while (is_op("**")) {
      const Token& at = next();
      l = binary("**", std::move(l), unary(true), at);
    }
    return l;
  }

  ExprPtr unary(bool with_filter) {
    const Token& at = peek();
    Depth guard(*this, at);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      next();
      e = make(Expr::Kind::unary, at);
      e->op = at.value;
      e->items.push_back(unary(false));
    } else {
      e = primary();
    }
    e = postfix(std::move(e));
    return with_filter ? filters_and_tests(std::move(e)) : std::move(e);
  }

  ExprPtr primary() {
    const Token& t = peek();
    switch (t.type) {
      case Tok::name: {
        next();
        if (t.value == "true" || t.value == "True") return literal(Value(true), t);
        if (t.value == "false" || t.value == "False") return literal(Value(false), t);
        if (t.value == "none" || t.value == "None") return literal(Value(None{}), t);
        ExprPtr n = make(Expr::Kind::name, t);
        n->name = t.value;
        return n;
      }
      case Tok::string: {
        std::string s = next().value;
        while (peek().type == Tok::string) s += next().value;  // adjacent literals join
        return literal(Value(std::move(s)), t);
      }
      case Tok::integer: {
        next();
        std::int64_t v = 0;
        const auto r = std::from_chars(t.value.data(), t.value.data() + t.value.size(), v);
        if (r.ec != std::errc{}) return literal(Value(std::strtod(t.value.c_str(), nullptr)), t);
        return literal(Value(v), t);
      }
      case Tok::floating: next(); return literal(Value(std::strtod(t.value.c_str(), nullptr)), t);
      case Tok::op:
        if (t.value == "(") return parenthesised();
        if (t.value == "[") return list_literal();
        if (t.value == "{") return dict_literal();
        break;
      default: break;
    }
    error(t, "expected a value, found " + describe(t));
  }

  static std::int64_t integer_of(const Token& t) {
    std::int64_t v = 0;
    const auto r = std::from_chars(t.value.data(), t.value.data() + t.value.size(), v);
    if (r.ec != std::errc{}) error(t, "integer '" + t.value + "' out of range");
    return v;
  }

  ExprPtr literal(Value v, const Token& at) {
    ExprPtr e = make(Expr::Kind::literal, at);
    e->literal = std::move(v);
    return e;
  }

  ExprPtr parenthesised() {
    const Token& at = next();
    if (is_op(")")) {
      next();
      return make(Expr::Kind::tuple, at);
    }
    ExprPtr first = expression();
    if (is_op(")")) {
      next();
      return first;
    }
    ExprPtr t = make(Expr::Kind::tuple, at);
    t->items.push_back(std::move(first));
    while (is_op(",")) {
      next();
      if (is_op(")")) break;
      t->items.push_back(expression());
    }
    expect_op(")");
    return t;
  }

  ExprPtr list_literal() {
    const Token& at = next();
    ExprPtr l = make(Expr::Kind::list, at);
    while (!is_op("]")) {
      l->items.push_back(expression());
      if (!is_op(",")) break;
      next();
    }
    expect_op("]");
    return l;
  }

  ExprPtr dict_literal() {
    const Token& at = next();
    ExprPtr d = make(Expr::Kind::dict, at);
    while (!is_op("}")) {
      ExprPtr k = expression();
      expect_op(":");
      d->pairs.emplace_back(std::move(k), expression());
      if (!is_op(",")) break;
      next();
    }
    expect_op("}");
    return d;
  }

  ExprPtr postfix(ExprPtr e) {
    while (true) {
      const Token& at = peek();
      if (is_op(".")) {
        next();
        ExprPtr a = make(Expr::Kind::attr, at);
        const Token& name = next();
        if (name.type == Tok::integer) {
          a->kind = Expr::Kind::item;  // x.0 is x[0]
          a->items.push_back(std::move(e));
          a->items.push_back(literal(Value(integer_of(name)), name));
          e = std::move(a);
          continue;
        }
        if (name.type != Tok::name) error(name, "expected an attribute name after '.', found " + describe(name));
        a->name = name.value;
        a->items.push_back(std::move(e));
        e = std::move(a);
      } else if (is_op("[")) {
        next();
        e = subscript(std::move(e), at);
      } else if (is_op("(")) {
        e = call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr subscript(ExprPtr target, const Token& at) {
    ExprPtr parts[3];
    int n = 0;
    bool is_slice = false;
    while (true) {
      if (!is_op(":") && !is_op("]")) parts[n] = expression();
      if (is_op(":") && n < 2) {
        next();
        is_slice = true;
        ++n;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!is_slice) {
      if (!parts[0]) error(at, "empty subscript '[]'");
      ExprPtr e = make(Expr::Kind::item, at);
      e->items.push_back(std::move(target));
      e->items.push_back(std::move(parts[0]));
      return e;
    }
    ExprPtr e = make(Expr::Kind::slice, at);
    e->items.push_back(std::move(target));
    for (ExprPtr& p : parts) e->items.push_back(std::move(p));
    return e;
  }

  // (args, name=value, ...) onto `e` (items[1..] and kwargs).
  void arguments(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().type == Tok::name && is_op("=", 1)) {
        std::string key = next().value;
        next();
        e.kwargs.emplace_back(std::move(key), expression());
      } else {
        if (!e.kwargs.empty()) error(peek(), "a positional argument after a keyword argument");
        e.items.push_back(expression());
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr call(ExprPtr callee) {
    ExprPtr c = make(Expr::Kind::call, peek());
    c->items.push_back(std::move(callee));
    arguments(*c);
    return c;
  }

  ExprPtr filters_and_tests(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        next();
        const Token& name = peek();
        ExprPtr f = make(Expr::Kind::filter, name);
        f->name = expect_name();
        if (!has_filter(f->name)) throw_template_error(TemplateErrc::type, name.pos, "no filter named '" + f->name + "'");
        f->items.push_back(std::move(e));
        if (is_op("(")) arguments(*f);
        e = std::move(f);
      } else if (is_name("is")) {
        next();
        e = test(std::move(e));
      } else if (is_op("(")) {
        e = call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr test(ExprPtr value) {
    ExprPtr t = make(Expr::Kind::test, peek());
    if (is_name("not")) {
      next();
      t->negated = true;
    }
    const Token& name = peek();
    // none, true and false are tests here, not literals
    t->name = expect_name();
    if (!has_test(t->name)) throw_template_error(TemplateErrc::type, name.pos, "no test named '" + t->name + "'");
    t->items.push_back(std::move(value));
    if (is_op("(")) {
      arguments(*t);
    } else if ((peek().type == Tok::name || peek().type == Tok::string || peek().type == Tok::integer ||
                peek().type == Tok::floating || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") && !is_name("in") &&
               !is_name("not") && !is_name("is")) {
      t->items.push_back(postfix(primary()));
    }
    return t;
  }

  const std::vector<Token>& t_;
  const Limits& limits_;
  std::size_t i_ = 0;
  int depth_ = 0;
  std::string end_tag_;
};

}  // namespace

Body parse(const std::vector<Token>& tokens, const Limits& limits) { return Parser(tokens, limits).run(); }

}  // namespace crossgpu::model::jinja
