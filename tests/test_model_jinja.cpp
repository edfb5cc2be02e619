// The Jinja engine (src/model/jinja) on its own: the syntax and semantics the chat templates use,
// each compared with what Jinja2 renders (trim_blocks and lstrip_blocks on, as transformers sets
// them), and hostile templates, each ending in a TemplateError of the right kind and position.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "model/jinja/template.hpp"

namespace crossgpu::model::jinja {
namespace {

using json = nlohmann::ordered_json;

std::string render(std::string_view source, const json& vars = json::object(), const Limits& limits = {}) {
  return Template(source, limits).render(vars);
}

TemplateError error_of(std::string_view source, const json& vars = json::object(), const Limits& limits = {}) {
  try {
    render(source, vars, limits);
  } catch (const TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "no error from: " << source;
  return TemplateError(TemplateErrc::syntax, {}, "none");
}

TEST(Jinja, TextExpressionsAndComments) {
  EXPECT_EQ(render("Hello {{ name }}!{# gone #}", {{"name", "world"}}), "Hello world!");
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }}"),
            "7 9 3 -4 1 2 1024");
  EXPECT_EQ(render("{{ 7 / 2 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 1e16 }} {{ 3 / 1 }}"),
            "3.5 1.0 0.30000000000000004 1e-05 1e+16 3.0");
  EXPECT_EQ(render("{{ none }} {{ true }} {{ False }} {{ [1, 'a', none] }} {{ {'k': \"it's\"} }}"),
            "None True False [1, 'a', None] {'k': \"it's\"}");
  EXPECT_EQ(render("{{ undefined_name }}|{{ 'a' ~ 1 ~ none }}|{{ 'x' 'y' }}"), "|a1None|xy");
  EXPECT_EQ(render(R"({{ 'tab\there\nline \'q\' \x41\u00e9' }})"), "tab\there\nline 'q' A\xC3\xA9");
}

TEST(Jinja, WhitespaceControlAsTransformersSetsIt) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before one.
  EXPECT_EQ(render("{% if true %}\n    yes\n  {% endif %}\nend"), "    yes\nend");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("a\n  {%- if true -%}\n  b  \n{%- endif %}"), "ab");
  EXPECT_EQ(render("x {# c #}\ny"), "x y");
  // {{ }} keeps its indentation and the newline after it.
  EXPECT_EQ(render("  {{ 'v' }}\nz"), "  v\nz");
  // One trailing newline of the template is dropped, as Jinja2 does by default.
  EXPECT_EQ(render("line\n"), "line");
  EXPECT_EQ(render("line\n\n"), "line\n");
  EXPECT_EQ(render("{% raw %}{{ not run }}{% endraw %}"), "{{ not run }}");
}

TEST(Jinja, LoopsAndTheirLoopVariable) {
  const json vars = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index0 }}{{ loop.index }}{{ x }}{{ loop.revindex0 }}"
                   "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{{ loop.length }};{% endfor %}",
                   vars),
            "01a2F3;12b13;23c0L3;");
  EXPECT_EQ(render("{% for x in xs if x != 'b' %}{{ loop.index }}{{ x }}{% endfor %}", vars), "1a2c");
  EXPECT_EQ(render("{% for x in [] %}no{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in xs %}{% if x == 'b' %}{% continue %}{% endif %}{% if x == 'c' %}{% break %}"
                   "{% endif %}{{ x }}{% endfor %}",
                   vars),
            "a");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", {{"d", {{"b", 1}, {"a", 2}}}}),
            "b=1,a=2,");
  EXPECT_EQ(render("{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for k in {'x': 1} %}{{ k }}{% endfor %}"), "[h][é]x");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.cycle('o', 'e') }}{% endfor %}", vars), "oeo");
  EXPECT_EQ(render("{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(5, 1, -2) %}{{ i }}{% endfor %}"),
            "01253");
}

TEST(Jinja, ConditionsSetNamespacesAndScopes) {
  EXPECT_EQ(render("{% if x > 2 %}big{% elif x > 1 %}mid{% else %}small{% endif %}", {{"x", 2}}), "mid");
  // A variable set inside a loop is gone after it; a namespace carries values out.
  EXPECT_EQ(render("{% set n = 0 %}{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set n = n + i %}"
                   "{% set ns.n = ns.n + i %}{% endfor %}{{ n }} {{ ns.n }}"),
            "0 6");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set block %}x{{ 1 }}{% endset %}[{{ block }}]"), "[x1]");
  EXPECT_EQ(render("{{ 'yes' if flag else 'no' }}{{ 'only' if false }}", {{"flag", true}}), "yes");
  EXPECT_EQ(render("{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ not none }} {{ 1 < 2 < 3 }} {{ 1 == 1.0 }}"), "b b True True True");
  EXPECT_EQ(render("{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }}"),
            "True True True True");
}

