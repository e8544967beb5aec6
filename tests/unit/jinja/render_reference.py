#!/usr/bin/python3
"""Reference renderings for chat_differential_test.cpp.

Imports shared/tools/render_chat_templates.py (found at
$RINGSERVE_FIXTURES/../tools/render_chat_templates.py) as a module and renders, with its
render() function (transformers' apply_chat_template environment, python3-jinja2), the cases
read from stdin:

    {"templates": {"<name>": "<jinja source>", ...},
     "cases": [{"template": "<name>", "messages": [...], "tools": [...] | null,
                "add_generation_prompt": bool, "template_kwargs": {...}}, ...]}

and writes to stdout:

    {"jinja2": "<version>", "results": [{"output": str | null, "error": str | null,
                                         "error_type": str | null}, ...]}

Run with PYTHONHASHSEED=0 (the C++ test does). Exit status 3: the shared script or jinja2
could not be imported.
"""

import importlib.util
import json
import os
import sys


def load_shared():
    fixtures = os.environ.get("RINGSERVE_FIXTURES", "")
    path = os.path.join(fixtures, "..", "tools", "render_chat_templates.py")
    spec = importlib.util.spec_from_file_location("render_chat_templates", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    try:
        shared = load_shared()
        import jinja2
    except Exception as exc:  # noqa: BLE001 - reported to the test as "unavailable"
        sys.stderr.write("cannot load the reference renderer: %s\n" % exc)
        return 3

    # render() compiles the template on every call; compiling each distinct source once
    # gives the same results (the compiled template keeps no state between renders).
    compile_uncached = shared.compile_template
    compiled = {}

    def compile_cached(source):
        if source not in compiled:
            compiled[source] = compile_uncached(source)
        return compiled[source]

    shared.compile_template = compile_cached

    request = json.load(sys.stdin)
    templates = request["templates"]
    results = []
    for case in request["cases"]:
        output, error, error_type = shared.render(
            templates[case["template"]],
            case["messages"],
            case.get("tools"),
            case["add_generation_prompt"],
            case.get("template_kwargs") or None,
        )
        results.append({"output": output, "error": error, "error_type": error_type})
    json.dump({"jinja2": jinja2.__version__, "results": results}, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
