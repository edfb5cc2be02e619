// The official `openai` npm client against a real `crossgpu serve` with a 3-node loopback cluster
// behind it: model list, chat whole and streamed, completions, stop strings, usage counts, a wrong
// key refused through the client's own error type, and the API's greedy tokens equal to
// `crossgpu run`'s for the same request.
//   node openai_client_test.mjs --cli build/src/apps/crossgpu --clients build/npm-test --work DIR
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LoopbackCluster } from './loopback_cluster.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const work = args.work;
const OpenAI = createRequire(join(args.clients, 'node_modules') + '/')('openai').default;
const cluster = new LoopbackCluster(args.cli, work);
const run = (cliArgs) => cluster.run(cliArgs);

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
  const { modelId, baseURL } = await cluster.serve(model, ['--api-key', key]);
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

  const intruder = new OpenAI({ apiKey: 'sk-wrong', baseURL, maxRetries: 0 });
  await assert.rejects(intruder.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'x' }], temperature: 9 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  console.log(`openai client against crossgpu serve (${modelId}, 3 nodes): all checks passed`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
