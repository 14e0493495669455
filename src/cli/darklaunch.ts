// `beambridge darklaunch [TARGET]` and `beambridge darklaunch merge A B ...`:
// thin commands over src/cli/darklaunch/ (runDarklaunch, the report, the
// chart, merge). Options are parsed and checked here; everything else is in
// the module.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flag, int, str, type Command, type Context, type Values } from './command.js';
import { clock, CommandFailed, UsageError } from './io.js';
import { mergeReports } from './darklaunch/merge.js';
import { checkConsistency, summaryText, type Report } from './darklaunch/report.js';
import { runDarklaunch } from './darklaunch/run.js';
import { checkSettings, DEFAULT_SLO, defaultSettings, parseControl, parseDuration, parseFault, parseShard, parseSlo, type DarklaunchSettings } from './darklaunch/settings.js';
import { renderSvg } from './darklaunch/svg.js';
import { faultJson, faultText, Panel, panelLines, sampleJson, summaryJson } from './darklaunch/view.js';

const d = defaultSettings();

/** A fraction option in [0, 1]. */
function share(v: Values, name: string, def: number): number {
  const s = str(v, name);
  if (s === undefined) return def;
  const n = /^(\d+(\.\d+)?|\.\d+)$/.test(s) ? Number(s) : NaN;
  if (!(n >= 0 && n <= 1)) throw new UsageError(`--${name} must be a fraction from 0 to 1, not '${s}'`);
  return n;
}

function duration(v: Values, name: string, def: number): number {
  const s = str(v, name);
  return s === undefined ? def : parseDuration(s, `--${name}`);
}

/** The settings from the command line (UsageError on anything wrong). */
export function settingsFrom(v: Values, target: string | undefined): DarklaunchSettings {
  const rate = str(v, 'sends-per-min');
  const sendsPerMin = rate === undefined ? d.sendsPerMin : Number(rate);
  if (rate !== undefined && !(/^\d+(\.\d+)?$/.test(rate) && sendsPerMin <= 600)) throw new UsageError(`--sends-per-min must be a number from 0 to 600, not '${rate}'`);
  const transport = str(v, 'transport') ?? 'dist';
  if (transport !== 'dist' && transport !== 'thrift') throw new UsageError(`--transport must be dist or thrift, not '${transport}'`);
  const faults = ((v.fault as string[] | undefined) ?? []).map(parseFault);
  const s = defaultSettings({
    target,
    spawn: flag(v, 'spawn'),
    stubNodes: int(v, 'stub-nodes', d.stubNodes, 1, 16)!,
    transport,
    users: int(v, 'users', d.users, 1, 1_000_000)!,
    firstUser: int(v, 'first-user', d.firstUser, 1)!,
    friends: int(v, 'friends', d.friends, 0, 5000)!,
    rampMs: duration(v, 'ramp', d.rampMs),
    durationMs: duration(v, 'duration', d.durationMs),
    seed: int(v, 'seed', d.seed, 0, 2 ** 53 - 1)!,
    workers: int(v, 'workers', d.workers, 0, 64)!,
    shard: str(v, 'shard') === undefined ? d.shard : parseShard(str(v, 'shard')!),
    presenceEveryMs: duration(v, 'presence-every', d.presenceEveryMs),
    sendsPerMin,
    typingShare: share(v, 'typing-share', d.typingShare),
    idleShare: share(v, 'idle-share', d.idleShare),
    idleForMs: duration(v, 'idle-for', d.idleForMs),
    reloginShare: share(v, 'relogin-share', d.reloginShare),
    drainMs: duration(v, 'drain', d.drainMs),
    pollTimeoutMs: duration(v, 'poll-timeout', d.pollTimeoutMs),
    faults,
    slo: parseSlo(str(v, 'slo') ?? DEFAULT_SLO),
    stubControl: str(v, 'stub-control') === undefined ? [] : parseControl(str(v, 'stub-control')!),
    metricsUrl: str(v, 'metrics'),
  });
  if (s.presenceEveryMs < 1000) throw new UsageError('--presence-every must be at least 1s');
  if (s.durationMs < 1000) throw new UsageError('--duration must be at least 1s');
  checkSettings(s);
  return s;
}

function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Writes report.json and report.svg into `dir`; returns their paths. */
async function writeReport(dir: string, r: Report): Promise<{ json: string; svg: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const svg = join(dir, 'report.svg');
  await writeFile(json, JSON.stringify(r, null, 1) + '\n');
  await writeFile(svg, renderSvg(r));
  return { json, svg };
}

