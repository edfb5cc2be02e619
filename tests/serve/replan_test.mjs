// `crossgpu serve` moves off a slowed device (issue 16, serve), as `crossgpu run` does, and keeps
// its prefix cache honest through the move. Four compute nodes on loopback whose quotas (60% of
// the model each, the KV caches of 3 slots counted) make the plan use three of them, behind the
// node `serve` talks to (a quota too small for any layer keeps it out of the plan); serve decodes
// 2 sequences together and parks one more conversation in the prefix cache.
// - Two greedy requests stream through the official `openai` client while the node of the middle
//   stage is stopped for 15 ms in every 16 (SIGSTOP/SIGCONT, a stand-in for throttling): serve
//   re-plans between two decode steps ("re-planned: slow <node>" in its log, a `replanned` event
//   in /api/recoveries, crossgpu_serve_replans_total 1), the new plan leaves that node out, the
//   node frees what it held, and both streams end with exactly the text of an undisturbed run.
// - A conversation parked before the re-plan lost its cache with the old stages: asked again, it
//   reports usage.prompt_tokens_details.cached_tokens 0 (prefilled again on the new plan) with the
//   same text; asked once more it is cached again; /api/stats counts the dropped tokens and keeps
//   bytes = tokens x the same KV bytes per token.
//   node replan_test.mjs --cli build/src/apps/crossgpu --clients build/npm-test --work DIR
import assert from 'node:assert/strict';
import { LoopbackCluster } from './loopback_cluster.mjs';
import { args, log, OpenAI, seconds, startRecoveryCluster, stream } from './openai_stream.mjs';

const cluster = new LoopbackCluster(args.cli, args.work);
const PROMPTS = ['Once upon a time', 'The quick brown fox'];
const MAX_TOKENS = [160, 120];
const CONVERSATION = [{ role: 'user', content: 'Tell me about the sea and the ships on it' }];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function converse(client, modelId) {
  const r = await client.chat.completions.create({ model: modelId, messages: CONVERSATION, max_tokens: 16, temperature: 0 });
  return { text: r.choices[0].message.content, prompt: r.usage.prompt_tokens,
    cached: r.usage.prompt_tokens_details?.cached_tokens ?? 0 };
}

async function getJson(origin, path) { return (await fetch(origin + path)).json(); }

// What node `id` holds now, asked directly (its address from the first node's view).
function heldBy(id) {
  const status = JSON.parse(cluster.run(['status', '--node', cluster.address, '--config', cluster.config(0), '--json']));
  const peer = status.nodes.find((n) => n.node_id === id);
  assert.ok(peer, `node ${id} is not in ${JSON.stringify(status.nodes.map((n) => n.node_id))}`);
  const own = JSON.parse(cluster.run(['status', '--node', peer.address, '--config', cluster.config(0), '--json']));
  return own.nodes[0].allocated_bytes;
}

