// Records llama.cpp's greedy tokens (through node-llama-cpp, CPU backend) on the random-weight
// model of every architecture case (tests/support/arch_cases.hpp), into
// expected_llama_cpp.json, which test_llm_arch compares crossgpu against. `make
// check-llama-cpp-arch` runs it; it is not part of make test (it needs node-llama-cpp's prebuilt
// binaries). llama.cpp loads each file with its own rules (tensor names and shapes per
// architecture): a file it refuses is recorded with its error.
//
//   node record_llama_cpp.mjs TOOL NPM_BENCH_DIR WORK_DIR OUT.json
// TOOL is crossgpu-arch-models: it writes the models and WORK_DIR/cases.json.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";

const [tool, npmBench, workDir, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error("usage: node record_llama_cpp.mjs TOOL NPM_BENCH_DIR WORK_DIR OUT.json");
  process.exit(2);
}
execFileSync(tool, [workDir], { stdio: "inherit" });
const manifest = JSON.parse(fs.readFileSync(path.join(workDir, "cases.json"), "utf8"));
const entry = path.resolve(npmBench, "node_modules/node-llama-cpp/dist/index.js");
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);
const version = JSON.parse(fs.readFileSync(path.resolve(npmBench, "node_modules/node-llama-cpp/package.json"), "utf8")).version;
// Its default thread count oversubscribes a small machine ~30x (DESIGN.md): one per core.
const threads = os.cpus().length;
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const out = { oracle: "node-llama-cpp " + version + " (llama.cpp " + llama.llamaCppRelease.release + ")",
              prompt: manifest.prompt, new_tokens: manifest.new_tokens, cases: {} };
for (const c of manifest.cases) {
  try {
    const model = await llama.loadModel({ modelPath: c.file, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: 64, batchSize: 64, threads: { ideal: threads, min: threads } });
    const sequence = context.getSequence();
    const it = sequence.evaluate(manifest.prompt, { temperature: 0 });
    const tokens = [];
    for (let i = 0; i < manifest.new_tokens; ++i) tokens.push((await it.next()).value);
    await it.return();
    await context.dispose();
    await model.dispose();
    out.cases[c.label] = { tokens };
    console.log(c.label + ": " + tokens.join(" "));
  } catch (e) {
    out.cases[c.label] = { error: String(e.message || e) };
    console.log(c.label + ": llama.cpp refused it: " + (e.message || e));
  }
}
await llama.dispose();
fs.writeFileSync(outFile, JSON.stringify(out, null, 1) + "\n");
console.log("wrote " + outFile);
