// `beambridge etf decode | encode | explain` on bytes made by real Erlang and
// checked by real Erlang. Most cases run the commands in this process (cliIn);
// a few per command run the built binary as a user would (cli, cliTty, npx).
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, termEquals } from '../../src/etf/index.js';
import { fromMsgpack } from '../../src/etf/msgpack.js';
import { otpRoot } from '../../src/testing/index.js';
import { EtfOracle } from '../helpers/etf-oracle.js';
import { commands } from '../../src/cli/run.js';
import { cli, cliIn, cliTty, plainEnv } from './cli.js';

// Terms Erlang writes, encodes, and later reads back from our text output.
// (No pids, ports, refs or local funs: Erlang cannot parse those back from text.)
const TERMS = [
  '{ok, [1, 2.5, 1.0, <<"hi">>, "str"], #{a => {b, -0.0}}}',
  '[0, -1, 255, 256, 134217728, -2147483648, 2147483648, 9007199254740993, -18446744073709551616]',
  "{'Quoted atom', 'hello world', [], {}, #{}, <<>>, <<1:3>>, <<255, 0, 7:4>>}",
  "[a | b]",
  "#{{1, 2} => [x], <<\"k\">> => 1.5e-10, 3 => 'ä'}",
  "{fun lists:map/2, 'ünïcødé', <<\"héllo\"/utf8>>, 5.0e-324, 1.7976931348623157e308}",
  'lists:seq(1, 300)',
];

// One long-running erl (test/erl/etf_oracle.erl) makes and checks every term of
// this file, instead of one erl start per question.
let oracleStarted: Promise<EtfOracle> | undefined;
function oracle(): Promise<EtfOracle> {
  oracleStarted ??= EtfOracle.start({ root: otpRoot(), t });
  return oracleStarted;
}

/** term_to_binary of each expression, as hex (upper case), from the one erl; with `compressed` set, compressed. */
async function erlHex(exprs: string[], opts = '[]'): Promise<string[]> {
  const o = await oracle();
  return Promise.all(exprs.map(async (e) => (await o.evalBinary(`term_to_binary(${e}, ${opts})`)).toString('hex').toUpperCase()));
}

/** For each (expression, text) pair, Erlang's verdict on `parse_term(text) =:= expression` (floats bit-identical). */
async function erlSame(exprs: string[], texts: string[]): Promise<boolean[]> {
  const o = await oracle();
  return Promise.all(
    exprs.map(async (e, i) => {
      // The text travels as a list of code points: no quoting, no encoding questions.
      const chars = [...texts[i]].map((c) => c.codePointAt(0)).join(',');
      const parse = `{ok, Ts, _} = erl_scan:string(string:trim([${chars}]) ++ "."), {ok, X} = erl_parse:parse_term(Ts), term_to_binary(X)`;
      const parsed = await o.evalBinary(parse).catch(() => undefined);
      if (parsed === undefined) return false;
      return (await o.check(await o.evalBinary(`term_to_binary(${e})`), parsed)).status === 'same';
    }),
  );
}

/** Erlang's verdict on `binary_to_term(hex) =:= expression` for each pair (floats bit-identical, so -0.0 keeps its sign on OTP 25 too). */
async function erlDecodes(exprs: string[], hexes: string[]): Promise<boolean[]> {
  const o = await oracle();
  return Promise.all(
    exprs.map(async (e, i) => {
      const original = await o.evalBinary(`term_to_binary(${e})`);
      return (await o.check(original, Buffer.from(hexes[i], 'hex'))).status === 'same';
    }),
  );
}

