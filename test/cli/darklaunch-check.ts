// Shared checks of the dark-launch tests: run the built CLI with --json,
// read its JSON lines and report.json, and render report.svg in real
// Chromium (a PNG under test-output/screenshots/).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { checkConsistency, type Report } from '../../src/cli/darklaunch/report.js';
import { launchChrome, SCREENSHOTS } from '../chat/browser.js';
import { cli } from './cli.js';

export interface Run {
  code: number;
  lines: { type: string; [k: string]: unknown }[];
  report: Report;
  stderr: string;
}

/** Runs `beambridge darklaunch args... --out dir` (piped, so JSON lines) and reads what it wrote. */
export async function darklaunch(t: Test, dir: string, args: string[]): Promise<Run> {
  const r = await cli(['darklaunch', ...args, '--out', dir], { timeoutMs: 240_000 });
  t.comment(`exit ${r.code}; stderr: ${r.stderr.slice(0, 2000)}`);
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Run['lines'][number]);
  t.ok(existsSync(join(dir, 'report.json')), 'report.json written');
  t.ok(existsSync(join(dir, 'report.svg')), 'report.svg written');
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report;
  t.same(checkConsistency(report), [], 'report.json is internally consistent (totals = sums of the samples, ledger adds up)');
  t.same(report.simulatorErrors, [], 'no simulator errors');
  return { code: r.code, lines, report, stderr: r.stderr };
}

/** The JSON lines: phases first, one sample per second, a summary last that agrees with report.json. */
export function checkLines(t: Test, run: Run): void {
  const types = run.lines.map((l) => l.type);
  t.equal(types[types.length - 1], 'summary', 'the last line is the summary');
  const samples = run.lines.filter((l) => l.type === 'sample');
  t.equal(samples.length, run.report.samples.length, 'one JSON line per second');
  t.same(samples.map((s) => s.t), run.report.samples.map((s) => s.t));
  const summary = run.lines[run.lines.length - 1] as unknown as { slo: Report['slo']; ledger: Report['ledger'] };
  t.same(summary.slo, run.report.slo);
  t.equal(summary.ledger.accepted, run.report.ledger.accepted);
}

/** Opens report.svg in Chromium, checks it parsed and shows `texts`, and saves a PNG. Returns the PNG's path. */
export async function renderInChromium(t: Test, svgPath: string, name: string, texts: string[]): Promise<string> {
  const chrome = await launchChrome(t);
  const svg = readFileSync(svgPath, 'utf8');
  const [, w, h] = /width='(\d+)' height='(\d+)'/.exec(svg) ?? ['', '1200', '1100'];
  const page = await chrome.browser.newPage({ viewport: { width: Number(w), height: Number(h) } });
  await page.goto(`file://${svgPath}`);
  t.equal(await page.evaluate('document.documentElement.tagName'), 'svg', 'Chromium parsed report.svg as SVG');
  t.equal(await page.evaluate('document.getElementsByTagName("parsererror").length'), 0, 'no XML errors');
  const paths = (await page.evaluate('document.getElementsByTagName("path").length')) as number;
  t.ok(paths >= 5, `the chart has its lines (${paths} paths)`);
  for (const text of texts) t.ok(await page.getByText(text).first().isVisible(), `shows "${text}"`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  const png = join(SCREENSHOTS, `${name}.png`);
  // A whole-page screenshot of a bare SVG document hangs in this Chromium: the viewport is the chart's size instead.
  await page.screenshot({ path: png });
  t.ok(statSync(png).size > 20_000, `PNG saved: ${png}`);
  t.comment(`screenshot: ${png}`);
  return png;
}

/** The state letter and parent pid of a process, from /proc (undefined once it is gone). */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root` (children, their children, ...), from /proc. */
export function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(Number(d));
    if (st) parent.set(Number(d), st.ppid);
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/** Whether a process still runs (a zombie no one has reaped yet counts as ended). */
export function running(pid: number): boolean {
  const st = procStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}
