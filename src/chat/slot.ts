// Partitioning of user ids over the channel servers, and the one check every
// user id goes through before it reaches a transport.
//
// User ids map to 1024 hash slots, `slot = id mod 1024` floored (so the slot
// of a negative id is still 0..1023): the same function as the stub's
// chat_partition:slot/1 (erlang-stub/README.md, "Partitioning and clusters").
import { ChatBadRequestError } from './errors.js';
import type { UserId } from './types.js';

/** Number of hash slots user ids are spread over. */
export const CHAT_SLOTS = 1024;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/**
 * The slot of a user id: `id mod 1024`, floored, so always 0..1023 (for
 * example `slotOf(-1) === 1023`, `slotOf(2n ** 62n + 700n) === 700`).
 * Throws {@link ChatBadRequestError} (`user_id`) for anything that is not a
 * signed 64-bit integer.
 */
export function slotOf(userId: UserId): number {
  if (typeof userId === 'number' && Number.isSafeInteger(userId)) return ((userId % CHAT_SLOTS) + CHAT_SLOTS) % CHAT_SLOTS;
  const id = toUserId(userId);
  return Number(((id % 1024n) + 1024n) % 1024n);
}

/**
 * A user id as the exact bigint: a bigint in the signed 64-bit range, or a
 * number that is a safe integer. Anything else throws
 * {@link ChatBadRequestError} with reason `user_id`.
 */
export function toUserId(userId: UserId, what = 'user id'): bigint {
  if (typeof userId === 'bigint') {
    if (userId >= I64_MIN && userId <= I64_MAX) return userId;
  } else if (typeof userId === 'number' && Number.isSafeInteger(userId)) {
    return BigInt(userId);
  }
  throw new ChatBadRequestError('user_id', `${what} must be a signed 64-bit integer (a bigint, or a number that is a safe integer), got ${describe(userId)}`);
}

/** @internal The id as the smallest exact JS value: a number when safe, else the bigint (what the term codec sends as a small or big integer). */
export function userIdTerm(userId: UserId, what = 'user id'): number | bigint {
  if (typeof userId === 'number' && Number.isSafeInteger(userId)) return userId;
  const id = toUserId(userId, what);
  return id >= -0x1fffffffffffffn && id <= 0x1fffffffffffffn ? Number(id) : id;
}

function describe(x: unknown): string {
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x);
  return String(x);
}
