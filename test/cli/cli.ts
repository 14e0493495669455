// Runs the BUILT beambridge binary as a user would: `node dist/cli/main.js ...`.
// `npm test` builds first (pretest); when running a CLI test alone, build with
// `npx tsc -p tsconfig.json` before. {@link cliIn} runs the same commands
// inside the test process, for the many cases no real process is needed for.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/run.js';
import { startProcess, type Started, type Teardownable } from '../../src/testing/index.js';

/** The built entry point. */
export const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it in pretest)`);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for raw output. */
  raw: Buffer;
}

/** Env without colour switches inherited from the caller, so output is plain unless a test asks. */
export function plainEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  return { ...env, ...extra };
}

/** Runs `beambridge args...` to completion (stdin from `input`, or empty). */
export function cli(args: string[], o: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: o.env ?? plainEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`beambridge ${args.join(' ')} did not finish in ${o.timeoutMs ?? 60_000} ms`));
    }, o.timeoutMs ?? 60_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const raw = Buffer.concat(out);
      resolve({ code: code ?? -1, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), raw });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(o.input ?? '');
  });
}

/**
 * Runs `beambridge args...` inside this process, through the run() that
 * dist/cli/main.js calls with the real streams: the same exit status, stdout
 * and stderr, in milliseconds instead of a process start (most of a second on
 * a loaded machine, and tap instruments every child). stdin is `input` (not a
 * TTY); env is plain unless given. What only a process shows (main.js itself,
 * signals, a TTY, npx) stays with {@link cli}, {@link cliTty} and {@link startCli}.
 */
export async function cliIn(args: string[], o: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        into.push(chunk);
        done();
      },
    });
  const input = o.input === undefined ? [] : [Buffer.from(o.input)];
  const code = await run(args, { stdout: sink(out), stderr: sink(err), stdin: Readable.from(input), env: o.env ?? plainEnv() });
  const raw = Buffer.concat(out);
  return { code, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), raw };
}

/**
 * Runs the built CLI on a pseudo-terminal (util-linux `script`) and resolves
 * with what it printed there. With `interruptOn`, types Ctrl-C into the
 * terminal once the output matches it, as a person stopping a long-running
 * command does (the terminal sends SIGINT to it).
 */
export function cliTty(args: string[], env: NodeJS.ProcessEnv = plainEnv(), interruptOn?: RegExp): Promise<string> {
  const cmd = [process.execPath, MAIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile('script', ['-qec', cmd, '/dev/null'], { env: { ...env, TERM: 'xterm' }, timeout: 60_000 }, (e, stdout) => {
      if (e && typeof e.code !== 'number') reject(e);
      else resolve(stdout);
    });
    if (interruptOn) {
      let seen = '';
      const watch = (d: Buffer | string): void => {
        seen += String(d);
        if (!interruptOn.test(seen)) return;
        child.stdout!.off('data', watch);
        child.stdin!.write('\x03');
      };
      child.stdout!.on('data', watch);
    }
  });
}

/** Starts a long-running `beambridge` command, stopped by pid in teardown. */
export function startCli(t: Teardownable, args: string[], o: { ready?: RegExp; env?: NodeJS.ProcessEnv } = {}): Promise<Started> {
  // startProcess adds process.env; NO_COLOR wins over any FORCE_COLOR inherited from the runner.
  return startProcess({ cmd: process.execPath, args: [MAIN, ...args], env: { NO_COLOR: '1', ...o.env }, ready: o.ready, t, timeoutMs: 60_000 });
}
