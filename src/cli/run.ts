// The CLI's dispatcher: finds the command named by the first words, parses its
// options with node:util parseArgs, runs it, and maps the outcome to an exit
// status: 0 success, 1 a failure the command reports, 2 a usage error.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { BeamBridgeError } from '../errors.js';
import { commandHelp, GLOBAL_OPTIONS, type Command, type Context, type Values } from './command.js';
import { CommandFailed, Progress, Style, UsageError, portInUse, wantColour, type Io } from './io.js';

/**
 * Each command module, with the first words of its commands. A module is
 * imported only when one of its commands runs (or help lists them all), so
 * `beambridge etf decode` does not load the distribution, Thrift or dark
 * launch code. In the order `beambridge --help` lists them.
 */
const MODULES: { words: readonly string[]; load: () => Promise<readonly Command[]> }[] = [
  { words: ['etf'], load: async () => (await import('./etf.js')).etfCommands },
  { words: ['epmd'], load: async () => (await import('./epmd.js')).epmdCommands },
  { words: ['ping', 'rpc', 'send', 'listen'], load: async () => (await import('./node.js')).nodeCommands },
  { words: ['tap'], load: async () => [(await import('./tap.js')).tap] },
  { words: ['thrift'], load: async () => (await import('./thrift.js')).thriftCommands },
  { words: ['darklaunch'], load: async () => (await import('./darklaunch.js')).darklaunchCommands },
];

/** The commands whose first word is `first` (every command without it), in help order. */
export async function commands(first?: string): Promise<Command[]> {
  const mods = first === undefined ? MODULES : MODULES.filter((m) => m.words.includes(first));
  return (await Promise.all(mods.map((m) => m.load()))).flat();
}

/** The first words each command module claims (tests check them against the modules' commands). */
export const COMMAND_WORDS: readonly (readonly string[])[] = MODULES.map((m) => m.words);

/** Exit statuses. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The top-level help: what beambridge is and its commands. */
export async function mainHelp(): Promise<string> {
  const all = await commands();
  const width = Math.max(...all.map((c) => c.name.length)) + 4;
  const lines = [
    'Usage: beambridge <command> [arguments] [options]',
    '',
    "beambridge speaks Erlang's own protocols: decode and explain external terms, query",
    'EPMD, ping and call Erlang nodes, watch a live distribution link, and load a chat',
    'gateway with simulated users (a dark launch).',
    '',
    'Commands:',
    ...all.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options for every command: -h/--help (with an example), --debug (stack traces),',
    '--no-color. Exit status: 0 success, 1 failure (pang, a bad term), 2 usage error.',
    '',
    'Example:',
    "  $ beambridge etf encode '{hello, world}' | beambridge etf explain",
    '',
    "Run 'beambridge <command> --help' for a command's options and examples.",
  ];
  return lines.join('\n') + '\n';
}

/** Finds the command whose name is the longest prefix of `words`. */
async function lookup(words: string[]): Promise<{ cmd: Command | undefined; used: number }> {
  let best: { cmd: Command | undefined; used: number } = { cmd: undefined, used: 0 };
  for (const c of await commands(words[0])) {
    const parts = c.name.split(' ');
    if (parts.length > best.used && parts.every((p, i) => words[i] === p)) best = { cmd: c, used: parts.length };
  }
  return best;
}

/** Commands under a group word such as `etf`, for `beambridge etf`. */
async function groupHelp(group: string): Promise<string | undefined> {
  const cmds = (await commands(group)).filter((c) => c.name.startsWith(group + ' '));
  if (cmds.length === 0) return undefined;
  const width = Math.max(...cmds.map((c) => c.name.length)) + 4;
  return [`Usage: beambridge ${group} <command> ...`, '', 'Commands:', ...cmds.map((c) => `  ${c.name.padEnd(width)}${c.summary}`), ''].join('\n');
}

/**
 * Runs the CLI with `argv` (the arguments after `beambridge`) and resolves with
 * the exit status. `signal` stops long-running commands (SIGINT in main.ts).
 */
