// Thrift benchmark: beambridge against npm thrift 0.24 (with code from
// `thrift --gen js:node,ts,es6`, generated into a temp dir now) and thriftrw,
// in one run, on one machine. Prints ops/s and the ratio of beambridge to the
// fastest other library for every item, per round and the median of the rounds:
//   codec: encode/decode of ChatMessage and of a 500-entry map<i64, PresenceState>
//          (the presence() result struct), and that decode followed by reading
//          every entry, binary protocol (rates per CPU-second; the libraries of
//          an item take turns in 5 ms slices within each round);
//   round trips: send() sequentially, and with 64 calls outstanding, from each
//          client to the same server (beambridge's, in a child process) over loopback.
// Run: npm run bench:thrift   (bounded: every item runs for a fixed time)
// Environment: BENCH_MS (CPU ms per library and round, default 200), BENCH_ROUNDS
// (default 5), BENCH_RTT_MS (wall ms per round trip measurement, default 700).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ChatMessage, ChatChannel_presence, ChatChannelClient } from '../dist/chat/index.js';
import { encodeWith, decodeWith, I64Map } from '../dist/thrift/index.js';
import { median } from './stats.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(repo, 'package.json'));
const thrift = require('thrift');
const { Thrift: ThriftRW } = require('thriftrw');
const Long = require('long');

const MS = Number(process.env.BENCH_MS ?? 200); // CPU time per library and round
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5); // the median is reported

// --- apache code, generated now -------------------------------------------------
const gen = mkdtempSync(join(tmpdir(), 'beambridge-bench-'));
process.on('exit', () => rmSync(gen, { recursive: true, force: true }));
execFileSync('thrift', ['--gen', 'js:node,ts,es6', '-out', gen, join(repo, 'idl', 'chat.thrift')]);
symlinkSync(join(repo, 'node_modules'), join(gen, 'node_modules'));
// The generated module keeps its result structs private; export the one the codec items need.
writeFileSync(
  join(gen, 'ChatChannel.js'),
  readFileSync(join(gen, 'ChatChannel.js'), 'utf8') + '\nmodule.exports.ChatChannel_presence_result = ChatChannel_presence_result;\n',
);
const ap = require(join(gen, 'chat_types.js'));
const ApService = require(join(gen, 'ChatChannel.js'));

// --- thriftrw models ------------------------------------------------------------
const idlText = readFileSync(join(repo, 'idl', 'chat.thrift'), 'utf8').replace(/^namespace.*$/gm, '');
const rw = new ThriftRW({ source: idlText, strict: false, allowOptionalArguments: true });
const rwEntries = new ThriftRW({
  source: `enum PresenceState { OFFLINE = 0, IDLE = 1, ONLINE = 2 }
typedef map<i64, PresenceState> (js.type = 'entries') PMap
service S { PMap presence(1: list<i64> ids) }`,
  strict: false,
  allowOptionalArguments: true,
});
const rwLong = new ThriftRW({
  source: `enum PresenceState { OFFLINE = 0, IDLE = 1, ONLINE = 2 }
typedef i64 (js.type = 'Long') long
typedef map<long, PresenceState> (js.type = 'entries') PMap
service S { PMap presence(1: list<i64> ids) }`,
  strict: false,
  allowOptionalArguments: true,
});

// --- data -------------------------------------------------------------------
const msg = { id: 12345678901n, fromId: 42n, toId: 43n, text: 'hello there, how are you?', sentAtMs: 1700000000123n, clientMsgId: 'c-123456' };
const b8 = (v) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(v));
  return b;
};
const rwMsg = { id: b8(msg.id), fromId: b8(msg.fromId), toId: b8(msg.toId), text: msg.text, sentAtMs: b8(msg.sentAtMs), clientMsgId: msg.clientMsgId };
const apMsg = () => new ap.ChatMessage({ id: new thrift.Int64(12345678901), fromId: 42, toId: 43, text: msg.text, sentAtMs: new thrift.Int64(1700000000123), clientMsgId: msg.clientMsgId });
const keys = Array.from({ length: 500 }, (_, i) => 1_000_000n + BigInt(i) * 7919n);
const names = ['OFFLINE', 'IDLE', 'ONLINE'];
const ourMap = new I64Map(keys.map((k, i) => [k, i % 3])); // the type map<i64, V> decodes to
const plainMap = new Map(keys.map((k, i) => [k, i % 3]));
const apMapObj = Object.fromEntries(keys.map((k, i) => [String(k), i % 3]));
const rwMapObj = Object.fromEntries(keys.map((k, i) => [k.toString(16).padStart(16, '0'), names[i % 3]]));
const rwMapEntries = keys.map((k, i) => [b8(k), names[i % 3]]);
const rwMapLong = keys.map((k, i) => [Long.fromString(String(k)), names[i % 3]]);

