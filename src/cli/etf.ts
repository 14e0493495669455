// `beambridge etf decode | encode | explain`: thin layers over the ETF codec,
// the term text syntax, the MessagePack bridge and explain().
import { decode, encode, formatTerm, jsonToTerm, parseTerm, termToJson, type Term } from '../etf/index.js';
import { toMsgpack } from '../etf/msgpack.js';
import { explain } from '../etf/explain.js';
import { choice, flag, int, type Command } from './command.js';
import { CommandFailed, INPUT_FORMATS, OUTPUT_FORMATS, readAll, readBytesArg, UsageError, writeBytes, type InputFormat, type OutputFormat } from './io.js';
import { renderExplanation } from './render.js';

const inputOption = {
  type: 'string',
  short: 'i',
  arg: 'FMT',
  description: `how the input is written: ${INPUT_FORMATS.join(', ')} (default auto: raw bytes from a file or stdin start with 131)`,
} as const;

const formatOption = {
  type: 'string',
  short: 'f',
  arg: 'FMT',
  description: `how bytes are printed: ${OUTPUT_FORMATS.join(', ')} (default hex; erl prints <<131,...>>)`,
} as const;

function outputFormat(v: Parameters<Command['run']>[1]): OutputFormat {
  if (flag(v, 'base64')) return 'base64';
  if (flag(v, 'raw')) return 'raw';
  return choice(v, 'format', OUTPUT_FORMATS, 'hex');
}

export const etfDecode: Command = {
  name: 'etf decode',
  summary: 'print an external term (hex, base64 or raw bytes) in Erlang syntax',
  args: '[HEX... | @file | -]',
  description: [
    'Decodes an external term and prints it in Erlang syntax. The input is hex, base64,',
    'an Erlang byte list (<<131,...>>), raw bytes from @file or stdin (-, the default when',
    'stdin is not a terminal). Compressed terms (131, 80, ...) are inflated. Floats keep',
    'their type (1.0 stays 1.0). On bad input it names the offset and the reason, exit 1.',
  ].join('\n'),
  options: {
    input: inputOption,
    json: { type: 'boolean', description: 'print lossless JSON instead (see the README for the form)' },
    strings: { type: 'boolean', short: 's', description: 'print lists of printable characters as "strings", as the shell does' },
    nodes: { type: 'boolean', description: "print pids, ports and refs with their node: <'a@host'.85.0>" },
    msgpack: { type: 'boolean', description: 'print the lossless MessagePack encoding instead, as --format says' },
    format: formatOption,
    base64: { type: 'boolean', description: 'with --msgpack: same as --format base64' },
    raw: { type: 'boolean', description: 'with --msgpack: same as --format raw' },
  },
  examples: [
    'beambridge etf decode 836804770262616d000000026869',
    "erl -noshell -eval 'io:put_chars(term_to_binary({ok, 1.0})), halt().' | beambridge etf decode",
    'beambridge etf decode @term.bin --json',
  ],
  positionals: { min: 0, max: Infinity },
  async run(ctx, v, pos) {
    if (flag(v, 'json') && flag(v, 'msgpack')) throw new UsageError('--json and --msgpack exclude each other');
    const bytes = await readBytesArg(pos, choice<InputFormat>(v, 'input', INPUT_FORMATS, 'auto'), ctx.io);
    const term = decode(bytes, { lossless: true });
    if (flag(v, 'msgpack')) writeBytes(ctx.io, toMsgpack(term), outputFormat(v));
    else if (flag(v, 'json')) ctx.io.stdout.write(termToJson(term) + '\n');
    else ctx.io.stdout.write(formatTerm(term, { strings: flag(v, 'strings'), nodes: flag(v, 'nodes') }) + '\n');
  },
};

export const etfEncode: Command = {
  name: 'etf encode',
  summary: "turn Erlang term text into external term bytes",
  args: "'TERM' | -",
  description: [
    'Parses a term written in Erlang syntax and prints its external term format encoding,',
    'as term_to_binary/1 would make it: hex by default, or base64, raw bytes, or an Erlang',
    'byte list. A trailing dot is optional. - reads the term from stdin.',
  ].join('\n'),
  options: {
    format: formatOption,
    base64: { type: 'boolean', description: 'same as --format base64' },
    raw: { type: 'boolean', description: 'same as --format raw (bytes to stdout)' },
    compressed: { type: 'boolean', short: 'z', description: 'compress (tag 80), like term_to_binary(T, [compressed])' },
    level: { type: 'string', arg: 'N', description: 'zlib level 0-9 with --compressed (default 6)' },
    json: { type: 'boolean', description: 'the input is the lossless JSON form (what decode --json prints)' },
  },
  examples: [
    "beambridge etf encode '{ok, [1, 2.5, <<\"hi\">>], #{a => b}}'",
    "beambridge etf encode --compressed --base64 '\"a long string a long string\"'",
    "beambridge etf encode --raw '{hello, world}' > term.bin",
  ],
  positionals: { min: 1, max: 1 },
  async run(ctx, v, pos) {
    const text = pos[0] === '-' ? (await readAll(ctx.io.stdin)).toString('utf8') : pos[0];
    let term: Term;
    if (flag(v, 'json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        throw new CommandFailed(`bad JSON: ${(e as Error).message}`);
      }
      term = jsonToTerm(parsed);
    } else {
      term = parseTerm(text);
    }
    const level = int(v, 'level', undefined, 0, 9);
    if (level !== undefined && !flag(v, 'compressed')) throw new UsageError('--level needs --compressed');
    const compressed = flag(v, 'compressed') ? (level ?? true) : undefined;
    writeBytes(ctx.io, encode(term, compressed === undefined ? {} : { compressed }), outputFormat(v));
  },
};

export const etfExplain: Command = {
  name: 'etf explain',
  summary: 'dissect external term bytes: every tag with offset, length and meaning',
  args: '[HEX... | @file | -]',
  description: [
    'Prints an annotated dissection of external term bytes: each tag with its byte offset,',
    'its bytes, its name in erl_ext_dist and what it means, indented by nesting. When the',
    'bytes are malformed it shows everything up to the problem, then the offset and the',
    'reason, and exits 1. Inside a compressed term, offsets (marked z) count from the start',
    'of the inflated data.',
  ].join('\n'),
  options: {
    input: inputOption,
    fields: { type: 'boolean', short: 'v', description: "also list each tag's fields (Len, Arity, Creation, ...)" },
    json: { type: 'boolean', description: 'print the dissection as JSON' },
    'no-version': { type: 'boolean', description: 'the bytes start with a tag, not 131 (terms after a distribution header)' },
    'max-nodes': { type: 'string', arg: 'N', description: 'list at most N tags (default 10000); the rest are counted' },
  },
  examples: ['beambridge etf explain 8368027702...', 'beambridge etf explain --fields @term.bin', 'beambridge etf explain --json 836a'],
  positionals: { min: 0, max: Infinity },
  async run(ctx, v, pos) {
    const bytes = await readBytesArg(pos, choice<InputFormat>(v, 'input', INPUT_FORMATS, 'auto'), ctx.io);
    const x = explain(bytes, { version: !flag(v, 'no-version'), maxNodes: int(v, 'max-nodes', 10_000, 1) });
    if (flag(v, 'json')) ctx.io.stdout.write(JSON.stringify(x) + '\n');
    else ctx.io.stdout.write(renderExplanation(x, ctx.out, { fields: flag(v, 'fields') }));
    return x.error ? 1 : 0;
  },
};

export const etfCommands: Command[] = [etfDecode, etfEncode, etfExplain];
