// A real 3-node crossgpu cluster on loopback for the node-driven serve tests (the openai client,
// the dashboard in a browser): `cluster init`, two nodes joining with invites, found through
// embedded DNS-SD on lo, then `crossgpu serve` over them.
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';

export class LoopbackCluster {
  constructor(cli, work) {
    this.cli = cli;
    this.work = work;
    this.children = [];
    process.on('exit', (code) => {
      // A failed test shows what every process said (the test's own error comes first).
      if (code !== 0) for (const c of this.children) console.error(`--- ${c.spawnargs.slice(1, 3).join(' ')}:\n${c.seen}`);
      for (const c of this.children) c.kill('SIGKILL');
    });
  }

  run(cliArgs) { return execFileSync(this.cli, cliArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); }

  // Starts `cli args...` and resolves with the first match of `pattern` in its output; the child
  // is kept in `children` (and `.process` of the result).
  start(cliArgs, pattern, seconds = 90) {
    const child = spawn(this.cli, cliArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    let seen = '';
    child.seen = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${pattern}' in ${seconds} s from ${cliArgs[0]}:\n${seen}`)), seconds * 1000);
      const onData = (data) => {
        seen += data;
        child.seen = seen.length > 20000 ? seen.slice(-20000) : seen;
        const m = seen.match(pattern);
        if (m) { clearTimeout(timer); m.process = child; resolve(m); }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', (code) => reject(new Error(`${cliArgs[0]} exited (${code}):\n${seen}`)));
    });
  }

  config(i) { return join(this.work, `node${i}`); }

  // Three nodes (or `count`) whose memory quotas (`quotaShare` of the model each) are below the
  // model's size, so that the plan must split it; node i > 0 joins as names[i] (or `node<i>`).
  // With `http`, the first node serves HTTP (`--http`) at `this.httpOrigin`. Resolves once the
  // first node sees them all healthy; `this.nodes[i]` is node i's process, `this.nodeIds[i]` its id.
  // `firstQuota` (a --quota value) gives the first node its own: a tiny one keeps the node the
  // client talks to out of the plan, so that any stage's node can be killed.
  async startNodes(modelBytes, names = ['node0', 'node1', 'node2'],
    { http = false, count = 3, quotaShare = 0.6, firstQuota = null } = {}) {
    const quota = `${Math.ceil((modelBytes * quotaShare) / (1 << 20))}MiB`;
    this.run(['cluster', 'init', '--config', this.config(0), '--name', 'serve-test']);
    const node = (i, extra) => ['node', '--config', this.config(i), '--listen', '127.0.0.1:0', '--cpu-only',
      '--interface', 'lo', '--discovery', 'embedded', '--telemetry-interval', '200',
      '--quota', i === 0 && firstQuota ? firstQuota : quota, ...extra];
    const first = http
      ? await this.start(node(0, ['--http', '127.0.0.1:0']), /node (\S+) listening on .*\(port (\d+)\)[\s\S]*telemetry: (http:\/\/127\.0\.0\.1:\d+)\//)
      : await this.start(node(0, []), /node (\S+) listening on .*\(port (\d+)\)/);
    this.address = `127.0.0.1:${first[2]}`;
    this.httpOrigin = first[3];
    this.nodes = [first.process];
    this.nodeIds = [first[1]];
    for (let i = 1; i < count; ++i) {
      const token = this.run(['cluster', 'invite', '--config', this.config(0), '--address', this.address]).trim().split('\n').pop();
      const joined = await this.start(node(i, ['--join', token, '--name', names[i] ?? `node${i}`]), /node (\S+) listening on/);
      this.nodes.push(joined.process);
      this.nodeIds.push(joined[1]);
    }
    for (const deadline = Date.now() + 60000; ;) {
      let status = null;
      try {
        status = JSON.parse(this.run(['status', '--node', this.address, '--config', this.config(0), '--json']));
      } catch (e) {
        status = { error: e.message };  // a busy node may close a call now and then: ask again
      }
      if (status.nodes?.filter((n) => n.state === 'healthy').length === count) break;
      if (Date.now() > deadline) throw new Error(`discovery did not find every node: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    this.modelArgs = (model) => ['--model', model, '--node', this.address, '--config', this.config(0), '--context', '256'];
  }

  // Until `crossgpu plan` fits the model (on at least `stages` stages): a node's devices join
  // placement once its telemetry has profiled them. Resolves with the plan's JSON.
  async waitForPlan(model, seconds = 120, stages = 1) {
    for (const deadline = Date.now() + seconds * 1000; ;) {
      try {
        const plan = JSON.parse(this.run(['plan', ...this.modelArgs(model), '--json']));
        if (plan.stages.length >= stages) return plan;
        if (Date.now() > deadline) throw new Error(`no plan of ${stages} stages: ${JSON.stringify(plan.stages)}`);
      } catch (e) { if (Date.now() > deadline) throw e; }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  // `crossgpu serve` over the cluster; resolves with {modelId, baseURL, origin}.
  async serve(model, extra = []) {
    const m = await this.start(['serve', ...this.modelArgs(model), '--listen', '127.0.0.1:0', ...extra],
      /serving (\S+) at (http:\/\/127\.0\.0\.1:\d+)\/v1/, 180);
    return { modelId: m[1], origin: m[2], baseURL: `${m[2]}/v1`, process: m.process };
  }
}
