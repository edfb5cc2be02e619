#!/usr/bin/env node
// crossgpu against llama.cpp in one run: the same generated GGUF file, the same device, the same
// prompt ids and the same number of greedy tokens. crossgpu-llm-bench measures crossgpu (and the
// device's memory bandwidth, for the limit) and keeps its model files; then llama.cpp, as shipped
// prebuilt in the npm package node-llama-cpp (its Vulkan backend for Vulkan devices, its CPU
// backend with the same thread count for crossgpu's CPU device), runs each file in this process.
// Prints a table and writes JSON; results are ratios, never absolute claims.
//
//   node bench/llm-vs-llamacpp.mjs [--out DIR] [--peer DIR] [--bench PATH] [--check-tokens] -- [crossgpu-llm-bench options]
//
// --peer: the folder where node-llama-cpp is installed (make bench-llm installs it into
// build/npm-bench); without it, llama.cpp's side is reported missing and crossgpu's still runs.
// --check-tokens: exit 1 unless llama.cpp is there and agrees: every greedy token for f32 and f16
// weights, the first token for the other types (llama.cpp's CPU backend quantizes activations for
// their dot products, so near-ties of a random-weight model may later go the other way).
// --peer-vulkan-devices LIST: GGML_VK_VISIBLE_DEVICES for llama.cpp's Vulkan backend. llama.cpp
// skips CPU-type Vulkan devices (lavapipe) unless named there, and then silently runs on its CPU
// backend; when crossgpu measured a CPU-type Vulkan device and no other Vulkan device, the
// default is "0" (lavapipe's index where it is the only Vulkan device). Such a device is also
// measured against llama.cpp's CPU backend (the "llama cpu" column). A Vulkan run whose
// gpu_devices does not name crossgpu's device is flagged.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

function parseArgs(argv) {
  const o = { out: path.join(repo, "build", "llm-vs-llamacpp"), peer: path.join(repo, "build", "npm-bench"),
              bench: path.join(repo, "build", "bench", "crossgpu-llm-bench"), checkTokens: false,
              peerVulkanDevices: undefined, rest: [] };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === "--") { o.rest = argv.slice(i + 1); break; }
    if (a === "--check-tokens") { o.checkTokens = true; continue; }
    if (a === "--peer-vulkan-devices") {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      o.peerVulkanDevices = argv[++i];
      continue;
    }
    if (a === "--out" || a === "--peer" || a === "--bench") {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      o[a.slice(2)] = path.resolve(argv[++i]);
    } else if (a === "-h" || a === "--help") {
      console.log(fs.readFileSync(new URL(import.meta.url), "utf8").split("\n").slice(1, 16).join("\n"));
      process.exit(0);
    } else {
      throw new Error(`unknown option '${a}' (crossgpu-llm-bench options go after --)`);
    }
  }
  return o;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : 0; };

async function loadPeer(peerDir) {
  const entry = path.join(peerDir, "node_modules", "node-llama-cpp", "dist", "index.js");
  if (!fs.existsSync(entry)) return { missing: `node-llama-cpp is not installed in ${peerDir} (make bench-llm installs it)` };
  try {
    return { module: await import(pathToFileURL(entry).href) };
  } catch (e) {
    return { missing: `node-llama-cpp failed to load: ${e.message}` };
  }
}