TEST(Jinja, Macros) {
  EXPECT_EQ(render("{% macro tag(name, open=true) %}<{{ '' if open else '/' }}{{ name }}>{% endmacro %}"
                   "{{ tag('b') }}x{{ tag('b', open=false) }}"),
            "<b>x</b>");
}

TEST(Jinja, FiltersTestsAndMethods) {
  const json vars = {{"msgs", {{{"role", "system"}, {"content", " S "}}, {{"role", "user"}, {"content", "U"}}}},
                     {"n", nullptr}};
  EXPECT_EQ(render("[{{ '  a b \n' | trim }}] {{ msgs | length }} {{ 'ab' | upper }} {{ 'AB' | lower }}"
                   " {{ x | default('d') }} {{ '' | default('e', true) }}",
                   vars),
            "[a b] 2 AB ab d e");
  EXPECT_EQ(render("{{ [1, 2, 3] | join('-') }} {{ [1, 2] | first }} {{ [1, 2] | last }} {{ 5 | string ~ 'x' }}"
                   " {{ '42' | int + 1 }} {{ 'a-b-c' | replace('-', '+') }} {{ [3, 1, 2] | sort | list }}"),
            "1-2-3 1 2 5x 43 a+b+c [1, 2, 3]");
  EXPECT_EQ(render("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}"
                   "{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }}",
                   vars),
            "U1");
  EXPECT_EQ(render("{{ {'a': [1, 2.5, none, true], 'b': \"q\\\"\\n\"} | tojson }}"),
            R"({"a": [1, 2.5, null, true], "b": "q\"\n"})");
  EXPECT_EQ(render("{{ {'a': 1} | tojson(indent=2) }}"), "{\n  \"a\": 1\n}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'a': 2} | dictsort }}"),
            "[['b', 1], ['a', 2]] [['a', 2], ['b', 1]]");
  EXPECT_EQ(render("{{ x is defined }}{{ n is none }}{{ 's' is string }}{{ msgs[0] is mapping }}{{ msgs is iterable }}"
                   "{{ 4 is divisibleby 2 }}{{ n is not none }}{{ 3 is odd }}{{ false is false }}",
                   vars),
            "FalseTrueTrueTrueTrueTrueFalseTrueTrue");
  EXPECT_EQ(render("{{ 'abc'[::-1] }} {{ [1, 2, 3][1:] }} {{ [1, 2, 3][-1] }} {{ 'héllo'[1:3] }} {{ [1,2,3,4][::2] }}"),
            "cba [2, 3] 3 él [1, 3]");
  EXPECT_EQ(render("{{ 'a</think>b'.split('</think>')[-1] }} {{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ '  y  '.strip() }}"
                   "|{{ 'xxyxx'.rstrip('x') }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }}"
                   " {{ 'a b  c'.split() }} {{ 'Hi'.upper() }} {{ ', '.join(['a', 'b']) }}"),
            "b x\n|y|xxy True True ['a', 'b', 'c'] HI a, b");
  EXPECT_EQ(render("{{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys() | list }} {{ d['a'] }} {{ d.a }}",
                   {{"d", {{"a", 1}}}}),
            "1 0 ['a'] 1 1");
}

TEST(Jinja, RaiseExceptionIsATypedErrorWithItsMessage) {
  const TemplateError e = error_of("line one\n{{ raise_exception('Roles must alternate') }}");
  EXPECT_EQ(e.kind(), TemplateErrc::raised);
  EXPECT_EQ(e.detail(), "Roles must alternate");
  EXPECT_EQ(e.pos().line, 2);
  EXPECT_EQ(e.code(), Errc::invalid_argument);
}

// Hostile templates: each stops with a TemplateError that names the fault and where it is.
TEST(JinjaHostile, UnterminatedTags) {
  const std::pair<const char*, const char*> cases[] = {
      {"ok {{ x", "'{{' without '}}'"},
      {"ok {% if x", "'{%' without '%}'"},
      {"ok {# never closed", "'{#' without '#}'"},
      {"{{ 'open string }}", "unterminated string"},
      {"{% for x in xs %}body", "unterminated 'for' block"},
      {"{% if x %}a{% else %}b", "unterminated 'if' block"},
      {"{% endfor %}", "no block is open"},
      {"{% if x %}{% endfor %}", "unexpected 'endfor'"},
      {"{{ (1 + }}", "unbalanced '}'"},
      {"{{ 1 + }}", "expected a value"},
      {"{% frobnicate %}", "unknown tag 'frobnicate'"},
      {"{{ ) }}", "unbalanced ')'"},
      {"{% raw %}no end", "unterminated raw block"},
      {"{% raw %}{% endraw", "unterminated raw block"},  // found by fuzz_chat_template: read past the end
  };
  for (const auto& [source, what] : cases) {
    const TemplateError e = error_of(source);
    EXPECT_EQ(e.kind(), TemplateErrc::syntax) << source;
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << source << " gave: " << e.what();
    EXPECT_GE(e.pos().line, 1) << source;
  }
  const TemplateError e = error_of("a\nb\n  {% for x in y %}\n");
  EXPECT_EQ(e.pos().line, 3);
  EXPECT_EQ(e.pos().column, 6);  // the tag's name
  EXPECT_NE(std::string(e.what()).find("line 3, column 6: syntax error: unterminated 'for' block"), std::string::npos)
      << e.what();
}

