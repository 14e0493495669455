// The outgoing atom cache of a connection (erl_ext_dist "Distribution
// Header"): atoms sent once in full in a message's header, then referred to
// by a 2-byte ATOM_CACHE_REF in the terms and one byte in the header.
//
// While the encoder writes a message's terms, MessageRefs (installed as the
// codec's atom hook) gives each distinct atom an index among the message's
// references (at most 255). Each atom has a fixed slot among the cache's 2048
// (segment * 256 + index), given in the order atoms are first sent (so no two
// of the first 2048 share one); two atoms of one message with the same slot:
// the second is written in full. After the terms, OutAtomCache writes the
// header: a new entry (with the atom's text) when the peer's slot holds
// another atom, else a reference to what it holds.
import type { Atom } from '../etf/types.js';
import { atomEncoding, type AtomRefTable } from '../etf/atoms.js';

/** Slots in an atom cache (8 segments of 256). */
const SLOTS = 2048;
/** Headers remembered per connection (see OutAtomCache). */
const MEMOS = 8;
/** Most cache references in one message (NumberOfAtomCacheRefs is a byte; OTP uses 255). */
const MAX_REFS = 255;

let nextSlot = 0;

/** The atom's cache slot, given at its first use. */
function slotOf(a: Atom): number {
  let s = a.cix;
  if (s < 0) {
    s = a.cix = nextSlot;
    nextSlot = (nextSlot + 1) & (SLOTS - 1);
  }
  return s;
}

/**
 * The references of the message being written. One instance serves every
 * connection: messages are encoded one at a time. `stamp` marks the slots
 * taken by this message, so starting a message costs nothing per slot.
 */
class MessageRefs implements AtomRefTable {
  /** This message's referenced atoms, by index. */
  atoms: Atom[] = [];
  private stamp = 0;
  private readonly slotStamp = new Int32Array(SLOTS);
  private readonly slotIndex = new Uint8Array(SLOTS);
  private readonly slotAtom: (Atom | undefined)[] = new Array<Atom | undefined>(SLOTS).fill(undefined);

  begin(): void {
    if (++this.stamp === 0x7fffffff) {
      this.stamp = 1;
      this.slotStamp.fill(0);
    }
    this.atoms.length = 0;
  }

  ref(a: Atom): number {
    const s = slotOf(a);
    if (this.slotStamp[s] === this.stamp) return this.slotAtom[s] === a ? this.slotIndex[s] : -1;
    const i = this.atoms.length;
    if (i === MAX_REFS) return -1;
    atomEncoding(a); // an atom Erlang cannot take throws here, as it would written in full
    this.slotStamp[s] = this.stamp;
    this.slotAtom[s] = a;
    this.slotIndex[s] = i;
    this.atoms.push(a);
    return i;
  }

  /** Forgets the atoms of the message (nothing is kept alive by the table). */
  end(): void {
    for (const a of this.atoms) this.slotAtom[a.cix] = undefined;
  }
}

/** @internal The table the encoder installs while it writes a message with the atom cache. */
export const messageRefs = new MessageRefs();

/** The header of a message without references: no Flags, no AtomCacheRefs. */
const NO_REFS = Buffer.of(0);

/** Scratch for building headers. */
let scratch = Buffer.allocUnsafeSlow(1024);

/**
 * What the peer's cache holds for one outgoing direction, and the header
 * of each message.
 */
export class OutAtomCache {
  /** What the peer's cache holds, by slot (grows as slots are used). */
  private readonly slots: (Atom | undefined)[] = [];
  /**
   * Recent headers without new entries, with their references: messages of
   * one shape repeat one (a call repeats three: monitor, request, demonitor).
   * Emptied when a header adds entries.
   */
  private readonly memoRefs: Atom[][] = [];
  private readonly memoBytes: Buffer[] = [];
  private memoNext = 0;
  /** New entries sent (for stats and tests). */
  newEntries = 0;

  /**
   * The header for the message whose references are `refs`:
   * NumberOfAtomCacheRefs, Flags, AtomCacheRefs (erl_ext_dist "Normal
   * Distribution Header"), without the leading 131 68. Records the new
   * entries as sent: the caller must send the message. The result is valid
   * until the next call.
   */
  header(refs: readonly Atom[]): Buffer {
    const k = refs.length;
    if (k === 0) return NO_REFS;
    for (let m = 0; m < this.memoRefs.length; m++) {
      const r = this.memoRefs[m];
      if (r.length !== k) continue;
      let i = 0;
      while (i < k && refs[i] === r[i]) i++;
      if (i === k) return this.memoBytes[m];
    }
    const flagBytes = (k >> 1) + 1;
    // Sizes first: LongAtoms when any new entry's text is over 255 bytes.
    let size = 1 + flagBytes + k;
    let long = false;
    let fresh = 0;
    for (let i = 0; i < k; i++) {
      const a = refs[i];
      if (this.slots[a.cix] === a) continue;
      fresh++;
      const e = atomEncoding(a);
      const textLen = e[0] === 119 ? e.length - 2 : e.length - 3;
      if (textLen > 255) long = true;
      size += 1 + textLen;
    }
    if (long) size += fresh;
    if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratch.length));
    const b = scratch;
    b[0] = k;
    for (let i = 1; i <= flagBytes; i++) b[i] = 0;
    let p = 1 + flagBytes;
    for (let i = 0; i < k; i++) {
      const a = refs[i];
      const slot = a.cix;
      const isNew = this.slots[slot] !== a;
      // Flags for ref i: NewCacheEntryFlag (bit 3) and SegmentIndex (bits 0-2), low nibble for even i.
      const nibble = (isNew ? 8 : 0) | (slot >> 8);
      b[1 + (i >> 1)] |= i & 1 ? nibble << 4 : nibble;
      b[p++] = slot & 0xff; // InternalSegmentIndex
      if (isNew) {
        const e = atomEncoding(a);
        const from = e[0] === 119 ? 2 : 3;
        const len = e.length - from;
        if (long) b[p++] = len >> 8;
        b[p++] = len & 0xff;
        for (let j = from; j < e.length; j++) b[p++] = e[j];
        this.slots[slot] = a;
        this.newEntries++;
      }
    }
    // The half byte after the last ref's: LongAtoms in bit 0.
    if (long) b[1 + (k >> 1)] |= k & 1 ? 0x10 : 0x01;
    const out = b.subarray(0, p);
    if (fresh > 0) {
      this.memoRefs.length = 0;
      this.memoBytes.length = 0;
      this.memoNext = 0;
      return out;
    }
    const m = this.memoNext;
    this.memoNext = (m + 1) % MEMOS;
    this.memoRefs[m] = refs.slice();
    this.memoBytes[m] = Buffer.from(out);
    return this.memoBytes[m];
  }
}
