// `crossgpu serve` survives losing a device (issue 16, serve): four compute nodes on loopback
// whose quotas (60% of the model each, the KV caches of 3 sequences counted) make the plan use
// three of them, behind the node `serve` talks to (a quota too small for any layer keeps that
// node out of the plan: killing it would take the cluster's telemetry with it). Two greedy
// requests stream through the official `openai` client while the node holding the middle stage
// is killed (kill -9): both complete with exactly the
// text of an undisturbed run, a request sent during the recovery waits and is served on the new
// plan, and /api/recoveries, /metrics and /health tell what happened. Then the middle stage's
// node of the new plan is killed too: the two compute nodes left cannot hold the model, so the
// stream in flight ends with a typed 503 (recovery_failed), /health says "failed" (503) and a new
// request is refused the same way.
//   node recovery_test.mjs --cli build/src/apps/crossgpu --clients build/npm-test --work DIR
import assert from 'node:assert/strict';
import { LoopbackCluster } from './loopback_cluster.mjs';
import { args, log, OpenAI, seconds, startRecoveryCluster, stream } from './openai_stream.mjs';

const cluster = new LoopbackCluster(args.cli, args.work);
const PROMPTS = ['Once upon a time', 'The quick brown fox'];
const MAX_TOKENS = [160, 120];

// The process of the node holding stage `stage` of `plan` (devices are labelled "<id>/<device>").
function nodeOfStage(plan, stage) {
  const id = plan.stages[stage].device.split('/')[0];
  const i = cluster.nodeIds.findIndex((n) => n.startsWith(id));
  assert.ok(i > 0, `stage ${stage} on ${plan.stages[stage].device}: not one of the joined nodes ${cluster.nodeIds}`);
  return i;
}

async function getJson(origin, path) {
  const res = await fetch(origin + path);
  return { status: res.status, body: await res.json() };
}

// Kills the node of the middle stage once the first stream has `after` chunks.
function killMiddleStageAfter(plan, after) {
  const victim = nodeOfStage(plan, 1);
  let killed = false;
  return {
    victim,
    onChunk(n) {
      if (killed || n < after) return;
      killed = true;
      cluster.nodes[victim].kill('SIGKILL');
      log(`killed node ${victim} (${cluster.nodeIds[victim].slice(0, 8)}, stage 1) after ${n} chunks`);
    },
    get killed() { return killed; },
  };
}

