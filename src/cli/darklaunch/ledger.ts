// The correctness ledger: every send the gateway accepted (keyed by the
// stored message id) must reach its recipient's poll exactly once, or the
// recipient got `refresh` (or signed in again) and found it in history.
// Senders and recipients may run in different workers (or on different
// machines, with --shard): the ledger takes acceptances and deliveries in any
// order and reconciles them by id. Times are epoch milliseconds.

/** What the ledger knows about one message. */
interface Entry {
  from: number;
  to: number;
  acceptedAt: number | undefined;
  /** First delivery by a poll. */
  firstAt: number | undefined;
  polls: number;
  /** Found in history by the page after a refresh or a new sign-in. */
  historyAt: number | undefined;
  /** Set by the audit when the message is not accounted for at the end. */
  lost?: LostMessage;
  /** Recovered by history as found by the end-of-run audit. */
  byAudit?: boolean;
}

/** A message the recipient never saw, and why. */
export interface LostMessage {
  id: string;
  from: number;
  to: number;
  /** ms after the run's start. */
  acceptedAtS: number;
  /** Whether the message is still in the recipient's history (the audit asked). */
  inHistory: boolean;
  reason: string;
  /** The fault that explains it (its --fault text), if one does. */
  fault: string | undefined;
}

/** One undelivered message the audit asks the recipient's worker about. */
export interface AuditItem {
  id: string;
  from: number;
  to: number;
  acceptedAt: number;
}

/** The recipient's worker's answer about an {@link AuditItem}. */
export interface AuditAnswer {
  id: string;
  /** Found in the recipient's history with the sender. */
  inHistory: boolean;
  /** The recipient got `refresh` (or signed in again) after the message was accepted. */
  refreshedAfter: boolean;
  /** The history call failed (then inHistory is false). */
  error?: string;
}

/** Cross-shard records: sends whose recipient, or deliveries whose sender, is in another shard. */
export interface ExternalRecords {
  /** [id, from, to, acceptedAt] */
  sent: [string, number, number, number][];
  /** [id, from, to, firstAt, polls, viaHistory (0/1)] */
  received: [string, number, number, number, number, number][];
}

/** The ledger's totals, as report.json gives them. */
export interface LedgerSummary {
  /** Sends accepted whose recipient is simulated here. */
  accepted: number;
  /** Delivered by a poll (once or more). */
  delivered: number;
  /** Delivered by a poll more than once (`extraCopies` counts the copies beyond the first). */
  duplicated: number;
  extraCopies: number;
  /** Not delivered by a poll; the recipient got refresh and found it in history. */
  recoveredByHistory: number;
  /** ... of which the end-of-run audit found (the page's own history reads had not). */
  recoveredByAudit: number;
  /** Not delivered and not found after a refresh. */
  lost: number;
  /** ... of which a fault explains (a killed node took the queue and history). */
  lostExplained: number;
  lostUnexplained: number;
  /** Accepted, no answer yet (only when the run was cut short before the audit). */
  inFlight: number;
  /** Polls returned a message of a send that was never reported accepted (the send failed after the message was stored). */
  deliveredUnaccepted: number;
  /** Sends accepted whose recipient is simulated by another shard (reconciled by `merge`). */
  externalSent: number;
  /** Deliveries of messages sent from another shard. */
  externalReceived: number;
  /** Lost messages by reason. */
  lostByReason: Record<string, number>;
  /** The lost messages (at most 1000 listed). */
  lostMessages: LostMessage[];
}

export const LOST_LISTED = 1000;

export class Ledger {
  private readonly entries = new Map<string, Entry>();
  private audited = false;

  /**
   * @param local whether a user is simulated by this run (its shard);
   * @param startedAt the run's start (epoch ms), for relative times.
   */
  constructor(
    private readonly local: (user: number) => boolean,
    private readonly startedAt: number,
  ) {}

  private entry(id: string, from: number, to: number): Entry {
    let e = this.entries.get(id);
    if (!e) {
      e = { from, to, acceptedAt: undefined, firstAt: undefined, polls: 0, historyAt: undefined };
      this.entries.set(id, e);
    }
    return e;
  }

  /** A send was accepted. Returns the delivery latency when its delivery was already seen. */
  accepted(id: string, from: number, to: number, at: number): number | undefined {
    const e = this.entry(id, from, to);
    if (e.acceptedAt !== undefined) return undefined;
    e.acceptedAt = at;
    return e.firstAt !== undefined ? Math.max(0, e.firstAt - at) : undefined;
  }

  /**
   * A poll returned the message to its recipient. `latency` is set on the
   * first delivery of an accepted message; `duplicate` when a poll had
   * returned it before.
   */
  delivered(id: string, from: number, to: number, at: number): { latency: number | undefined; duplicate: boolean } {
    const e = this.entry(id, from, to);
    e.polls++;
    if (e.polls > 1) return { latency: undefined, duplicate: true };
    e.firstAt = at;
    return { latency: e.acceptedAt !== undefined ? Math.max(0, at - e.acceptedAt) : undefined, duplicate: false };
  }

