// Checks of call arguments, the same for both transports, so a bad argument
// is the same ERR_CHAT_BAD_REQUEST whichever transport would have carried it.
import { ChatBadRequestError } from './errors.js';
import { toUserId } from './slot.js';
import type { UserId } from './types.js';

/** Ids one presence() call may ask for (the stub's limit). */
export const MAX_PRESENCE_IDS = 100_000;

/** How long a poll is held by default, ms. */
export const DEFAULT_POLL_MS = 30_000;

/** Text (a message or a client message id) must be a string. */
export function checkText(text: unknown, reason: 'text' | 'client_msg_id' = 'text'): string {
  if (typeof text !== 'string') throw new ChatBadRequestError(reason, `${reason === 'text' ? 'text' : 'clientMsgId'} must be a string, got ${typeof text}`);
  return text;
}

/** A limit or a poll's hold time: an integer that fits an i32 (negative values mean 0 to the server). */
export function checkLimit(n: unknown, reason: 'limit' | 'timeout'): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) {
    throw new ChatBadRequestError(reason, `${reason === 'limit' ? 'limit' : 'timeoutMs'} must be an integer in the i32 range, got ${String(n)}`);
  }
  return n;
}

/** The ids of a presence() call as bigints, at most {@link MAX_PRESENCE_IDS}. */
export function presenceIds(userIds: Iterable<UserId>): bigint[] {
  const ids: bigint[] = [];
  for (const u of userIds) {
    if (ids.length >= MAX_PRESENCE_IDS) throw new ChatBadRequestError('presence_ids', `presence() takes at most ${MAX_PRESENCE_IDS} ids`);
    ids.push(toUserId(u));
  }
  return ids;
}
