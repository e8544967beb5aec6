#!/usr/bin/env python3
# Usage: python3 deploy/grafana/check_dashboard.py [DASHBOARD.json [METRICS.md]]  (from the repo root)
"""Lists the metric names the dashboard's queries use; fails if one is not in docs/METRICS.md."""
import json
import re
import sys

dash_path = sys.argv[1] if len(sys.argv) > 1 else "deploy/grafana/ringserve.json"
doc_path = sys.argv[2] if len(sys.argv) > 2 else "docs/METRICS.md"

doc = open(doc_path).read()
documented = set(re.findall(r"`([a-z_:][a-z0-9_:]*)[`{]", doc)) | {"up"}
histograms = set(re.findall(r"\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*histogram\s*\|", doc))
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}


def exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs(item)


def metric_names(expr):
    names = set(re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", expr))
    expr = re.sub(r"label_values\([^)]*\)", " ", expr)
    expr = re.sub(r'"(\\.|[^"\\])*"', " ", expr)  # strings
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)  # matchers, ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", expr)  # numbers
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?!\s*\()", expr):
        name = m.group(0)
        if name.lower() not in KEYWORDS and not re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(",
                                                        expr[m.start():]):
            names.add(name)
    return names


used = set()
for e in exprs(json.load(open(dash_path))):
    used |= metric_names(e)
missing = []
for name in sorted(used):
    ok = name in documented or re.sub(r"_(bucket|sum|count)$", "", name) in histograms
    print(("ok       " if ok else "MISSING  ") + name)
    if not ok:
        missing.append(name)
print(f"{len(used)} metric names, {len(missing)} not in {doc_path}")
sys.exit(1 if missing else 0)