// One llama.cpp backend over one model file: `repeats` timed generations after a warm-up, each
// the prompt (prefill) then greedy decoding, timed as crossgpu times them.
async function runPeer(peer, { backend, threads, file, prompt, decode, batch, repeats }) {
  const { getLlama, LlamaLogLevel } = peer;
  const llama = await getLlama({ gpu: backend === "vulkan" ? "vulkan" : false, build: "never", skipDownload: true,
                                 usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error, maxThreads: threads });
  const gpuNames = backend === "vulkan" ? await llama.getGpuDeviceNames() : [];
  const model = await llama.loadModel({ modelPath: file, gpuLayers: backend === "vulkan" ? "max" : 0 });
  const context = await model.createContext({ contextSize: prompt.length + decode + 8, batchSize: batch,
                                              threads: { ideal: threads, min: threads } });
  const sequence = context.getSequence();
  const prefill = [], decodeRates = [];
  let tokens = [];
  for (let r = 0; r <= repeats; ++r) {  // run 0 warms up
    await sequence.clearHistory();
    const generated = [];
    const t0 = performance.now();
    const it = sequence.evaluate(prompt, { temperature: 0 });
    generated.push((await it.next()).value);
    const t1 = performance.now();
    for (let i = 1; i <= decode; ++i) generated.push((await it.next()).value);
    const t2 = performance.now();
    await it.return();
    if (r === 0) continue;
    prefill.push(prompt.length / ((t1 - t0) / 1e3));
    decodeRates.push(decode / ((t2 - t1) / 1e3));
    tokens = generated;
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return { backend, threads, gpu_devices: gpuNames, prefill_tokens_per_s: median(prefill),
           decode_tokens_per_s: median(decodeRates), prefill_runs_tokens_per_s: prefill,
           decode_runs_tokens_per_s: decodeRates, tokens };
}

function agreeing(a, b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) ++n;
  return n;
}

// --check-tokens: the results that fall short, as lines (empty when all agree as required).
function tokenFailures(results) {
  const failures = [];
  for (const r of results) {
    if (r.llama_cpp.missing) { failures.push(`${r.model} on ${r.device}: ${r.llama_cpp.missing}`); continue; }
    const type = r.model.split(" ")[0], total = r.crossgpu.tokens.length;
    const need = type === "f32" || type === "f16" ? total : Math.min(1, total);
    if (r.tokens_agreeing < need) {
      failures.push(`${r.model} on ${r.device}: ${r.tokens_agreeing}/${total} greedy tokens equal to llama.cpp's, ` +
                    `${need} required`);
    }
  }
  return failures;
}

