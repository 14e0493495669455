// The errors of the chat tier. Both transports (distribution and Thrift)
// raise exactly these, with the same codes, so code written against
// `ChatBackend` never looks at the transport's own errors (those are kept as
// `cause`).
import { BeamBridgeError } from '../errors.js';

/**
 * Stable codes of {@link ChatError}:
 * - `ERR_CHAT_NOT_ONLINE` ({@link ChatNotOnlineError}): the sender or the
 *   recipient is not online; `userId` says who.
 * - `ERR_CHAT_BAD_REQUEST` ({@link ChatBadRequestError}): the request was
 *   refused as malformed; `reason` says why (`text`, `text_too_long`,
 *   `client_msg_id`, `presence_ids`, `user_id`, `limit`, `request`).
 * - `ERR_CHAT_UNAVAILABLE` ({@link ChatUnavailableError}): the node owning
 *   the user's slot is down, unreachable or unknown, or the server could not
 *   serve the request in time (a channel being restarted). Raised at once
 *   while the owner is known to be down, not after a timeout.
 * - `ERR_CHAT_TIMEOUT` ({@link ChatTimeoutError}): no answer within the
 *   call's `timeoutMs`. The request may or may not have been carried out.
 * - `ERR_CHAT_ABORTED` ({@link ChatAbortedError}): the call's AbortSignal
 *   fired; `cause` is the signal's reason.
 * - `ERR_CHAT_CLOSED` ({@link ChatClosedError}): the client was closed.
 * - `ERR_CHAT_INTERNAL` ({@link ChatInternalError}): the server failed or
 *   answered something the contract does not allow (a bug on either side).
 */
export type ChatErrorCode =
  | 'ERR_CHAT_NOT_ONLINE'
  | 'ERR_CHAT_BAD_REQUEST'
  | 'ERR_CHAT_UNAVAILABLE'
  | 'ERR_CHAT_TIMEOUT'
  | 'ERR_CHAT_ABORTED'
  | 'ERR_CHAT_CLOSED'
  | 'ERR_CHAT_INTERNAL';

/** Base class of every chat-tier error. Switch on `code`. */
export class ChatError extends BeamBridgeError {
  declare readonly code: ChatErrorCode;

  constructor(code: ChatErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** `ERR_CHAT_NOT_ONLINE`: `userId` (the sender or the recipient) is not online. */
export class ChatNotOnlineError extends ChatError {
  /** Who is not online. */
  readonly userId: bigint;

  constructor(userId: bigint, options?: { cause?: unknown }) {
    super('ERR_CHAT_NOT_ONLINE', `user ${userId} is not online`, options);
    this.userId = userId;
  }
}

/**
 * Why a request was refused as malformed: the stub's reasons (`text`: not
 * text; `text_too_long`: longer than the server's `max_text`;
 * `client_msg_id`: not text; `presence_ids`: more than 100 000 ids or not
 * ids), the client's own checks (`user_id`: not a signed 64-bit integer;
 * `limit`, `timeout`: not an integer in range), and `request` for anything
 * else the server refused.
 */
export type ChatBadRequestReason =
  | 'text'
  | 'text_too_long'
  | 'client_msg_id'
  | 'presence_ids'
  | 'user_id'
  | 'limit'
  | 'timeout'
  | 'request';

/** `ERR_CHAT_BAD_REQUEST`: the request was refused; `reason` says why. Nothing was stored. */
export class ChatBadRequestError extends ChatError {
  readonly reason: ChatBadRequestReason;

  constructor(reason: ChatBadRequestReason, message?: string, options?: { cause?: unknown }) {
    super('ERR_CHAT_BAD_REQUEST', message ?? `bad request: ${reason}`, options);
    this.reason = reason;
  }
}

/**
 * `ERR_CHAT_UNAVAILABLE`: the owner of the user's slot cannot serve the call
 * now. `node` is the owner's name when one is known; `userId` the user the
 * call was routed by. Retry later; calls succeed again once the owner is back
 * (the client notices by itself).
 */
export class ChatUnavailableError extends ChatError {
  readonly userId: bigint | undefined;
  readonly node: string | undefined;

  constructor(message: string, o: { userId?: bigint; node?: string; cause?: unknown } = {}) {
    super('ERR_CHAT_UNAVAILABLE', message, { cause: o.cause });
    this.userId = o.userId;
    this.node = o.node;
  }
}

/** `ERR_CHAT_TIMEOUT`: no answer within `timeoutMs`. The request may have been carried out. */
export class ChatTimeoutError extends ChatError {
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number, options?: { cause?: unknown }) {
    super('ERR_CHAT_TIMEOUT', `${what} timed out after ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** `ERR_CHAT_ABORTED`: the caller's AbortSignal fired; `cause` is its reason. */
export class ChatAbortedError extends ChatError {
  constructor(what: string, reason?: unknown) {
    super('ERR_CHAT_ABORTED', `${what} was aborted`, { cause: reason });
  }
}

/** `ERR_CHAT_CLOSED`: the client was closed before or during the call. */
export class ChatClosedError extends ChatError {
  constructor(message = 'the chat client is closed') {
    super('ERR_CHAT_CLOSED', message);
  }
}

/** `ERR_CHAT_INTERNAL`: the server failed, or answered outside the contract. */
export class ChatInternalError extends ChatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CHAT_INTERNAL', message, options);
  }
}
