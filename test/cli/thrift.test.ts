// `beambridge thrift decode` on frames captured from the Thrift tests
// (test/thrift/fixtures, recorded live between the Thrift client and server).
// The commands run in this process (cliIn); a few run the built binary (cli).
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, cliIn } from './cli.js';

const FIXTURES = fileURLToPath(new URL('../thrift/fixtures/', import.meta.url));
const IDL = fileURLToPath(new URL('../../idl/chat.thrift', import.meta.url));
const hex = (name: string) => readFileSync(join(FIXTURES, `${name}.hex`), 'utf8').trim();

t.test('every captured frame dissects, in binary and compact, with and without the IDL', async (t) => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.hex'));
  t.ok(files.length >= 10, `${files.length} captured frames`);
  const real = await cli(['thrift', 'decode', '--idl', IDL, `@${join(FIXTURES, files[0])}`]);
  t.equal(real.code, 0, `the built binary: ${real.stderr}`);
  t.equal(real.stdout, (await cliIn(['thrift', 'decode', '--idl', IDL, `@${join(FIXTURES, files[0])}`])).stdout, 'prints what the command prints in-process');
  for (const f of files) {
    const name = f.replace(/\.hex$/, '');
    const protocol = name.split('-')[0];
    const plain = await cliIn(['thrift', 'decode', hex(name)]);
    t.equal(plain.code, 0, `${name}: ${plain.stderr}`);
    t.match(plain.stdout, new RegExp(`^(call|reply|exception) \\w+ seqid=\\d+ \\(${protocol}, framed \\d+ bytes`), `${name}: header line`);
    const named = await cliIn(['thrift', 'decode', '--idl', IDL, `@${join(FIXTURES, f)}`]);
    t.equal(named.code, 0, named.stderr);
    if (!name.endsWith('unknownReply')) t.match(named.stdout, /^(call|reply) ChatChannel\.\w+ /, `${name}: the IDL names the service`);
  }
});

t.test('field trees: ids, types, values and names', async (t) => {
  for (const protocol of ['binary', 'compact']) {
    const send = await cliIn(['thrift', 'decode', '--idl', IDL, hex(`${protocol}-sendCall`)]);
    t.match(send.stdout, /^call ChatChannel\.send seqid=7 /);
    t.match(send.stdout, /\n@\d+ +1 fromId: i64 42\n@\d+ +2 toId: i64 43\n@\d+ +3 text: string "hello"\n@\d+ +4 clientMsgId: string "c-1"/);
    const bare = await cliIn(['thrift', 'decode', hex(`${protocol}-sendCall`)]);
    t.match(bare.stdout, /\n@\d+ +1: i64 42\n/, 'without the IDL: ids and types only');
    const presence = await cliIn(['thrift', 'decode', '--idl', IDL, hex(`${protocol}-presenceReply`)]);
    t.match(presence.stdout, /\[9223372036854775807\] i32 \d+ \(PresenceState\.\w+\)/, 'i64 map keys above 2^53 exact, enum names');
    const unknown = await cliIn(['thrift', 'decode', hex(`${protocol}-unknownReply`)]);
    t.match(unknown.stdout, /^exception nope seqid=10 .*\n {2}TApplicationException\n.*1 message: string "unknown method ChatChannel\.nope"/);
  }
  const json = await cliIn(['thrift', 'decode', '--json', '--idl', IDL, hex('compact-sendCall')]);
  const m = JSON.parse(json.stdout) as { protocol: string; method: string; seqid: number; fields: { id: number; name: string; value: { type: string; value: unknown } }[] };
  t.match(m, { protocol: 'compact', method: 'send', seqid: 7, framed: true });
  t.same(m.fields.map((f) => [f.id, f.name, f.value.type, f.value.value]), [
    [1, 'fromId', 'i64', '42'],
    [2, 'toId', 'i64', '43'],
    [3, 'text', 'string', 'hello'],
    [4, 'clientMsgId', 'string', 'c-1'],
  ]);
});

t.test('unframed and raw input, protocol override, malformed input', async (t) => {
  const frame = Buffer.from(hex('binary-sendCall'), 'hex');
  const body = frame.subarray(4);
  const unframed = await cliIn(['thrift', 'decode', '--unframed', body.toString('hex')]);
  t.match(unframed.stdout, /^call send seqid=7 \(binary, \d+ bytes\)/);
  const dir = mkdtempSync(join(tmpdir(), 'bb-thrift-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'frame.bin'), frame);
  const raw = await cliIn(['thrift', 'decode', `@${join(dir, 'frame.bin')}`]);
  t.match(raw.stdout, /^call send seqid=7 \(binary, framed/, 'raw bytes from a file');
  const stdin = await cli(['thrift', 'decode', '-'], { input: frame });
  t.equal(stdin.stdout, raw.stdout, 'raw bytes on stdin');

  const wrong = await cli(['thrift', 'decode', '--protocol', 'compact', hex('binary-sendCall')]);
  t.equal(wrong.code, 1, 'binary bytes read as compact fail');
  t.match(wrong.stderr, /^beambridge thrift decode: ERR_THRIFT_\w+: .*offset/);
  const cut = await cliIn(['thrift', 'decode', hex('binary-pollReply').slice(0, 60)]);
  t.equal(cut.code, 1);
  t.match(cut.stderr, /ERR_THRIFT_TRUNCATED/);
  t.equal((await cliIn(['thrift', 'decode', '--protocol', 'json', hex('binary-sendCall')])).code, 2, 'an unknown protocol is a usage error');
  t.equal((await cliIn(['thrift', 'decode', '--framed', '--unframed', hex('binary-sendCall')])).code, 2);
  const noIdl = await cliIn(['thrift', 'decode', '--idl', join(dir, 'missing.thrift'), hex('binary-sendCall')]);
  t.equal(noIdl.code, 1);
  t.match(noIdl.stderr, /cannot read .*missing\.thrift: ENOENT/);
});