const ourMsgBytes = ChatMessage.encode(msg);
const writePresence = (p, v) => ChatChannel_presence.writeResult(p, v);
const readPresence = (p) => ChatChannel_presence.readResult(p);
const ourMapBytes = encodeWith('binary', writePresence, ourMap);

function apEncode(struct) {
  let out;
  const t = new thrift.TBufferedTransport(undefined, (buf) => (out = buf));
  const p = new thrift.TBinaryProtocol(t);
  struct.write(p);
  t.flush();
  return out;
}
function apDecode(Cls, bytes) {
  const p = new thrift.TBinaryProtocol(new thrift.TFramedTransport(bytes));
  const v = new Cls();
  v.read(p);
  return v;
}
const RwCM = rw.getType('ChatMessage');
const RwPres = rw.getType('ChatChannel::presence_result');
const RwPresE = rwEntries.getType('S::presence_result');
const RwPresL = rwLong.getType('S::presence_result');
const apMapBytes = apEncode(new ApService.ChatChannel_presence_result({ success: apMapObj }));
const rwMsgBytes = RwCM.toBuffer(rwMsg);

// Sanity: everyone decodes the same bytes to the same values (where they can).
if (!ourMsgBytes.equals(rwMsgBytes) || !ourMsgBytes.equals(apEncode(apMsg()))) throw new Error('ChatMessage bytes differ between libraries');
const apKeys = Object.keys(apDecode(ApService.ChatChannel_presence_result, ourMapBytes).success);
const apMapNote = apKeys.length === 500 ? '' : ` (apache decodes it to ${apKeys.length} distinct keys)`;

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * One round of a codec item: the libraries take turns in slices of about
 * 5 ms of CPU time until each has had MS ms, so that garbage collections and
 * load spikes fall on each alike. Returns calls per CPU-second, by name.
 */
function round(fns) {
  const names = Object.keys(fns);
  for (const k of names) for (let i = 0; i < 200; i++) fns[k](); // warm-up
  const ops = Object.fromEntries(names.map((k) => [k, 0]));
  const used = Object.fromEntries(names.map((k) => [k, 0]));
  while (names.some((k) => used[k] < MS * 1000)) {
    for (const k of names) {
      if (used[k] >= MS * 1000) continue;
      const t0 = cpuMicros();
      let n = 0;
      let dt;
      do {
        for (let i = 0; i < 8; i++) fns[k]();
        n += 8;
        dt = cpuMicros() - t0;
      } while (dt < 5000);
      ops[k] += n;
      used[k] += dt;
    }
  }
  return Object.fromEntries(names.map((k) => [k, (ops[k] * 1e6) / used[k]]));
}

/** ROUNDS rounds: each library's rate per round. */
function rounds(fns) {
  const out = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    globalThis.gc?.();
    const got = round(fns);
    for (const k of Object.keys(got)) out[k].push(got[k]);
  }
  return out;
}

const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0)).padStart(8);
const rows = [];
/** Prints an item: each library's median rate, and beambridge's ratio to the fastest other library, per round and median. */
function report(item, r, note = '') {
  const med = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
  const others = Object.keys(r).filter((k) => k !== 'beambridge');
  const bestName = others.reduce((a, b) => (med[b] > med[a] ? b : a));
  const perRound = r.beambridge.map((x, i) => x / r[bestName][i]);
  const ratio = median(perRound);
  rows.push({ item, ratio, perRound });
  console.log(
    `${item.padEnd(40)} beambridge ${fmt(med.beambridge)}/s  ${others.map((k) => `${k} ${fmt(med[k])}/s`).join('  ')}  ratio ${ratio.toFixed(2)}x vs ${bestName} (rounds ${perRound.map((x) => x.toFixed(2)).join(' ')})${note}`,
  );
}