t.test('decode prints what term_to_binary encoded, in Erlang syntax Erlang reads back', async (t) => {
  const hexes = await erlHex(TERMS);
  const texts: string[] = [];
  for (const h of hexes) {
    const r = await cliIn(['etf', 'decode', h]);
    t.equal(r.code, 0, `decode ${h.slice(0, 20)}... exits 0 (${r.stderr})`);
    t.equal(r.stderr, '');
    texts.push(r.stdout.trim());
  }
  t.same(await erlSame(TERMS, texts), TERMS.map(() => true), 'Erlang parses every output back to the original term');
  const real = await cli(['etf', 'decode', hexes[0]]);
  t.same([real.code, real.stdout, real.stderr], [0, texts[0] + '\n', ''], 'the built binary prints the same');
  t.equal(texts[0], '{ok, [1, 2.5, 1.0, <<"hi">>, [115, 116, 114]], #{a => {b, -0.0}}}', '1.0 stays a float, -0.0 keeps its sign');
  t.equal((await cliIn(['etf', 'decode', '--strings', hexes[0]])).stdout, '{ok, [1, 2.5, 1.0, <<"hi">>, "str"], #{a => {b, -0.0}}}\n', '--strings as the shell');
  const pid = await erlHex(['self()']);
  t.match((await cliIn(['etf', 'decode', '--nodes', pid[0]])).stdout, /^<'nonode@nohost'\.\d+\.\d+>\n$/, '--nodes shows the node of a pid');
});

t.test('decode handles compressed terms', async (t) => {
  const [hex] = await erlHex(['lists:duplicate(100, <<"compress me">>)'], '[compressed]');
  t.match(hex, /^8350/, 'erl compressed it');
  const r = await cliIn(['etf', 'decode', hex]);
  t.equal(r.code, 0);
  t.same(await erlSame(['lists:duplicate(100, <<"compress me">>)'], [r.stdout.trim()]), [true]);
});

