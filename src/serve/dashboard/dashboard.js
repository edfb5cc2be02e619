// crossgpu's dashboard: polls the server's JSON endpoints (docs/PROTOCOL.md, "Dashboard") and
// draws the cluster, the plan, the service and the devices; the chat box streams from
// /v1/chat/completions. Every text shown comes from other machines (node ids, device names,
// addresses, reasons), so it is only ever set with textContent or as an SVG text node: no markup
// is built from data anywhere in this file.
'use strict';

const POLL_MS = 1000;
const PLAN_EVERY = 10;  // polls between two reads of the plan, which changes only on a re-plan
const SVG = 'http://www.w3.org/2000/svg';

// `crossgpu node --http` serves this page marked read-only: only its cluster view is there.
const READ_ONLY = document.body.dataset.mode === 'read-only';
const state = { key: sessionStorage.getItem('crossgpu-key') || '', model: '', polls: 0, chat: [], waitingForKey: false,
  recovery: { state: 'serving', recoveries: 0, failed_recoveries: 0, events: [] } };

// --- elements -------------------------------------------------------------------------------

// el('td', {class: 'num'}, 'text', child...): strings become text nodes.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function byId(id) { return document.getElementById(id); }

function setStatus(text) { byId('status').textContent = text; }

// A state name from the wire as a CSS class: only known states, anything else is "unknown".
function stateClass(s) {
  return ['healthy', 'suspect', 'lost', 'joining', 'recovering'].includes(s) ? `state-${s}` : 'state-unknown';
}

// --- formatting ------------------------------------------------------------------------------

const NOT_MEASURED = 'not measured';

function bytes(n) {
  if (n === null || n === undefined) return NOT_MEASURED;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function fixed(digits, unit = '') {
  return (v) => `${Number(v).toFixed(digits)}${unit}`;
}

// A telemetry value {available, value, source}: its text, or "not measured" (never 0) with the
// reason as a tooltip.
function measured(m, format) {
  if (!m || !m.available || m.value === null) {
    return el('span', { class: 'not-measured', title: (m && m.source) || 'no value' }, NOT_MEASURED);
  }
  return el('span', { title: m.source || '' }, format(m.value));
}

function shortId(id) { return String(id || '').slice(0, 12); }

// Text cut to fit a box; the whole text goes in the element's <title>.
function clip(text, chars) {
  const t = String(text);
  return t.length > chars ? `${t.slice(0, chars - 1)}…` : t;
}

// --- the API -----------------------------------------------------------------------------------

class NeedsKey extends Error {}

function authHeaders() { return state.key ? { Authorization: `Bearer ${state.key}` } : {}; }

async function api(path) {
  const res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  if (res.status === 401) throw new NeedsKey();
  const body = await res.json();
  if (!res.ok) throw new Error((body.error && body.error.message) || `${path}: HTTP ${res.status}`);
  return body;
}

function askForKey() {
  if (state.waitingForKey) return;
  state.waitingForKey = true;
  byId('key-form').hidden = false;
  byId('key-input').focus();
  setStatus('waiting for the API key');
}

byId('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.key = byId('key-input').value.trim();
  sessionStorage.setItem('crossgpu-key', state.key);
  byId('key-form').hidden = true;
  state.waitingForKey = false;
  poll();
});

// --- cluster topology --------------------------------------------------------------------------

function linkLabel(link) {
  const rtt = link.rtt_ms && link.rtt_ms.available ? `${link.rtt_ms.value.toFixed(2)} ms` : 'RTT not measured';
  const bw = link.bytes_per_s && link.bytes_per_s.available ? `${bytes(link.bytes_per_s.value)}/s` : 'bandwidth not measured';
  return `${rtt} · ${bw}`;
}

