// Faults during a run (--fault WHAT@TIME): fired on schedule against the
// system under test, each recorded with what it did and when; afterwards the
// report says how long delivery took to resume, and the ledger asks
// `explainLoss` whether a fault explains a lost message.
import type { FaultSpec } from './settings.js';
import { ownerOf, type NodeKill, type StubInfo, type SystemUnderTest } from './system.js';

/** A fault as it happened (times in seconds from the start). */
export interface FaultRecord {
  text: string;
  kind: FaultSpec['kind'];
  /** When it was planned, fired, and finished (for kill-node: the node back up). */
  atS: number;
  firedAtS: number;
  doneAtS: number | undefined;
  ok: boolean;
  detail: string;
  /** For kill-node: the node and the epoch ms of the kill and of the restart. */
  kill?: NodeKill;
  /** Seconds from the fault until the first delivery after it finished (set at the end). */
  resumedAfterS?: number;
  /** First deliveries in the 10 s before the fault and in the 10 s after it finished. */
  deliveriesBefore?: number;
  deliveriesAfter?: number;
}

/** Runs one fault and records it. Never throws: a failed fault is recorded as such. */
export async function fire(sys: SystemUnderTest, f: FaultSpec, t0: number): Promise<FaultRecord> {
  const s = (ms: number) => Math.round(ms - t0) / 1000;
  const rec: FaultRecord = { text: f.text, kind: f.kind, atS: f.atMs / 1000, firedAtS: s(Date.now()), doneAtS: undefined, ok: false, detail: '' };
  try {
    switch (f.kind) {
      case 'kill-channel':
        rec.detail = await sys.killChannel(f.user);
        break;
      case 'delay':
        rec.detail = await sys.delay(f.ms);
        break;
      case 'kill-node': {
        if (!sys.killNode) throw new Error('kill-node needs --spawn');
        const k = await sys.killNode(f.node);
        rec.kill = k;
        rec.detail = `SIGKILL ${k.node}; restarted under the same name in ${((k.restartedAt - k.killedAt) / 1000).toFixed(1)} s`;
        break;
      }
      case 'restart-gateway':
        if (!sys.restartGateway) throw new Error('restart-gateway needs --spawn');
        rec.detail = await sys.restartGateway();
        break;
    }
    rec.ok = true;
  } catch (e) {
    rec.detail = `failed: ${(e as Error).message}`;
  }
  rec.doneAtS = s(Date.now());
  return rec;
}

/** How long after a node restart a message missed from history is put in its context. */
const AFTERMATH_MS = 30_000;

/**
 * Why an undelivered message was lost, as far as a kill-node fault tells:
 * - explained (`fault` set): its recipient's node was killed after it was
 *   accepted, and the queue and the history on that node went with it (the
 *   message is not in history); or its sender's node was killed within a
 *   second of accepting it (the relay to the recipient's node may not have
 *   happened);
 * - not explained, with context (`fault` undefined): it is in history, was
 *   accepted around a restart of the recipient's node, and the page was never
 *   told to refresh. The system should have recovered it: its channel began
 *   again at seq 0, and a poll with a seq from before the restart can miss it.
 */
export function explainLoss(
  faults: FaultRecord[],
  stubs: StubInfo[],
  m: { from: number; to: number; acceptedAt: number; inHistory: boolean },
): { reason: string; fault: string | undefined } | undefined {
  for (const f of faults) {
    if (!f.kill) continue;
    const { node, killedAt, restartedAt } = f.kill;
    const at = `${f.firedAtS.toFixed(1)} s`;
    const toKilled = ownerOf(stubs, m.to)?.node === node;
    if (!m.inHistory && toKilled && m.acceptedAt <= restartedAt)
      return { reason: `the recipient's stub node was SIGKILLed at ${at} (${f.text}): its queue and its history went with it`, fault: f.text };
    if (!m.inHistory && ownerOf(stubs, m.from)?.node === node && m.acceptedAt >= killedAt - 1000 && m.acceptedAt <= restartedAt)
      return { reason: `the sender's stub node was SIGKILLed at ${at} (${f.text}) right after accepting it`, fault: f.text };
    if (m.inHistory && toKilled && m.acceptedAt >= killedAt && m.acceptedAt <= restartedAt + AFTERMATH_MS)
      return {
        reason: `in history but never delivered, and no refresh told the page: accepted as ${f.text} restarted the recipient's node (its channel began again at seq 0; a poll with a seq from before the restart can miss it)`,
        fault: undefined,
      };
  }
  return undefined;
}

/** Fills in how delivery fared around each fault, from the per-second first deliveries. */
export function assessFaults(faults: FaultRecord[], samples: { t: number; deliveries: number }[]): void {
  for (const f of faults) {
    const done = f.doneAtS ?? f.firedAtS;
    const after = samples.find((s) => s.t > done && s.deliveries > 0);
    if (after) f.resumedAfterS = Math.round((after.t - f.firedAtS) * 10) / 10;
    f.deliveriesBefore = samples.filter((s) => s.t > f.firedAtS - 10 && s.t <= f.firedAtS).reduce((a, s) => a + s.deliveries, 0);
    f.deliveriesAfter = samples.filter((s) => s.t > done && s.t <= done + 10).reduce((a, s) => a + s.deliveries, 0);
  }
}
