// The browser side of bench/gateway.mjs, in its own process (one process
// holds at most ~19,500 sockets here): a minimal HTTP/1.1 client on `net`
// (keep-alive, Content-Length bodies), so the client's own cost stays small.
// Driven over IPC by the orchestrator:
//   login {port, users}          signs users 1..users in (cookie and seq each)
//   hold {}                      one connection per user, one poll held on each;
//                                answers are re-polled at once; the first message
//                                event per user records now - message.sentAtMs
//   latencies {}                 <- the recorded latencies (ms), and resets them
//   cycles {conns, ms, gwPid}         closes the held polls, then `conns` connections
//                                re-poll from an old seq (answered at once from the
//                                gateway's buffer) for `ms`; <- cycles/s, and the CPU
//                                time (µs) of this process and of process gwPid in that time
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

let port = 0;
const users = []; // { id, cookie, seq, seq0 }
let latencies = [];
let holders = [];
const CRLF2 = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('\r\nContent-Length: ');

/** One keep-alive connection doing one request at a time. */
class Conn {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.cb = null;
    /** Read Set-Cookie from answers (sign-in only). */
    this.wantCookie = false;
    this.s = connect({ port, host: '127.0.0.1', noDelay: true });
    this.s.on('data', (d) => this.data(d));
    this.s.on('error', () => {});
    this.s.on('close', () => {
      const cb = this.cb;
      this.cb = null;
      if (cb) cb(new Error('closed'));
    });
  }

  request(method, path, headers, body, cb) {
    let head = `${method} ${path} HTTP/1.1\r\nHost: bench\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (body !== undefined) head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    this.raw(`${head}\r\n${body ?? ''}`, cb);
  }

  /** Writes a whole request (a string or a Buffer made once) and waits for its answer. */
  raw(bytes, cb) {
    this.cb = cb;
    this.s.write(bytes);
  }

  data(d) {
    let buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const end = buf.indexOf(CRLF2);
      if (end < 0) break;
      // The status line: `HTTP/1.1 200 OK`.
      const status = (buf[9] - 48) * 100 + (buf[10] - 48) * 10 + (buf[11] - 48);
      // Both servers spell it Content-Length (read from the bytes); anything else goes through the regex.
      let len = 0;
      const at = buf.indexOf(CONTENT_LENGTH);
      if (at >= 0 && at < end) for (let i = at + CONTENT_LENGTH.length; buf[i] >= 48 && buf[i] <= 57; i++) len = len * 10 + buf[i] - 48;
      else len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.toString('latin1', 0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) break;
      const body = buf.subarray(end + 4, end + 4 + len);
      const setCookie = this.wantCookie ? /\r\nset-cookie: *([^;\r\n]+)/i.exec(buf.toString('latin1', 0, end))?.[1] : undefined;
      buf = buf.subarray(end + 4 + len);
      const cb = this.cb;
      this.cb = null;
      if (cb) cb(null, status, body, setCookie);
    }
    this.buf = buf;
  }
}

const req = (c, method, path, headers, body) =>
  new Promise((resolve, reject) => c.request(method, path, headers, body, (e, status, b, setCookie) => (e ? reject(e) : resolve({ status, body: b, setCookie }))));

async function login(n) {
  users.length = 0;
  const conns = Array.from({ length: 64 }, () => new Conn());
  for (const c of conns) c.wantCookie = true;
  let next = 1;
  await Promise.all(conns.map(async (c) => {
    while (next <= n) {
      const id = next++;
      const r = await req(c, 'POST', '/api/login', {}, JSON.stringify({ userId: String(id) }));
      if (r.status !== 200) throw new Error(`login ${id}: ${r.status} ${r.body}`);
      const j = JSON.parse(r.body);
      users[id - 1] = { id, cookie: r.setCookie, seq: j.seq, seq0: j.seq };
    }
  }));
  for (const c of conns) c.s.destroy();
  return users.length;
}

function hold() {
  holders = users.map((u) => {
    const c = new Conn();
    const poll = () => c.raw(`GET /api/poll?seq=${u.seq} HTTP/1.1\r\nHost: bench\r\nCookie: ${u.cookie}\r\n\r\n`, (e, status, body) => {
      if (e) return;
      const now = Date.now();
      if (status !== 200) return setTimeout(poll, 1000);
      const j = JSON.parse(body);
      const m = j.events.find((ev) => ev.type === 'message');
      if (m) latencies.push(now - m.message.sentAtMs);
      u.seq = j.seq;
      poll();
    });
    c.s.once('connect', poll);
    return c;
  });
  return holders.length;
}

/** CPU time (µs, user + system) of process `pid` so far, from /proc (Linux; NaN elsewhere). Resolution: one clock tick (10 ms). */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

async function cycles(nConns, ms, gwPid) {
  for (const c of holders) c.s.destroy();
  holders = [];
  await new Promise((r) => setTimeout(r, 500));
  const conns = Array.from({ length: nConns }, () => new Conn());
  await Promise.all(conns.map((c) => new Promise((r) => c.s.once('connect', r))));
  let count = 0;
  let running = true;
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const gw0 = cpuOf(gwPid);
  // Callbacks, and each connection's request made once: the client's own cost per cycle stays small.
  await Promise.all(conns.map((c, i) => new Promise((resolve, reject) => {
    const u = users[i % users.length];
    // An old seq: the gateway answers at once from its buffer.
    const bytes = Buffer.from(`GET /api/poll?seq=${u.seq0} HTTP/1.1\r\nHost: bench\r\nCookie: ${u.cookie}\r\n\r\n`, 'latin1');
    const again = (e, status) => {
      if (e) return reject(e);
      if (status !== 200) return reject(new Error(`cycle: ${status}`));
      count++;
      if ((count & 255) === 0 && Date.now() - t0 > ms) running = false;
      if (running) c.raw(bytes, again);
      else resolve();
    };
    c.raw(bytes, again);
  })));
  const elapsed = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const gwCpuUs = cpuOf(gwPid) - gw0;
  for (const c of conns) c.s.destroy();
  return { perSec: Math.round((count * 1000) / elapsed), count, elapsed, cpuUs: cpu.user + cpu.system, gwCpuUs };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'login') {
      port = m.port;
      process.send({ ok: await login(m.users) });
    } else if (m.cmd === 'hold') process.send({ ok: hold() });
    else if (m.cmd === 'latencies') {
      process.send({ ok: latencies });
      latencies = [];
    } else if (m.cmd === 'cycles') process.send({ ok: await cycles(m.conns, m.ms, m.gwPid) });
    else if (m.cmd === 'exit') process.exit(0);
  } catch (e) {
    process.send({ error: String(e?.stack ?? e) });
  }
});
process.send({ ready: true });
