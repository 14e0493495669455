// The shape of a CLI command, its help text, and typed access to the option
// values `node:util` parseArgs returns. Each command file exports Command
// objects; run.ts finds, parses and runs them.
import type { Io, Progress, Style } from './io.js';
import { UsageError } from './io.js';

/** One option of a command, in parseArgs form plus help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder in help, e.g. `PORT`. */
  arg?: string;
  description: string;
}

/** What a running command gets besides its arguments. */
export interface Context {
  io: Io;
  /** Colours for stdout and stderr (each off unless that stream is a TTY). */
  out: Style;
  err: Style;
  /** A status line on stderr, shown on a TTY only. */
  progress: Progress;
  /** Aborted on SIGINT/SIGTERM: long-running commands stop and exit 0. */
  signal: AbortSignal;
  debug: boolean;
}

/** Parsed option values, as parseArgs returns them. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A command: `beambridge <name> ...`. */
export interface Command {
  /** Words after `beambridge`, e.g. `etf decode`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Arguments after the name, for the usage line, e.g. `[HEX | @file | -]`. */
  args: string;
  /** A paragraph or two for `--help`. */
  description: string;
  options: Record<string, OptionSpec>;
  /** At least one example command line (without the `$ `). */
  examples: string[];
  /** Allowed number of positional arguments. */
  positionals: { min: number; max: number };
  /** Runs the command; resolves with the exit status (default 0). */
  run(ctx: Context, values: Values, positionals: string[]): Promise<number | void>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  debug: { type: 'boolean', description: 'print stack traces with errors' },
  'no-color': { type: 'boolean', description: 'no colours, even on a terminal (NO_COLOR=1 does the same)' },
};

/** The `--help` text of a command. */
export function commandHelp(cmd: Command): string {
  const lines = [`Usage: beambridge ${cmd.name}${cmd.args ? ' ' + cmd.args : ''} [options]`, '', cmd.description, '', 'Options:'];
  const all = { ...cmd.options, ...GLOBAL_OPTIONS };
  const labels = Object.entries(all).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : '    ';
    return [`  ${short}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`, o.description] as const;
  });
  const width = Math.max(...labels.map(([l]) => l.length)) + 2;
  for (const [l, d] of labels) lines.push(l.padEnd(width) + d);
  lines.push('', cmd.examples.length === 1 ? 'Example:' : 'Examples:');
  for (const e of cmd.examples) lines.push(`  $ ${e}`);
  return lines.join('\n') + '\n';
}

/** A string option's value, or `undefined`. */
export function str(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

/** A boolean option's value. */
export function flag(v: Values, name: string): boolean {
  return v[name] === true;
}

/** An integer option in `[min, max]`, or `def` when absent; a usage error otherwise. */
export function int(v: Values, name: string, def: number | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const s = str(v, name);
  if (s === undefined) return def;
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not '${s}'`);
  return Number(s);
}

/** A string option restricted to `choices`, or `def` when absent. */
export function choice<T extends string>(v: Values, name: string, choices: readonly T[], def: T): T {
  const s = str(v, name);
  if (s === undefined) return def;
  if (!(choices as readonly string[]).includes(s)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, not '${s}'`);
  return s as T;
}
