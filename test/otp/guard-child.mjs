// A beambridge node in a process with a small heap (the parent starts it
// with --max-old-space-size), for the memory-guard test in
// floods-erl.test.ts. Its process `hog` never reads its mailbox; an Erlang
// peer floods it. Prints JSON lines on stdout:
//   {"event":"ready"}                          the node is up
//   {"event":"refused","code":...,"heap":...}  the first spawn refused while overloaded
//   {"event":"hog_down","reason":...,"heap":...} hog exited (the guard ended it)
//   {"event":"heap","peak":...}                 on request (child:peak/0)
// Usage: node --max-old-space-size=MB guard-child.mjs EPMD_PORT NAME on|off
// Uses the build in dist/ (npm test builds first).
import { getHeapStatistics } from 'node:v8';

const { Node } = await import(new URL('../../dist/otp/index.js', import.meta.url).href);
const { formatTerm } = await import(new URL('../../dist/etf/index.js', import.meta.url).href);

const [epmdPort, name, guard] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const heap = () => {
  const h = getHeapStatistics();
  return { usedMB: Math.round(h.used_heap_size / 1048576), limitMB: Math.round(h.heap_size_limit / 1048576) };
};

const node = await Node.start({
  name,
  cookie: 'cookie',
  epmd: { port: Number(epmdPort) },
  memoryGuard: guard === 'off' ? false : { intervalMs: 50 },
});
const hog = node.spawn({ name: 'hog' });
let peak = 0;
const watcher = node.spawn();
watcher.monitor(hog.pid);
void watcher.receive().then((m) => {
  probe();
  out({ event: 'hog_down', reason: formatTerm(m.at(4)), heap: heap(), health: node.health });
});
node.expose('child', {
  hog: () => hog.pid,
  peak: () => peak,
  queued: () => hog.mailbox.size,
});
let refused = false;
/** Tries to start new work; prints the first refusal. */
function probe() {
  try {
    node.spawn().exit();
  } catch (e) {
    if (!refused) {
      refused = true;
      out({ event: 'refused', code: e.code, heap: heap(), queued: hog.mailbox.size });
    }
  }
}
// Every 20 ms, and once when the guard has ended hog: the guard is still
// overloaded then (it sheds while overloaded, and nothing clears that before
// the next sample), whereas a timer alone can miss the window on a busy machine.
setInterval(() => {
  peak = Math.max(peak, heap().usedMB);
  probe();
}, 20).unref();
out({ event: 'ready' });
