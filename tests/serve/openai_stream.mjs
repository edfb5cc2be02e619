// What the serve tests that drive the official `openai` client share: their command line
// (--cli, --clients, --work), the client class from the pinned install, a timestamped log, one
// greedy streamed chat request, and the recovery tests' five-node cluster.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
export const OpenAI = createRequire(join(args.clients, 'node_modules') + '/')('openai').default;
const started = Date.now();

export function seconds(at = Date.now()) { return ((at - started) / 1000).toFixed(1); }
export function log(step) { console.log(`[${seconds()} s] ${step}`); }

// Streams one greedy chat request; `onChunk(n)` hears the count of content chunks so far.
// Resolves with {text, finish, usage}.
export async function stream(client, modelId, prompt, maxTokens, onChunk = () => {}) {
  const s = await client.chat.completions.create({
    model: modelId, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0,
    stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of s) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.content) { text += c.delta.content; onChunk(++chunks); }
      finish = c.finish_reason ?? finish;
    }
  }
  return { text, finish, usage };
}

// The recovery tests' cluster: in a fresh --work folder, the demo-shaped model (6 x 512 q8_0) and
// five nodes, the first with a quota too small for any layer (out of every plan, so any stage's
// node may be disturbed) and four with 60% of the model each; resolves with the model's path once
// `crossgpu plan` needs three stages (the KV caches of 3 sequence slots counted).
export async function startRecoveryCluster(cluster) {
  rmSync(args.work, { recursive: true, force: true });
  mkdirSync(args.work, { recursive: true });
  const model = join(args.work, 'model.gguf');
  cluster.run(['demo', '--write-model', model, '--layers', '6', '--type', 'q8_0']);
  await cluster.startNodes(statSync(model).size, [], { count: 5, quotaShare: 0.6, firstQuota: '1MiB' });
  return { model, plan: await cluster.waitForPlan(model, 120, 3) };
}
