// Distribution capability flags (erl_dist_protocol, "Distribution Flags";
// erts dist.h). Flags are 64 bits wide, so they are bigints here.

/** Every distribution flag, by its OTP name without the `DFLAG_` prefix. */
export const DFLAG = {
  PUBLISHED: 0x1n,
  ATOM_CACHE: 0x2n,
  EXTENDED_REFERENCES: 0x4n,
  DIST_MONITOR: 0x8n,
  FUN_TAGS: 0x10n,
  DIST_MONITOR_NAME: 0x20n,
  HIDDEN_ATOM_CACHE: 0x40n,
  NEW_FUN_TAGS: 0x80n,
  EXTENDED_PIDS_PORTS: 0x100n,
  EXPORT_PTR_TAG: 0x200n,
  BIT_BINARIES: 0x400n,
  NEW_FLOATS: 0x800n,
  UNICODE_IO: 0x1000n,
  DIST_HDR_ATOM_CACHE: 0x2000n,
  SMALL_ATOM_TAGS: 0x4000n,
  UTF8_ATOMS: 0x10000n,
  MAP_TAG: 0x20000n,
  BIG_CREATION: 0x40000n,
  SEND_SENDER: 0x80000n,
  BIG_SEQTRACE_LABELS: 0x100000n,
  EXIT_PAYLOAD: 0x400000n,
  FRAGMENTS: 0x800000n,
  HANDSHAKE_23: 0x1000000n,
  UNLINK_ID: 0x2000000n,
  /** Shorthand for every flag in {@link MANDATORY_DFLAGS_25} (bit 26, not bit 36 as the OTP 25 doc says). */
  MANDATORY_25_DIGEST: 0x4000000n,
  SPAWN: 1n << 32n,
  NAME_ME: 1n << 33n,
  V4_NC: 1n << 34n,
  ALIAS: 1n << 35n,
  /** OTP 28: ALTACT_SIG_SEND (37) replaces ALIAS_SEND. */
  ALTACT_SIG: 0x20n << 32n,
} as const;

/** The flags OTP 25 requires of every peer (0x1070F94). */
export const MANDATORY_DFLAGS_25 =
  DFLAG.EXTENDED_REFERENCES |
  DFLAG.FUN_TAGS |
  DFLAG.NEW_FUN_TAGS |
  DFLAG.EXTENDED_PIDS_PORTS |
  DFLAG.EXPORT_PTR_TAG |
  DFLAG.BIT_BINARIES |
  DFLAG.NEW_FLOATS |
  DFLAG.UTF8_ATOMS |
  DFLAG.MAP_TAG |
  DFLAG.BIG_CREATION |
  DFLAG.HANDSHAKE_23;

/** The flags OTP 26 added to the mandatory set. */
export const MANDATORY_DFLAGS_26 = DFLAG.V4_NC | DFLAG.UNLINK_ID;

/**
 * What beambridge requires of a peer: the OTP 26 mandatory set (so the term
 * codec can rely on v4 node containers and the node layer on the UNLINK_ID
 * link protocol). Every OTP release from 25 on has all of them.
 */
export const REQUIRED_DFLAGS = MANDATORY_DFLAGS_25 | MANDATORY_DFLAGS_26;

/**
 * The optional capabilities the dist layer itself handles: atom-cache
 * distribution headers and fragments are decoded, fragments are sent, and
 * `SMALL_ATOM_EXT` / UTF-8 atoms decode. `UNICODE_IO` only describes io
 * requests, which are ordinary messages.
 */
export const DIST_LAYER_DFLAGS = DFLAG.DIST_HDR_ATOM_CACHE | DFLAG.FRAGMENTS | DFLAG.SMALL_ATOM_TAGS | DFLAG.UNICODE_IO;

/**
 * The flags a beambridge node advertises by default: {@link REQUIRED_DFLAGS},
 * `MANDATORY_25_DIGEST`, {@link DIST_LAYER_DFLAGS}, and the monitor flags
 * (`DIST_MONITOR`, `DIST_MONITOR_NAME`: the node layer must then answer
 * MONITOR_P / DEMONITOR_P, which it does as OTP does, with a DOWN `noproc` for
 * an unknown target).
 *
 * Deliberately absent, because once negotiated OTP uses them for good and the
 * node layer must then implement them end to end: `SEND_SENDER`,
 * `EXIT_PAYLOAD`, `ALIAS`, `SPAWN`, `ALTACT_SIG`. (Every control message is
 * still parsed on receipt whatever was negotiated.) The node layer trims or
 * extends this set, e.g. `DEFAULT_DFLAGS | DFLAG.SPAWN` once it serves
 * SPAWN_REQUEST, and adds `DFLAG.PUBLISHED` for a visible (non-hidden) node.
 */
export const DEFAULT_DFLAGS =
  REQUIRED_DFLAGS | DFLAG.MANDATORY_25_DIGEST | DIST_LAYER_DFLAGS | DFLAG.DIST_MONITOR | DFLAG.DIST_MONITOR_NAME;

/** Expands `MANDATORY_25_DIGEST` into the flags it stands for. */
export function expandFlags(flags: bigint): bigint {
  return (flags & DFLAG.MANDATORY_25_DIGEST) !== 0n ? flags | MANDATORY_DFLAGS_25 : flags;
}

/** True when every bit of `flag` is set in `flags`. */
export function hasFlag(flags: bigint, flag: bigint): boolean {
  return (flags & flag) === flag;
}

/** Names of the flags set in `flags` (unknown bits as hex), for logs and errors. */
export function flagNames(flags: bigint): string[] {
  const out: string[] = [];
  let rest = flags;
  for (const [name, bit] of Object.entries(DFLAG)) {
    if ((flags & bit) !== 0n) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0n) out.push(`0x${rest.toString(16)}`);
  return out;
}
