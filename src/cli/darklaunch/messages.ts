// What the simulator's workers and the main thread say to each other. Each
// worker runs a share of the users and, every `batchMs`, posts a Batch: the
// counters since the last one, latencies, ledger records and gauges. The
// main thread reconciles the ledger (a sender and its recipient may be in
// different workers), builds the per-second samples and drives the end of
// the run: stop acting, drain, audit, close.
import type { AuditAnswer, AuditItem } from './ledger.js';
import type { PlanSettings } from './plan.js';

/** Counters a worker adds up between batches (all deltas). */
export interface Counters {
  logins: number;
  loginErrors: number;
  logouts: number;
  sends: number;
  sendsAccepted: number;
  /** Refused by the gateway for a reason that is not a failure of the system (recipient went offline meanwhile). */
  sendsRejected: number;
  sendsFailed: number;
  sendRetries: number;
  /** Planned sends with no friend online to send to. */
  sendsSkipped: number;
  typing: number;
  presence: number;
  presenceErrors: number;
  /** Friends' presence changes that came with poll answers. */
  presencePushes: number;
  pollEvents: number;
  pollContinue: number;
  pollRefresh: number;
  pollErrors: number;
  historyReads: number;
  historyErrors: number;
  /** The sender's own messages coming back on its poll (multi-tab echo). */
  echoes: number;
  typingEvents: number;
  idleStarts: number;
  /** Requests made, and requests that failed (any status or network error). */
  requests: number;
  failures: number;
}

export function zeroCounters(): Counters {
  return {
    logins: 0, loginErrors: 0, logouts: 0, sends: 0, sendsAccepted: 0, sendsRejected: 0, sendsFailed: 0, sendRetries: 0,
    sendsSkipped: 0, typing: 0, presence: 0, presenceErrors: 0, presencePushes: 0, pollEvents: 0, pollContinue: 0, pollRefresh: 0, pollErrors: 0,
    historyReads: 0, historyErrors: 0, echoes: 0, typingEvents: 0, idleStarts: 0, requests: 0, failures: 0,
  };
}

/** Adds `b` into `a`. */
export function addCounters(a: Counters, b: Counters): Counters {
  for (const k of Object.keys(b) as (keyof Counters)[]) a[k] += b[k];
  return a;
}

/** Latency samples (ms) measured by the users, per kind. */
export interface Latencies {
  send: number[];
  presence: number[];
  /** From the end of a poll to the next poll being sent on a connected socket. */
  repoll: number[];
  login: number[];
  history: number[];
}

export const LATENCY_KINDS = ['send', 'presence', 'repoll', 'login', 'history'] as const;

/** A ledger record: [key, from, to, epoch ms]. The key is the message id and its clientMsgId. */
export type LedgerRecord = [string, number, number, number];

/** What a worker posts every `batchMs`. */
export interface Batch {
  counters: Counters;
  errors: Record<string, number>;
  lat: Latencies;
  accepted: LedgerRecord[];
  delivered: LedgerRecord[];
  recovered: LedgerRecord[];
  /** Users signed in, polls held (sent, not answered), users idle: at the time of the batch. */
  gauges: { active: number; held: number; idle: number };
}

/** What a worker needs to run its users. */
export interface WorkerInit {
  target: string;
  users: number[];
  plan: PlanSettings;
  /** The run's start, epoch ms: every plan time is relative to it. */
  t0: number;
  /** Makes clientMsgIds unique to this run. */
  runId: string;
  /** The gateway's poll timeout; a poll with no answer 30 s past it is given up. */
  pollTimeoutMs: number;
  batchMs: number;
}

/** An audit round is numbered: a worker's late answer to a round the main thread gave up on is told apart. */
export type ToWorker = { type: 'stop-actions' } | { type: 'audit'; round: number; items: AuditItem[]; readsPerS: number } | { type: 'close' };

/**
 * What the audit itself cost (its history reads, the sign-ins it needed, and
 * whatever the pages did meanwhile): kept out of the per-second samples, which
 * measure the load only.
 */
export interface AuditLoad {
  counters: Counters;
  errors: Record<string, number>;
}

/** `stopped`: every user's actions in progress have finished (after `stop-actions`), with a last batch before it. */
export type FromWorker =
  | { type: 'batch'; batch: Batch }
  | { type: 'stopped' }
  | { type: 'audit'; round: number; answers: AuditAnswer[]; load: AuditLoad }
  | { type: 'closed' }
  | { type: 'error'; message: string };
