// Golden vectors made by real Erlang at test time, on every OTP variant
// (system OTP, plus the debootstrap'd roots of scripts/otp-roots.sh when
// present). For each vector (test/fixtures/etf/golden-vectors.ts):
//  - the top-level tag is the one the vector exists for;
//  - decode(bytes, { lossless: true }) and decode(bytes) equal the stated JS values;
//  - encode(lossless decode), plain and compressed, is =:= to the original IN
//    ERLANG (and floats bit-identical), checked by the oracle;
//  - decodeWithLength and decode agree on trailing bytes and offsets.
import t from 'tap';
import { DecodeError, decode, decodeWithLength, encode, type Term } from '../../src/etf/index.js';
import { EtfOracle, diffTerm, hexPreview, withoutFloats, type Expected } from '../helpers/etf-oracle.js';
import { ALL_TAGS, goldenVectors, type GoldenVector } from '../fixtures/etf/golden-vectors.js';
import { variantsSideBySide } from '../helpers/otp.js';

const TRAILER = Buffer.from([131, 97, 1]);

function applies(v: GoldenVector, otp: number): string | undefined {
  if (v.minOtp !== undefined && otp < v.minOtp) return `needs OTP ${v.minOtp}+ (this is OTP ${otp})`;
  if (v.maxOtp !== undefined && otp > v.maxOtp) return `OTP ${v.maxOtp} and older only (this is OTP ${otp})`;
  return undefined;
}

function attempt<T>(f: () => T): { ok: true; value: T } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}${(e as { code?: string }).code ? ` ${(e as { code?: string }).code}` : ''}: ${e.message}` : String(e);
}

for (const variant of variantsSideBySide(t)) {
  t.test(`golden vectors, ${variant.label}`, async (t) => {
    const oracle = await EtfOracle.start({ root: variant.root, t });
    const otp = oracle.otpRelease;
    t.comment(`${variant.label}: OTP ${otp}`);
    const vectors = goldenVectors();
    const made = await Promise.all(
      vectors.map((v) =>
        applies(v, otp) === undefined
          ? oracle.evalBinary(v.erl).then(
              (bytes) => ({ bytes, error: undefined }),
              (e: Error) => ({ bytes: undefined, error: e.message }),
            )
          : Promise.resolve({ bytes: undefined, error: undefined }),
      ),
    );

    // Decode and re-encode every vector first, and send all the oracle's checks
    // at once: it answers them in order, without a round trip per check (the
    // subtests below only read the answers).
    const prepared = made.map(({ bytes }) => {
      if (bytes === undefined) return undefined;
      const lossless = attempt(() => decode(bytes, { lossless: true }));
      const reencoded = [false, true].map((compressed) =>
        lossless.ok ? attempt(() => encode(lossless.value as Term, compressed ? { compressed: true } : undefined)) : undefined,
      );
      const checks = reencoded.map((re) => (re?.ok ? oracle.check(bytes, re.value) : undefined));
      // Read only by the subtest, in its turn; a rejection is reported there.
      for (const c of checks) c?.catch(() => undefined);
      return { lossless, reencoded, checks };
    });

    const covered = new Set<number>();
    for (const [i, v] of vectors.entries()) {
      const skip = applies(v, otp);
      if (skip !== undefined) {
        t.test(v.name, { skip: `${v.name}: ${skip}` }, () => {});
        continue;
      }
      const { bytes, error } = made[i];
      t.test(v.name, async (t) => {
        if (bytes === undefined) {
          t.fail(`Erlang could not make the vector: ${error}`);
          return;
        }
        const at = `${v.name} [${hexPreview(bytes)}]`;
        if (v.tag !== undefined) {
          t.equal(bytes[1], v.tag, `top-level tag of ${v.name}`);
          if (bytes[1] === v.tag) covered.add(v.tag);
        }
        const expected: Expected = typeof v.lossless === 'function' ? v.lossless(bytes) : v.lossless;

        // Lossless decode: the stated value.
        const { lossless, reencoded, checks } = prepared[i]!;
        if (!lossless.ok) {
          t.fail(`lossless decode threw ${describeError(lossless.error)}; ${at}`);
          return;
        }
        t.equal(diffTerm(expected, lossless.value), undefined, 'lossless decode is the expected value');

        // Default decode: the stated value (Floats as plain numbers by default).
        const dflt = attempt(() => decode(bytes));
        if (!dflt.ok) t.fail(`default decode threw ${describeError(dflt.error)}; ${at}`);
        else if (v.dflt === 'unspecified') t.comment(`${v.name}: default decode gave ${String(dflt.value)}`);
        else {
          const want = v.dflt === 'same-as-lossless' ? expected : v.dflt !== undefined ? v.dflt : withoutFloats(expected);
          t.equal(diffTerm(want, dflt.value), undefined, 'default decode is the expected value');
        }

        // Lossless re-encoding, plain and compressed: =:= in Erlang, floats bit-identical.
        for (const [k, compressed] of [false, true].entries()) {
          const re = reencoded[k]!;
          if (!re.ok) {
            t.fail(`encode${compressed ? ' (compressed)' : ''} threw ${describeError(re.error)}; ${at}`);
            continue;
          }
          const r = await checks[k]!;
          t.equal(r.status, 'same', `re-encoded${compressed ? ' compressed' : ''} is =:= in Erlang; ${r.detail}; got [${hexPreview(re.value)}]`);
        }

        // Framing: trailing bytes, decodeWithLength, offset.
        const framed = Buffer.concat([Buffer.from([1, 2, 3]), bytes, TRAILER]);
        const wl = attempt(() => decodeWithLength(framed, { lossless: true, offset: 3 }));
        if (!wl.ok) t.fail(`decodeWithLength threw ${describeError(wl.error)}; ${at}`);
        else {
          t.equal(wl.value.length, bytes.length, 'decodeWithLength counts the bytes of the term');
          t.equal(diffTerm(expected, wl.value.term), undefined, 'decodeWithLength decodes the same value');
        }
        const tr = attempt(() => decode(Buffer.concat([bytes, TRAILER])));
        t.ok(
          !tr.ok && tr.error instanceof DecodeError && tr.error.code === 'ERR_DECODE_TRAILING',
          `decode refuses trailing bytes with ERR_DECODE_TRAILING (${tr.ok ? 'it decoded' : describeError(tr.error)})`,
        );
      });
    }

    t.test('every tag is exercised', async (t) => {
      const want = ALL_TAGS.filter((tag) => !(tag === 121 && otp < 26));
      t.same(
        want.filter((tag) => !covered.has(tag)),
        [],
        `tags without a passing vector on OTP ${otp}${otp < 26 ? ' (LOCAL_EXT, 121, needs OTP 26+: not tested here)' : ''}`,
      );
    });
  });
}
