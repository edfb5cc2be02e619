// Records llama.cpp's greedy tokens (through node-llama-cpp, CPU backend) on the random-weight
// model of every architecture case (tests/support/arch_cases.hpp), into
// expected_llama_cpp.json, which test_llm_arch compares crossgpu against. `make
// check-llama-cpp-arch` runs it; it is not part of make test (it needs node-llama-cpp's prebuilt
// binaries). llama.cpp loads each file with its own rules (tensor names and shapes per
// architecture): a file it refuses is recorded with its error.
//
//   node record_llama_cpp.mjs TOOL NPM_BENCH_DIR WORK_DIR OUT.json [--matrix | --real-vocab NPM_TEST_DIR]
// TOOL is crossgpu-arch-models: it writes the models and WORK_DIR/cases.json. With --matrix it
// writes every architecture x weight type (support/arch_type_matrix.hpp), and each step also
// records llama.cpp's log-probabilities of its top tokens (softmax of the raw logits: the greedy
// sampler leaves them as they are), which test_llm_arch_types compares crossgpu's with.
// With --real-vocab it writes the models that carry a real vocabulary
// (support/real_vocab_models.hpp): llama.cpp tokenizes each case's rendered chat template itself
// (special tokens parsed, nothing added: the BOS is the template's text), records those ids as the
// prompt, and the tokens and log-probabilities that follow them, for test_llm_arch_real_vocab.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";

const [tool, npmBench, workDir, outFile, flag, npmTest] = process.argv.slice(2);
if (!outFile || (flag !== undefined && flag !== "--matrix" && !(flag === "--real-vocab" && npmTest))) {
  console.error("usage: node record_llama_cpp.mjs TOOL NPM_BENCH_DIR WORK_DIR OUT.json [--matrix | --real-vocab NPM_TEST_DIR]");
  process.exit(2);
}
const realVocab = flag === "--real-vocab";
const matrix = flag === "--matrix" || realVocab;  // both record log-probabilities
const kTop = 8;  // log-probabilities recorded per step: llama.cpp's 8 most likely tokens
execFileSync(tool, realVocab ? ["--real-vocab", npmTest, workDir] : flag === "--matrix" ? ["--matrix", workDir] : [workDir],
             { stdio: "inherit" });
const manifest = JSON.parse(fs.readFileSync(path.join(workDir, "cases.json"), "utf8"));
const entry = path.resolve(npmBench, "node_modules/node-llama-cpp/dist/index.js");
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);
const version = JSON.parse(fs.readFileSync(path.resolve(npmBench, "node_modules/node-llama-cpp/package.json"), "utf8")).version;
// Its default thread count oversubscribes a small machine ~30x (DESIGN.md): one per core.
const threads = os.cpus().length;
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const out = { oracle: "node-llama-cpp " + version + " (llama.cpp " + llama.llamaCppRelease.release + ")",
              prompt: manifest.prompt, new_tokens: manifest.new_tokens, cases: {} };
if (realVocab) delete out.prompt;  // each case has its own
for (const c of manifest.cases) {
  try {
    const model = await llama.loadModel({ modelPath: c.file, gpuLayers: 0 });
    // The matrix runs llama.cpp with an f32 KV cache and without flash attention (its defaults are
    // an f16 cache and, on the CPU, flash attention, which rounds to f16: 4.6e-3 nats of log-probability
    // on llama_f32, 1e-6 without), as crossgpu computes attention, so that the log-probabilities
    // differ only by how each side computes with the weights.
    const kv = matrix ? { experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false } : {};
    const contextSize = manifest.context ?? 64;
    const context = await model.createContext({ contextSize, batchSize: contextSize, threads: { ideal: threads, min: threads }, ...kv });
    const sequence = context.getSequence();
    // llama_tokenize(add_special = false, parse_special = true) of the whole rendering.
    const prompt = realVocab ? Array.from(model.tokenize(c.rendered, true)) : manifest.prompt;
    if (realVocab && JSON.stringify(prompt) !== JSON.stringify(c.prompt)) {
      console.log(c.label + ": llama.cpp's prompt ids differ from crossgpu's (the test will fail)");
    }
    const it = sequence.evaluateWithMetadata(prompt, { probabilities: matrix }, { temperature: 0, yieldEogToken: true });
    const tokens = [], top = [];
    for (let i = 0; i < manifest.new_tokens; ++i) {
      const step = (await it.next()).value;
      tokens.push(step.token);
      if (matrix) {
        top.push([...step.probabilities.entries()].slice(0, kTop).map(([id, p]) => [id, Number(Math.log(p).toFixed(6))]));
      }
    }
    await it.return();
    await context.dispose();
    await model.dispose();
    out.cases[c.label] = realVocab ? { rendered: c.rendered, prompt, tokens, top } : matrix ? { tokens, top } : { tokens };
    console.log(c.label + ": " + tokens.join(" "));
  } catch (e) {
    out.cases[c.label] = { error: String(e.message || e) };
    console.log(c.label + ": llama.cpp refused it: " + (e.message || e));
  }
}
// The matrix and real-vocabulary files keep a case per line (they are long); the arch file stays
// as it was recorded.
const text = matrix ? "{\"oracle\": " + JSON.stringify(out.oracle) +
                        (realVocab ? "" : ",\n \"prompt\": " + JSON.stringify(out.prompt)) +
                        ",\n \"new_tokens\": " + out.new_tokens + ",\n \"cases\": {\n" +
                        Object.entries(out.cases).map(([k, v]) => "  " + JSON.stringify(k) + ": " + JSON.stringify(v)).join(",\n") +
                        "\n }\n}\n"
                    : JSON.stringify(out, null, 1) + "\n";
fs.writeFileSync(outFile, text);
console.log("wrote " + outFile);
// Written first: with evaluateWithMetadata, the process ended inside llama.dispose() without an error.
await llama.dispose();