TEST(JinjaHostile, UnknownFiltersTestsAndFunctions) {
  TemplateError e = error_of("\n  {{ x | nosuchfilter }}");
  EXPECT_EQ(e.kind(), TemplateErrc::type);
  EXPECT_EQ(e.pos().line, 2);
  EXPECT_NE(std::string(e.what()).find("no filter named 'nosuchfilter'"), std::string::npos);
  EXPECT_EQ(error_of("{{ x is nosuchtest }}").kind(), TemplateErrc::type);
  e = error_of("{{ nosuchfunction() }}");
  EXPECT_EQ(e.kind(), TemplateErrc::undefined);
  EXPECT_NE(std::string(e.what()).find("'nosuchfunction' is undefined"), std::string::npos);
  EXPECT_EQ(error_of("{{ missing.attr }}").kind(), TemplateErrc::undefined);
  EXPECT_EQ(error_of("{{ missing + 'x' }}").kind(), TemplateErrc::undefined);
  EXPECT_EQ(error_of("{{ 'a' + 1 }}").kind(), TemplateErrc::type);
  EXPECT_EQ(error_of("{{ 1 // 0 }}").kind(), TemplateErrc::type);
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}").kind(), TemplateErrc::type);
  EXPECT_EQ(error_of("{% set x.y = 1 %}").kind(), TemplateErrc::type);
  EXPECT_EQ(error_of("{{ 'x'.nosuchmethod() }}").kind(), TemplateErrc::undefined);  // as in Jinja2
}

TEST(JinjaHostile, DeepNestingIsBoundedWithoutExhaustingTheStack) {
  const std::string parens = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_EQ(error_of(parens).kind(), TemplateErrc::limit);
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  EXPECT_EQ(error_of(blocks).kind(), TemplateErrc::limit);
  std::string nots = "{{ " ;
  for (int i = 0; i < 100000; ++i) nots += "not ";
  EXPECT_EQ(error_of(nots + "x }}").kind(), TemplateErrc::limit);
  EXPECT_EQ(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").kind(), TemplateErrc::limit);
  // Within the limit, nesting works.
  EXPECT_EQ(render("{{ ((((((1)))))) }}"), "1");
}

TEST(JinjaHostile, HugeLoopsAndHugeOutputStopAtTheLimits) {
  // The step limit, at its default; in sanitizer builds (-O0, ~50x slower per step: 115 s for
  // these two loops) at 1/50 of it, which checks the same code.
  Limits steps;
#if defined(__SANITIZE_ADDRESS__)
  steps.max_steps /= 50;
#endif
  TemplateError e = error_of("{% for i in range(1000000000) %}{% endfor %}", json::object(), steps);
  EXPECT_EQ(e.kind(), TemplateErrc::limit);
  EXPECT_EQ(e.code(), Errc::out_of_range);
  EXPECT_EQ(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                     json::object(), steps)
                .kind(),
            TemplateErrc::limit);
  Limits small;
  small.max_output_bytes = 1 << 20;
  EXPECT_EQ(error_of("{{ 'x' * 1000000000 }}", json::object(), small).kind(), TemplateErrc::limit);
  EXPECT_EQ(error_of("{% for i in range(100000) %}0123456789abcdef{% endfor %}", json::object(), small).kind(),
            TemplateErrc::limit);
  // Doubling a string through a namespace: stopped at the size limit, not by running out of memory.
  EXPECT_EQ(error_of("{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                     json::object(), small)
                .kind(),
            TemplateErrc::limit);
  EXPECT_EQ(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")
                .kind(),
            TemplateErrc::limit);
  Limits tiny_source;
  tiny_source.max_source_bytes = 16;
  EXPECT_EQ(error_of("{{ 'this source is too long' }}", json::object(), tiny_source).kind(), TemplateErrc::limit);
}

TEST(JinjaHostile, ArbitraryBytesNeverCrash) {
  // Stray bytes, NULs and invalid UTF-8 in text and in strings render or fail cleanly.
  EXPECT_EQ(render(std::string("a\0b\xFF{{ '\xC3' }}", 13)), std::string("a\0b\xFF\xC3", 5));
  EXPECT_EQ(error_of("{{ \x01 }}").kind(), TemplateErrc::syntax);
  EXPECT_EQ(render("{{ '\xF0\x9F'[0] }}|{{ '\xF0\x9F' | length }}"), "\xF0\x9F|1");
}

}  // namespace
}  // namespace crossgpu::model::jinja
