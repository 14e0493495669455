// slotOf is the stub's own slot function (chat_partition:slot/1): checked on
// 10,000+ ids (negatives, ids above 2^53, the i64 edges, numbers and bigints)
// against a real stub node in one batched rpc (lists:map with the stub's
// exported function), plus the input checks.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { CHAT_SLOTS, slotOf, toUserId } from '../../src/chat/index.js';
import { ExportFun, atom } from '../../src/etf/index.js';
import { Node } from '../../src/otp/index.js';
import { startStub } from '../../src/testing/index.js';

function ids(): bigint[] {
  const out: bigint[] = [];
  const edges = [0n, 1n, -1n, 1023n, 1024n, 1025n, -1023n, -1024n, -1025n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n,
    -(2n ** 53n) + 1n, -(2n ** 53n), -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 62n + 700n, -(2n ** 62n) - 700n];
  out.push(...edges);
  const r = randomBytes(8 * 12_000);
  for (let i = 0; i < 12_000; i++) {
    const v = r.readBigInt64LE(i * 8);
    // A third small (both signs), a third around +-2^53, a third anywhere in i64.
    out.push(i % 3 === 0 ? v % 100_000n : i % 3 === 1 ? (v % 2n ** 20n) + (v < 0n ? -(2n ** 53n) : 2n ** 53n) : v);
  }
  return out;
}

t.test('slotOf agrees with the stub on 12,000+ ids', async (t) => {
  const stub = await startStub(t, { users: 10 });
  const node = await Node.start({ name: `chatslot_${process.pid}@127.0.0.1`, cookie: stub.cookie, epmd: { port: stub.epmdPort } });
  t.teardown(() => node.stop());
  const all = ids();
  t.ok(all.length >= 10_000);
  t.ok(all.some((x) => x < 0n) && all.some((x) => x > 2n ** 53n) && all.some((x) => x < -(2n ** 53n)), 'negatives and ids beyond 2^53');
  // One call: lists:map(fun chat_partition:slot/1, Ids) on the stub.
  const theirs = (await node.rpc(stub.node, 'lists', 'map', [new ExportFun(atom('chat_partition'), atom('slot'), 1), all], { timeoutMs: 30_000 })) as number[];
  t.equal(theirs.length, all.length);
  const mismatches = all.filter((id, i) => slotOf(id) !== theirs[i]);
  t.same(mismatches, [], 'no id has another slot');
  const asNumbers = all.filter((id) => id >= -(2n ** 53n) + 1n && id <= 2n ** 53n - 1n);
  t.ok(asNumbers.every((id) => slotOf(Number(id)) === slotOf(id)), `${asNumbers.length} ids given as numbers too`);
});

t.test('slotOf and toUserId: range and input checks', async (t) => {
  t.equal(CHAT_SLOTS, 1024);
  t.equal(slotOf(-1), 1023);
  t.equal(slotOf(-1024n), 0);
  t.equal(slotOf(2n ** 62n + 700n), 700);
  for (const bad of [2n ** 63n, -(2n ** 63n) - 1n, 0.5, NaN, Infinity, 2 ** 53, '7' as unknown as number]) {
    t.throws(() => slotOf(bad), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'user_id' }, `${String(bad)}`);
  }
  t.equal(toUserId(-5), -5n);
  t.equal(toUserId(2n ** 63n - 1n), 2n ** 63n - 1n);
  t.throws(() => toUserId(1.5, 'peer'), /peer must be a signed 64-bit integer/);
});
