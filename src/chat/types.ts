// The chat tier's contract: one interface, `ChatBackend`, implemented over
// Erlang distribution (`ChatCluster`, dist.ts) and over Thrift
// (`ChatChannelCluster`, thrift.ts). Results have the shapes of
// idl/chat.thrift (the generated interfaces are reused as they are); user ids
// come back as bigint and are accepted as bigint or safe-integer numbers.
import type { ChannelEvent, ChatMessage, PollResult, Presence, PresenceState, SlotRange } from '../thrift/gen/chat.js';
import type { I64Map } from '../thrift/i64map.js';

export { I64Map } from '../thrift/i64map.js';

/** A user id on input: a bigint in the signed 64-bit range, or a number that is a safe integer. */
export type UserId = bigint | number;

/**
 * Options every call takes last.
 *
 * `timeoutMs` bounds the whole call, waiting for a connection included; past
 * it the call rejects with `ERR_CHAT_TIMEOUT`. Default: the client's
 * `callTimeoutMs` (5000 ms unless set). `signal` rejects the call with
 * `ERR_CHAT_ABORTED` when it fires; a reply arriving later is dropped.
 */
export interface ChatCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of {@link ChatBackend.send}. */
export interface SendOptions extends ChatCallOptions {
  /**
   * A client-chosen id (up to the server's limits): a repeated send with the
   * same id from the same sender, within the server's dedup window, returns
   * the first stored message and queues nothing. Omitted or `''`: no
   * deduplication.
   */
  clientMsgId?: string;
}

/** Options of {@link ChatBackend.poll}. */
export interface PollOptions {
  /**
   * How long the server holds the poll when there is nothing after
   * `afterSeq` (then it answers `CONTINUE`); default 30 000 ms, `0` answers at
   * once. The call itself fails with `ERR_CHAT_TIMEOUT` only when no answer
   * came within this plus the client's `callTimeoutMs`.
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of {@link ChatBackend.subscribe}. */
export interface SubscribeOptions {
  /** Ends the subscription (the iteration finishes normally) when it fires. */
  signal?: AbortSignal;
  /** Bounds the subscribe call itself (default: the client's `callTimeoutMs`). */
  timeoutMs?: number;
  /** Events kept for a slow consumer; older ones are dropped past it (counted in `dropped`). Default 10 000. */
  maxQueued?: number;
}

/**
 * Why a subscriber got a reset: the user's channel is no longer the one whose
 * events it saw, so it should catch up from `history` and poll again from the
 * reset's `seq`.
 * - `channel_restarted`: the channel process crashed and was restarted empty
 *   (for example the stub's `kill_channel` fault); its queue is gone.
 * - `node_restarted`: the node owning the user went down and is back; the
 *   subscription was made again there. Events in between are lost.
 * - `reconnected`: the connection to the owner was lost and made again (the
 *   node did not restart, but events pushed meanwhile may be lost).
 * - `dropped`: events were dropped before the subscription read them (over
 *   Thrift only: it fell more than the channel's window behind).
 */
export type ResetReason = 'channel_restarted' | 'node_restarted' | 'reconnected' | 'dropped';

/**
 * What a subscription yields, discriminated by `type`:
 * - `chat`: an event was queued on the user's channel: the same
 *   `ChannelEvent` a poll returns (a message or a typing notice), with its seq.
 * - `presence`: the user's presence changed (`state` is the new one).
 * - `reset`: the channel was reset (see {@link ResetReason}); `seq` is its
 *   seq now: 0 for a new channel; for `reconnected`, where the channel lived
 *   on and its seq cannot be read without a poll, the last seq this
 *   subscription saw.
 */
export type ChatEvent =
  | { type: 'chat'; userId: bigint; event: ChannelEvent }
  | { type: 'presence'; userId: bigint; state: PresenceState }
  | { type: 'reset'; userId: bigint; seq: bigint; reason: ResetReason };

/**
 * The events of one user, read with `for await`. Breaking out of the loop,
 * `close()`, or the `signal` given to `subscribe` ends it and unsubscribes.
 * The iteration also ends (normally) when the client is closed.
 */
export interface ChatSubscription extends AsyncIterableIterator<ChatEvent> {
  /** The user whose events these are. */
  readonly userId: bigint;
  /** Events dropped because the consumer fell more than `maxQueued` behind. */
  readonly dropped: number;
  /** Unsubscribes and ends the iteration (pending reads finish as done). Idempotent. */
  close(): Promise<void>;
}

/**
 * The chat channel servers, whatever the transport. Calls are routed to the
 * node that owns the user's slot (`send` and `typing` by the sender). Every
 * method rejects with a {@link ChatError} subclass, the same for both
 * transports: `ERR_CHAT_NOT_ONLINE`, `ERR_CHAT_BAD_REQUEST`,
 * `ERR_CHAT_UNAVAILABLE`, `ERR_CHAT_TIMEOUT`, `ERR_CHAT_ABORTED`,
 * `ERR_CHAT_CLOSED`, `ERR_CHAT_INTERNAL`. A node answering that it does not
 * own the slot (the map moved) is never an error the caller sees: the client
 * re-reads the partition map and retries once.
 */
export interface ChatBackend {
  /** Which transport this is. */
  readonly transport: 'dist' | 'thrift';

