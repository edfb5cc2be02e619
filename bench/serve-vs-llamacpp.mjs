#!/usr/bin/env node
// crossgpu serve against llama.cpp at the same concurrency, in one run: crossgpu-serve-bench
// (N streaming clients of an in-process `crossgpu serve` over loopback HTTP, continuous batching)
// writes its generated GGUF and the prompt's ids; then llama.cpp, as node-llama-cpp ships it (its
// CPU backend with this machine's core count as threads when crossgpu measured its CPU device,
// its Vulkan backend with every layer offloaded when crossgpu measured a Vulkan device), runs the
// same file in this process with one
// context of N sequences, each evaluating the same prompt ids and decoding the same number of
// greedy tokens at once (node-llama-cpp batches the sequences' pending tokens into one decode, as
// llama-server does for its slots). Per N: aggregate tok/s (all generated tokens over the wall
// time from the start to the last token, prefill included) and the median time to first token.
// llama.cpp has no HTTP in between; crossgpu's figures include its server and JSON (its
// no-server single-stream baseline is printed too). Results are ratios on this machine only.
//
//   node bench/serve-vs-llamacpp.mjs [--out DIR] [--peer DIR] [--bench PATH] -- [crossgpu-serve-bench options]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

function parseArgs(argv) {
  const o = { out: path.join(repo, "build", "serve-vs-llamacpp"), peer: path.join(repo, "build", "npm-bench"),
              bench: path.join(repo, "build", "bench", "crossgpu-serve-bench"), rest: [] };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === "--") { o.rest = argv.slice(i + 1); break; }
    if (a === "--out" || a === "--peer" || a === "--bench") {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      o[a.slice(2)] = path.resolve(argv[++i]);
    } else {
      throw new Error(`unknown option '${a}' (crossgpu-serve-bench options go after --)`);
    }
  }
  return o;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : 0; };

// N sequences of one llama.cpp context decoding at once; a warm-up run first, then the timed one.
async function runPeer(peer, { file, prompt, tokens, streams, threads, vulkan }) {
  const { getLlama, LlamaLogLevel } = peer;
  const llama = await getLlama({ gpu: vulkan ? "vulkan" : false, build: "never", skipDownload: true,
                                 usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error, maxThreads: threads });
  if (vulkan) process.stdout.write(`llama.cpp Vulkan devices: ${(await llama.getGpuDeviceNames()).join(", ")}\n`);
  const model = await llama.loadModel({ modelPath: file, gpuLayers: vulkan ? "max" : 0 });
  const rows = [];
  for (const n of streams) {
    const context = await model.createContext({ sequences: n, contextSize: n * (prompt.length + tokens + 8),
                                                batchSize: Math.max(64, n * prompt.length),
                                                threads: { ideal: threads, min: threads } });
    const sequences = Array.from({ length: n }, () => context.getSequence());
    const once = async () => {
      for (const sequence of sequences) await sequence.clearHistory();  // each run prefills its prompt
      const start = performance.now();
      const firsts = [];
      let generated = 0;
      await Promise.all(sequences.map(async (sequence) => {
        const it = sequence.evaluate(prompt, { temperature: 0 });
        for (let i = 0; i < tokens; ++i) {
          await it.next();
          if (i === 0) firsts.push(performance.now() - start);
          ++generated;
        }
        await it.return();
      }));
      return { aggregate_tps: generated / ((performance.now() - start) / 1e3), ttft_p50_ms: median(firsts) };
    };
    await once();  // warm-up
    rows.push({ streams: n, ...(await once()) });
    await context.dispose();
  }
  await model.dispose();
  await llama.dispose();
  return rows;
}

// A Markdown table (what docs/PERFORMANCE.md takes as it is).
const markdown = (header, rows) =>
  [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");

async function main() {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(o.out, { recursive: true });
  const cgJson = path.join(o.out, "crossgpu-serve.json"), modelFile = path.join(o.out, "serve-bench.gguf");
  const run = spawnSync(o.bench, [...o.rest, "--write-model", modelFile, "--json", cgJson], { stdio: "inherit" });
  if (run.status !== 0) throw new Error(`crossgpu-serve-bench failed (exit ${run.status ?? run.signal})`);
  const cg = JSON.parse(fs.readFileSync(cgJson, "utf8"));
  // llama.cpp skips CPU-type Vulkan devices (lavapipe) unless GGML_VK_VISIBLE_DEVICES names them,
  // and would then run on its CPU backend: compare lavapipe with bench/llm-vs-llamacpp.mjs instead.
  const vulkan = cg.backend === "vulkan";
  const entry = path.join(o.peer, "node_modules", "node-llama-cpp", "dist", "index.js");
  if (!fs.existsSync(entry)) throw new Error(`node-llama-cpp is not installed in ${o.peer} (make bench-llm installs it)`);
  const threads = os.cpus().length;
  process.stdout.write(`llama.cpp (node-llama-cpp, ${vulkan ? "vulkan" : "cpu"}, ${threads} threads) on the same file ...\n`);
  const peer = await runPeer(await import(pathToFileURL(entry).href),
                             { file: modelFile, prompt: cg.prompt_ids, tokens: cg.tokens_per_stream,
                               streams: cg.rows.map((r) => r.streams), threads, vulkan });
  fs.rmSync(modelFile, { force: true });
  const one = { cg: cg.rows[0].aggregate_tps, llama: peer[0].aggregate_tps };
  const rows = cg.rows.map((c, i) => {
    const l = peer[i];
    return [c.streams, c.aggregate_tps.toFixed(1), `${(c.aggregate_tps / one.cg).toFixed(2)}x`,
            l.aggregate_tps.toFixed(1), `${(l.aggregate_tps / one.llama).toFixed(2)}x`,
            `${(c.aggregate_tps / l.aggregate_tps).toFixed(2)}x`, c.ttft_p50_ms.toFixed(0), l.ttft_p50_ms.toFixed(0)];
  });
  console.log(`\ncrossgpu serve vs llama.cpp (same file, ${cg.prompt_ids.length}-id prompt, ${cg.tokens_per_stream} ` +
              `greedy tokens per stream; crossgpu's no-server baseline ${cg.baseline_tps.toFixed(1)} tok/s)`);
  console.log(markdown(["streams", "crossgpu tok/s", "vs 1", "llama.cpp tok/s", "vs 1", "crossgpu/llama",
                       "TTFT cg ms", "TTFT llama ms"], rows));
  const outFile = path.join(o.out, "serve-vs-llamacpp.json");
  fs.writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), host: os.hostname(),
                                             command: process.argv.join(" "), crossgpu: cg, llama_cpp: peer }, null, 2));
  console.log(`wrote ${outFile}`);
}

main().catch((e) => { console.error(e.message); process.exit(1); });