export async function run(argv: string[], io: Io, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const debug = argv.includes('--debug');
  const noColor = argv.includes('--no-color');
  const out = new Style(wantColour(io.stdout, io.env, noColor));
  const err = new Style(wantColour(io.stderr, io.env, noColor));
  const fail = (prefix: string, e: unknown): number => {
    if (e instanceof UsageError) {
      io.stderr.write(`${err.paint('red', `${prefix}: ${e.message}`)}\n(see ${prefix} --help)\n`);
      return EXIT_USAGE;
    }
    // A taken port reads the same whichever layer hit it (EPMD, node, relay).
    e = portInUse(e) ?? e;
    const msg = e instanceof BeamBridgeError && !(e instanceof CommandFailed) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    io.stderr.write(err.paint('red', `${prefix}: ${msg}`) + '\n');
    if (debug && e instanceof Error && e.stack) io.stderr.write(e.stack + '\n');
    return EXIT_FAILED;
  };

  // Global flags may come before the command: beambridge --debug etf decode ...
  const words = argv.filter((a) => !(a === '--debug' || a === '--no-color'));
  if (words.length === 0) {
    io.stderr.write(await mainHelp());
    return EXIT_USAGE;
  }
  if (words[0] === '--help' || words[0] === '-h' || words[0] === 'help') {
    const target = words[0] === 'help' ? (await lookup(words.slice(1))).cmd : undefined;
    io.stdout.write(target ? commandHelp(target) : (words[1] && (await groupHelp(words[1]))) || (await mainHelp()));
    return EXIT_OK;
  }
  if (words[0] === '--version' || words[0] === '-V') {
    io.stdout.write(version() + '\n');
    return EXIT_OK;
  }
  const { cmd, used } = await lookup(words);
  if (!cmd) {
    const group = await groupHelp(words[0]);
    if (group && (words.length === 1 || words[1] === '--help' || words[1] === '-h')) {
      if (words.length === 1) {
        io.stderr.write(group);
        return EXIT_USAGE;
      }
      io.stdout.write(group);
      return EXIT_OK;
    }
    const what = group ? `${words[0]} ${words[1]}` : words[0];
    return fail('beambridge', new UsageError(`unknown command '${what}'`));
  }
  const prefix = `beambridge ${cmd.name}`;
  // What follows the command's words (global flags before them were not among the words).
  let seen = 0;
  const rest = argv.slice(argv.findIndex((a) => (a === '--debug' || a === '--no-color' ? false : ++seen === used)) + 1);
  let values: Values;
  let positionals: string[];
  // parseArgs reads `-1` or `-0.0` as options; no option here starts with a digit, so they are arguments.
  const negatives = new Map<string, string>();
  const args = rest.map((a, i) => {
    if (!/^-[\d.]/.test(a)) return a;
    const key = `\u0000${i}`;
    negatives.set(key, a);
    return key;
  });
  try {
    ({ values, positionals } = parseArgs({ args, options: { ...cmd.options, ...GLOBAL_OPTIONS }, allowPositionals: true, strict: true }) as {
      values: Values;
      positionals: string[];
    });
    positionals = positionals.map((p) => negatives.get(p) ?? p);
    for (const [k, v] of Object.entries(values)) if (typeof v === 'string' && negatives.has(v)) values[k] = negatives.get(v);
  } catch (e) {
    return fail(prefix, new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, '')));
  }
  if (values.help === true) {
    io.stdout.write(commandHelp(cmd));
    return EXIT_OK;
  }
  const { min, max } = cmd.positionals;
  if (positionals.length < min || positionals.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    return fail(prefix, new UsageError(`expected ${want} argument${max === 1 ? '' : 's'} (${cmd.args}), got ${positionals.length}`));
  }
  const progress = new Progress(io.stderr, io.stderr.isTTY === true);
  const ctx: Context = { io, out, err, progress, signal, debug };
  try {
    const status = await cmd.run(ctx, values, positionals);
    return status ?? EXIT_OK;
  } catch (e) {
    progress.clear();
    return fail(prefix, e);
  }
}
