// `beambridge thrift decode`: a thin layer over the Thrift dissector
// (src/thrift/dissect.ts) and IDL parser.
import type { ThriftIdl } from '../thrift/index.js';
import { choice, flag, str, type Command } from './command.js';
import { CommandFailed, INPUT_FORMATS, readBytesArg, readInputFile, UsageError, type InputFormat } from './io.js';

/** Raw Thrift bytes: a frame length (0x00 first for any sane size) or a strict binary / compact header. */
function looksLikeThrift(b: Buffer): boolean {
  return b[0] === 0x00 || b[0] === 0x80 || b[0] === 0x82;
}

export const thriftDecode: Command = {
  name: 'thrift decode',
  summary: 'dissect a Thrift message: type, method, seqid and the field tree',
  args: '[HEX... | @file | -]',
  description: [
    'Dissects one framed or unframed Thrift message (binary or compact protocol, detected',
    'unless given): message type, method, seqid, and the field tree with ids, wire types,',
    'byte offsets and values. With --idl it adds the service, method, field, struct and',
    'enum names. Input as for etf decode: hex, base64, a byte list, @file or stdin.',
  ].join('\n'),
  options: {
    idl: { type: 'string', arg: 'FILE', description: 'a Thrift IDL file, e.g. idl/chat.thrift, for names' },
    protocol: { type: 'string', arg: 'NAME', description: 'binary or compact (default: detected from the first byte)' },
    framed: { type: 'boolean', description: 'a 4-byte frame length comes first (default: detected)' },
    unframed: { type: 'boolean', description: 'no frame length' },
    input: { type: 'string', short: 'i', arg: 'FMT', description: `how the input is written: ${INPUT_FORMATS.join(', ')} (default auto)` },
    json: { type: 'boolean', description: 'print the dissection as JSON (i64 as decimal strings)' },
  },
  examples: [
    'beambridge thrift decode 0000003d80010001000000047365...',
    'beambridge thrift decode --idl idl/chat.thrift --protocol compact @frame.bin',
  ],
  positionals: { min: 0, max: Infinity },
  async run(ctx, v, pos) {
    // Loaded here, not at start-up: the Thrift layer pulls in npm `thrift`, which other commands do not need.
    const { dissectThriftMessage, formatThriftDissection, parseThriftIdl, ThriftProtocolError } = await import('../thrift/index.js');
    if (flag(v, 'framed') && flag(v, 'unframed')) throw new UsageError('--framed and --unframed exclude each other');
    const protocol = str(v, 'protocol') === undefined ? undefined : choice(v, 'protocol', ['binary', 'compact'] as const, 'binary');
    let idl: ThriftIdl | undefined;
    const idlPath = str(v, 'idl');
    if (idlPath !== undefined) idl = parseThriftIdl((await readInputFile(idlPath)).toString('utf8'));
    const bytes = await readBytesArg(pos, choice<InputFormat>(v, 'input', INPUT_FORMATS, 'auto'), ctx.io, looksLikeThrift);
    const framed = flag(v, 'framed') ? true : flag(v, 'unframed') ? false : 'auto';
    let m;
    try {
      m = dissectThriftMessage(bytes, { protocol, framed, idl });
    } catch (e) {
      if (e instanceof ThriftProtocolError && e.offset >= 0 && !/offset/.test(e.message)) {
        throw new CommandFailed(`${e.code}: ${e.message} at offset ${e.offset}`, { cause: e });
      }
      throw e;
    }
    if (flag(v, 'json')) {
      ctx.io.stdout.write(JSON.stringify(m, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x && (x as { type?: string }).type === 'Buffer' ? Buffer.from((x as { data: number[] }).data).toString('hex') : x)) + '\n');
    } else {
      ctx.io.stdout.write(formatThriftDissection(m) + '\n');
    }
  },
};

export const thriftCommands: Command[] = [thriftDecode];