/** Prints the end of a run (or a merge) and returns the exit status from the SLO. */
function finish(ctx: Context, json: boolean, r: Report, out: { json: string; svg: string }): number {
  const bad = checkConsistency(r);
  if (json) ctx.io.stdout.write(summaryJson(r, out) + '\n');
  else {
    const lines = summaryText(r);
    lines[lines.length - 1] = r.slo.met ? ctx.out.paint('green', lines[lines.length - 1]) : ctx.out.paint('red', lines[lines.length - 1]);
    ctx.io.stdout.write(lines.join('\n') + `\nreport: ${out.json}\nchart:  ${out.svg}\n`);
  }
  if (bad.length > 0) ctx.io.stderr.write(ctx.err.paint('red', `report inconsistent (a bug in darklaunch): ${bad.join('; ')}`) + '\n');
  return r.slo.met && bad.length === 0 ? 0 : 1;
}

export const darklaunch: Command = {
  name: 'darklaunch',
  summary: 'load a chat gateway with simulated users (no UI) and report what they saw',
  args: '[TARGET]',
  description: [
    'A dark launch: simulated users behave like the chat page with its UI turned off, through the',
    "gateway's HTTP API only. Each signs in at its planned time, holds a long-poll and makes it",
    "again after every answer, timeout or error (with the page's backoff), asks for its friends'",
    'presence every --presence-every, sends to online friends at --sends-per-min (typing first',
    'sometimes), goes idle and comes back, and a share log out and in. The same --seed gives',
    'the same plan. TARGET is the gateway URL; --spawn starts epmd, --stub-nodes stub nodes and',
    'a gateway (in its own process) instead, and stops them all at the end or on Ctrl-C.',
    '',
    'Every accepted send must reach its recipient\'s poll exactly once, or the recipient got',
    '`refresh` and found it in history: the ledger counts delivered, duplicated, recovered and',
    'lost messages and says why any was lost. --fault WHAT@TIME (repeatable) injects',
    'kill-channel:USER, kill-node:N, restart-gateway (both with --spawn) or delay:MS (delay:0',
    'ends it); without --spawn, faults and stub figures need --stub-control PORT,...',
    '',
    'On a terminal a live panel is redrawn every second; piped or with --json, one JSON object',
    'per second and a final summary. --out DIR (default darklaunch-<time>/) gets report.json and',
    "report.svg. Exit 0 when --slo held (default '" + DEFAULT_SLO + "': delivery p99 at most 1 s and",
    'nothing lost that a fault does not explain), 1 when it did not, 2 on usage errors.',
  ].join('\n'),
  options: {
    spawn: { type: 'boolean', description: 'start epmd, a stub cluster and a gateway for the run' },
    'stub-nodes': { type: 'string', arg: 'N', description: `stub nodes with --spawn (default ${d.stubNodes})` },
    transport: { type: 'string', arg: 'dist|thrift', description: "the spawned gateway's backend (default dist)" },
    users: { type: 'string', short: 'u', arg: 'N', description: `simulated users, ids 1..N (default ${d.users})` },
    friends: { type: 'string', arg: 'N', description: `friends per user in the spawned stub (default ${d.friends})` },
    ramp: { type: 'string', arg: 'DURATION', description: `users start at random times within this (default ${d.rampMs / 1000}s)` },
    duration: { type: 'string', short: 'd', arg: 'DURATION', description: `length of the run, ramp included (default ${d.durationMs / 60_000}m)` },
    seed: { type: 'string', arg: 'S', description: `seed of the plan (default ${d.seed})` },
    workers: { type: 'string', short: 'w', arg: 'N', description: `worker threads for the users (default ${d.workers}; 0: the main thread)` },
    shard: { type: 'string', arg: 'i/n', description: 'simulate only the i-th of n slices of the users (merge the reports)' },
    'presence-every': { type: 'string', arg: 'DURATION', description: `presence query period per user, and the spawned gateway's presence push period (default ${d.presenceEveryMs / 1000}s)` },
    'sends-per-min': { type: 'string', arg: 'R', description: `messages per user per minute (default ${d.sendsPerMin})` },
    'typing-share': { type: 'string', arg: 'F', description: `share of sends with typing first (default ${d.typingShare})` },
    'idle-share': { type: 'string', arg: 'F', description: `share of users who go idle once (default ${d.idleShare})` },
    'idle-for': { type: 'string', arg: 'DURATION', description: `how long they stay idle (default ${d.idleForMs / 1000}s)` },
    'relogin-share': { type: 'string', arg: 'F', description: `share of users who log out and back in once (default ${d.reloginShare})` },
    fault: { type: 'string', multiple: true, arg: 'WHAT@TIME', description: 'kill-channel:USER, kill-node:N, restart-gateway, delay:MS at TIME' },
    'stub-control': { type: 'string', arg: 'PORTS', description: "the stubs' control ports, for faults and stats without --spawn" },
    metrics: { type: 'string', arg: 'URL', description: "the gateway's Prometheus metrics (default TARGET/metrics)" },
    'poll-timeout': { type: 'string', arg: 'DURATION', description: `the gateway's poll timeout (default ${d.pollTimeoutMs / 1000}s)` },
    drain: { type: 'string', arg: 'DURATION', description: `after the run, wait up to this for messages in flight (default ${d.drainMs / 1000}s)` },
    slo: { type: 'string', arg: 'SPEC', description: `conditions for exit 0 (default ${DEFAULT_SLO})` },
    out: { type: 'string', short: 'o', arg: 'DIR', description: 'where report.json and report.svg go (default darklaunch-<time>/)' },
    json: { type: 'boolean', description: 'JSON lines even on a terminal' },
  },
  examples: [
    'beambridge darklaunch --spawn --users 500 --duration 1m',
    'beambridge darklaunch --spawn --users 300 --ramp 5s --duration 40s --fault kill-node:1@15s --fault restart-gateway@25s',
    'beambridge darklaunch http://127.0.0.1:8080/ --users 2000 --stub-control 40811,40812 --fault kill-channel:42@1m',
    'beambridge darklaunch merge a/report.json b/report.json --out merged',
  ],
  positionals: { min: 0, max: 1 },
  async run(ctx, v, [target]) {
    const s = settingsFrom(v, target);
    const json = flag(v, 'json') || ctx.io.stdout.isTTY !== true;
    const dir = str(v, 'out') ?? `darklaunch-${stamp()}`;
    const panel = json ? undefined : new Panel(ctx.io.stdout);
    const sloP99 = s.slo.find((c) => c.metric === 'p99')?.value;
    const say = (text: string) =>
      panel ? panel.log(ctx.out.paint('gray', `${clock()} ${text}`)) : ctx.io.stdout.write(JSON.stringify({ type: 'phase', time: new Date().toISOString(), text }) + '\n');
    const report = await runDarklaunch(s, {
      signal: ctx.signal,
      onPhase: say,
      onSample: (sample, live) => (panel ? panel.draw(panelLines(live, ctx.out, sloP99)) : ctx.io.stdout.write(sampleJson(sample, live) + '\n')),
      onFault: (f) => (panel ? panel.log(ctx.out.paint(f.ok ? 'magenta' : 'red', faultText(f))) : ctx.io.stdout.write(faultJson(f) + '\n')),
    });
    panel?.clear();
    return finish(ctx, json, report, await writeReport(dir, report));
  },
};

