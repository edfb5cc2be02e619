// The dashboard in a real browser: Debian's chromium, driven headless by the pinned
// `playwright-core`, against `crossgpu serve` with a 3-node loopback cluster behind it (one node
// joined with a name that is HTML). The page asks for the API key once; it loads with no console
// errors; it shows the 3 nodes, their devices and the plan; a device chart gains points; names
// and fields holding markup are shown as text and never run; the chat box streams the same reply
// as the API; killing a node of the plan turns it "lost" on the page, and the next request makes
// the server recover: the timeline shows what was lost, the new plan and the outage, and the plan
// bar is redrawn. Node names a node's telemetry carries show as text. The first node's `--http`
// serves the same page read-only, and `serve --local` shows it without a cluster. Screenshots of
// each state go to --shots.
//   node dashboard_browser_test.mjs --cli crossgpu --clients build/npm-test --work DIR
//        --chromium /usr/bin/chromium --shots build/dashboard-screenshots
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LoopbackCluster } from './loopback_cluster.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) =>
  (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const { chromium } = createRequire(join(args.clients, 'node_modules') + '/')('playwright-core');
const cluster = new LoopbackCluster(args.cli, args.work);
const started = Date.now();
const KEY = 'sk-dashboard-test';
// Markup a node might send as its name or a device's: it must show as these characters.
const HOSTILE_NAME = '<img src=x onerror=window.__pwned=1>';
const HOSTILE_DEVICE = '"><svg onload=window.__pwned=2><b>bold</b>';
const HOSTILE_ADDRESS = '</text><script>window.__pwned=3</script>';

function log(step) { console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${step}`); }

async function getJson(origin, path) {
  const res = await fetch(origin + path, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

// /api/cluster as a program reads it: 3 nodes with devices, links with an RTT.
async function waitForClusterJson(origin) {
  for (const deadline = Date.now() + 20000; ;) {
    const view = await getJson(origin, '/api/cluster');
    const ready = view.error === null && view.nodes.length === 3 && view.nodes.every((n) => n.devices.length > 0)
      && view.nodes.some((n) => n.links.some((l) => l.rtt_ms.available));
    if (ready) return view;
    if (Date.now() > deadline) throw new Error(`/api/cluster never showed 3 nodes: ${JSON.stringify(view).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function assertNothingRan(page) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'markup from data ran');
  assert.equal(await page.locator('img, script:not([src]), b, svg svg').count(), 0, 'markup from data became elements');
}

// The read-only page of `crossgpu node --http`: the node's cluster view, nothing else, no key.
async function checkNodePage(browser) {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(msg.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(cluster.httpOrigin + '/');
  await page.waitForFunction(() => document.querySelectorAll('#topology .node').length === 3, null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelectorAll('#topology .node.state-lost').length === 1, null, { timeout: 15000 });
  for (const id of ['#plan-section', '#service-section', '#chat-section', '#key-form']) {
    assert.equal(await page.locator(id).isVisible(), false, `${id} on the node's read-only page`);
  }
  assert.match(await page.locator('#status').textContent(), /read-only/);
  await page.screenshot({ path: join(args.shots, 'dashboard-node-read-only.png'), fullPage: true });
  await assertNothingRan(page);
  assert.deepEqual(problems, [], `the node's page logged problems:\n${problems.join('\n')}`);
  await page.close();
  log('crossgpu node --http: the read-only page shows the cluster, the lost node too');
}

// `serve --local` on loopback without a key: no key is asked for, the plan shows, the cluster
// panel says why it is empty, and nothing is logged.
async function checkLocalServe(browser, model) {
  const m = await cluster.start(['serve', '--model', model, '--local', '--context', '256', '--listen', '127.0.0.1:0'],
    /dashboard at (http:\/\/127\.0\.0\.1:\d+)\//, 120);
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(msg.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(m[1] + '/');
  await page.waitForFunction(() => document.querySelectorAll('#plan-bar .stage').length === 1, null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector('#cluster-note').textContent.includes('--local'), null, { timeout: 5000 });
  assert.equal(await page.locator('#key-form').isVisible(), false);
  assert.equal(await page.locator('#topology .node').count(), 0);
  await page.screenshot({ path: join(args.shots, 'dashboard-local.png'), fullPage: true });
  assert.deepEqual(problems, [], `the --local page logged problems:\n${problems.join('\n')}`);
  m.process.kill('SIGTERM');
  log('serve --local: plan shown, no key asked, no cluster');
}

async function main() {
  rmSync(args.work, { recursive: true, force: true });
  mkdirSync(args.work, { recursive: true });
  mkdirSync(args.shots, { recursive: true });
  const model = join(args.work, 'model.gguf');
  cluster.run(['demo', '--write-model', model, '--layers', '3', '--type', 'q8_0']);
  // Quotas of 90% of the model: any two nodes hold it (whole layers), so losing a stage's node can be recovered from.
  await cluster.startNodes(statSync(model).size, ['node0', 'node1', HOSTILE_NAME], { http: true, quotaShare: 0.9 });
  log('3 nodes healthy');
  const plan = await cluster.waitForPlan(model);
  // One KV-cache slot, none parked for the prefix cache: the served plan is then the one
  // `crossgpu plan` (which counts one) prints.
  const { origin, modelId } = await cluster.serve(model, ['--api-key', KEY, '--max-concurrency', '1',
    '--prefix-cache-mib', '0']);
  log(`serving at ${origin}`);
  const view = await waitForClusterJson(origin);
  const served = await getJson(origin, '/api/plan');
  assert.equal(served.stages.length, plan.stages.length);
  assert.equal(served.layers, 3);

  const browser = await chromium.launch({ executablePath: args.chromium, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
    await page.goto(origin + '/');

    // The key is asked for once, before any data is fetched.
    await page.locator('#key-form').waitFor({ state: 'visible', timeout: 5000 });
    await page.fill('#key-input', KEY);
    await page.click('#key-form button');
    log('key given');

    // Topology: one box per node, each device listed; the plan as a bar with one part per stage.
    await page.waitForFunction(() => document.querySelectorAll('#topology .node').length === 3, null, { timeout: 10000 });
    const devices = view.nodes.reduce((n, node) => n + node.devices.length, 0);
    await page.waitForFunction((n) => document.querySelectorAll('.device-card').length === n, devices, { timeout: 5000 });
    for (const node of view.nodes) {
      assert.ok((await page.locator('#topology').textContent()).includes(node.node_id.slice(0, 12)), `node ${node.node_id} not drawn`);
    }
    assert.ok((await page.locator('#topology').textContent()).includes(' ms'), 'no link RTT shown');
    // Each node publishes the name it was started with (telemetry 1.2); the third joined with
    // markup as its name, which the page draws as text.
    assert.deepEqual(view.nodes.map((n) => n.name).filter((n) => n === 'node1' || n === HOSTILE_NAME).sort(),
      ['node1', HOSTILE_NAME].sort(), `names published: ${JSON.stringify(view.nodes.map((n) => n.name))}`);
    assert.ok(view.nodes.every((n) => typeof n.name === 'string' && n.name.length > 0), 'a node without a name');
    await page.waitForFunction((name) => document.querySelector('#topology').textContent.includes(name.slice(0, 17)),
      HOSTILE_NAME, { timeout: 5000 });
    assert.ok((await page.locator('#topology').textContent()).includes('node1'), 'node1 is not shown by its name');
    await page.waitForFunction((n) => document.querySelectorAll('#plan-bar .stage').length === n, plan.stages.length, { timeout: 5000 });
    // The table is the served plan's (/api/plan): what `crossgpu plan` left out a moment earlier
    // (a device not yet profiled) may differ.
    const rows = served.stages.length + 1 + (served.excluded || []).length;
    await page.waitForFunction((n) => document.querySelectorAll('#plan-table tr').length === n, rows, { timeout: 5000 })
      .catch(async () => assert.equal(await page.locator('#plan-table tr').count(), rows));
    assert.match(await page.locator('#plan-summary').textContent(), /ms per token/);
    assert.match(await page.locator('#model').textContent(), new RegExp(modelId));
    // A value nothing measured (the CPU device has no power sensor here) reads "not measured".
    assert.ok(await page.locator('.device-card .not-measured').count() > 0, 'unmeasured values should say so');
    assert.equal(await page.locator('.device-card dd', { hasText: /^0(\.0)? W$/ }).count(), 0, 'power shown as 0 W');

    // A device chart gains points as telemetry arrives.
    const points = () => page.evaluate(() => Math.max(0, ...[...document.querySelectorAll('.device-card .chart')]
      .map((c) => Number(c.getAttribute('data-points')))));
    const before = await points();
    await page.waitForFunction((n) => Math.max(0, ...[...document.querySelectorAll('.device-card .chart')]
      .map((c) => Number(c.getAttribute('data-points')))) > n, before, { timeout: 10000 });
    log(`charts grew from ${before} to ${await points()} points`);
    await page.screenshot({ path: join(args.shots, 'dashboard-cluster.png'), fullPage: true });
    await assertNothingRan(page);

    // Markup in what other nodes send (node id, device name, address, link) is shown as text.
    await page.route('**/api/cluster', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      body.nodes[1].node_id = HOSTILE_NAME;
      body.nodes[1].address = HOSTILE_ADDRESS;
      for (const d of body.nodes[1].devices) d.name = HOSTILE_DEVICE;
      body.nodes[1].state = '<i>lost</i>';
      await route.fulfill({ response, json: body });
    });
    // A recovery event naming what other nodes reported (device labels, errors) with markup in it.
    await page.route('**/api/recoveries', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      body.recoveries += 1;
      body.events.push({ event: 'recovered', at_unix_ms: Date.now(), sequences: 1, lost: [HOSTILE_DEVICE],
        failure: HOSTILE_ADDRESS, outage_seconds: 0.5, detect_seconds: 0.1, replan_seconds: 0.1, reload_seconds: 0.2,
        reprefill_seconds: 0.1, plan: { stages: [{ device: HOSTILE_NAME, first_layer: 0, end_layer: 3 }] } });
      await route.fulfill({ response, json: body });
    });
    await page.waitForFunction((name) => document.querySelector('#devices').textContent.includes(name), HOSTILE_DEVICE, { timeout: 5000 });
    const topology = await page.locator('#topology').textContent();
    assert.ok(topology.includes(HOSTILE_NAME.slice(0, 12)), 'the hostile node id is not shown as text');
    assert.ok(topology.includes(HOSTILE_ADDRESS), 'the hostile address is not shown as text');
    assert.ok(topology.includes(HOSTILE_DEVICE), 'the hostile device name is not shown as text');
    await page.waitForFunction((name) => document.querySelector('#topology').textContent.includes(name.slice(0, 17)),
      HOSTILE_NAME, { timeout: 5000 });
    await page.waitForFunction((name) => document.querySelector('#recovery-timeline').textContent.includes(name),
      HOSTILE_DEVICE, { timeout: 5000 });
    assert.ok((await page.locator('#recovery-timeline').textContent()).includes(`new plan: ${HOSTILE_NAME}`));
    await assertNothingRan(page);
    assert.equal(await page.locator('i').count(), 0);
    await page.screenshot({ path: join(args.shots, 'dashboard-hostile-names.png'), fullPage: true });
    await page.unroute('**/api/cluster');
    await page.unroute('**/api/recoveries');
    await page.waitForFunction(() => document.querySelectorAll('#recovery-timeline li').length === 0, null, { timeout: 5000 });
    log('hostile names shown as text');

    // The chat box streams a reply equal to the API's for the same greedy request.
    const question = 'Tell me about <b>GPUs</b> & clusters';
    const api = await fetch(`${origin}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: modelId, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 12 }),
    }).then((r) => r.json());
    await page.fill('#chat-temperature', '0');
    await page.fill('#chat-max-tokens', '12');
    await page.fill('#chat-input', question);
    await page.click('#chat-send');
    const answer = page.locator('.message.assistant[data-done="true"]');
    await answer.waitFor({ timeout: 20000 });
    assert.equal(await page.locator('.message.user').textContent(), question);
    assert.equal(await answer.textContent(), api.choices[0].message.content);
    assert.match(await page.locator('#chat-rate').textContent(), /12 tokens, [\d.]+ tokens\/s/);
    // The service panel counts both requests (the API's and the chat box's) and their rate.
    await page.waitForFunction(() => /tokens generated\s*24/.test(document.querySelector('#service-stats').textContent)
      && /[\d.]+ tokens\/s/.test(document.querySelector('#service-stats').textContent), null, { timeout: 5000 });
    // Each stage's measured time per pass sits beside its prediction once requests ran.
    await page.waitForFunction((n) => [...document.querySelectorAll('#plan-table td.measured')]
      .filter((c) => /^\d+\.\d\d$/.test(c.textContent)).length === n, plan.stages.length, { timeout: 5000 });
    // Network messages per token: the runtime's count per decode step (StageStats), or "not
    // measured" where no step was counted; never a made-up 0.
    const stats = await getJson(origin, '/api/stats');
    const perToken = stats.stages.filter((s) => s.messages_per_token !== null)
      .reduce((sum, s) => sum + s.messages_per_token, 0);
    const shown = await page.locator('#service-stats dt:text-is("network messages per token") + dd').textContent();
    if (stats.stages.some((s) => s.messages_per_token !== null)) assert.equal(shown, perToken.toFixed(2));
    else assert.equal(shown, 'not measured');
    log(`network messages per token: ${shown}`);
    await page.screenshot({ path: join(args.shots, 'dashboard-chat.png'), fullPage: true });
    log('chat streamed the API\'s reply');

    // A killed node of the plan (not the polled one) turns "lost" within the heartbeat timeout
    // and a poll.
    const stageIds = plan.stages.map((s) => s.device.split('/')[0]);
    const victim = view.nodes.findIndex((n, i) => i > 0 && stageIds.some((id) => n.node_id.startsWith(id)));
    assert.ok(victim > 0, `no stage on a node other than the polled one: ${JSON.stringify(plan.stages)}`);
    const victimId = view.nodes[victim].node_id;
    const victimProcess = cluster.nodes[cluster.nodeIds.findIndex((id) => id === victimId)];
    assert.ok(victimProcess, `node ${victimId} is not one this test started`);
    victimProcess.kill('SIGKILL');
    await page.waitForFunction(() => document.querySelectorAll('#topology .node.state-lost').length === 1, null, { timeout: 20000 });
    await page.screenshot({ path: join(args.shots, 'dashboard-node-lost.png'), fullPage: true });
    log('the killed node shows as lost');

    // The next request finds the stage gone: the server recovers over the two nodes left and
    // answers as before; the timeline shows the recovery, the plan bar the new plan.
    const again = await fetch(`${origin}/v1/chat/completions`, {
      method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: modelId, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: 12 }),
    }).then((r) => r.json());
    assert.equal(again.choices?.[0]?.message?.content, api.choices[0].message.content, JSON.stringify(again));
    const entry = page.locator('#recovery-timeline li.recovered');
    await entry.waitFor({ timeout: 10000 });
    const entryText = await entry.textContent();
    assert.ok(entryText.includes(`lost: ${victimId.slice(0, 8)}`), `timeline entry: ${entryText}`);
    assert.match(entryText, /new plan: [0-9a-f]{8}\/.+\[0, \d\)/);
    assert.match(entryText, /outage [\d.]+ s \(detect [\d.]+ s, re-plan [\d.]+ s, reload [\d.]+ s, re-prefill [\d.]+ s\)/);
    assert.match(await page.locator('#recovery-summary').textContent(), /serving · 1 recovery\(ies\), 0 failed · last outage/);
    assert.equal(await page.locator('#recovery-strip rect.recovered').count(), 1);
    const replanned = await getJson(origin, '/api/plan');
    assert.ok(replanned.stages.every((s) => !victimId.startsWith(s.device.split('/')[0])), 'the new plan uses the lost node');
    await page.waitForFunction((devices) => [...document.querySelectorAll('#plan-bar .stage title')].map((t) => t.textContent.split(':')[0])
      .join(' ') === devices, replanned.stages.map((s) => s.device).join(' '), { timeout: 5000 });
    await page.screenshot({ path: join(args.shots, 'dashboard-recovered.png'), fullPage: true });
    log(`recovered from losing ${victimId.slice(0, 8)}: ${entryText}`);
    await assertNothingRan(page);
    assert.deepEqual(problems, [], `the page logged problems:\n${problems.join('\n')}`);
    await checkNodePage(browser);
    await checkLocalServe(browser, model);
  } finally {
    await browser.close();
  }
  console.log(`dashboard in chromium against crossgpu serve (3 nodes): all checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
