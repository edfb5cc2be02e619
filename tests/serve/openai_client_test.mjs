// The official `openai` npm client against a real `crossgpu serve` with a 3-node loopback cluster
// behind it: model list, chat whole and streamed, completions, stop strings, usage counts, a wrong
// key refused through the client's own error type, the API's greedy tokens equal to
// `crossgpu run`'s for the same request, 16 concurrent streaming clients each getting its
// single-request text (nothing left running after), and slow-loris clients (a request header one
// byte a second) dropped by the request deadline while a normal request is still served.
//   node openai_client_test.mjs --cli build/src/apps/crossgpu --clients build/npm-test --work DIR
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LoopbackCluster } from './loopback_cluster.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const work = args.work;
const OpenAI = createRequire(join(args.clients, 'node_modules') + '/')('openai').default;
const cluster = new LoopbackCluster(args.cli, work);
const run = (cliArgs) => cluster.run(cliArgs);

function log(step) { console.log(`[${process.uptime().toFixed(1)} s] ${step}`); }

async function streamText(client, modelId, prompt, maxTokens) {
  const s = await client.chat.completions.create({
    model: modelId, messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0, stream: true });
  let text = '';
  let finish = null;
  for await (const chunk of s) {
    for (const c of chunk.choices) { text += c.delta?.content ?? ''; finish = c.finish_reason ?? finish; }
  }
  return { text, finish };
}