export const darklaunchMerge: Command = {
  name: 'darklaunch merge',
  summary: 'combine the reports of darklaunch shards into one',
  args: 'A.json B.json ...',
  description: [
    'Combines the report.json files of runs that loaded one gateway together, each with its own',
    '--shard i/n: samples are lined up by wall-clock second, counters and latency histograms',
    'added, and messages sent across shards reconciled (delivered, recovered by history or',
    'lost). Writes report.json and report.svg to --out and exits by the SLO of the first report.',
  ].join('\n'),
  options: {
    out: { type: 'string', short: 'o', arg: 'DIR', description: 'where the merged report.json and report.svg go (default darklaunch-merged-<time>/)' },
    json: { type: 'boolean', description: 'print the summary as JSON' },
  },
  examples: ['beambridge darklaunch merge shard1/report.json shard2/report.json --out merged'],
  positionals: { min: 2, max: 64 },
  async run(ctx, v, files) {
    const reports: Report[] = [];
    for (const f of files) {
      let text: string;
      try {
        text = await readFile(f, 'utf8');
      } catch (e) {
        throw new CommandFailed(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        reports.push(JSON.parse(text) as Report);
      } catch {
        throw new CommandFailed(`${f} is not JSON`);
      }
    }
    let merged: Report;
    try {
      merged = mergeReports(reports);
    } catch (e) {
      throw new CommandFailed((e as Error).message);
    }
    const dir = str(v, 'out') ?? `darklaunch-merged-${stamp()}`;
    return finish(ctx, flag(v, 'json') || ctx.io.stdout.isTTY !== true, merged, await writeReport(dir, merged));
  },
};

export const darklaunchCommands: Command[] = [darklaunch, darklaunchMerge];
