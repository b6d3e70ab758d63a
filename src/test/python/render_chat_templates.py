#!/usr/bin/env python3
"""Renders the golden outputs of Tailor's chat-template tests with Python Jinja2, set up exactly as
Hugging Face transformers renders chat templates (transformers.utils.chat_template_utils:
_compile_jinja_template and render_jinja_template), without needing transformers itself.

Reads  src/test/resources/chat-templates/cases.json
Writes src/test/resources/chat-templates/expected/<case>.txt        the exact rendered bytes (UTF-8)
    or src/test/resources/chat-templates/expected/<case>.error.txt  for a case marked "raises": the
                                                                     message of its raise_exception

Run from anywhere: python3 src/test/python/render_chat_templates.py   (needs jinja2 >= 3.1)
Deterministic: strftime_now uses the fixed date "now" of cases.json instead of the wall clock.
"""
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[3]
RESOURCE_DIRS = [ROOT / "src/test/resources", ROOT / "src/main/resources"]
CASES_DIR = ROOT / "src/test/resources/chat-templates"


class AssistantTracker(Extension):
    """The {% generation %} tag of transformers; it renders its body unchanged (index tracking is not needed here)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def compile_template(source, now):
    """transformers' _compile_jinja_template, with a fixed clock."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def resource(name):
    for base in RESOURCE_DIRS:
        path = base / name
        if path.exists():
            return path
    sys.exit(f"{name}: not found under {[str(d) for d in RESOURCE_DIRS]}")


def load_json(name):
    return json.loads((CASES_DIR / name).read_text(encoding="utf-8")) if name else None


def render(case, templates, now):
    template = templates[case["template"]]
    compiled = compile_template(resource(template["resource"]).read_text(encoding="utf-8"), now)
    # transformers: render(messages=..., tools=..., documents=..., add_generation_prompt=...,
    #                      **special_tokens_map, **kwargs); special_tokens_map leaves out unset tokens
    special_tokens = {k: v for k, v in template["special_tokens"].items() if v is not None}
    return compiled.render(
        messages=load_json(case["messages"]),
        tools=load_json(case.get("tools")),
        documents=load_json(case.get("documents")),
        add_generation_prompt=case["add_generation_prompt"],
        **special_tokens,
        **case.get("variables", {}),
    )


def main():
    manifest = json.loads((CASES_DIR / "cases.json").read_text(encoding="utf-8"))
    now = datetime.fromisoformat(manifest["now"])
    out_dir = CASES_DIR / "expected"
    out_dir.mkdir(exist_ok=True)
    for old in out_dir.glob("*.txt"):
        old.unlink()
    for case in manifest["cases"]:
        if case.get("raises"):
            try:
                render(case, manifest["templates"], now)
                sys.exit(f"{case['name']}: expected raise_exception, but the template rendered")
            except jinja2.exceptions.TemplateError as e:
                text, suffix = e.message, ".error.txt"
        else:
            text, suffix = render(case, manifest["templates"], now), ".txt"
        (out_dir / (case["name"] + suffix)).write_bytes(text.encode("utf-8"))
        print(f"{case['name']}{suffix}")


if __name__ == "__main__":
    main()
