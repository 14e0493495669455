// The dark launch's parts without a system to load: the plan (same seed, same
// plan, whatever the shard), the option parsers, the histogram, the ledger's
// bookkeeping, the report's consistency rules, merge, the Prometheus parser
// and the /metrics scraper (against a small server on loopback).
import t from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Histogram } from '../../src/cli/darklaunch/hist.js';
import { Ledger } from '../../src/cli/darklaunch/ledger.js';
import { planDigest, shardUsers, UserPlan } from '../../src/cli/darklaunch/plan.js';
import { defaultSettings, parseDuration, parseFault, parseShard, parseSlo, checkSettings, parseControl } from '../../src/cli/darklaunch/settings.js';
import { bucketQuantile, MetricsScraper, parseProm, ProcStat } from '../../src/cli/darklaunch/cost.js';
import { backoffMs, SimUser } from '../../src/cli/darklaunch/user.js';
import { explainLoss, type FaultRecord } from '../../src/cli/darklaunch/faults.js';
import { interleavedSlots } from '../../src/cli/darklaunch/spawn.js';
import { toPoll } from '../../src/cli/darklaunch/api.js';
import { syntheticReport } from './darklaunch-synthetic.js';
import { checkConsistency, evaluateSlo } from '../../src/cli/darklaunch/report.js';
import { mergeReports } from '../../src/cli/darklaunch/merge.js';
import { renderSvg } from '../../src/cli/darklaunch/svg.js';

t.test('durations, shards, faults, SLOs, control ports', async (t) => {
  t.equal(parseDuration('500ms', 'x'), 500);
  t.equal(parseDuration('30s', 'x'), 30_000);
  t.equal(parseDuration('1m30s', 'x'), 90_000);
  t.equal(parseDuration('2', 'x'), 2000, 'a bare number is seconds');
  t.equal(parseDuration('1.5s', 'x'), 1500);
  for (const bad of ['', 's', '10 s', '1x', '-1s', '1m30']) t.throws(() => parseDuration(bad, '--ramp'), { code: 'ERR_CLI_USAGE' }, bad);
  t.same(parseShard('2/3'), { index: 2, count: 3 });
  for (const bad of ['0/3', '4/3', '1', 'a/b', '1/0']) t.throws(() => parseShard(bad), { code: 'ERR_CLI_USAGE' }, bad);
  t.match(parseFault('kill-node:2@1m'), { kind: 'kill-node', node: 2, atMs: 60_000 });
  t.match(parseFault('kill-channel:42@10s'), { kind: 'kill-channel', user: '42', atMs: 10_000 });
  t.match(parseFault('restart-gateway@5s'), { kind: 'restart-gateway', atMs: 5000 });
  t.match(parseFault('delay:250@20s'), { kind: 'delay', ms: 250, atMs: 20_000 });
  for (const bad of ['kill-node@1s', 'kill-node:0@1s', 'explode@1s', 'delay:x@1s', 'restart-gateway:1@1s', 'kill-node:1', 'kill-channel:a@1s'])
    t.throws(() => parseFault(bad), { code: 'ERR_CLI_USAGE' }, bad);
  t.match(parseSlo('p99<=1s,lost=0'), [{ metric: 'p99', op: '<=', value: 1000 }, { metric: 'lost', op: '=', value: 0 }]);
  t.match(parseSlo('errors<=1%'), [{ metric: 'errors', value: 0.01 }]);
  for (const bad of ['', 'p98<=1s', 'lost<=x', 'p99=>1s', 'errors<=100%']) t.throws(() => parseSlo(bad), { code: 'ERR_CLI_USAGE' }, bad);
  t.same(parseControl('4001, 4002'), [4001, 4002]);
  t.throws(() => parseControl('host:1'), { code: 'ERR_CLI_USAGE' });
  t.throws(() => checkSettings(defaultSettings()), /TARGET/);
  t.throws(() => checkSettings(defaultSettings({ target: 'http://x/', faults: [parseFault('kill-node:1@1s')] })), /needs --spawn/);
  t.throws(() => checkSettings(defaultSettings({ spawn: true, stubNodes: 2, faults: [parseFault('kill-node:3@1s')] })), /only 2 stub nodes/);
  t.throws(() => checkSettings(defaultSettings({ target: 'http://x/', faults: [parseFault('delay:5@1s')] })), /--stub-control/);
  t.throws(() => checkSettings(defaultSettings({ target: 'ftp://x/' })), /http/);
  t.throws(() => checkSettings(defaultSettings({ spawn: true, rampMs: 10_000, durationMs: 5000 })), /--ramp/);
});