t.test('decode reads hex, base64, byte lists, @file and stdin', async (t) => {
  const [hex] = await erlHex(['{hello, <<"world">>, 42}']);
  const bytes = Buffer.from(hex, 'hex');
  const want = '{hello, <<"world">>, 42}\n';
  const dir = mkdtempSync(join(tmpdir(), 'bb-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'term.bin'), bytes);
  writeFileSync(join(dir, 'term.hex'), hex.toLowerCase() + '\n');
  const cases: [string, string[], (string | Buffer)?][] = [
    ['upper-case hex', [hex]],
    ['lower-case hex with spaces', [hex.toLowerCase().replace(/(..)/g, '$1 ').trim()]],
    ['0x-prefixed hex', ['0x' + hex]],
    ['base64', [bytes.toString('base64')]],
    ['URL-safe base64', [bytes.toString('base64url')]],
    ['an Erlang byte list', [`<<${[...bytes].join(',')}>>`]],
    ['@file with raw bytes', [`@${join(dir, 'term.bin')}`]],
    ['@file with hex text', [`@${join(dir, 'term.hex')}`]],
    ['raw bytes on stdin (-)', ['-'], bytes],
    ['raw bytes on stdin (no argument)', [], bytes],
    ['base64 on stdin', ['-'], bytes.toString('base64') + '\n'],
    ['--input hex', ['--input', 'hex', hex]],
    ['unquoted hex bytes as separate arguments', hex.toLowerCase().match(/../g)!],
  ];
  for (const [what, args, input] of cases) {
    const r = await cliIn(['etf', 'decode', ...args], { input });
    t.equal(r.stdout, want, what);
    t.equal(r.code, 0, `${what}: exit 0 ${r.stderr}`);
  }
  const piped = await cli(['etf', 'decode'], { input: bytes });
  t.same([piped.code, piped.stdout], [0, want], 'the built binary reads raw bytes piped to its stdin');
  const missing = await cliIn(['etf', 'decode', `@${join(dir, 'nope.bin')}`]);
  t.equal(missing.code, 1, 'a missing file is a reported failure');
  t.match(missing.stderr, /cannot read .*nope\.bin: ENOENT/);
});

t.test('decode --json and --msgpack go through the lossless bridges', async (t) => {
  const expr = "{ok, 1.0, -0.0, 2.5, 18446744073709551616, [a | b], #{[1] => <<0, 255>>}, <<\"text\">>, <<5:3>>, fun erlang:node/0}";
  const [hex] = await erlHex([expr]);
  const j = await cliIn(['etf', 'decode', '--json', hex]);
  t.equal(j.code, 0, j.stderr);
  const parsed = JSON.parse(j.stdout) as { $tuple: unknown[] };
  t.same(parsed.$tuple.slice(0, 5), [{ $atom: 'ok' }, { $float: 1 }, { $float: -0 }, 2.5, { $int: '18446744073709551616' }]);
  t.match(j.stdout, /\{"\$float":-0\.0\}/, '-0.0 is written with its sign');
  t.same(parsed.$tuple.slice(5), [
    { $list: [{ $atom: 'a' }], $tail: { $atom: 'b' } },
    { $map: [[[1], { $bin: 'AP8=' }]] },
    'text',
    { $bits: 'oA==', bits: 3 },
    { $export: { module: 'erlang', function: 'node', arity: 0 } },
  ]);
  // And back: the JSON encodes to the same term, as Erlang sees it.
  const back = await cliIn(['etf', 'encode', '--json', j.stdout]);
  t.equal(back.code, 0, back.stderr);
  t.same(await erlDecodes([expr], [back.stdout.trim()]), [true], 'encode --json of decode --json is =:= the original');

  const m = await cliIn(['etf', 'decode', '--msgpack', hex]);
  t.equal(m.code, 0, m.stderr);
  t.ok(termEquals(fromMsgpack(Buffer.from(m.stdout.trim(), 'hex')), decode(Buffer.from(hex, 'hex'), { lossless: true })), 'msgpack bytes hold the same term');
  const raw = await cliIn(['etf', 'decode', '--msgpack', '--raw', hex]);
  t.same(raw.raw, Buffer.from(m.stdout.trim(), 'hex'), '--raw writes the bytes themselves');
  const both = await cliIn(['etf', 'decode', '--msgpack', '--json', hex]);
  t.equal(both.code, 2, '--json with --msgpack is a usage error');
});

t.test('bad input: one line naming the offset and the reason, exit 1', async (t) => {
  const [hex] = await erlHex(['{ok, <<"truncate me">>}']);
  const cut = hex.slice(0, hex.length - 6);
  const r = await cli(['etf', 'decode', cut]);
  t.equal(r.code, 1, 'the built binary exits 1');
  t.equal(r.stdout, '');
  t.match(r.stderr, /^beambridge etf decode: ERR_DECODE_\w+: .* at offset \d+/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
  const dbg = await cliIn(['etf', 'decode', '--debug', cut]);
  t.equal(dbg.code, 1);
  t.match(dbg.stderr, /\n\s+at /, '--debug adds the stack');
  const tag = await cliIn(['etf', 'decode', '83ff']);
  t.match(tag.stderr, /ERR_DECODE_UNKNOWN_TAG: .*offset 1/);
  const junk = await cliIn(['etf', 'decode', 'not hex!']);
  t.equal(junk.code, 1);
  t.match(junk.stderr, /cannot read the input as hex, base64 or an Erlang byte list/);
  const dup = await cliIn(['etf', 'decode', '<<131,116,0,0,0,2,97,1,97,2,97,1,97,3>>']);
  t.match(dup.stderr, /ERR_DECODE_DUPLICATE_KEY.*offset 10/);
  const usage = await cli(['etf', 'decode', '--bogus', hex]);
  t.equal(usage.code, 2, 'an unknown option is a usage error (exit 2 from the built binary)');
  t.match(usage.stderr, /Unknown option '--bogus'/);
  const extra = await cliIn(['etf', 'decode', '-', hex]);
  t.equal(extra.code, 2, 'stdin and more arguments is a usage error');
  const twice = await cliIn(['etf', 'decode', hex, hex]);
  t.match(twice.stderr, /ERR_DECODE_TRAILING/, 'arguments are joined: two terms are one term and trailing bytes');
});

t.test('encode: Erlang reads back what we write, in every output format', async (t) => {
  const texts = ["{ok, [1, 2.5, <<\"hi\">>], #{a => 'B c'}}", '[1, 2 | 3]', '"abc"', '12345678901234567890123', '-0.0', '<<1, 2:4>>'];
  const hexes: string[] = [];
  for (const x of texts) {
    const r = await cliIn(['etf', 'encode', x]);
    t.equal(r.code, 0, `${x}: ${r.stderr}`);
    t.match(r.stdout, /^83[0-9a-f]+\n$/);
    hexes.push(r.stdout.trim());
  }
  t.same(await erlDecodes(texts, hexes), texts.map(() => true), 'binary_to_term gives the same term');

  const big = "{lots, <<\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">>}";
  const z = await cliIn(['etf', 'encode', '--compressed', big]);
  t.match(z.stdout, /^8350/, '--compressed uses tag 80');
  const z9 = await cliIn(['etf', 'encode', '--compressed', '--level', '9', big]);
  t.match(z9.stdout, /^8350/);
  t.same(await erlDecodes([big, big], [z.stdout.trim(), z9.stdout.trim()]), [true, true]);
  t.equal((await cliIn(['etf', 'encode', '--level', '3', big])).code, 2, '--level without --compressed is a usage error');

  const plain = Buffer.from(hexes[0], 'hex');
  t.equal((await cliIn(['etf', 'encode', '--base64', texts[0]])).stdout, plain.toString('base64') + '\n');
  t.equal((await cliIn(['etf', 'encode', '--format', 'erl', texts[0]])).stdout, `<<${[...plain].join(',')}>>\n`);
  t.same((await cliIn(['etf', 'encode', '--raw', texts[0]])).raw, plain);
  t.same((await cli(['etf', 'encode', '--raw', texts[0]])).raw, plain, 'raw bytes through the built binary\'s stdout');
  t.equal((await cliIn(['etf', 'encode', '-'], { input: texts[0] + '.\n' })).stdout, hexes[0] + '\n', "'-' reads the term from stdin");

  const bad = await cliIn(['etf', 'encode', '{unclosed, 1']);
  t.equal(bad.code, 1, 'a bad term is a reported failure');
  t.match(bad.stderr, /^beambridge etf encode: ERR_PARSE: .*offset \d+/);
  t.equal((await cliIn(['etf', 'encode'])).code, 2, 'no term is a usage error');
});

t.test('explain: every tag with offset, bytes and meaning; the error with its offset', async (t) => {
  const [hex] = await erlHex(['{ok, [1, <<"hi">>], #{k => 2.5}}']);
  const r = await cli(['etf', 'explain', hex]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.match(lines[1], /^\s+0\s+83\s+VERSION 131/);
  t.match(lines[2], /^\s+1\s+68 03\s+SMALL_TUPLE_EXT tuple of 3 elements$/);
  t.match(r.stdout, /\n\s+3\s+64 00 02 6f 6b\s+ {2}element 1: ATOM_EXT ok \(atom, Latin-1, deprecated tag\)\n/, 'children are indented');
  t.match(r.stdout, /element 2: LIST_EXT proper list of 2 elements/);
  t.match(r.stdout, /key 1: ATOM_EXT k/);
  t.match(r.stdout, /value 1: NEW_FLOAT_EXT 2\.5/);
  t.match(lines[lines.length - 1], /^\d+ bytes, valid$/);

  const fields = await cliIn(['etf', 'explain', '--fields', hex]);
  t.match(fields.stdout, /Arity \(1 byte\) = 3/);

  const json = await cliIn(['etf', 'explain', '--json', hex]);
  const x = JSON.parse(json.stdout) as { nodes: { tagName: string; children: { role: string }[] }[]; error?: unknown };
  t.equal(x.nodes[1].tagName, 'SMALL_TUPLE_EXT');
  t.same(x.nodes[1].children.map((c) => c.role), ['element 1', 'element 2', 'element 3']);
  t.notOk(x.error);

  for (const cut of [hex.slice(0, 30), hex.slice(0, hex.length - 2), hex.replace(/^8368/, '8369')]) {
    const bad = await cliIn(['etf', 'explain', cut]);
    t.equal(bad.code, 1, 'malformed bytes exit 1');
    const last = bad.stdout.trim().split('\n').pop() ?? '';
    const m = /^\s+(\d+)\s+error (ERR_DECODE_\w+): .*offset (\d+)/.exec(last);
    t.ok(m, `the error comes last: ${last}`);
    const dec = await cliIn(['etf', 'decode', cut]);
    t.match(dec.stderr, `${m?.[2]}: `, 'the same code as decode');
    t.match(dec.stderr, `offset ${m?.[3]}`, 'and the same offset');
  }
  t.match((await cliIn(['etf', 'explain', hex.slice(0, 30)])).stdout, /tuple of 3 elements \(incomplete\)/, 'open containers are marked incomplete');

  const many = await cliIn(['etf', 'explain', '--max-nodes', '3', hex]);
  t.match(many.stdout, /more not shown \(--max-nodes\)/);
  const noVersion = await cliIn(['etf', 'explain', '--no-version', hex.slice(2)]);
  t.equal(noVersion.code, 0, '--no-version reads a bare term');
});

t.test('help on every command, usage errors exit 2', async (t) => {
  const top = await cli(['--help']);
  t.equal(top.code, 0);
  const names = [...top.stdout.matchAll(/^ {2}(\S+(?: \S+)?) {2,}/gm)].map((m) => m[1]);
  t.ok(names.includes('etf decode') && names.includes('etf explain') && names.includes('epmd names'), `commands listed: ${names.join(', ')}`);
  for (const name of names) {
    const h = await cliIn([...name.split(' '), '--help']);
    t.equal(h.code, 0, `${name} --help exits 0`);
    t.match(h.stdout, new RegExp(`^Usage: beambridge ${name}`), `${name} --help shows usage`);
    t.match(h.stdout, /\nExamples?:\n {2}\$ beambridge /, `${name} --help has an example`);
  }
  const none = await cli([]);
  t.equal(none.code, 2, 'no command is a usage error');
  t.match(none.stderr, /Usage: beambridge <command>/);
  t.equal((await cliIn(['frobnicate'])).code, 2);
  t.equal((await cliIn(['etf'])).code, 2, 'a group without a command is a usage error');
  t.match((await cliIn(['help', 'etf', 'encode'])).stdout, /^Usage: beambridge etf encode/);
  t.match((await cliIn(['--version'])).stdout, /^\d+\.\d+\.\d+/);
  // Commands load lazily, by their first word: each module must claim its commands' words.
  const all = await commands();
  t.same(all.map((c) => c.name), names, 'help lists every command, in order');
  for (const c of all) t.ok((await commands(c.name.split(' ')[0])).includes(c), `${c.name} is found by its first word`);
});

t.test('npx beambridge --help lists the commands', async (t) => {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile('npx', ['--no-install', 'beambridge', '--help'], { env: plainEnv(), timeout: 120_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout))),
  );
  t.match(out, /Commands:\n {2}etf decode/);
});

t.test('colours only on a terminal, never with NO_COLOR', async (t) => {
  const args = ['etf', 'explain', '8368026a6a'];
  t.notMatch((await cliIn(args)).stdout, /\x1b\[/, 'plain when piped');
  t.match((await cli(args, { env: plainEnv({ FORCE_COLOR: '1' }) })).stdout, /\x1b\[36mSMALL_TUPLE_EXT/, 'FORCE_COLOR forces colours');
  t.notMatch((await cliIn(args, { env: plainEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }) })).stdout, /\x1b\[/, 'NO_COLOR wins');
  t.match(await cliTty(args), /\x1b\[36mSMALL_TUPLE_EXT/, 'coloured on a TTY');
  t.notMatch(await cliTty(args, plainEnv({ NO_COLOR: '1' })), /\x1b\[/, 'NO_COLOR on a TTY');
  t.notMatch(await cliTty([...args, '--no-color']), /\x1b\[/, '--no-color on a TTY');
});