// Nodes on a circle, each a box listing its devices; a line per measured link.
function drawTopology(cluster) {
  const svg = byId('topology');
  svg.replaceChildren();
  const nodes = cluster.nodes || [];
  const width = svg.clientWidth || 800;
  const height = 320;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const boxW = 190;
  const boxH = (n) => 40 + 16 * Math.max(1, (n.devices || []).length);
  const place = new Map();
  nodes.forEach((n, i) => {
    const angle = (2 * Math.PI * i) / Math.max(1, nodes.length) - Math.PI / 2;
    const rx = nodes.length > 1 ? (width - boxW) / 2 - 10 : 0;
    const ry = nodes.length > 1 ? (height - 90) / 2 - 10 : 0;
    place.set(n.node_id, { x: width / 2 + rx * Math.cos(angle), y: height / 2 + ry * Math.sin(angle) });
  });
  const drawn = new Set();
  for (const n of nodes) {
    for (const link of n.links || []) {
      const a = place.get(n.node_id);
      const b = place.get(link.peer_node_id);
      const pair = [n.node_id, link.peer_node_id].sort().join(' ');
      if (!a || !b || drawn.has(pair)) continue;
      drawn.add(pair);
      const peer = nodes.find((p) => p.node_id === link.peer_node_id);
      const lost = n.state === 'lost' || (peer && peer.state === 'lost');
      svg.append(svgEl('line', { class: lost ? 'link lost' : 'link', x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
      svg.append(svgEl('text', { class: 'small', x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, 'text-anchor': 'middle' },
        linkLabel(link)));
    }
  }
  for (const n of nodes) {
    const p = place.get(n.node_id);
    const h = boxH(n);
    const shown = nodeState(n);
    const g = svgEl('g', { class: `node ${stateClass(shown)}`, transform: `translate(${p.x - boxW / 2},${p.y - h / 2})`,
      'data-node': shortId(n.node_id) });
    g.append(svgEl('title', {}, `${n.name ? `${n.name} · ` : ''}${n.node_id} ${n.address || '(this node)'}`));
    g.append(svgEl('rect', { class: 'box', width: boxW, height: h, rx: 6 }));
    // A node's own name (it chose it when joining) when its telemetry carries one, else its id.
    const title = n.name ? `${clip(n.name, 18)} · ${shortId(n.node_id).slice(0, 8)}` : shortId(n.node_id);
    g.append(svgEl('text', { class: 'node-name', x: 8, y: 16 }, `${title}${n.self ? ' (polled)' : ''}`));
    const where = `${shown || 'unknown'} · ${n.address || 'serving node'}`;
    g.append(svgEl('text', { class: 'small', x: 8, y: 30 }, clip(where, 34)), svgEl('title', {}, where));
    (n.devices || []).forEach((d, i) => {
      const device = `▪ ${d.name} (${d.type})`;
      g.append(svgEl('text', { class: 'small', x: 14, y: 46 + 16 * i }, clip(device, 32)), svgEl('title', {}, device));
    });
    svg.append(g);
  }
}

// A node's state as drawn: its liveness, except that while the service recovers from a loss the
// nodes still up are "recovering" (re-planned onto, reloading), and a node the last recovery
// lost stays "lost" until its liveness says otherwise.
function nodeState(n) {
  if (n.state === 'lost') return 'lost';
  if (state.recovery.state === 'recovering') return 'recovering';
  return n.state;
}

// --- devices -----------------------------------------------------------------------------------

// A small line chart of `key` over a device's history; gaps where the value was not measured.
function sparkline(history, key, title, format) {
  const box = el('div');
  // Device samples carry unix_nanos, the service's recent requests unix_ms.
  const at = (s) => (s.unix_nanos !== undefined ? s.unix_nanos : s.unix_ms * 1e6);
  const measured = (s) => Number.isFinite(s[key]) && Number.isFinite(at(s));
  const points = history.filter(measured);
  const last = points.length ? format(points[points.length - 1][key]) : NOT_MEASURED;
  box.append(el('div', { class: 'chart-title' }, `${title}: ${last}`));
  const svg = svgEl('svg', { class: 'chart', viewBox: '0 0 200 60', preserveAspectRatio: 'none', 'data-points': points.length });
  if (points.length) {
    const t0 = at(points[0]);
    const t1 = Math.max(at(points[points.length - 1]), t0 + 1);
    const values = points.map((s) => s[key]);
    const lo = Math.min(0, ...values);
    const hi = Math.max(...values, lo + 1e-9);
    let segment = [];
    const flush = () => {
      if (segment.length) svg.append(svgEl('polyline', { points: segment.join(' ') }));
      segment = [];
    };
    for (const s of history) {
      if (!measured(s)) { flush(); continue; }
      const x = ((at(s) - t0) / (t1 - t0)) * 200;
      const y = 58 - ((s[key] - lo) / (hi - lo)) * 56;
      segment.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
    flush();
  }
  box.append(svg);
  return box;
}

function deviceCard(node, d) {
  const m = d.metrics || {};
  const card = el('div', { class: nodeState(node) === 'lost' ? 'device-card lost' : 'device-card' });
  card.append(el('h3', {}, d.name));
  card.append(el('div', { class: 'muted' }, `${d.type} · ${d.backend} · node ${node.name || shortId(node.node_id)} · `,
    el('span', { class: `state ${stateClass(nodeState(node))}` }, nodeState(node) || 'unknown')));
  const speed = d.profile ? { available: true, value: d.profile.matvec_q8_0_bytes_per_s || d.profile.matvec_f32_bytes_per_s, source: 'profile' }
    : { available: false, source: d.profile_status };
  const rows = [
    ['busy', measured(m.busy_fraction, (v) => `${(v * 100).toFixed(0)} %`)],
    ['memory used', measured(m.memory_used_bytes, bytes)],
    ['memory free', measured(m.memory_free_bytes, bytes)],
    ['memory total', measured(m.memory_total_bytes, bytes)],
    ['temperature', measured(m.temperature_c, fixed(1, ' °C'))],
    ['power', measured(m.power_w, fixed(1, ' W'))],
    ['clock', measured(m.clock_mhz, fixed(0, ' MHz'))],
    ['measured speed', measured(speed, (v) => `${bytes(v)}/s matvec`)],
    ['self-test', d.self_test],
  ];
  const dl = el('dl');
  for (const [name, value] of rows) dl.append(el('dt', {}, name), el('dd', {}, value));
  card.append(dl);
  const history = d.history || [];
  const charts = el('div', { class: 'charts' });
  charts.append(sparkline(history, 'busy_fraction', 'busy', (v) => `${(v * 100).toFixed(0)} %`));
  charts.append(sparkline(history, 'memory_used_bytes', 'memory used', bytes));
  charts.append(sparkline(history, 'temperature_c', 'temperature', fixed(1, ' °C')));
  charts.append(sparkline(history, 'power_w', 'power', fixed(1, ' W')));
  card.append(charts);
  return card;
}

function drawDevices(cluster) {
  const box = byId('devices');
  const cards = [];
  for (const node of cluster.nodes || []) {
    for (const d of node.devices || []) cards.push(deviceCard(node, d));
  }
  box.replaceChildren(...cards);
}

function drawCluster(cluster) {
  const nodes = cluster.nodes || [];
  const lost = nodes.filter((n) => n.state === 'lost').length;
  byId('cluster-note').textContent = cluster.error
    ? (cluster.node ? `the node ${cluster.node} does not answer: ${cluster.error}` : cluster.error)
    : `${nodes.length} node(s)${lost ? `, ${lost} lost` : ''}, seen through ${cluster.node || 'this node'}`;
  drawTopology(cluster);
  drawDevices(cluster);
}

// --- plan --------------------------------------------------------------------------------------

const STAGE_COLOURS = ['#3366cc', '#2a8a4a', '#c98a00', '#8e44ad', '#b3261e', '#16a2b8'];

function drawPlan(plan) {
  const layers = plan.layers || Math.max(1, ...plan.stages.map((s) => s.end_layer));
  const perToken = plan.seconds_per_token;
  byId('plan-summary').textContent = `${plan.method} · ${plan.stages.length} stage(s) over ${layers} layers · predicted `
    + `${(perToken * 1000).toFixed(2)} ms per token (${perToken > 0 ? (1 / perToken).toFixed(1) : '∞'} tokens/s)`;
  const svg = byId('plan-bar');
  svg.replaceChildren();
  // Percentages: the bar stretches with the page and its labels keep their size.
  plan.stages.forEach((s, i) => {
    const x = (s.first_layer / layers) * 100;
    const w = ((s.end_layer - s.first_layer) / layers) * 100;
    const label = `${s.device} (${s.end_layer - s.first_layer} layer${s.end_layer - s.first_layer === 1 ? '' : 's'})`;
    const g = svgEl('g', { class: 'stage' });
    g.append(svgEl('title', {}, `${s.device}: layers ${s.first_layer}–${s.end_layer - 1}`));
    g.append(svgEl('rect', { x: `${x}%`, y: 0, width: `${w}%`, height: 30, fill: STAGE_COLOURS[i % STAGE_COLOURS.length] }));
    g.append(svgEl('text', { class: 'small', x: `${x + 0.5}%`, y: 46 }, clip(label, Math.max(4, Math.floor(w * 0.8)))));
    svg.append(g);
  });
  const table = byId('plan-table');
  const head = el('tr', {}, el('th', {}, 'device'), el('th', {}, 'layers'), el('th', { class: 'num' }, 'memory'),
    el('th', { class: 'num' }, 'predicted compute ms'), el('th', { class: 'num' }, 'predicted transfer ms'),
    el('th', { class: 'num' }, 'measured ms per pass (both)'));
  const rows = plan.stages.map((s, i) => el('tr', {}, el('td', {}, s.device), el('td', {}, `${s.first_layer}–${s.end_layer - 1}`),
    el('td', { class: 'num' }, bytes(s.memory_bytes)), el('td', { class: 'num' }, (s.compute_seconds * 1000).toFixed(2)),
    el('td', { class: 'num' }, (s.transfer_seconds * 1000).toFixed(2)), el('td', { class: 'num measured', 'data-stage': i })));
  table.replaceChildren(head, ...rows);
  drawMeasured();
  for (const reason of plan.excluded || []) table.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, `left out: ${reason}`)));
}

// Each stage's measured time per forward pass (from /api/stats) in the plan's table.
function drawMeasured() {
  for (const cell of document.querySelectorAll('#plan-table td.measured')) {
    const stage = (state.stages || [])[Number(cell.dataset.stage)];
    const ms = stage ? stage.ms_per_pass : null;
    cell.replaceChildren(ms === null || ms === undefined
      ? el('span', { class: 'not-measured', title: 'no request has run yet' }, NOT_MEASURED)
      : el('span', { title: `compute and transfer, over ${stage.passes} passes` }, ms.toFixed(2)));
  }
}

// --- service -----------------------------------------------------------------------------------

// Network messages of one decode step over every stage (each stage's messages per step, as the
// runtime counted them), or "not measured" when no step was counted (no decode yet, or steps
// that the runtime does not count, such as batched passes).
function messagesPerToken(stages) {
  const counted = stages.filter((s) => s.messages_per_token !== null && s.messages_per_token !== undefined);
  if (!counted.length) return el('span', { class: 'not-measured', title: 'no counted decode step yet' }, NOT_MEASURED);
  const total = counted.reduce((sum, s) => sum + s.messages_per_token, 0);
  return el('span', { class: 'messages-per-token', title: 'over the decode steps counted per stage' }, total.toFixed(2));
}

function drawStats(stats) {
  state.model = stats.model;
  state.stages = stats.stages;
  drawMeasured();
  byId('model').textContent = `serving ${stats.model}`;
  const q = stats.queue;
  const rate = stats.last_tokens_per_s === null ? 'no request yet' : `${stats.last_tokens_per_s.toFixed(1)} tokens/s`;
  const rows = [
    ['requests', q.requests], ['completed', q.completed], ['cancelled', q.cancelled], ['failed', q.failed],
    ['refused (busy)', q.refused_busy], ['waiting', q.waiting], ['running', q.running],
    ['tokens generated', stats.tokens.completion], ['prompt tokens (cached)', `${stats.tokens.prompt} (${stats.tokens.cached})`],
    ['last request', rate], ['up', `${Math.round(stats.uptime_seconds)} s`],
  ];
  rows.push(['network messages per token', messagesPerToken(stats.stages || [])]);
  const dl = byId('service-stats');
  dl.replaceChildren(...rows.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
  const recent = stats.recent.map((r) => ({ unix_nanos: r.unix_ms * 1e6, tokens_per_s: r.tokens_per_s }));
  byId('service-chart').replaceWith(Object.assign(sparkline(recent, 'tokens_per_s', 'tokens/s', fixed(1)).lastChild,
    { id: 'service-chart' }));
}

// --- recoveries --------------------------------------------------------------------------------

function seconds(v) { return Number.isFinite(v) ? `${v.toFixed(2)} s` : NOT_MEASURED; }

// One timeline entry: when, what happened, what was lost, the plan after it and the outage.
function recoveryItem(e) {
  const when = new Date(e.at_unix_ms).toLocaleTimeString();
  const item = el('li', { class: e.event === 'recovered' ? 'recovered' : e.event === 'failed' ? 'failed' : 'other' });
  const what = { recovering: 'lost a device, recovering', recovered: 'recovered', failed: 'recovery failed: serving stopped',
    not_recovered: 'no device lost; requests in flight failed' }[e.event] || 'event';
  item.append(el('span', { class: 'muted' }, `${when} `), el('span', { class: 'what' }, what),
    el('span', {}, ` · ${e.sequences} request(s) in flight`));
  if (e.event === 'recovered') {
    item.append(el('div', {}, `lost: ${(e.lost || []).join('; ')}`));
    const plan = (e.plan && e.plan.stages || []).map((s) => `${s.device} [${s.first_layer}, ${s.end_layer})`).join(' → ');
    item.append(el('div', {}, `new plan: ${plan}`));
    item.append(el('div', { class: 'detail outage' }, `outage ${seconds(e.outage_seconds)} (detect ${seconds(e.detect_seconds)}, `
      + `re-plan ${seconds(e.replan_seconds)}, reload ${seconds(e.reload_seconds)}, re-prefill ${seconds(e.reprefill_seconds)})`));
  } else {
    item.append(el('div', { class: 'detail' }, e.failure || ''));
  }
  return item;
}

// Recoveries on a strip (time left to right, each mark as wide as its outage, at least visible)
// and as a list, newest first.
function drawRecoveries(r) {
  state.recovery = r;
  byId('recovery-summary').replaceChildren(
    el('span', { class: `service-${r.state}` }, r.state),
    ` · ${r.recoveries} recovery(ies), ${r.failed_recoveries} failed`
      + (r.recoveries ? ` · last outage ${seconds(r.last_outage_seconds)}` : '')
      + (r.failure ? ` · ${r.failure}` : ''));
  const svg = byId('recovery-strip');
  svg.replaceChildren();
  const events = r.events.filter((e) => e.event === 'recovered' || e.event === 'failed');
  if (events.length) {
    // At least a minute across, so that one recovery is a mark rather than the whole strip.
    const t0 = events[0].at_unix_ms;
    const span = Math.max(events[events.length - 1].at_unix_ms - t0, 60000);
    for (const e of events) {
      const x = ((e.at_unix_ms - t0) / span) * 96 + 1;
      const w = Math.min(99 - x, Math.max(0.6, ((e.outage_seconds || 0) * 1000 / span) * 96));
      const mark = svgEl('rect', { class: e.event, x: `${x}%`, y: 4, width: `${w}%`, height: 20 });
      mark.append(svgEl('title', {}, `${e.event} at ${new Date(e.at_unix_ms).toLocaleTimeString()}`));
      svg.append(mark);
    }
  }
  byId('recovery-timeline').replaceChildren(...r.events.slice().reverse().map(recoveryItem));
}

// --- polling -----------------------------------------------------------------------------------

async function poll() {
  if (state.waitingForKey) return;
  if (READ_ONLY) {
    try {
      drawCluster(await api('/api/cluster'));
      setStatus(`read-only view of this node · updated ${new Date().toLocaleTimeString()}`);
    } catch (e) {
      setStatus(`cannot reach the node: ${e.message}`);
    }
    return;
  }
  try {
    drawStats(await api('/api/stats'));
    const recoveries = await api('/api/recoveries');
    // A recovery changes the plan: read it again at once rather than at the next PLAN_EVERY.
    const replanned = recoveries.recoveries !== state.recovery.recoveries;
    drawRecoveries(recoveries);
    if (state.polls % PLAN_EVERY === 0 || replanned) {
      try { drawPlan(await api('/api/plan')); } catch (e) { if (e instanceof NeedsKey) throw e; byId('plan-summary').textContent = e.message; }
    }
    try { drawCluster(await api('/api/cluster')); } catch (e) { if (e instanceof NeedsKey) throw e; byId('cluster-note').textContent = e.message; }
    state.polls += 1;
    const service = state.recovery.state === 'serving' ? '' : ` · ${state.recovery.state}`;
    setStatus(`updated ${new Date().toLocaleTimeString()}${service}`);
  } catch (e) {
    if (e instanceof NeedsKey) askForKey();
    else setStatus(`cannot reach the server: ${e.message}`);
  }
}

// --- chat --------------------------------------------------------------------------------------

function addMessage(role, text) {
  const node = el('div', { class: `message ${role}` }, text);
  byId('chat-log').append(node);
  node.scrollIntoView({ block: 'nearest' });
  return node;
}

// Yields the JSON of each `data:` event of a server-sent event stream until [DONE].
async function* events(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') return;
        yield JSON.parse(data);
      }
    }
  }
}