console.log(`node ${process.version}; ${MS} ms of CPU per library and round, ${ROUNDS} rounds (median); binary protocol\n`);
console.log('codec');
report('ChatMessage encode', rounds({
  beambridge: () => ChatMessage.encode(msg),
  apache: () => apEncode(apMsg()),
  thriftrw: () => RwCM.toBuffer(rwMsg),
}));
report('ChatMessage decode', rounds({
  beambridge: () => ChatMessage.decode(ourMsgBytes),
  apache: () => apDecode(ap.ChatMessage, ourMsgBytes),
  thriftrw: () => RwCM.fromBuffer(ourMsgBytes),
}));
report('map<i64,PresenceState> x500 encode', rounds({
  beambridge: () => encodeWith('binary', writePresence, ourMap),
  apache: () => apEncode(new ApService.ChatChannel_presence_result({ success: apMapObj })),
  'thriftrw(object)': () => RwPres.toBuffer({ success: rwMapObj }),
  'thriftrw(entries)': () => RwPresE.toBuffer({ success: rwMapEntries }),
  'thriftrw(Long)': () => RwPresL.toBuffer({ success: rwMapLong }),
}), ' (apache: decimal-string keys, parsed as hex: #1519)');
report('map<i64,PresenceState> x500 decode', rounds({
  beambridge: () => decodeWith('binary', readPresence, ourMapBytes),
  apache: () => apDecode(ApService.ChatChannel_presence_result, apMapBytes),
  'thriftrw(object)': () => RwPres.fromBuffer(ourMapBytes),
  'thriftrw(entries)': () => RwPresE.fromBuffer(ourMapBytes),
  'thriftrw(Long)': () => RwPresL.fromBuffer(ourMapBytes),
}), apMapNote);
// Decoding is half the work: the caller then reads the map. Each library
// iterates what it decoded, touching every key and value as it gives them
// (beambridge: bigint keys; thriftrw: hex strings, 8-byte Buffers or Longs).
let sink = 0;
report('map<i64,PresenceState> x500 decode + read every entry', rounds({
  beambridge: () => {
    for (const [k, v] of decodeWith('binary', readPresence, ourMapBytes)) sink += v + (k === 0n ? 1 : 0);
  },
  apache: () => {
    const o = apDecode(ApService.ChatChannel_presence_result, apMapBytes).success;
    for (const k in o) sink += o[k] + (k === '' ? 1 : 0);
  },
  'thriftrw(object)': () => {
    const o = RwPres.fromBuffer(ourMapBytes).success;
    for (const k in o) sink += o[k].length + (k === '' ? 1 : 0);
  },
  'thriftrw(entries)': () => {
    for (const [k, v] of RwPresE.fromBuffer(ourMapBytes).success) sink += v.length + (k === null ? 1 : 0);
  },
  'thriftrw(Long)': () => {
    for (const [k, v] of RwPresL.fromBuffer(ourMapBytes).success) sink += v.length + (k === null ? 1 : 0);
  },
}));
const info = rounds({
  'encode from a plain Map<bigint, V>': () => encodeWith('binary', writePresence, plainMap),
  'decode, then get() every key': () => {
    const m = decodeWith('binary', readPresence, ourMapBytes);
    for (const k of keys) sink += m.get(k);
  },
  'compact ChatMessage encode+decode': () => ChatMessage.decode(ChatMessage.encode(msg, 'compact'), 'compact'),
});
for (const [k, v] of Object.entries(info)) console.log(`(info) beambridge ${k}: ${fmt(median(v))}/s`);
if (sink < 0) console.log(sink);

// --- round trips ------------------------------------------------------------------
const server = spawn(process.execPath, [join(repo, 'bench', 'thrift-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  server.stdout.setEncoding('utf8');
  server.stdout.on('data', (d) => {
    const m = /PORT (\d+)/.exec(d);
    if (m) resolve(Number(m[1]));
  });
  server.once('exit', (c) => reject(new Error(`bench server exited (${c})`)));
});

const ours = await ChatChannelClient.connect({ port, poolSize: 1 });
const conn = thrift.createConnection('127.0.0.1', port, { transport: thrift.TFramedTransport, protocol: thrift.TBinaryProtocol });
await new Promise((r, j) => (conn.once('connect', r), conn.once('error', j)));
const apClient = thrift.createClient(ApService, conn);
// (es6 flavour: methods return Promises.)
const apSend = () => apClient.send(1, 2, 'hello', 'c');
const ourSend = () => ours.send(1, 2, 'hello', 'c');

const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 700);
async function rtt(call, outstanding) {
  const end = Date.now() + RTT_MS;
  let n = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: outstanding }, async () => {
      while (Date.now() < end) {
        await call();
        n++;
      }
    }),
  );
  return (n * 1e9) / Number(process.hrtime.bigint() - t0);
}
/** Round trips per second of each client, round by round (wall time, RTT_MS each). */
async function rttRounds(fns, outstanding) {
  const out = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (const fn of Object.values(fns)) for (let i = 0; i < 200; i++) await fn();
  for (let r = 0; r < ROUNDS; r++) for (const [k, fn] of Object.entries(fns)) out[k].push(await rtt(fn, outstanding));
  return out;
}
console.log('\nround trips (send(), one connection each, same server process)');
report('sequential', await rttRounds({ beambridge: ourSend, apache: apSend }, 1));
report('64 outstanding', await rttRounds({ beambridge: ourSend, apache: apSend }, 64));

await ours.close();
conn.end();
server.stdin.end();
await new Promise((r) => server.once('exit', r));

console.log('\nratios (beambridge / fastest other; targets: codec >= 1.0, sequential >= 1.0, 64 outstanding >= 1.2)');
for (const { item, ratio } of rows) console.log(`  ${item.padEnd(34)} ${ratio.toFixed(2)}x`);
