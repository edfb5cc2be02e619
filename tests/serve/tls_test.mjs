// `crossgpu serve --tls-cert/--tls-key`: the official `openai` client over HTTPS with a test CA
// (trusted through NODE_EXTRA_CA_CERTS, see run_tls.sh): models, chat whole and streamed, the
// same text as over plain HTTP, a wrong key refused with 401. A client that does not trust the
// server's certificate (self-signed) and a plain-HTTP client to the HTTPS port both fail with the
// client's connection error, counted as failed handshakes while the server goes on serving. A
// missing, unreadable or mismatched certificate or key stops `serve` at start with a message naming
// the file.
//   node tls_test.mjs --cli build/src/apps/crossgpu --clients build/npm-test --work DIR --certs DIR
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LoopbackCluster } from './loopback_cluster.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const OpenAI = createRequire(join(args.clients, 'node_modules') + '/')('openai').default;
const cluster = new LoopbackCluster(args.cli, args.work);
const cert = (name) => join(args.certs, name);
const KEY = 'sk-crossgpu-tls';

async function serve(model, tlsArgs) {
  const m = await cluster.start(['serve', '--model', model, '--local', '--context', '128', '--listen', '127.0.0.1:0',
    '--api-key', KEY, ...tlsArgs], /serving (\S+) at (https?):\/\/127\.0\.0\.1:(\d+)\/v1/, 120);
  return { modelId: m[1], scheme: m[2], port: m[3], process: m.process };
}

// The codes and messages along an error's causes (fetch wraps the TLS error).
function causes(e) {
  const out = [];
  for (let c = e; c; c = c.cause) out.push(`${c.code ?? ''} ${c.message ?? ''}`);
  return out.join(' | ');
}

async function chat(client, modelId, stream) {
  const request = { model: modelId, messages: [{ role: 'user', content: 'Tell me about TLS' }], max_tokens: 8,
    temperature: 0 };
  if (!stream) return (await client.chat.completions.create(request)).choices[0].message.content;
  let text = '';
  for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
    for (const c of chunk.choices) text += c.delta?.content ?? '';
  }
  return text;
}

// `serve` refuses each bad pair at start, exit code non-zero, the message naming the file.
function badCertificates(model) {
  const cases = [
    [['--tls-cert', cert('missing.pem'), '--tls-key', cert('server.key')], /TLS certificate \S*missing\.pem: no such file/],
    [['--tls-cert', cert('garbage.pem'), '--tls-key', cert('server.key')], /garbage\.pem is not a PEM certificate/],
    [['--tls-cert', cert('server.pem'), '--tls-key', cert('garbage.pem')], /garbage\.pem is not a PEM private key/],
    [['--tls-cert', cert('server.pem'), '--tls-key', cert('other.key')], /other\.key does not belong to the certificate/],
    [['--tls-cert', cert('server.pem')], /needs both --tls-cert and --tls-key \(the key is missing\)/],
    [['--tls-key', cert('server.key')], /needs both --tls-cert and --tls-key \(the certificate is missing\)/],
  ];
  for (const [tlsArgs, message] of cases) {
    const r = spawnSync(args.cli, ['serve', '--model', model, '--local', '--context', '128', '--listen', '127.0.0.1:0',
      ...tlsArgs], { encoding: 'utf8', timeout: 60000 });
    assert.notEqual(r.status, 0, `serve started with ${tlsArgs.join(' ')}`);
    assert.match(r.stderr, message);
  }
}

async function main() {
  const model = join(args.work, 'model.gguf');
  cluster.run(['demo', '--write-model', model, '--layers', '3', '--type', 'q8_0']);
  badCertificates(model);

  const plain = await serve(model, []);
  const plainClient = new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${plain.port}/v1`, maxRetries: 0 });
  const want = await chat(plainClient, plain.modelId, false);
  plain.process.kill('SIGTERM');

  const https = await serve(model, ['--tls-cert', cert('server.pem'), '--tls-key', cert('server.key')]);
  assert.equal(https.scheme, 'https');
  const origin = `https://127.0.0.1:${https.port}`;
  const client = new OpenAI({ apiKey: KEY, baseURL: `${origin}/v1`, maxRetries: 0 });
  assert.deepEqual((await client.models.list()).data.map((m) => m.id), [https.modelId]);
  assert.equal(await chat(client, https.modelId, false), want);
  assert.equal(await chat(client, https.modelId, true), want);
  const intruder = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${origin}/v1`, maxRetries: 0 });
  await assert.rejects(intruder.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);

  // Plain HTTP to the HTTPS port: no answer, a connection error, the server unharmed.
  const confused = new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${https.port}/v1`, maxRetries: 0, timeout: 20000 });
  await assert.rejects(confused.models.list(), (e) => e instanceof OpenAI.APIConnectionError);
  const self = await serve(model, ['--tls-cert', cert('self.pem'), '--tls-key', cert('self.key')]);
  const untrusting = new OpenAI({ apiKey: KEY, baseURL: `https://127.0.0.1:${self.port}/v1`, maxRetries: 0 });
  await assert.rejects(untrusting.models.list(), (e) => e instanceof OpenAI.APIConnectionError &&
    /SELF_SIGNED|certificate/i.test(causes(e)));
  const metrics = await (await fetch(`${origin}/metrics`)).text();
  assert.ok(Number(metrics.match(/\ncrossgpu_serve_tls_handshake_failures_total (\d+)\n/)[1]) >= 1, metrics);
  assert.equal(await chat(client, https.modelId, false), want);
  console.log('openai client over HTTPS against crossgpu serve: all checks passed');
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