async function sendChat(text) {
  state.chat.push({ role: 'user', content: text });
  addMessage('user', text);
  const answer = addMessage('assistant', '');
  const rate = byId('chat-rate');
  const started = performance.now();
  let first = null;
  let pieces = 0;
  let usage = null;
  const res = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify({
      model: state.model, messages: state.chat, stream: true, stream_options: { include_usage: true },
      temperature: Number(byId('chat-temperature').value), max_tokens: Number(byId('chat-max-tokens').value),
    }),
  });
  if (res.status === 401) { askForKey(); throw new Error('the API key is needed'); }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error((body.error && body.error.message) || `HTTP ${res.status}`);
  }
  for await (const chunk of events(res.body)) {
    if (chunk.error) throw new Error(chunk.error.message);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices || []) {
      const piece = (choice.delta && choice.delta.content) || '';
      if (!piece) continue;
      first = first ?? performance.now();
      pieces += 1;
      answer.textContent += piece;
      const seconds = (performance.now() - first) / 1000;
      if (seconds > 0) rate.textContent = `${(pieces / seconds).toFixed(1)} tokens/s`;
    }
  }
  const seconds = (performance.now() - (first ?? started)) / 1000;
  const tokens = usage ? usage.completion_tokens : pieces;
  rate.textContent = `${tokens} tokens, ${seconds > 0 ? (tokens / seconds).toFixed(1) : '–'} tokens/s`
    + ` (first after ${(((first ?? started) - started) / 1000).toFixed(2)} s)`;
  answer.dataset.done = 'true';
  state.chat.push({ role: 'assistant', content: answer.textContent });
}

byId('chat-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = byId('chat-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  byId('chat-send').disabled = true;
  try {
    await sendChat(text);
  } catch (e) {
    addMessage('error', e.message);
    state.chat.pop();
  } finally {
    byId('chat-send').disabled = false;
  }
});

// Asks for the key first when the server needs one (GET /health says so), then polls.
async function start() {
  if (READ_ONLY) {
    for (const id of ['plan-section', 'service-section', 'chat-section', 'recovery-section']) byId(id).hidden = true;
    poll();
    setInterval(poll, POLL_MS);
    return;
  }
  try {
    const health = await (await fetch('/health', { cache: 'no-store' })).json();
    if (health.api_key_required && !state.key) askForKey();
  } catch (e) {
    setStatus(`cannot reach the server: ${e.message}`);
  }
  poll();
  setInterval(poll, POLL_MS);
}

start();