async function main() {
  const { model, plan } = await startRecoveryCluster(cluster);
  log(`5 nodes healthy, the plan has ${plan.stages.length} stages`);
  // No parked prefix-cache slots: the quotas are sized for these three slots (a re-plan keeps them).
  const { modelId, baseURL, origin } = await cluster.serve(model, ['--max-concurrency', '3', '--prefix-cache-mib', '0']);
  const client = new OpenAI({ apiKey: 'unused', baseURL, maxRetries: 0, timeout: 120000 });

  // The undisturbed run: both requests together.
  const reference = await Promise.all(PROMPTS.map((p, i) => stream(client, modelId, p, MAX_TOKENS[i])));
  for (const [i, r] of reference.entries()) {
    assert.equal(r.finish, 'length', `reference ${i}: ${JSON.stringify(r)}`);
    assert.equal(r.usage.completion_tokens, MAX_TOKENS[i]);
  }
  const served = (await getJson(origin, '/api/plan')).body;
  assert.equal(served.stages.length, plan.stages.length);
  log('reference streams done');

  // The same two requests; the middle stage's node dies 8 chunks into the first. A third request,
  // sent right after the kill, arrives while the service recovers.
  const kill = killMiddleStageAfter(served, 8);
  let during = null;
  const disturbed = await Promise.all([
    stream(client, modelId, PROMPTS[0], MAX_TOKENS[0], (n) => {
      kill.onChunk(n);
      if (kill.killed && !during) during = stream(client, modelId, PROMPTS[1], MAX_TOKENS[1]);
    }),
    stream(client, modelId, PROMPTS[1], MAX_TOKENS[1]),
  ]);
  assert.ok(kill.killed, 'the first stream ended before the kill');
  for (const [i, r] of disturbed.entries()) {
    assert.equal(r.text, reference[i].text, `stream ${i} after the loss differs from the undisturbed run`);
    assert.equal(r.finish, 'length');
    assert.equal(r.usage.completion_tokens, MAX_TOKENS[i]);
  }
  const late = await during;
  assert.equal(late.text, reference[1].text, 'the request sent during the recovery');
  log('both streams and the request sent during the recovery have the undisturbed text');

  const recoveries = (await getJson(origin, '/api/recoveries')).body;
  assert.equal(recoveries.state, 'serving');
  assert.equal(recoveries.recoveries, 1, JSON.stringify(recoveries));
  const event = recoveries.events.find((e) => e.event === 'recovered');
  assert.ok(event, JSON.stringify(recoveries.events));
  const victimId = cluster.nodeIds[kill.victim].slice(0, 8);
  assert.ok(event.lost.some((l) => l.startsWith(victimId)), `lost ${event.lost} is not ${victimId}`);
  assert.ok(event.plan.stages.every((s) => !s.device.startsWith(victimId)), 'the new plan uses the lost node');
  assert.ok(event.sequences >= 1 && event.outage_seconds > 0, JSON.stringify(event));
  assert.ok(typeof event.at_unix_ms === 'number');
  const newPlan = (await getJson(origin, '/api/plan')).body;
  assert.deepEqual(newPlan.stages, event.plan.stages, '/api/plan is the plan serving runs on');
  assert.equal(newPlan.layers, 6);
  const metrics = await (await fetch(`${origin}/metrics`)).text();
  assert.match(metrics, /crossgpu_serve_recoveries_total\{outcome="recovered"\} 1\n/);
  assert.match(metrics, /crossgpu_serve_last_outage_seconds [0-9.]+\n/);
  assert.match(metrics, /crossgpu_serve_state\{state="serving"\} 1\n/);
  assert.equal((await getJson(origin, '/health')).body.status, 'ok');
  log(`recovered: lost ${event.lost.join('; ')}; outage ${event.outage_seconds.toFixed(2)} s ` +
      `(detect ${event.detect_seconds.toFixed(2)}, re-plan ${event.replan_seconds.toFixed(2)}, ` +
      `reload ${event.reload_seconds.toFixed(2)}, re-prefill ${event.reprefill_seconds.toFixed(2)}), ` +
      `${event.plan.stages.length} stages now`);

  // Losing a second node leaves two, which cannot hold the model: a typed 503, no partial answer
  // presented as complete, and /health says so.
  assert.ok(event.plan.stages.length >= 3, 'the survivors\' plan should need all three');
  const second = killMiddleStageAfter(event.plan, 4);
  await assert.rejects(stream(client, modelId, PROMPTS[0], MAX_TOKENS[0], (n) => second.onChunk(n)),
    (e) => e instanceof OpenAI.APIError && e.code === 'recovery_failed' && /cannot/.test(e.message));
  const health = await getJson(origin, '/health');
  assert.equal(health.status, 503);
  assert.equal(health.body.status, 'failed');
  assert.match(health.body.error, /cannot take its place|no placement fits/);
  await assert.rejects(client.chat.completions.create({ model: modelId, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.APIError && e.status === 503 && e.code === 'recovery_failed');
  const after = (await getJson(origin, '/api/recoveries')).body;
  assert.equal(after.state, 'failed');
  assert.equal(after.failed_recoveries, 1);
  assert.match(await (await fetch(`${origin}/metrics`)).text(), /crossgpu_serve_recoveries_total\{outcome="failed"\} 1\n/);
  log(`two survivors: ${health.body.error}`);
  console.log(`serve recovery through the openai client: all checks passed in ${seconds()} s`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
