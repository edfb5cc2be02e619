// The official `openai` npm client against a real `crossgpu serve` with a 3-node loopback cluster
// behind it: model list, chat whole and streamed, completions, stop strings, usage counts, a wrong
// key refused through the client's own error type, and the API's greedy tokens equal to
// `crossgpu run`'s for the same request.
//   node openai_client_test.mjs --cli build/src/apps/crossgpu --clients build/npm-test --work DIR
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const cli = args.cli;
const work = args.work;
const OpenAI = createRequire(join(args.clients, 'node_modules') + '/')('openai').default;
const children = [];
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

// Starts `cli args...` and resolves with the first line of its output matching `pattern`.
function start(cliArgs, pattern, seconds = 90) {
  const child = spawn(cli, cliArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${pattern}' in ${seconds} s from ${cliArgs[0]}:\n${seen}`)), seconds * 1000);
    const onData = (data) => {
      seen += data;
      const m = seen.match(pattern);
      if (m) { clearTimeout(timer); resolve(m); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cliArgs[0]} exited (${code}):\n${seen}`)));
  });
}

function run(cliArgs) { return execFileSync(cli, cliArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); }

// Three nodes whose memory quotas are each below the model's size, so that the plan must split it.
async function startCluster(modelBytes) {
  const config = (i) => join(work, `node${i}`);
  const quota = (share) => `${Math.ceil((modelBytes * share) / (1 << 20))}MiB`;
  const quotas = [quota(0.6), quota(0.6), quota(0.6)];
  run(['cluster', 'init', '--config', config(0), '--name', 'serve-test']);
  const node = (i, extra) => ['node', '--config', config(i), '--listen', '127.0.0.1:0', '--cpu-only',
    '--interface', 'lo', '--discovery', 'embedded', '--telemetry-interval', '200', '--quota', quotas[i], ...extra];
  const first = await start(node(0, []), /listening on .*\(port (\d+)\)/);
  const address = `127.0.0.1:${first[1]}`;
  for (const i of [1, 2]) {
    const token = run(['cluster', 'invite', '--config', config(0), '--address', address]).trim().split('\n').pop();
    await start(node(i, ['--join', token, '--name', `node${i}`]), /listening on/);
  }
  // Until the first node sees both others as healthy (found through DNS-SD on lo).
  for (const deadline = Date.now() + 60000; ;) {
    const status = JSON.parse(run(['status', '--node', address, '--config', config(0), '--json']));
    if (status.nodes.filter((n) => n.state === 'healthy').length === 3) break;
    if (Date.now() > deadline) throw new Error(`discovery did not find every node: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { address, clientConfig: config(0) };
}

async function main() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const model = join(work, 'model.gguf');
  run(['demo', '--write-model', model, '--layers', '3', '--type', 'q8_0']);
  const cluster = await startCluster(statSync(model).size);
  const key = 'sk-crossgpu-test';
  const clusterArgs = ['--model', model, '--node', cluster.address, '--config', cluster.clientConfig, '--context', '256'];
  // A node's devices join placement once the telemetry has profiled them: until then no plan fits.
  for (const deadline = Date.now() + 120000; ;) {
    let plan = null;
    try { plan = JSON.parse(run(['plan', ...clusterArgs, '--json'])); } catch (e) { if (Date.now() > deadline) throw e; }
    if (plan) {
      assert.ok(plan.stages.length >= 2, `the plan should split the model: ${JSON.stringify(plan.stages)}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const served = await start(['serve', ...clusterArgs, '--listen', '127.0.0.1:0', '--api-key', key],
    /serving (\S+) at (http:\/\/127\.0\.0\.1:\d+\/v1)/, 180);
  const [, modelId, baseURL] = served;
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