t.test('the plan: the same seed gives the same plan, in any shard and any order', async (t) => {
  const s = defaultSettings({ users: 200, durationMs: 300_000, rampMs: 60_000, sendsPerMin: 2, idleShare: 0.5, reloginShare: 0.5 });
  const all = shardUsers(1, 200, { index: 1, count: 1 });
  t.equal(all.length, 200);
  t.same([...shardUsers(1, 200, { index: 1, count: 3 }), ...shardUsers(1, 200, { index: 2, count: 3 }), ...shardUsers(1, 200, { index: 3, count: 3 })], all, 'shards cover the users once');
  t.equal(planDigest(s, all), planDigest(s, all), 'same seed, same digest');
  t.not(planDigest(s, all), planDigest({ ...s, seed: 2 }, all), 'another seed, another plan');
  const a = new UserPlan(s, 77);
  const b = new UserPlan(s, 77);
  // Draw b's presence first: streams are separate, so the order does not matter.
  const bp: number[] = [];
  for (let x = b.nextPresence(); x !== undefined; x = b.nextPresence()) bp.push(x);
  const as = [];
  for (let x = a.nextSend(); x; x = a.nextSend()) as.push(x);
  const bs = [];
  for (let x = b.nextSend(); x; x = b.nextSend()) bs.push(x);
  t.same(as, bs);
  const ap: number[] = [];
  for (let x = a.nextPresence(); x !== undefined; x = a.nextPresence()) ap.push(x);
  t.same(ap, bp);
  t.ok(a.startAt >= 0 && a.startAt < 60_000);
  t.equal(ap[0], a.startAt, 'presence right after sign-in');
  // Rates: about sendsPerMin per user per minute over many users.
  let sends = 0;
  for (const u of all) for (let p = new UserPlan({ ...s, idleShare: 0, reloginShare: 0 }, u), x = p.nextSend(); x; x = p.nextSend()) sends++;
  const expected = all.reduce((acc, u) => acc + ((300_000 - new UserPlan(s, u).startAt) / 60_000) * 2, 0);
  t.ok(Math.abs(sends - expected) / expected < 0.1, `sends ${sends} near ${Math.round(expected)}`);
  const withIdle = all.filter((u) => new UserPlan(s, u).idle).length;
  t.ok(withIdle > 40 && withIdle < 160, `about half the users go idle (${withIdle})`);
  for (const u of all) {
    const p = new UserPlan(s, u);
    for (let x = p.nextSend(); x; x = p.nextSend()) {
      if (p.away) t.notOk(x.at >= p.away.at && x.at < p.away.at + p.away.forMs, 'no send while logged out');
      if (p.idle) t.notOk(x.at >= p.idle.at && x.at < p.idle.at + p.idle.forMs, 'no send while idle');
    }
  }
});