  /** The recipient found the message in history after a refresh or a new sign-in. */
  recovered(id: string, from: number, to: number, at: number): void {
    const e = this.entry(id, from, to);
    e.historyAt ??= at;
  }

  private open(e: Entry): boolean {
    return e.acceptedAt !== undefined && e.polls === 0 && e.historyAt === undefined && e.lost === undefined && this.local(e.to);
  }

  /** Accepted messages for local recipients not yet delivered or recovered. */
  outstanding(): AuditItem[] {
    const out: AuditItem[] = [];
    for (const [id, e] of this.entries) if (this.open(e)) out.push({ id, from: e.from, to: e.to, acceptedAt: e.acceptedAt! });
    return out;
  }

  /** Count of {@link outstanding} messages (cheaper). */
  outstandingCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (this.open(e)) n++;
    return n;
  }

  /**
   * Settles what the audit found: a message in history whose recipient got a
   * refresh after it was accepted is recovered by history; anything else is
   * lost, with the reason `explain` gives (a fault) or the audit's finding.
   */
  settle(answers: AuditAnswer[], explain: (m: { from: number; to: number; acceptedAt: number; inHistory: boolean }) => { reason: string; fault: string | undefined } | undefined): void {
    this.audited = true;
    for (const a of answers) {
      const e = this.entries.get(a.id);
      if (!e || !this.open(e)) continue;
      if (a.inHistory && a.refreshedAfter) {
        e.historyAt = Date.now();
        e.byAudit = true;
        continue;
      }
      const why = explain({ from: e.from, to: e.to, acceptedAt: e.acceptedAt!, inHistory: a.inHistory });
      const finding = a.error
        ? `not delivered by the end of the drain, and the audit could not tell whether it is in history (${a.error})`
        : a.inHistory
          ? 'not delivered by a poll by the end of the drain, and no refresh told the recipient to re-read history (the message is in history: late, or its event never reached the poll)'
          : 'never delivered and not in the recipient\'s history';
      e.lost = {
        id: a.id,
        from: e.from,
        to: e.to,
        acceptedAtS: Math.round(e.acceptedAt! - this.startedAt) / 1000,
        inHistory: a.inHistory,
        reason: why?.reason ?? finding,
        fault: why?.fault,
      };
    }
  }

  summary(): LedgerSummary {
    const s: LedgerSummary = {
      accepted: 0, delivered: 0, duplicated: 0, extraCopies: 0, recoveredByHistory: 0, recoveredByAudit: 0,
      lost: 0, lostExplained: 0, lostUnexplained: 0, inFlight: 0, deliveredUnaccepted: 0,
      externalSent: 0, externalReceived: 0, lostByReason: {}, lostMessages: [],
    };
    for (const e of this.entries.values()) {
      if (e.acceptedAt === undefined) {
        if (e.polls > 0 || e.historyAt !== undefined) {
          if (this.local(e.from)) s.deliveredUnaccepted++;
          else s.externalReceived++;
        }
        continue;
      }
      if (!this.local(e.to)) {
        s.externalSent++;
        continue;
      }
      s.accepted++;
      if (e.polls > 0) {
        s.delivered++;
        if (e.polls > 1) {
          s.duplicated++;
          s.extraCopies += e.polls - 1;
        }
      } else if (e.historyAt !== undefined) {
        s.recoveredByHistory++;
        if (e.byAudit) s.recoveredByAudit++;
      } else if (e.lost) {
        s.lost++;
        if (e.lost.fault) s.lostExplained++;
        else s.lostUnexplained++;
        s.lostByReason[e.lost.reason] = (s.lostByReason[e.lost.reason] ?? 0) + 1;
        if (s.lostMessages.length < LOST_LISTED) s.lostMessages.push(e.lost);
      } else {
        s.inFlight++;
      }
    }
    s.lostMessages.sort((a, b) => a.acceptedAtS - b.acceptedAtS);
    return s;
  }

  /** Whether the audit ran (otherwise in-flight messages were never settled). */
  get settled(): boolean {
    return this.audited;
  }

  /** Cross-shard records for `merge`. */
  external(): ExternalRecords {
    const out: ExternalRecords = { sent: [], received: [] };
    for (const [id, e] of this.entries) {
      if (e.acceptedAt !== undefined && !this.local(e.to)) out.sent.push([id, e.from, e.to, e.acceptedAt]);
      else if (e.acceptedAt === undefined && !this.local(e.from) && (e.polls > 0 || e.historyAt !== undefined))
        out.received.push([id, e.from, e.to, e.firstAt ?? e.historyAt!, e.polls, e.polls === 0 ? 1 : 0]);
    }
    return out;
  }
}