async function main() {
  const { model } = await startRecoveryCluster(cluster);
  const served = await cluster.serve(model, ['--max-concurrency', '2', '--prefix-cache-mib', '4']);
  const { modelId, baseURL, origin } = served;
  const client = new OpenAI({ apiKey: 'unused', baseURL, maxRetries: 0, timeout: 120000 });
  const before = await getJson(origin, '/api/stats');
  assert.ok(before.prefix_cache.slots >= 1, `no parked slot: ${JSON.stringify(before.prefix_cache)}`);
  const plan = await getJson(origin, '/api/plan');
  assert.equal(plan.stages.length, 3, JSON.stringify(plan.stages));
  log(`serving on ${plan.stages.map((st) => st.device).join(', ')}; ${before.prefix_cache.slots} parked slot(s)`);

  // The undisturbed run, then the conversation, asked twice: the second time from the cache.
  const reference = await Promise.all(PROMPTS.map((p, i) => stream(client, modelId, p, MAX_TOKENS[i])));
  const cold = await converse(client, modelId);
  const warm = await converse(client, modelId);
  assert.equal(warm.text, cold.text);
  assert.ok(warm.cached > 0, `the repeated conversation was not cached: ${JSON.stringify(warm)}`);
  const parked = await getJson(origin, '/api/stats');
  assert.ok(parked.prefix_cache.tokens > 0);
  const bytesPerToken = parked.prefix_cache.bytes / parked.prefix_cache.tokens;
  log(`reference done; the conversation came ${warm.cached} tokens from the cache`);

  // The same two requests while the middle stage's node is slowed from its 4th chunk on.
  const victimId = cluster.nodeIds.find((n) => n.startsWith(plan.stages[1].device.split('/')[0]));
  const victim = cluster.nodes[cluster.nodeIds.indexOf(victimId)];
  assert.ok(victim && cluster.nodeIds.indexOf(victimId) > 0, `stage 1 on ${plan.stages[1].device}`);
  assert.ok(heldBy(victimId) > 0, 'the node of the middle stage holds nothing');
  let slowing = false;
  let slowedAt = 0;
  let bursts = null;
  const slowDown = async () => {
    while (slowing) {
      victim.kill('SIGSTOP');
      await sleep(15);
      victim.kill('SIGCONT');
      await sleep(1);
    }
  };
  const disturbed = await Promise.all([
    stream(client, modelId, PROMPTS[0], MAX_TOKENS[0], (n) => {
      if (n === 4 && !bursts) {
        slowing = true;
        slowedAt = Date.now();
        bursts = slowDown();
        log('slowing the middle stage\'s node');
      }
    }),
    stream(client, modelId, PROMPTS[1], MAX_TOKENS[1]),
  ]);
  slowing = false;
  await bursts;
  victim.kill('SIGCONT');
  for (const [i, r] of disturbed.entries()) {
    assert.equal(r.text, reference[i].text, `stream ${i} across the re-plan differs from the undisturbed run`);
    assert.equal(r.usage.completion_tokens, MAX_TOKENS[i]);
  }
  const recoveries = await getJson(origin, '/api/recoveries');
  log(`slowed ${victimId.slice(0, 8)} from ${seconds(slowedAt)} s; events: ` +
      JSON.stringify(recoveries.events.map((e) => [e.event, e.slow, e.tokens_before, seconds(e.at_unix_ms)])));
  assert.equal(recoveries.replans, 1, JSON.stringify(recoveries));
  assert.equal(recoveries.recoveries, 0, JSON.stringify(recoveries));
  assert.equal(recoveries.state, 'serving');
  const event = recoveries.events.find((e) => e.event === 'replanned');
  assert.ok(event, JSON.stringify(recoveries.events));
  const short = victimId.slice(0, 8);
  assert.ok(event.slow.some((s) => s.startsWith(short)), `slow ${event.slow} is not ${short}`);
  assert.ok(event.plan.stages.every((s) => !s.device.startsWith(short)), 'the new plan still uses the slowed node');
  assert.ok(event.sequences >= 1, JSON.stringify(event));
  assert.deepEqual((await getJson(origin, '/api/plan')).stages, event.plan.stages, '/api/plan is the plan serving runs on');
  assert.match(served.process.seen, new RegExp(`re-planned: slow ${short}`));
  const metrics = await (await fetch(`${origin}/metrics`)).text();
  assert.match(metrics, /crossgpu_serve_replans_total 1\n/);
  assert.match(metrics, /crossgpu_serve_recoveries_total\{outcome="recovered"\} 0\n/);
  log(`re-planned after ${event.tokens_before} tokens: ${event.slow.join('; ')}; reload ${event.reload_seconds.toFixed(2)} s, ` +
      `re-prefill ${event.reprefill_seconds.toFixed(2)} s, took ${event.total_seconds.toFixed(2)} s`);
  for (let i = 0; ; ++i) {  // the moved stage is freed on the slowed node
    const held = heldBy(victimId);
    if (held === 0) break;
    assert.ok(i < 30, `the slowed node still holds ${held} bytes after the re-plan`);
    await sleep(300);
  }

  // The parked conversation went with the old stages: prefilled again, reported as not cached.
  const after = await getJson(origin, '/api/stats');
  assert.ok(after.prefix_cache.dropped_tokens >= warm.prompt,
    `dropped ${after.prefix_cache.dropped_tokens} parked tokens, the conversation had ${warm.prompt}`);
  assert.ok(after.prefix_cache.reprefilled_tokens > 0);
  const again = await converse(client, modelId);
  assert.equal(again.text, cold.text, 'the conversation on the new plan');
  assert.equal(again.cached, 0, 'a conversation whose cache was on the old stages reports cached tokens');
  const rebuilt = await converse(client, modelId);
  assert.equal(rebuilt.text, cold.text);
  assert.equal(rebuilt.cached, warm.cached, 'the conversation is cached again on the new plan');
  const last = await getJson(origin, '/api/stats');
  assert.equal(last.prefix_cache.bytes, last.prefix_cache.tokens * bytesPerToken, JSON.stringify(last.prefix_cache));
  assert.equal(last.prefix_cache.slots, before.prefix_cache.slots);
  log(`after the re-plan the conversation came 0 then ${rebuilt.cached} tokens from the cache; ` +
      `${after.prefix_cache.dropped_tokens} parked tokens dropped`);
  console.log(`serve re-plan through the openai client: all checks passed in ${seconds()} s`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