t.test('histogram: percentiles within 2%, merge is exact, JSON round trip', async (t) => {
  const values = Array.from({ length: 10_000 }, (_, i) => (i + 1) / 10);
  const h = Histogram.of(values);
  const p = h.percentiles();
  t.equal(p.count, 10_000);
  t.ok(Math.abs(p.p50 - 500) / 500 <= 0.021, `p50 ${p.p50}`);
  t.ok(Math.abs(p.p99 - 990) / 990 <= 0.021, `p99 ${p.p99}`);
  t.equal(p.max, 1000);
  const a = Histogram.of(values.slice(0, 5000));
  const b = Histogram.fromJSON(JSON.parse(JSON.stringify(Histogram.of(values.slice(5000)).toJSON())));
  t.same(a.merge(b).toJSON(), h.toJSON());
  t.same(new Histogram().percentiles(), { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
  t.equal(Histogram.of([0, -1, 0.5]).percentiles().max, 0.5);
  t.equal(Histogram.of([0, -1]).percentiles().max, 0, 'negative values count as 0');
});

t.test('ledger: any order, duplicates, history, audit, shards', async (t) => {
  const L = new Ledger((u) => u <= 10, 0);
  t.equal(L.accepted('m1', 1, 2, 100), undefined);
  t.same(L.delivered('m1', 1, 2, 130), { latency: 30, duplicate: false });
  t.same(L.delivered('m1', 1, 2, 140), { latency: undefined, duplicate: true });
  t.same(L.delivered('m2', 1, 3, 90), { latency: undefined, duplicate: false }, 'delivery before acceptance');
  t.equal(L.accepted('m2', 1, 3, 100), 0, 'latency known once accepted (clamped at 0)');
  L.accepted('m3', 2, 1, 100);
  L.recovered('m3', 2, 1, 500);
  L.accepted('m4', 2, 1, 100);
  L.accepted('m5', 2, 3, 100);
  L.accepted('m6', 3, 2, 100);
  L.accepted('x1', 1, 20, 100);
  L.delivered('x2', 20, 1, 100);
  L.delivered('u1', 1, 2, 100);
  t.equal(L.outstandingCount(), 3);
  t.same(L.outstanding().map((x) => x.id).sort(), ['m4', 'm5', 'm6']);
  L.settle(
    [
      { id: 'm4', inHistory: true, refreshedAfter: true },
      { id: 'm5', inHistory: false, refreshedAfter: false },
      { id: 'm6', inHistory: true, refreshedAfter: false },
    ],
    (m) => (m.to === 3 ? { reason: 'node killed', fault: 'kill-node:1@1s' } : undefined),
  );
  const s = L.summary();
  t.match(s, {
    accepted: 6, delivered: 2, duplicated: 1, extraCopies: 1, recoveredByHistory: 2, recoveredByAudit: 1,
    lost: 2, lostExplained: 1, lostUnexplained: 1, inFlight: 0, deliveredUnaccepted: 1, externalSent: 1, externalReceived: 1,
  });
  t.equal(s.lostByReason['node killed'], 1);
  t.match(Object.keys(s.lostByReason)[1], /no refresh/);
  t.same(L.external().sent, [['x1', 1, 20, 100]]);
  t.same(L.external().received, [['x2', 20, 1, 100, 1, 0]]);
});

t.test('which losses a fault explains; how spawned stubs share the slots', async (t) => {
  const stubs = [
    { index: 1, node: 'a@h', controlPort: 1, pid: undefined, slots: interleavedSlots(0, 2) },
    { index: 2, node: 'b@h', controlPort: 2, pid: undefined, slots: interleavedSlots(1, 2) },
  ];
  t.same(stubs[0].slots.slice(0, 2), [[0, 31], [64, 95]]);
  t.same(stubs[1].slots.slice(0, 2), [[32, 63], [96, 127]]);
  t.equal(stubs[0].slots.length + stubs[1].slots.length, 32, 'every slot, once');
  const kill: FaultRecord = { text: 'kill-node:1@10s', kind: 'kill-node', atS: 10, firedAtS: 10, doneAtS: 11, ok: true, detail: '', kill: { node: 'a@h', killedAt: 10_000, restartedAt: 11_000 } };
  t.match(explainLoss([kill], stubs, { from: 40, to: 5, acceptedAt: 9000, inHistory: false }), { fault: 'kill-node:1@10s', reason: /recipient's stub node was SIGKILLed/ });
  t.match(explainLoss([kill], stubs, { from: 5, to: 40, acceptedAt: 9500, inHistory: false }), { reason: /sender's stub node/ });
  t.equal(explainLoss([kill], stubs, { from: 5, to: 40, acceptedAt: 5000, inHistory: false }), undefined, 'relayed long before the kill');
  t.equal(explainLoss([kill], stubs, { from: 40, to: 5, acceptedAt: 9000, inHistory: true }), undefined, 'in history, before the kill: nothing to say');
  t.match(explainLoss([kill], stubs, { from: 40, to: 5, acceptedAt: 11_500, inHistory: true }), { fault: undefined, reason: /in history but never delivered.*kill-node:1@10s restarted/ }, 'in history after the restart: context, not an excuse');
  t.equal(explainLoss([kill], stubs, { from: 40, to: 41, acceptedAt: 9000, inHistory: false }), undefined, 'another node');
  t.equal(explainLoss([kill], stubs, { from: 40, to: 5, acceptedAt: 12_000, inHistory: false }), undefined, 'after the restart');
});

t.test('poll answers and backoff', async (t) => {
  t.same(toPoll({ status: 'events', seq: '7', epoch: 3, pv: 9, presence: [{ userId: '2', state: 'idle', idleSeconds: 70 }], events: [{ seq: '7', type: 'message', message: { id: '5', from: '1', to: '2', text: 'hi', sentAtMs: 3, clientMsgId: 'c' } }] }), {
    status: 'events', seq: '7', epoch: 3, pv: 9, presence: [{ userId: '2', state: 'idle', idleSeconds: 70 }], retryAfterMs: 0,
    events: [{ seq: '7', message: { id: '5', from: '1', to: '2', text: 'hi', sentAtMs: 3, clientMsgId: 'c' } }],
  });
  t.match(toPoll({ status: 'continue', seq: '7', events: [], retryAfterMs: 1500 }), { retryAfterMs: 1500, epoch: undefined, presence: [] });
  t.match(toPoll({ status: 'events', seq: 8, events: [{ seq: 8, typing: { from: '1', to: '2', active: true } }] })?.events, [{ typing: { active: true } }]);
  t.equal(toPoll({ status: 'weird' }), undefined);
  t.equal(toPoll(null), undefined);
  for (let a = 1; a < 20; a++) {
    const ms = backoffMs(a);
    t.ok(ms >= Math.min(8000, 500 * 2 ** (a - 1)) / 2 && ms <= 8000, `failure ${a}: ${ms}`);
  }
  t.equal(backoffMs(1, 5000, 0), 5000, 'at least Retry-After');
  t.equal(backoffMs(1, 60_000, 0), 16_000, 'a Retry-After counts up to 16 s');
});

t.test('Prometheus text', async (t) => {
  const p = parseProm(
    [
      '# HELP x y',
      'gateway_held_polls 12',
      'gateway_backend_call_seconds_bucket{method="send",le="0.001"} 5',
      'gateway_backend_call_seconds_bucket{method="send",le="0.01"} 9',
      'gateway_backend_call_seconds_bucket{method="send",le="+Inf"} 10',
      'gateway_requests_total{route="/api/poll",status="200"} 3',
      'process_resident_memory_bytes 1.048576e+08',
    ].join('\n'),
  );
  t.equal(p.get('gateway_held_polls')![0].value, 12);
  t.equal(p.get('process_resident_memory_bytes')![0].value, 104857600);
  t.same(p.get('gateway_requests_total')![0].labels, { route: '/api/poll', status: '200' });
  const q = bucketQuantile([[0.001, 5], [0.01, 9], [Infinity, 10]], 0.5);
  t.ok(q > 0 && q <= 0.001, `p50 ${q}`);
  t.equal(bucketQuantile([[0.001, 5], [0.01, 9], [Infinity, 10]], 0.99), 0.01);
});

t.test('the /metrics scraper: gauges, rates per second, a slow answer still counts', async (t) => {
  let sends = 0;
  let delayMs = 0;
  const server = createServer((_req, res) => {
    const body = [
      'gateway_held_polls 7',
      `gateway_backend_call_seconds_bucket{method="send",le="0.01"} ${sends}`,
      `gateway_backend_call_seconds_bucket{method="send",le="+Inf"} ${sends}`,
      `gateway_backend_call_seconds_bucket{method="poll",le="+Inf"} ${sends}`,
      `gateway_requests_total{route="/api/send",status="200"} ${sends}`,
    ].join('\n');
    setTimeout(() => res.end(body), delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const scraper = new MetricsScraper(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, 3000);
  const t0 = performance.now();
  t.same(await scraper.sample(), { heldPolls: 7 }, 'the first answer has the gauges (no rates yet)');
  sends = 100;
  // A gateway that takes longer than a second to answer is still measured; its rates are per second.
  delayMs = 1200;
  const s = await scraper.sample();
  // The scraper's interval runs from answer to answer: at least the 1.2 s delay, at most all of it.
  const outerS = (performance.now() - t0) / 1000;
  const calls = s?.backend?.calls ?? NaN;
  t.equal(s?.heldPolls, 7);
  t.ok(calls >= 100 / outerS - 0.1 && calls <= 100 / 1.2 + 0.1, `send calls per second: ${calls} (100 over 1.2-${outerS.toFixed(2)} s)`);
  t.equal(s?.backend?.byMethod?.send.calls, s?.backend?.calls, 'held polls are left out of the backend figure');
  t.equal(s?.requests, s?.backend?.calls, 'requests per second');
  t.notOk(scraper.down);
  const dead = new MetricsScraper('http://127.0.0.1:1/metrics', 500);
  t.equal(await dead.sample(), undefined);
  t.ok(dead.down);
});

t.test('reports: consistency, SLO, merge, chart', async (t) => {
  const a = syntheticReport({ range: [1, 50], seconds: 20, seed: 1, faults: true });
  t.same(checkConsistency(a), [], 'a synthetic report is consistent');
  t.equal(a.slo.met, true);
  const broken = structuredClone(a);
  broken.samples[3].counters.sends += 1;
  t.match(checkConsistency(broken), [/counters.sends/]);
  const slo = evaluateSlo(parseSlo('p99<=1ms,lost=0'), a.totals, a.ledger);
  t.equal(slo.met, false);
  t.match(slo.conditions[0], { text: 'p99<=1ms', ok: false });

  const b = syntheticReport({ range: [51, 100], seconds: 20, seed: 2, startOffsetMs: 1200 });
  const m = mergeReports([a, b]);
  t.same(checkConsistency(m), [], 'the merged report is consistent');
  t.equal(m.plan.users, 100);
  t.equal(m.totals.counters.sends, a.totals.counters.sends + b.totals.counters.sends);
  t.equal(m.ledger.externalSent, 0, 'every cross-shard send reconciled');
  t.equal(m.ledger.accepted, a.ledger.accepted + b.ledger.accepted + a.ledger.externalSent + b.ledger.externalSent);
  t.ok(m.ledger.delivered > a.ledger.delivered + b.ledger.delivered, 'cross-shard deliveries counted');
  t.equal(m.samples.length, 21, 'b started a second later');
  t.throws(() => mergeReports([a, a]), /overlapping/);
  t.throws(() => mergeReports([a]), /two/);

  // Message 7 never arrived (shard 2 has no fault to explain it): merge says so.
  t.equal(m.ledger.lostUnexplained, 1);
  t.match(m.ledger.lostMessages, [{ id: /^7\//, reason: /never delivered|another shard/ }]);
  t.equal(m.slo.met, false);

  const svg = renderSvg(m);
  t.match(svg, /^<svg xmlns='http:\/\/www.w3.org\/2000\/svg'/);
  t.match(svg, /kill-node:1 at 5.0 s/);
  t.match(svg, />SLO NOT met</);
  t.notMatch(svg, /NaN|undefined|Infinity/);
  t.match(renderSvg(a), />SLO met</);
});

t.test('layering: the shipped CLI never imports the test helpers; src/procs imports only node built-ins', async (t) => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const importsOf = (dir: string): [string, string][] =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(`${dir}/${f}`, 'utf8').matchAll(/^import[^;]*?from '([^']+)'/gms)].map((m): [string, string] => [f, m[1]]));
  const cli = [...importsOf('src/cli/darklaunch'), ...importsOf('src/cli')];
  t.same(cli.filter(([, m]) => m.includes('/testing/')), [], 'src/cli imports nothing from src/testing');
  t.same(importsOf('src/procs').filter(([, m]) => !m.startsWith('node:') && !m.startsWith('./')), [], 'src/procs is a leaf');
});

t.test('the simulator HTTP/1.1 client: keep-alive, chunked, cookies, Retry-After, timeouts, dead connections', async (t) => {
  const { Gateway } = await import('../../src/cli/darklaunch/api.js');
  let conns = 0;
  const sockets = new Set<import('node:net').Socket>();
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/chunked') {
        res.setHeader('content-type', 'application/json');
        res.write('{"a":');
        res.end('[1,2,3]}');
      } else if (req.url === '/busy') {
        res.writeHead(503, { 'retry-after': '2', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ERR_BUSY', message: 'later' } }));
      } else if (req.url === '/login') {
        res.writeHead(200, { 'set-cookie': 'sid=abc; HttpOnly; Path=/', 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: JSON.parse(body), cookie: req.headers.cookie ?? null }));
      } else if (req.url === '/slow') {
        // never answers
      } else {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ url: req.url, cookie: req.headers.cookie ?? null, body }));
      }
    });
  });
  srv.on('connection', (s) => {
    conns++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
  const g = new Gateway(base, 16);
  t.teardown(() => {
    g.close();
    srv.close();
    for (const s of sockets) s.destroy();
  });
  let cookie = '';
  const login = await g.call<{ echo: unknown }>('POST', '/login', { body: { userId: '7' }, timeoutMs: 5000, onCookie: (c) => (cookie = c) });
  t.same(login, { ok: true, body: { echo: { userId: '7' }, cookie: null } }, 'POST with a JSON body');
  t.equal(cookie, 'sid=abc', 'Set-Cookie name=value');
  for (let i = 0; i < 20; i++) {
    const r = await g.call<{ cookie: string }>('GET', `/x${i}`, { cookie, timeoutMs: 5000 });
    if (!r.ok || r.body.cookie !== 'sid=abc') t.fail(`request ${i}: ${JSON.stringify(r)}`);
  }
  t.equal(conns, 1, '21 requests in a row on one kept-alive connection');
  t.same(await g.call('GET', '/chunked', { timeoutMs: 5000 }), { ok: true, body: { a: [1, 2, 3] } }, 'a chunked answer');
  const busy = await g.call('GET', '/busy', { timeoutMs: 5000 });
  t.same(busy, { ok: false, error: { status: 503, code: 'ERR_BUSY', message: 'later', retryAfterMs: 2000 } }, 'an error body with Retry-After');
  const slow = await g.call('GET', '/slow', { timeoutMs: 300 });
  t.equal(!slow.ok && slow.error.code, 'TIMEOUT', 'no answer within the deadline: TIMEOUT');
  // The server drops every idle kept-alive connection: the next request is retried once on a fresh one.
  for (const s of sockets) s.destroy();
  const before = conns;
  const again = await g.call<{ url: string }>('GET', '/after', { timeoutMs: 5000 });
  t.same(again.ok && again.body.url, '/after', 'a dead kept-alive connection is retried on a new one');
  t.ok(conns > before);
  const closed = new Gateway('http://127.0.0.1:9/', 4);
  const refused = await closed.call('GET', '/', { timeoutMs: 5000 });
  t.equal(!refused.ok && refused.error.code, 'ECONNREFUSED', 'connection refused');
  closed.close();
});

t.test('the timer wheel: in time order, never early, at most a slot late', async (t) => {
  const { Wheel } = await import('../../src/cli/darklaunch/wheel.js');
  const w = new Wheel();
  t.teardown(() => w.stop());
  const t0 = Date.now();
  const fired: [number, number][] = [];
  await Promise.all([350, 50, 200, -100].map((ms) => new Promise<void>((resolve) => w.after(ms, () => (fired.push([ms, Date.now() - t0]), resolve())))));
  t.same(fired.map(([ms]) => ms), [-100, 50, 200, 350], 'in time order');
  for (const [ms, at] of fired) t.ok(at >= Math.max(0, ms) - 1, `${ms} ms: not early (${at} ms)`);
  t.equal(w.size, 0);
});

t.test('audit: a history read refused with 429 is retried after Retry-After, a bounded number of times', async (t) => {
  const fake = (answers: number) => {
    const slept: number[] = [];
    let calls = 0;
    const pool = {
      count: () => undefined,
      latency: () => undefined,
      error: () => undefined,
      wheel: { sleep: async (ms: number) => void slept.push(ms) },
      gateway: {
        call: async () => {
          calls++;
          if (calls <= answers) return { ok: false, error: { status: 429, code: 'rate_limited', message: 'slow down', retryAfterMs: 3000 } };
          return { ok: true, status: 200, body: { messages: [{ id: '9', from: '1', to: '2', text: 'x', sentAtMs: 1, clientMsgId: 'c9' }] } };
        },
      },
    };
    const u = new SimUser(2, {} as never, pool as never);
    u.signedIn = true;
    return { u, slept, calls: () => calls };
  };
  const items = [{ id: '9/c9', from: 1, acceptedAt: 0 }];
  const twice = fake(2);
  const [a] = await twice.u.audit(items);
  t.match(a, { id: '9/c9', inHistory: true }, 'found after two 429s');
  t.notOk(a.error);
  t.equal(twice.calls(), 3);
  t.ok(twice.slept.length === 2 && twice.slept.every((ms) => ms >= 3000), `waited Retry-After each time (${twice.slept.join(', ')} ms)`);
  const always = fake(Infinity);
  const [b] = await always.u.audit(items);
  t.match(b, { inHistory: false, error: 'its history read failed' }, 'reported as failed at last');
  t.equal(always.calls(), 5, 'five attempts, no more');
});

t.test('ProcStat reads RSS and CPU of a process from /proc in its own units', async (t) => {
  const p = new ProcStat(process.pid);
  t.match(p.sample(), { cpuPct: 0 }, 'the first sample has no interval for CPU');
  // Busy until this process has used 300 ms of CPU, however loaded the machine is.
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const used = () => {
    const c = process.cpuUsage(cpu0);
    return (c.user + c.system) / 1000;
  };
  while (used() < 300);
  const s = p.sample()!;
  const expected = (used() / (performance.now() - wall0)) * 100;
  const rss = process.memoryUsage.rss() / 1048576;
  t.ok(Math.abs(s.rssMB - rss) < Math.max(8, rss * 0.1), `RSS ${s.rssMB} MB as Node sees it (${rss.toFixed(1)} MB)`);
  // /proc counts in 10 ms ticks: 300 ms of CPU is known to a few percent.
  t.ok(Math.abs(s.cpuPct - expected) < expected * 0.2 + 5, `CPU ${s.cpuPct}% over a busy interval (Node: ${expected.toFixed(1)}%)`);
  t.equal(new ProcStat(2 ** 22 + 1).sample(), undefined, 'a process that is gone');
});
