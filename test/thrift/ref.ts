// The reference ChatChannel semantics (mirrors test/thrift/py/chat_ref.py):
// a deterministic handler, the list of calls both interop directions make, and
// the canonical JSON form (i64 as decimal strings, maps as sorted entries).
import {
  NotOnline,
  PollStatus,
  WrongPartition,
  type ChatChannelHandler,
  type ChatMessage,
  type PollResult,
  type Presence,
  type SlotRange,
} from '../../src/thrift/gen/chat.js';
import { ThriftApplicationError } from '../../src/thrift/errors.js';
import { I64Map } from '../../src/thrift/i64map.js';

export const refHandler: ChatChannelHandler = {
  login(userId) {
    if (userId < 0n) throw new WrongPartition({ userId, owner: 'other@127.0.0.1', thriftPort: 9999 });
    return userId + 1n;
  },
  logout(userId) {
    if (userId < 0n) throw new WrongPartition({ userId, owner: 'other@127.0.0.1', thriftPort: 9999 });
  },
  send(fromId, toId, text, clientMsgId) {
    if (toId === 0n) throw new NotOnline({ userId: toId });
    return {
      id: toId + 1n,
      fromId,
      toId,
      text: `${text} <${clientMsgId}>`,
      sentAtMs: 1700000000000n + BigInt(text.length),
      clientMsgId: clientMsgId === '' ? undefined : clientMsgId,
    };
  },
  typing(_fromId, toId) {
    if (toId === 0n) throw new NotOnline({ userId: toId });
  },
  async poll(userId, afterSeq, timeoutMs): Promise<PollResult> {
    if (afterSeq < 0n) return { status: PollStatus.REFRESH, seq: 100n, events: [] };
    if (timeoutMs > 0) {
      await new Promise((r) => setTimeout(r, timeoutMs));
      return { status: PollStatus.CONTINUE, seq: afterSeq, events: [] };
    }
    const message: ChatMessage = { id: 7n, fromId: userId + 1n, toId: userId, text: 'hi', sentAtMs: 1n };
    return {
      status: PollStatus.EVENTS,
      seq: afterSeq + 2n,
      events: [
        { seq: afterSeq + 1n, message },
        { seq: afterSeq + 2n, typing: { fromId: userId + 1n, toId: userId, active: true } },
      ],
    };
  },
  touch() {},
  friendsPresence(userId): Presence[] {
    return [0, 1, 2].map((i) => ({ userId: userId + BigInt(i), state: i % 3, idleSeconds: i * 60 }));
  },
  presence(userIds) {
    return new Map(userIds.map((u) => [u, Number(((u % 3n) + 3n) % 3n)]));
  },
  history(userId, peerId, limit): ChatMessage[] {
    return Array.from({ length: limit }, (_, i) => ({
      id: BigInt(i),
      fromId: userId,
      toId: peerId,
      text: `m${i}`,
      sentAtMs: BigInt(i),
      clientMsgId: `c${i}`,
    }));
  },
  friends(userId): bigint[] {
    return [userId - 1n, userId + 1n];
  },
  partitionMap(): SlotRange[] {
    return [
      { first: 0, last: 511, node: 'a@127.0.0.1', thriftPort: 9001 },
      { first: 512, last: 1023, node: 'b@127.0.0.1', thriftPort: 9002 },
    ];
  },
};

const BIG = 2n ** 62n + 12345n;
/** The calls both interop directions make, in order: [method, args]. */
export const CALLS: [keyof ChatChannelHandler, unknown[]][] = [
  ['login', [42n]],
  ['login', [BIG]],
  ['login', [-5n]],
  ['logout', [-1n]],
  ['logout', [3n]],
  ['send', [1n, 2n, 'hello', 'c-1']],
  ['send', [2n ** 63n - 1n, 2n ** 53n + 1n, 'grüße ✓', '']],
  ['send', [1n, 0n, 'nobody', 'c-2']],
  ['typing', [1n, 2n, true]],
  ['typing', [1n, 0n, false]],
  ['poll', [10n, 5n, 0]],
  ['poll', [10n, -1n, 0]],
  ['poll', [10n, 5n, 50]],
  ['touch', [10n]],
  ['friendsPresence', [2n ** 60n]],
  ['presence', [[1n, 2n, 3n, 2n ** 53n + 1n, 2n ** 53n + 2n, 2n ** 63n - 1n, -(2n ** 63n), -7n]]],
  ['presence', [[]]],
  ['history', [5n, 6n, 3]],
  ['partitionMap', []],
];

/** The canonical JSON-able form of any decoded value. */
export function canon(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Map || v instanceof I64Map) {
    return [...v.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => [canon(k), canon(x)]);
  }
  if (Array.isArray(v)) return v.map(canon);
  if (v instanceof Set) return [...v].map(canon);
  if (Buffer.isBuffer(v)) return `0x${v.toString('hex')}`;
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canon(x);
    }
    return out;
  }
  return v;
}

/** The canonical form of a call's failure. */
export function canonError(e: unknown): unknown {
  if (e instanceof NotOnline) return { exception: 'NotOnline', userId: e.userId.toString() };
  if (e instanceof WrongPartition) {
    return { exception: 'WrongPartition', userId: e.userId.toString(), owner: e.owner, thriftPort: e.thriftPort };
  }
  if (e instanceof ThriftApplicationError) return { exception: 'TApplicationException', type: e.type, message: e.message };
  return { exception: (e as Error).name, message: (e as Error).message };
}

/** What one call of CALLS gives, through the handler directly: `{ method, result }` or `{ method, error }`. */
export async function expected(method: keyof ChatChannelHandler, args: unknown[]): Promise<unknown> {
  try {
    const fn = refHandler[method] as (...a: unknown[]) => unknown;
    return { method, result: canon(await fn.apply(refHandler, [...args, undefined])) };
  } catch (e) {
    return { method, error: canonError(e) };
  }
}