  /** Logs a user in (opens the channel; activity); resolves with the channel's current seq (0 for a new one). */
  login(user: UserId, o?: ChatCallOptions): Promise<bigint>;

  /** Logs a user out (also when not online); a held poll is answered `CONTINUE`. */
  logout(user: UserId, o?: ChatCallOptions): Promise<void>;

  /** Activity: an idle user is online again. Nothing for a user who is offline. */
  touch(user: UserId, o?: ChatCallOptions): Promise<void>;

  /** Queues a typing notice on `to`'s channel. Both must be online (else `ERR_CHAT_NOT_ONLINE`). */
  typing(from: UserId, to: UserId, active: boolean, o?: ChatCallOptions): Promise<void>;

  /**
   * Stores a message, queues it on `to`'s channel and echoes it on `from`'s,
   * and logs it in the conversation's history on both users' nodes. Resolves
   * with the stored message (a repeated `clientMsgId` resolves with the first
   * one). Both must be online (else `ERR_CHAT_NOT_ONLINE` naming who is not);
   * too long a text is `ERR_CHAT_BAD_REQUEST` (`text_too_long`).
   */
  send(from: UserId, to: UserId, text: string, o?: SendOptions): Promise<ChatMessage>;

  /**
   * The long-poll: the events after `afterSeq` (`EVENTS`), at once when there
   * are some; `REFRESH` with the current seq when `afterSeq` is ahead of the
   * channel or its events were dropped (re-read `history`, poll again from
   * that seq); else held until an event arrives or `o.timeoutMs` passes
   * (`CONTINUE`). A poll opens the channel of a user who is offline, and keeps
   * the user online; a newer poll for the same user answers the held one with
   * `CONTINUE`.
   */
  poll(user: UserId, afterSeq: UserId, o?: PollOptions): Promise<PollResult>;

  /** The user's friends who are online or idle (offline ones are left out), ascending `userId`. */
  friendsPresence(user: UserId, o?: ChatCallOptions): Promise<Presence[]>;

  /**
   * The presence of every id asked (at most 100 000), keyed by the exact
   * 64-bit id. Ids whose owner is down are reported `OFFLINE`, as the
   * channel servers report them.
   */
  presence(userIds: Iterable<UserId>, o?: ChatCallOptions): Promise<I64Map<PresenceState>>;

  /** The last `min(limit, 10000)` messages between `user` and `peer`, oldest first (`[]` for `limit <= 0`). */
  history(user: UserId, peer: UserId, limit: number, o?: ChatCallOptions): Promise<ChatMessage[]>;

  /**
   * The user's whole friend list, online or not, ascending (`[]` for a user
   * the servers know no friends of). With `presence()` this gives every
   * friend's state, offline ones included.
   */
  friends(user: UserId, o?: ChatCallOptions): Promise<bigint[]>;

  /** Re-reads and returns the partition map (ranges ascending by `first`). */
  partitionMap(o?: ChatCallOptions): Promise<SlotRange[]>;

  /**
   * The events of one user as an async iterable (see {@link ChatEvent}).
   * Resolves once the subscription is in place: every event queued after
   * that is delivered. Over distribution the servers push events to one
   * process of this client; over Thrift the client long-polls the user's
   * channel (while the user is online) and polls its presence.
   */
  subscribe(user: UserId, o?: SubscribeOptions): Promise<ChatSubscription>;

  /**
   * Closes the client: subscriptions end, held polls fail at once with
   * `ERR_CHAT_CLOSED`, and every later call fails with it. Other calls still
   * pending are not cancelled over distribution (their answer still
   * arrives); over Thrift their connection closes and they fail with
   * `ERR_CHAT_CLOSED`. Idempotent.
   */
  close(): Promise<void>;
}
