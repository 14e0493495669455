// Terminal plumbing for the CLI: the streams a command writes to, colours that
// appear only on a TTY (and never with NO_COLOR), a progress line for
// long-running commands, the CLI's two error classes, and reading the bytes a
// user gives as HEX, base64, an Erlang byte list, @file or stdin.
import { readFile } from 'node:fs/promises';
import { BeamBridgeError } from '../errors.js';
import { deadline } from '../deadline.js';

/** The process streams a command uses; tests and `main` pass the real ones. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** A usage error: bad arguments or options. The CLI exits with status 2. */
export class UsageError extends BeamBridgeError {
  constructor(message: string) {
    super('ERR_CLI_USAGE', message);
  }
}

/**
 * A failure the command reports (a `pang`, an rpc that raised, a refused
 * connection). The CLI prints the message and exits with status 1.
 */
export class CommandFailed extends BeamBridgeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CLI_FAILED', message, options);
  }
}

/** A port the command must listen on is taken. Code `ERR_PORT_IN_USE`, exit status 1. */
export class PortInUse extends BeamBridgeError {
  constructor(
    readonly address: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super('ERR_PORT_IN_USE', `${address}:${port} is already in use: choose another port, or stop what listens there`, options);
  }
}

/**
 * The EADDRINUSE under `e` (itself or along its `cause` chain), as a
 * {@link PortInUse}; `e` when it is already one with a stable code of its own.
 */
export function portInUse(e: unknown): BeamBridgeError | undefined {
  for (let x = e, depth = 0; x instanceof Error && depth < 8; x = x.cause, depth++) {
    if (x instanceof BeamBridgeError && x.code === 'ERR_PORT_IN_USE') return x;
    const n = x as NodeJS.ErrnoException & { address?: string; port?: number };
    if (n.code === 'EADDRINUSE') return new PortInUse(n.address ?? '127.0.0.1', n.port ?? 0, { cause: e });
  }
  return undefined;
}

const CODES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], blue: [34, 39], magenta: [35, 39], cyan: [36, 39], gray: [90, 39] } as const;

/** A colour name {@link Style} knows. */
export type Colour = keyof typeof CODES;

/** Colours for one stream: active only when that stream is a TTY and colour is wanted. */
export class Style {
  constructor(readonly enabled: boolean) {}

  /** Wraps `text` in the ANSI codes of `colour` when colours are enabled. */
  paint(colour: Colour, text: string): string {
    if (!this.enabled || text === '') return text;
    const [on, off] = CODES[colour];
    return `\x1b[${on}m${text}\x1b[${off}m`;
  }
}

/**
 * Whether to colour a stream: never with NO_COLOR (any non-empty value, see
 * no-color.org), `--no-color` or TERM=dumb; always with FORCE_COLOR (non-zero);
 * otherwise only when the stream is a TTY.
 */
