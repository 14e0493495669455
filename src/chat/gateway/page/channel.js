// The channel: the long-poll loop, run in a hidden iframe as in the original
// design. It polls GET /api/poll from the last seq it has, re-polls at once
// after every answer (`events`, `continue` on timeout), and after `refresh`
// tells the page to re-read history. Network errors and error answers back
// off (capped, jittered, at least the server's Retry-After). Everything it
// learns goes to the page with postMessage; the page sends `start` and `stop`.
const origin = location.origin;
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;
// The gateway holds a poll about 25 s; past this the connection is taken as broken.
const POLL_DEADLINE_MS = 70000;

let cursor = null; // { seq, epoch, pv }
let running = false;
let stopper = null; // aborts the poll in flight and any backoff sleep

const post = (msg) => parent.postMessage(msg, origin);
const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

function backoff(failures, retryAfterMs) {
  const capped = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(failures - 1, 10));
  const jittered = capped * (0.5 + Math.random() / 2);
  return Math.max(jittered, Math.min(retryAfterMs, MAX_DELAY_MS * 2));
}

async function loop() {
  running = true;
  stopper = new AbortController();
  const stopped = stopper.signal;
  let failures = 0;
  while (running) {
    const signal = AbortSignal.any([stopped, AbortSignal.timeout(POLL_DEADLINE_MS)]);
    const url = `/api/poll?seq=${encodeURIComponent(cursor.seq)}&epoch=${cursor.epoch}&pv=${cursor.pv}`;
    let retryAfterMs = 0;
    try {
      const res = await fetch(url, { signal, cache: 'no-store', credentials: 'same-origin' });
      if (res.status === 401) {
        running = false;
        post({ type: 'signedout' });
        break;
      }
      if (!res.ok) {
        retryAfterMs = Number(res.headers.get('Retry-After') ?? 0) * 1000;
        await res.body?.cancel();
        throw new Error(`the gateway answered ${res.status}`);
      }
      const answer = await res.json();
      if (failures > 0) post({ type: 'status', state: 'live' });
      failures = 0;
      cursor.epoch = answer.epoch;
      if (answer.pv !== undefined) cursor.pv = answer.pv;
      cursor.seq = answer.seq;
      if (answer.presence) post({ type: 'presence', presence: answer.presence });
      if (answer.status === 'refresh') post({ type: 'refresh', seq: answer.seq });
      else if (answer.events.length > 0) post({ type: 'events', events: answer.events });
      // The gateway is going away (a restart): come back when it says.
      if (answer.retryAfterMs > 0) await sleep(Math.min(answer.retryAfterMs, MAX_DELAY_MS), stopped);
    } catch (err) {
      if (!running) break;
      failures += 1;
      const delay = backoff(failures, retryAfterMs);
      post({ type: 'status', state: 'retrying', retryInMs: Math.round(delay), reason: String((err && err.message) || err) });
      await sleep(delay, stopped);
    }
  }
}

addEventListener('message', (e) => {
  if (e.origin !== origin || e.source !== parent || typeof e.data !== 'object' || e.data === null) return;
  if (e.data.type === 'start') {
    cursor = { seq: String(e.data.seq), epoch: Number(e.data.epoch), pv: Number(e.data.pv) };
    if (!running) void loop();
  } else if (e.data.type === 'stop') {
    running = false;
    stopper?.abort();
  }
});

post({ type: 'ready' });