function table(rows, header) {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(width[i])).join("  ");
  return [line(header), width.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(o.out, { recursive: true });
  const crossgpuJson = path.join(o.out, "crossgpu.json");
  const run = spawnSync(o.bench, [...o.rest, "--model-dir", path.join(o.out, "models"), "--keep-models",
                                  "--json", crossgpuJson], { stdio: "inherit" });
  if (run.status !== 0) throw new Error(`crossgpu-llm-bench failed (exit ${run.status ?? run.signal})`);
  const cg = JSON.parse(fs.readFileSync(crossgpuJson, "utf8"));
  const lavapipe = (props) => props.backend === "vulkan" && props.type === "cpu";
  const vulkanOnlyCpuType = cg.devices.some(lavapipe) &&
                            !cg.devices.some((p) => p.backend === "vulkan" && p.type !== "cpu");
  const visible = o.peerVulkanDevices ?? (vulkanOnlyCpuType ? "0" : undefined);
  if (visible !== undefined) process.env.GGML_VK_VISIBLE_DEVICES = visible;  // before llama.cpp's Vulkan starts
  const peer = await loadPeer(o.peer);
  const threads = os.cpus().length;
  const results = [];
  for (const m of cg.models) {
    for (const d of m.devices) {
      const props = cg.devices.find((x) => x.id === d.device_id) ?? {};
      const backend = props.backend === "cpu" ? "cpu" : "vulkan";
      const entry = { model: `${m.type} ${m.layers}x${m.embedding}`, file: m.file, device: d.device,
                      device_backend: props.backend, weight_bytes_per_token: m.weight_bytes_per_token,
                      bandwidth_limit_decode_tokens_per_s: d.limits?.decode_tokens_per_s ?? 0,
                      crossgpu: d.single };
      if (peer.missing) {
        entry.llama_cpp = { missing: peer.missing };
      } else {
        process.stdout.write(`llama.cpp (${backend}) on ${m.type} ${m.layers}x${m.embedding} ...\n`);
        const run = (b) => runPeer(peer.module, { backend: b, threads, file: m.file, prompt: m.prompt_ids,
                                                  decode: cg.decode_tokens, batch: cg.batch, repeats: cg.repeats });
        entry.llama_cpp = await run(backend);
        if (backend === "vulkan" && !entry.llama_cpp.gpu_devices.includes(d.device)) {
          entry.llama_cpp.not_this_device = `llama.cpp's Vulkan backend ran on [${entry.llama_cpp.gpu_devices}], ` +
                                            `not ${d.device} (see --peer-vulkan-devices)`;
        }
        if (lavapipe(props)) {
          process.stdout.write(`llama.cpp (cpu) on ${m.type} ${m.layers}x${m.embedding} ...\n`);
          entry.llama_cpp_cpu = await run("cpu");
        }
        entry.ratio_prefill = entry.crossgpu.prefill_tokens_per_s / entry.llama_cpp.prefill_tokens_per_s;
        entry.ratio_decode = entry.crossgpu.decode_tokens_per_s / entry.llama_cpp.decode_tokens_per_s;
        entry.tokens_agreeing = agreeing(entry.crossgpu.tokens, entry.llama_cpp.tokens.slice(0, entry.crossgpu.tokens.length));
      }
      results.push(entry);
    }
    fs.rmSync(m.file, { force: true });
  }
  const pct = (x, limit) => (limit > 0 ? `${(100 * x / limit).toFixed(0)}%` : "-");
  const f1 = (x) => (x === undefined ? "-" : x.toFixed(1));
  const rows = results.map((r) => {
    const l = r.llama_cpp, c = r.crossgpu, lim = r.bandwidth_limit_decode_tokens_per_s;
    return [r.model, r.device, f1(c.prefill_tokens_per_s), f1(l.prefill_tokens_per_s),
            l.missing ? "-" : `${r.ratio_prefill.toFixed(2)}x`, f1(c.decode_tokens_per_s), f1(l.decode_tokens_per_s),
            l.missing ? "-" : `${r.ratio_decode.toFixed(2)}x`, f1(r.llama_cpp_cpu?.decode_tokens_per_s),
            f1(lim), pct(c.decode_tokens_per_s, lim),
            l.missing ? "-" : pct(l.decode_tokens_per_s, lim),
            l.missing ? "-" : `${r.tokens_agreeing}/${c.tokens.length}`];
  });
  console.log(`\ncrossgpu vs llama.cpp (node-llama-cpp, same file, device, prompt of ${cg.prompt_tokens} ids, ` +
              `${cg.decode_tokens} greedy tokens, medians of ${cg.repeats}; limit = weights per token / bandwidth ` +
              `measured in this run)`);
  console.log(table(rows, ["model", "device", "prefill cg", "prefill llama", "ratio", "decode cg", "decode llama",
                           "ratio", "decode llama cpu", "limit tok/s", "cg of limit", "llama of limit", "same tokens"]));
  for (const r of results) {
    if (r.llama_cpp.not_this_device) console.log(`\nWARNING ${r.model} on ${r.device}: ${r.llama_cpp.not_this_device}`);
  }
  if (peer.missing) console.log(`\nllama.cpp side missing: ${peer.missing}`);
  const outFile = path.join(o.out, "llm-vs-llamacpp.json");
  fs.writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), host: os.hostname(),
                                             command: process.argv.join(" "), crossgpu_run: cg.command,
                                             threads, results }, null, 2));
  console.log(`\nresults written to ${outFile}`);
  if (o.checkTokens) {
    const failures = tokenFailures(results);
    for (const f of failures) console.error(`llm-vs-llamacpp: ${f}`);
    if (failures.length > 0) process.exit(1);
    console.log("tokens: every f32/f16 greedy token and every other type's first token equal llama.cpp's");
  }
}

main().catch((e) => { console.error(`llm-vs-llamacpp: ${e.message}`); process.exit(2); });
