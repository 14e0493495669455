// How the suite spends its time on OTP variants and random cases.
//  - Files run their per-variant top-level subtests side by side wherever each
//    variant has its own epmd, node names and erl (or one-shot erl runs), so they
//    do not meet: their waits (net ticks, reconnect backoff, oracle and erl round
//    trips, erl boots) overlap instead of adding up (dist/erl: 43 s -> 23 s).
//    Not where a variant checks a process-wide count (tls-erl's liveHandshakes).
//  - `npm run test:long` (BEAMBRIDGE_LONG=1) runs the long random-case counts
//    and every OTP variant where the default run samples one.
import type { Test } from 'tap';
import { otpVariants, type OtpVariant } from '../../src/testing/index.js';

/** True in `npm run test:long` (BEAMBRIDGE_LONG=1). */
export const LONG = process.env.BEAMBRIDGE_LONG === '1';

/** Every OTP variant present, with `t`'s top-level subtests (one per variant) allowed to run at once. */
export function variantsSideBySide(t: Test): OtpVariant[] {
  const variants = otpVariants();
  t.jobs = Math.max(1, variants.length);
  return variants;
}

/**
 * For tests whose behaviour does not change with the OTP version (what changes
 * is covered per version elsewhere): the newest OTP present in the default
 * run, every variant (side by side) in `npm run test:long`.
 */
export function newestOrAllVariants(t: Test): OtpVariant[] {
  const variants = variantsSideBySide(t);
  return LONG ? variants : variants.slice(-1);
}