export function wantColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, noColorFlag: boolean): boolean {
  if (noColorFlag || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/**
 * A one-line status on stderr for long-running commands, redrawn in place. It is
 * shown only when stderr is a TTY; call {@link clear} before printing a line.
 */
export class Progress {
  private shown = false;
  private last = '';

  constructor(
    private readonly stream: Io['stderr'],
    private readonly enabled: boolean,
  ) {}

  /** Replaces the status line. */
  update(text: string): void {
    if (!this.enabled || text === this.last) return;
    this.last = text;
    this.stream.write(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  /** Erases the status line (before ordinary output); the next update redraws it. */
  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[2K');
    this.shown = false;
    this.last = '';
  }
}

/** How the user's bytes are written: `auto` tells raw, hex, base64 and byte lists apart. */
export type InputFormat = 'auto' | 'hex' | 'base64' | 'raw' | 'list';

/** The input formats `--input` accepts. */
export const INPUT_FORMATS: readonly InputFormat[] = ['auto', 'hex', 'base64', 'raw', 'list'];

/** Reads all of a readable stream. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * The bytes named by a command's arguments: `@file` (a file's contents), `-` or
 * nothing (stdin, unless it is a terminal), or the arguments' own text (several
 * are joined with spaces, so unquoted `83 68 02 ...` works).
 */
export async function readBytesArg(args: string[], format: InputFormat, io: Io, looksRaw: (b: Buffer) => boolean = isEtf): Promise<Buffer> {
  if (args.length > 1 && args.some((a) => a === '-' || a.startsWith('@'))) throw new UsageError('give one input: HEX, @file or -');
  const arg = args.length > 1 ? args.join(' ') : args[0];
  if (arg === undefined || arg === '-') {
    if (arg === undefined && io.stdin.isTTY) throw new UsageError('no input: give HEX, base64, @file, or - to read stdin');
    return parseBytes(await readAll(io.stdin), false, format, looksRaw);
  }
  if (arg.startsWith('@')) return parseBytes(await readInputFile(arg.slice(1)), false, format, looksRaw);
  return parseBytes(Buffer.from(arg, 'utf8'), true, format, looksRaw);
}

/** A file the user named; a missing or unreadable one is a reported failure (exit 1). */
export async function readInputFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new CommandFailed(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Raw external term bytes start with the version byte 131. */
export function isEtf(b: Buffer): boolean {
  return b[0] === 131;
}

/**
 * Turns what the user gave into bytes. `fromText` is true for a command-line
 * argument (which cannot hold raw bytes). In `auto` mode: data from a file or
 * stdin for which `looksRaw` holds (for ETF: starts with 131) is taken as is; otherwise the text is tried as an
 * Erlang byte list (`<<131,100,...>>` or `[131,100,...]`), then hex (spaces,
 * colons and a 0x prefix allowed), then base64 (standard or URL-safe).
 */
export function parseBytes(data: Buffer, fromText: boolean, format: InputFormat, looksRaw: (b: Buffer) => boolean = isEtf): Buffer {
  if (format === 'raw') return data;
  if (format === 'auto' && !fromText && looksRaw(data)) return data;
  const text = data.toString('latin1').trim();
  const asList = byteList(text);
  const hex = text.replace(/^0x/i, '').replace(/[\s:]+/g, '');
  const isHex = /^(?:[0-9a-fA-F]{2})*$/.test(hex);
  const b64 = text.replace(/\s+/g, '');
  const isB64 = /^[A-Za-z0-9+/_-]*={0,2}$/.test(b64) && b64.replace(/=+$/, '').length % 4 !== 1;
  switch (format) {
    case 'list':
      if (asList) return asList;
      throw new CommandFailed('input is not an Erlang byte list such as <<131,106>>');
    case 'hex':
      if (isHex) return Buffer.from(hex, 'hex');
      throw new CommandFailed('input is not hex: expected an even number of hex digits');
    case 'base64':
      if (isB64) return Buffer.from(b64, 'base64');
      throw new CommandFailed('input is not base64');
    default:
      if (asList) return asList;
      if (isHex && hex.length > 0) return Buffer.from(hex, 'hex');
      if (isB64 && b64.length > 0) return Buffer.from(b64, 'base64');
      if (!fromText && data.length > 0) return data;
      throw new CommandFailed('cannot read the input as hex, base64 or an Erlang byte list (use --input to say which)');
  }
}

function byteList(text: string): Buffer | undefined {
  const m = /^(?:<<([\d\s,]*)>>|\[([\d\s,]*)\])$/.exec(text);
  if (!m) return undefined;
  const body = (m[1] ?? m[2]).trim();
  if (body === '') return Buffer.alloc(0);
  const parts = body.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d{1,3}$/.test(s) || Number(s) > 255)) return undefined;
  return Buffer.from(parts.map(Number));
}

/** How bytes are printed: hex (default), base64, raw bytes, or an Erlang byte list. */
export type OutputFormat = 'hex' | 'base64' | 'raw' | 'erl';

/** The output formats `--format` accepts. */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['hex', 'base64', 'raw', 'erl'];

/** Writes `bytes` to stdout in `format`, with a newline unless raw. */
export function writeBytes(io: Io, bytes: Uint8Array, format: OutputFormat): void {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (format) {
    case 'raw':
      io.stdout.write(buf);
      return;
    case 'base64':
      io.stdout.write(buf.toString('base64') + '\n');
      return;
    case 'erl':
      io.stdout.write(`<<${[...buf].join(',')}>>\n`);
      return;
    default:
      io.stdout.write(buf.toString('hex') + '\n');
  }
}

/** Wall-clock time as `HH:MM:SS.mmm` (local), for event lines. */
export function clock(d: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Resolves when `signal` aborts (at once if it already has). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => void deadline({ signal }, () => {}, () => resolve()));
}