// 16 streaming clients at once (bounded: 60 s): each gets the text it gets alone, and afterwards
// nothing runs or waits.
async function loadTest(client, modelId, origin) {
  const prompts = Array.from({ length: 16 }, (_, i) => `Request ${i}: tell me about ${['GPUs', 'clusters', 'phones', 'laptops'][i % 4]}`);
  const alone = [];
  for (const p of prompts) alone.push(await streamText(client, modelId, p, 16));
  const started = Date.now();
  let timer;
  const together = await Promise.race([
    Promise.all(prompts.map((p) => streamText(client, modelId, p, 16))),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('16 concurrent streams took over 60 s')), 60000); }),
  ]);
  clearTimeout(timer);
  together.forEach((r, i) => {
    assert.equal(r.text, alone[i].text, `stream ${i} of 16 differs from its single-request text`);
    assert.equal(r.finish, alone[i].finish);
  });
  const metrics = await (await fetch(`${origin}/metrics`)).text();
  assert.match(metrics, /\ncrossgpu_serve_sequences_active 0\n/);
  assert.match(metrics, /\ncrossgpu_serve_waiting 0\n/);
  assert.match(metrics, /crossgpu_serve_requests_total\{outcome="failed"\} 0\n/);
  log(`16 concurrent streams: all equal to their single-request text in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// Slow-loris: 40 connections (more than the server's 32 threads) each sending a request header
// one byte a second. The server drops each within its 10 s request deadline once a thread takes
// it: the first 32 by ~10 s, the 8 that waited for a thread by ~20 s. A normal request made
// meanwhile waits for the first threads to come free and is answered.
async function slowLoris(client, modelId, origin) {
  const port = Number(new URL(origin).port);
  const header = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(64) + '\r\n\r\n';
  const started = Date.now();
  const slow = Array.from({ length: 40 }, () => new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let sent = 0;
    const drip = setInterval(() => { if (sent < header.length) socket.write(header[sent++]); }, 1000);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => { clearInterval(drip); resolve({ seconds: (Date.now() - started) / 1000, sent }); });
  }));
  await new Promise((r) => setTimeout(r, 1500));
  const normal = await client.chat.completions.create({
    model: modelId, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, temperature: 0 });
  const normalSeconds = (Date.now() - started) / 1000;
  assert.equal(normal.choices[0].finish_reason, 'length');
  const dropped = await Promise.all(slow);
  const times = dropped.map((d) => d.seconds).sort((a, b) => a - b);
  const worst = times[times.length - 1];
  // Threads the load test's kept-alive connections still held (idle up to 5 s) came free later.
  assert.ok(times[20] < 13, `slow clients were kept: ${times.map((t) => t.toFixed(1)).join(' ')}`);
  assert.ok(worst < 25, `a slow client was kept ${worst.toFixed(1)} s`);
  assert.ok(normalSeconds < 15, `the normal request waited ${normalSeconds.toFixed(1)} s`);
  assert.ok(dropped.every((d) => d.sent < header.length), 'a slow client got to send its whole header');
  const metrics = await (await fetch(`${origin}/metrics`)).text();
  const drops = Number(metrics.match(/crossgpu_serve_http_deadline_drops_total (\d+)/)[1]);
  assert.ok(drops >= 40, `deadline drops ${drops}`);
  log(`slow-loris: clients dropped after ${times.map((t) => t.toFixed(1)).join(' ')} s; `
    + `a normal request answered after ${normalSeconds.toFixed(1)} s`);
}

// The chat's next turn (the first turn's messages, its answer, a new question) through the prefix
// cache: its usage counts as cached at least the first turn's prompt but its last token, /metrics
// counts the hit and the tokens actually prefilled, and the parked slot of the budget.
async function nextTurn(client, modelId, origin, prompt, chat) {
  const metric = async (name) => {
    const text = await (await fetch(`${origin}/metrics`)).text();
    return Number(text.match(new RegExp(`\n${name} (\\d+)\n`))[1]);
  };
  const hits = await metric('crossgpu_serve_prefix_cache_hits_total');
  const prefilled = await metric('crossgpu_serve_prefilled_tokens_total');
  const messages = [{ role: 'user', content: prompt }, chat.choices[0].message, { role: 'user', content: 'And then?' }];
  const next = await client.chat.completions.create({ model: modelId, messages, max_tokens: 4, temperature: 0 });
  const cached = next.usage.prompt_tokens_details.cached_tokens;
  assert.ok(cached >= chat.usage.prompt_tokens - 1, `next turn cached ${cached} of ${next.usage.prompt_tokens}`);
  assert.equal(await metric('crossgpu_serve_prefix_cache_hits_total'), hits + 1);
  assert.equal(await metric('crossgpu_serve_prefilled_tokens_total'), prefilled + next.usage.prompt_tokens - cached);
  assert.ok(await metric('crossgpu_serve_prefix_cache_slots') > 0, 'the budget parks a KV-cache slot');
}

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const model = join(work, 'model.gguf');
  run(['demo', '--write-model', model, '--layers', '3', '--type', 'q8_0']);
  await cluster.startNodes(statSync(model).size);
  const key = 'sk-crossgpu-test';
  const clusterArgs = cluster.modelArgs(model);
  const plan = await cluster.waitForPlan(model);
  assert.ok(plan.stages.length >= 2, `the plan should split the model: ${JSON.stringify(plan.stages)}`);
  // Three decoding slots and one parked (the nodes' quotas hold four of 1.5 MiB beside the weights).
  const { modelId, baseURL, origin } = await cluster.serve(model, ['--api-key', key, '--max-concurrency', '3',
    '--prefix-cache-mib', '2']);
  const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });

  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), [modelId]);

  const prompt = 'The quick brown fox';
  const chat = await client.chat.completions.create({
    model: modelId, messages: [{ role: 'user', content: prompt }], max_tokens: 10, temperature: 0 });
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices[0].message.role, 'assistant');
  assert.equal(chat.choices[0].finish_reason, 'length');
  assert.equal(chat.usage.completion_tokens, 10);
  assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + 10);

  // The same greedy request through `crossgpu run` on the same cluster gives the same tokens.
  const ran = JSON.parse(run(['run', ...clusterArgs, '--prompt', prompt, '--chat', '--max-tokens', '10',
    '--temperature', '0', '--json']));
  assert.equal(chat.usage.prompt_tokens, ran.prompt_ids.length);
  assert.equal(JSON.stringify(chat.choices[0].message.content), JSON.stringify(ran.text));

  const stream = await client.chat.completions.create({
    model: modelId, messages: [{ role: 'user', content: prompt }], max_tokens: 10, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let streamed = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      streamed += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(streamed, chat.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 10);
  assert.ok(usage.prompt_tokens_details.cached_tokens > 0, 'the same prompt again reuses the KV cache');

  const text = await client.completions.create({ model: modelId, prompt, max_tokens: 8, temperature: 0 });
  assert.equal(text.object, 'text_completion');
  const full = text.choices[0].text;
  assert.ok(full.length > 4, `completion text: ${JSON.stringify(full)}`);
  const stop = full.slice(2, 4);
  const stopped = await client.completions.create({ model: modelId, prompt, max_tokens: 8, temperature: 0, stop: [stop] });
  assert.equal(stopped.choices[0].text, full.slice(0, full.indexOf(stop)));
  assert.equal(stopped.choices[0].finish_reason, 'stop');

  await nextTurn(client, modelId, origin, prompt, chat);

  const intruder = new OpenAI({ apiKey: 'sk-wrong', baseURL, maxRetries: 0 });
  await assert.rejects(intruder.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'x' }], temperature: 9 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await loadTest(client, modelId, origin);
  await slowLoris(client, modelId, origin);
  console.log(`openai client against crossgpu serve (${modelId}, 3 nodes): all checks passed`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
