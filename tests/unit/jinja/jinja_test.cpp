// Unit tests of the Jinja renderer's pieces through ChatTemplate: whitespace control, Python
// printing, tojson, slicing, loops, macros, namespaces, the sandbox, Undefined, parse-time
// refusals with line numbers, and hostile inputs that must fail cleanly (depth, steps, size).
// Expected texts were checked against python3-jinja2 3.1.2 in transformers' environment.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "rs/engine/chat_template.h"

namespace rs::engine {
namespace {

struct Rendered {
  bool parsed = false;
  bool ok = false;
  std::string text;  // output, or the error message
};

Rendered run(const std::string& src, const std::string& messages = "[]",
             const std::string& kwargs = "", const std::string& tools = "") {
  Rendered r;
  auto t = ChatTemplate::parse(src, "<s>", "</s>");
  if (!t.ok()) {
    r.text = t.status().message();
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    return r;
  }
  r.parsed = true;
  ChatInput in;
  in.messages_json = messages;
  in.kwargs_json = kwargs;
  in.tools_json = tools;
  in.now_unix_ms = 1768435200000;
  auto out = (*t)->render(in);
  r.ok = out.ok();
  r.text = out.ok() ? *out : out.status().message();
  if (!out.ok()) {
    EXPECT_TRUE(out.status().code() == StatusCode::kInvalidArgument) << r.text;
  }
  return r;
}

std::string render_ok(const std::string& src, const std::string& messages = "[]",
                      const std::string& kwargs = "") {
  Rendered r = run(src, messages, kwargs);
  EXPECT_TRUE(r.ok) << src << "\n -> " << r.text;
  return r.text;
}

std::string render_error(const std::string& src, const std::string& messages = "[]") {
  Rendered r = run(src, messages);
  EXPECT_TRUE(r.parsed) << "parse failed: " << r.text;
  EXPECT_FALSE(r.ok) << src << " rendered: " << r.text;
  return r.text;
}

std::string parse_error(const std::string& src) {
  Rendered r = run(src);
  EXPECT_FALSE(r.parsed) << src << " parsed";
  return r.text;
}

TEST(JinjaWhitespace, TrimAndLstripBlocks) {
  EXPECT_EQ(render_ok("a\n  {% if true %}\n  b\n  {% endif %}\nc"), "a\n  b\nc");
  EXPECT_EQ(render_ok("a  {%- if true -%}  b  {%- endif %}"), "ab");
  EXPECT_EQ(render_ok("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render_ok("{{ 'a' }}\n{{- 'b' -}}\n  c"), "abc");
  EXPECT_EQ(render_ok("x {# note #}\ny\n  {#- gone #} z"), "x y z");
  EXPECT_EQ(render_ok("line\n"), "line");
  EXPECT_EQ(render_ok("line\n\n"), "line\n");
  EXPECT_EQ(render_ok("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
  EXPECT_EQ(render_ok("a\r\nb"), "a\nb");
}

TEST(JinjaPrinting, PythonReprAndStr) {
  EXPECT_EQ(
      render_ok(
          "{{ none }} {{ true }} {{ 1.0 }} {{ 0.1 }} {{ 1e-05 }} {{ 1e16 }} {{ 10/4 }} {{ 7//2 }}"),
      "None True 1.0 0.1 1e-05 1e+16 2.5 3");
  EXPECT_EQ(render_ok("{{ [1, 'a', none, true, {'k': \"it's\"}, (1,)] }}"),
            "[1, 'a', None, True, {'k': \"it's\"}, (1,)]");
  EXPECT_EQ(render_ok("{{ {'a': 'x\\ny'}|string }}"), "{'a': 'x\\ny'}");
  EXPECT_EQ(render_ok("{{ 'a' ~ 1 ~ none ~ 2.0 }}"), "a1None2.0");
  EXPECT_EQ(render_ok("{{ ('<b>'|safe) + '<i>' }}|{{ '<i>' ~ ('<b>'|safe) }}"),
            "<b>&lt;i&gt;|<i><b>");
}

TEST(JinjaFilters, ToJsonOptions) {
  const std::string v = "{% set v = {'b': [1, 2.5, none], 'a': 'é\"'} %}";
  EXPECT_EQ(render_ok(v + "{{ v|tojson }}"), "{\"b\": [1, 2.5, null], \"a\": \"é\\\"\"}");
  EXPECT_EQ(render_ok(v + "{{ v|tojson(indent=2) }}"),
            "{\n  \"b\": [\n    1,\n    2.5,\n    null\n  ],\n  \"a\": \"é\\\"\"\n}");
  EXPECT_EQ(render_ok(v + "{{ v|tojson(separators=(',', ':'), sort_keys=true) }}"),
            "{\"a\":\"é\\\"\",\"b\":[1,2.5,null]}");
  EXPECT_EQ(render_ok(v + "{{ v.a|tojson(ensure_ascii=true) }}|{{ v.a|tojson(2) }}"),
            "\"\\u00e9\\\"\"|\"\\u00e9\\\"\"");
  EXPECT_EQ(render_ok("{{ [] | tojson(indent=4) }}{{ {} | tojson }}"), "[]{}");
  EXPECT_NE(render_error("{{ [1]|map('string')|tojson }}").find("not JSON serializable"),
            std::string::npos);
}

TEST(JinjaFilters, Common) {
  EXPECT_EQ(
      render_ok(
          "{{ '  x  '|trim }}|{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true, true) }}"),
      "x|a\n  b\n\n  c|  a\n  b");
  EXPECT_EQ(
      render_ok(
          "{{ ['b','A','a']|sort }}{{ ['b','A','a']|unique|list }}{{ {'b':1,'A':2}|dictsort }}"),
      "['A', 'a', 'b']['b', 'A'][('A', 2), ('b', 1)]");
  EXPECT_EQ(
      render_ok("{{ [{'n':1},{'n':2}]|map(attribute='n')|join(',') }}|{{ [1,0,2]|select|list }}|"
                "{{ [{'a':1},{'a':0}]|rejectattr('a', 'equalto', 0)|list }}"),
      "1,2|[1, 2]|[{'a': 1}]");
  EXPECT_EQ(
      render_ok(
          "{{ '42.5'|int }} {{ 'x'|int }} {{ none|default('d') }} {{ x|default('d') }} "
          "{{ ''|default('d', true) }} {{ 2.5|round }} {{ [3,1]|max }} {{ 'hello world'|title }}"),
      "42 0 None d d 2.0 3 Hello World");
  EXPECT_EQ(render_ok("{{ 'Hello'|length }} {{ '日本語'|length }} {{ {'a': 1}|items|list }}"),
            "5 3 [('a', 1)]");
}

TEST(JinjaExpressions, SlicingAndOperators) {
  EXPECT_EQ(
      render_ok("{{ 'abcdef'[1:4] }} {{ 'abcdef'[::-2] }} {{ [1,2,3,4][-2:] }} {{ 'héllo'[1:3] }} "
                "{{ 'abc'[-1] }}"),
      "bcd fdb [3, 4] él c");
  EXPECT_EQ(render_ok("{{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ "
                      "1 < 2 < 3 }}"),
            "-4 2 1024 abab [1, 2] True");
  EXPECT_EQ(render_ok("{{ 0 or 'x' }} {{ 1 and [] }} {{ 'a' if false }}| {{ 'b' in 'abc' }} {{ 3 "
                      "not in [1] }}"),
            "x [] | True True");
  EXPECT_EQ(
      render_ok("{{ 'a,b,,c'.split(',') }} {{ '  a b '.split() }} {{ 'x'.upper() + 'Y'.lower() }}"),
      "['a', 'b', '', 'c'] ['a', 'b'] Xy");
  EXPECT_EQ(render_ok("{{ '{}-{}'.format(1, 'a') }} {{ 'abc'.startswith(('x', 'a')) }} {{ {'a': "
                      "1}.get('b', 2) }}"),
            "1-a True 2");
  EXPECT_NE(render_error("{{ 1 + 'a' }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(render_error("{{ 'a' + none }}").find("can only concatenate str"), std::string::npos);
  EXPECT_NE(render_error("{{ 9223372036854775807 + 1 }}").find("overflow"), std::string::npos);
}

TEST(JinjaLoops, LoopVariables) {
  EXPECT_EQ(
      render_ok(
          "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
          "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}"
          "{{ loop.cycle('x','y') }};{% endfor %}"),
      "103TrueFalse3bx;212FalseFalse3acy;321FalseTrue3bx;");
  EXPECT_EQ(render_ok("{% for x in [1,2,3,4] if x is even %}{{ x }}{% else %}none{% endfor %}"
                      "{% for x in [] %}{% else %}empty{% endfor %}"),
            "24empty");
  EXPECT_EQ(render_ok("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 "
                      "%}{% continue %}"
                      "{% endif %}{{ x }}{% endfor %}"),
            "02");
  EXPECT_EQ(render_ok("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}"),
            "a=1 b=2 ");
  EXPECT_EQ(render_ok("{% for n in [{'v': 1, 'c': [{'v': 2, 'c': []}]}] recursive %}{{ n.v }}"
                      "{% if n.c %}[{{ loop(n.c) }}]{% endif %}{% endfor %}"),
            "1[2]");
  EXPECT_EQ(render_ok("{% set x = 5 %}{% for i in [1] %}{% set x = i %}{% endfor %}{{ x }}"), "5");
}

TEST(JinjaMacros, DefaultsRecursionCaller) {
  EXPECT_EQ(render_ok("{% macro m(a, b='B', c=a ~ '!') %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ "
                      "m(1) }}|{{ m(1, c=2) }}"),
            "1B1!|1B2");
  EXPECT_EQ(
      render_ok(
          "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(4) }}"),
      "4321");
  EXPECT_EQ(render_ok("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}"),
            "<in>");
  EXPECT_EQ(render_ok("{% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, k=3) }}"),
            "(1, 2){'k': 3}");
  EXPECT_EQ(
      render_ok(
          "{% set ns = namespace() %}{% for i in [7] %}{% macro m(x) %}<{{ x }}>{% endmacro %}"
          "{% set ns.m = m %}{% endfor %}{{ ns.m(1) }}"),
      "<1>");  // a macro outliving the loop that defined it still works
  EXPECT_NE(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").find("takes not more than"),
            std::string::npos);
}

TEST(JinjaScopes, NamespaceAndSet) {
  EXPECT_EQ(
      render_ok("{% set ns = namespace(n=0, s='') %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}"
                "{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
      "6 123");
  EXPECT_EQ(
      render_ok("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c %}block {{ a }}{% endset %}{{ c }}"),
      "12block 1");
  EXPECT_EQ(render_ok("{% filter upper %}abc{% endfilter %}{% generation %}g{% endgeneration %}"),
            "ABCg");
  EXPECT_NE(render_error("{% set x = 1 %}{% set x.y = 2 %}").find("non-namespace"),
            std::string::npos);
}

TEST(JinjaSandbox, MutationsRefused) {
  EXPECT_EQ(render_error("{% set l = [] %}{% set _ = l.append(1) %}"),
            "access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(render_error("{% set d = {} %}{{ d.update({'a': 1}) }}"),
            "access to attribute 'update' of 'dict' object is unsafe.");
  EXPECT_EQ(render_ok("{% set l = [1, 2, 3] %}{{ l.pop(0) }}{{ l }}"),
            "1[2, 3]");  // allowed by Jinja 3.1.2
  EXPECT_EQ(render_ok("{{ x.__class__ }}|{{ 'a'.__class__ is defined }}", "[]", R"({"x": {}})"),
            "|False");
}

TEST(JinjaUndefined, Rules) {
  EXPECT_EQ(
      render_ok(
          "[{{ x }}]{% for i in x %}no{% endfor %}{{ x is defined }}{{ x|length }}{{ x == y }}"),
      "[]False0True");
  EXPECT_EQ(render_error("{{ x.y }}"), "'x' is undefined");
  EXPECT_EQ(render_error("{{ x + 1 }}"), "'x' is undefined");
  EXPECT_EQ(render_error("{{ x() }}"), "'x' is undefined");
  EXPECT_EQ(render_ok("{{ {}.missing }}|{{ none.attr }}|{{ [1][5] }}"), "||");
  EXPECT_EQ(render_error("{{ {}.missing.deeper }}"), "'dict object' has no attribute 'missing'");
  EXPECT_EQ(render_error("{{ raise_exception('custom failure') }}"), "custom failure");
}

TEST(JinjaParse, UnsupportedAndLineNumbers) {
  EXPECT_NE(parse_error("{% include 'x.jinja' %}").find("'include'"), std::string::npos);
  EXPECT_NE(parse_error("{% extends 'base' %}").find("'extends'"), std::string::npos);
  EXPECT_EQ(parse_error("a\nb\n{{ x|frobnicate }}"),
            "chat template: line 3: No filter named 'frobnicate'.");
  EXPECT_EQ(parse_error("{{ x is frob }}"), "chat template: line 1: No test named 'frob'.");
  EXPECT_EQ(parse_error("\n\n\n{% do x %}"),
            "chat template: line 4: Encountered unknown tag 'do'.");
  EXPECT_NE(parse_error("{% if x %}\n\nunclosed").find("line 3"), std::string::npos);
  EXPECT_NE(parse_error("{{ (1 }}").find("line 1"), std::string::npos);
  EXPECT_NE(parse_error("{% break %}").find("outside of a loop"), std::string::npos);
  // Jinja defers unknown filters inside an if: they fail only when run.
  EXPECT_EQ(render_ok("{% if false %}{{ x|from_json }}{% endif %}ok"), "ok");
  EXPECT_EQ(render_error("{% if true %}{{ x|from_json }}{% endif %}"),
            "No filter named 'from_json' found.");
}

TEST(JinjaGlobals, StrftimeRangeDict) {
  EXPECT_EQ(render_ok("{{ strftime_now('%Y-%m-%d %H:%M %A %B') }}"),
            "2026-01-15 00:00 Thursday January");
  EXPECT_EQ(render_ok("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ dict(a=1) }}"),
            "[0, 1, 2][1, 3, 5]{'a': 1}");
  EXPECT_NE(render_error("{{ range(1000000)|length }}").find("Range too big"), std::string::npos);
}

TEST(JinjaInputs, VariablesAndValidation) {
  EXPECT_EQ(render_ok("{{ bos_token }}{{ messages[0].content }}{{ tools }}{{ documents }}{{ "
                      "add_generation_prompt }}",
                      R"([{"role": "user", "content": "hi"}])"),
            "<s>hiNoneNoneTrue");
  EXPECT_EQ(render_ok("{{ bos_token }}{{ enable_thinking }}", "[]",
                      R"({"bos_token": "B", "enable_thinking": false})"),
            "BFalse");
  EXPECT_EQ(render_ok("{{ messages[0].n }} {{ messages[0].f }} {{ messages[0].s }}",
                      R"([{"n": 3, "f": 1.5, "s": "é"}])"),
            "3 1.5 é");
  EXPECT_FALSE(run("{{ 1 }}", R"({"not": "an array"})").ok);
  EXPECT_FALSE(run("{{ 1 }}", "[1,").ok);
  EXPECT_FALSE(run("{{ 1 }}", "[]", "[1]").ok);
}

TEST(JinjaHostile, FailsCleanly) {
  std::string deep_json(100000, '[');
  Rendered r = run("{{ messages }}", deep_json);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.text.find("deeper"), std::string::npos) << r.text;
  // steps: nested loops far beyond the budget
  EXPECT_NE(render_error(
                "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
                .find("steps"),
            std::string::npos);
  EXPECT_NE(
      render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("recursion"),
      std::string::npos);
  std::string negs(250, '-');  // each level of recursion nests 250 expressions deep
  Rendered deep = run("{% macro f(n) %}{{ " + negs + "f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_TRUE(deep.parsed && !deep.ok) << deep.text;
  EXPECT_NE(deep.text.find("too deep"), std::string::npos) << deep.text;
  EXPECT_NE(render_error("{{ 'a' * 1000000000 }}").find("too large"), std::string::npos);
  EXPECT_NE(render_error("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")
                .find("output exceeds"),
            std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace(v=[]) %}{% for i in range(5000) %}{% set ns.v = "
                         "[ns.v] %}{% endfor %}")
                .find("nested deeper"),
            std::string::npos);
  EXPECT_NE(
      render_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").find("recursion"),
      std::string::npos);
  std::string parens = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_NE(parse_error(parens).find("too deeply"), std::string::npos);
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  EXPECT_NE(parse_error(chain + " }}").find("too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 2000; ++i) ifs += "{% if true %}";
  EXPECT_NE(parse_error(ifs).find("too deeply"), std::string::npos);
  for (const char* junk :
       {"{{", "{%", "{#", "{{ 'unterminated }}", "{% for %}", "{{ a[ }}", "{% endfor %}",
        "\xff\xfe{{ '\xc3' }}", "{{ x.0.1 }}", "{% set %}", "{{ } }}"}) {
    Rendered j = run(junk);
    EXPECT_FALSE(j.parsed && !j.ok && j.text.empty()) << junk;
  }
}

TEST(JinjaThreads, ConcurrentRendersShareOneTemplate) {
  auto t = ChatTemplate::parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content "
      "}}{% endfor %}"
      "{{ ns.n }}",
      "<s>", "</s>");
  ASSERT_TRUE(t.ok());
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 200; ++i) {
        ChatInput in;
        in.messages_json = R"([{"content": "a"}, {"content": "b"}])";
        auto out = (*t)->render(in);
        if (!out.ok() || *out != "ab2") ++bad[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace rs::engine
