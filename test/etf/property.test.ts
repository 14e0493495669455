// Property: every term Erlang's term_to_binary produces survives the lossless
// round trip. On each OTP variant, test/erl/etf_oracle.erl generates random
// nested terms (every term kind: small/large/huge integers, floats incl. -0.0
// and subnormals, unicode atoms, binaries, bitstrings, local and crafted
// remote pids/ports/refs, maps with compound keys, improper lists, local and
// export funs, STRING_EXT lists), each encoded with random term_to_binary
// options (minor_version 0/1/2, compressed at random levels, deterministic,
// local on OTP 26+). Each one is decoded with { lossless: true }, re-encoded
// (sometimes compressed), and Erlang checks the result =:= the original term
// (floats bit-identical). The plain decode must not throw either.
//
// A fresh seed each run, printed; replay with BEAMBRIDGE_PROP_SEED=<seed>.
// BEAMBRIDGE_PROP_COUNT sets the number of terms per OTP variant (default 500;
// 2000 in `npm run test:long`; the seed changes every run, so the runs add up). Bounded in
// count and in time: after BEAMBRIDGE_PROP_BUDGET_MS (default 60000) of
// checking per variant, the remaining terms are skipped (and that is said).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { decode, encode, type Term } from '../../src/index.js';
import { EtfOracle, hexPreview, type CheckResult } from '../helpers/etf-oracle.js';
import { LONG, variantsSideBySide } from '../helpers/otp.js';

const seed = process.env.BEAMBRIDGE_PROP_SEED ? BigInt(process.env.BEAMBRIDGE_PROP_SEED) : randomBytes(6).readUIntBE(0, 6);
const COUNT = Number(process.env.BEAMBRIDGE_PROP_COUNT ?? (LONG ? 2000 : 500));
const BUDGET_MS = Number(process.env.BEAMBRIDGE_PROP_BUDGET_MS ?? 60_000);
const BATCH = 100;
const replay = `replay with BEAMBRIDGE_PROP_SEED=${seed}`;

interface Failure {
  index: number;
  what: string;
  bytes: Buffer;
  /** The term_to_binary options Erlang used. */
  options: string;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}${(e as { code?: string }).code ? ` ${(e as { code?: string }).code}` : ''}: ${e.message}` : String(e);
}

for (const variant of variantsSideBySide(t)) {
  t.test(`lossless round trip of random Erlang terms, ${variant.label}`, async (t) => {
    const oracle = await EtfOracle.start({ root: variant.root, t });
    t.comment(`${variant.label}: OTP ${oracle.otpRelease}, seed ${seed}, ${COUNT} terms (${replay})`);
    const terms = await oracle.generate(BigInt(seed), COUNT);
    t.equal(terms.length, COUNT, 'Erlang generated every term');

    const failures: Failure[] = [];
    const tags = new Map<number, number>();
    const started = Date.now();
    let done = 0;
    let bytesTotal = 0;
    for (let from = 0; from < terms.length; from += BATCH) {
      if (Date.now() - started > BUDGET_MS) break;
      const checks: Promise<{ index: number; r: CheckResult; re: Buffer }>[] = [];
      for (let i = from; i < Math.min(from + BATCH, terms.length); i++) {
        const { bytes } = terms[i];
        bytesTotal += bytes.length;
        tags.set(bytes[1], (tags.get(bytes[1]) ?? 0) + 1);
        let value: Term;
        try {
          value = decode(bytes, { lossless: true });
        } catch (e) {
          failures.push({ index: i, what: `lossless decode threw ${describeError(e)}`, bytes, options: terms[i].options });
          continue;
        }
        try {
          decode(bytes);
        } catch (e) {
          failures.push({ index: i, what: `default decode threw ${describeError(e)}`, bytes, options: terms[i].options });
        }
        let re: Buffer;
        try {
          re = encode(value, i % 7 === 3 ? { compressed: i % 10 } : undefined);
        } catch (e) {
          failures.push({ index: i, what: `encode threw ${describeError(e)}`, bytes, options: terms[i].options });
          continue;
        }
        checks.push(oracle.checkGenerated(i, re).then((r) => ({ index: i, r, re })));
      }
      for (const { index, r, re } of await Promise.all(checks)) {
        if (r.status !== 'same') {
          failures.push({ index, what: `Erlang: ${r.status}: ${r.detail.slice(0, 600)}; re-encoded [${hexPreview(re, 48)}]`, bytes: terms[index].bytes, options: terms[index].options });
        }
      }
      done = Math.min(from + BATCH, terms.length);
    }
    if (done < terms.length) t.comment(`time budget of ${BUDGET_MS} ms used up: checked ${done} of ${terms.length} terms`);
    t.comment(
      `checked ${done} terms, ${(bytesTotal / 1e6).toFixed(1)} MB; top-level tags: ` +
        [...tags].sort((x, y) => x[0] - y[0]).map(([k, n]) => `${k}:${n}`).join(' '),
    );
    t.ok(done > 0, 'at least one batch was checked');
    const byOptions = new Map<string, number>();
    for (const f of failures) byOptions.set(f.options, (byOptions.get(f.options) ?? 0) + 1);
    if (failures.length > 0) t.comment(`failures by term_to_binary options: ${[...byOptions].map(([o, n]) => `${o}: ${n}`).join(', ')}`);
    t.equal(
      failures.length,
      0,
      `every term survives the lossless round trip (seed ${seed}, ${replay})` +
        failures
          .slice(0, 8)
          .map((f) => `\n  term #${f.index} (term_to_binary options ${f.options}): ${f.what}\n    original [${hexPreview(f.bytes, 96)}]`)
          .join(''),
    );
  });
}
