// parseTerm / formatTerm: unit cases, error positions, deep terms, and real
// Erlang: erl prints random terms with ~w and ~tp, we parse them, format them,
// and erl reads our text back (erl_parse:parse_term) and checks =:= with the
// originals. Floats and atoms must be written exactly as erl writes them.
import t from 'tap';
import { randomInt } from 'node:crypto';
import {
  atom,
  BitBinary,
  encode,
  EncodeError,
  ExportFun,
  Float,
  formatTerm,
  Fun,
  ImproperList,
  LocalExt,
  parseTerm,
  ParseError,
  Pid,
  Port,
  Reference,
  termEquals,
  tuple,
  type Term,
} from '../../src/index.js';
import { formatFloat } from '../../src/etf/text.js';
import { erlWith, runErl } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';

const m = (...kv: Term[]) => {
  const r = new Map<Term, Term>();
  for (let i = 0; i < kv.length; i += 2) r.set(kv[i], kv[i + 1]);
  return r;
};

t.test('parses the term syntax', async (t) => {
  const cases: [string, Term][] = [
    [`{ok, [1, 2.5, <<"hi">>], #{a => 'B c'}}`, tuple(atom('ok'), [1, 2.5, Buffer.from('hi')], m(atom('a'), atom('B c')))],
    ['"abc"', [97, 98, 99]],
    ['"ab" "c"', [97, 98, 99]],
    ['""', []],
    ['<<"héllo"/utf8>>', Buffer.from('héllo')],
    ['<<"héllo">>', Buffer.from('héllo', 'latin1')],
    ['<<1,2,3>>', Buffer.from([1, 2, 3])],
    ['<<"abc">>', Buffer.from('abc')],
    ['<<1,2:3>>', new BitBinary(Buffer.from([1, 0x40]), 3)],
    ['<<>>', Buffer.alloc(0)],
    ['<<-1:16, 300:16/little, $a, 1:4, 15:4>>', Buffer.from([255, 255, 44, 1, 97, 31])],
    ['<<1.5/float, 2.0:32/float-little>>', Buffer.concat([Buffer.from([63, 248, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 0, 64])])],
    ['<<"ab"/utf16, "c"/utf32-little, 228/utf8, "x"/binary, 1:2/unit:8-unsigned-big, +2:8/signed>>', Buffer.from([0, 97, 0, 98, 99, 0, 0, 0, 0xc3, 0xa4, 120, 0, 1, 2])],
    ['<<"a\\x{101}"/utf8, 3.0/float-native>>', Buffer.concat([Buffer.from('aā'), Buffer.from([0, 0, 0, 0, 0, 0, 8, 64])])],
    ['<<"a"/utf32, 1.0:32/float>>', Buffer.from([0, 0, 0, 97, 0x3f, 0x80, 0, 0])],
    ['$a', 97],
    ['$\\n', 10],
    ['$\\x{1F600}', 0x1f600],
    ['$😀', 0x1f600],
    ['$\\^a', 1],
    ['$\\101', 65],
    ['$\\s', 32],
    ['$\\q', 113],
    ['$ ', 32],
    ['16#FF', 255],
    ['16#ff_ff', 65535],
    ['2#101', 5],
    ['36#zz', 1295],
    ['1_000', 1000],
    ['-7', -7],
    ['+ 7', 7],
    ['- 0', 0],
    ['-$a', -97],
    ['9007199254740991', 9007199254740991],
    ['9007199254740992', 9007199254740992n],
    ['-123456789012345678901234567890', -123456789012345678901234567890n],
    ['16#FFFFFFFFFFFFFFFFFF', 0xffffffffffffffffffn],
    ['2.5', 2.5],
    ['1.0', new Float(1)],
    ['-0.0', new Float(-0)],
    ['0.0', new Float(0)],
    ['1.0e-10', 1e-10],
    ['1.5E3', new Float(1500)],
    ['2.5e+2', new Float(250)],
    ['1_0.2_5', 10.25],
    ['-1.5', -1.5],
    ["'hello world'", atom('hello world')],
    ["'a\\nb\\'c\\\\'", atom("a\nb'c\\")],
    ["'\\x41\\x{42}\\103\\e\\d'", atom('ABC\x1b\x7f')],
    ['ok', atom('ok')],
    ['nonode@nohost', atom('nonode@nohost')],
    ['äb_C9', atom('äb_C9')],
    ['true', true],
    ['false', false],
    ["'true'", true],
    ['undefined', atom('undefined')],
    ['{}', tuple()],
    ['[]', []],
    ['#{}', new Map()],
    ['[1|2]', new ImproperList([1], 2)],
    ['[1, 2 | [3 | [4]]]', [1, 2, 3, 4]],
    ['[1|[]]', [1]],
    ['[a|[b|c]]', new ImproperList([atom('a'), atom('b')], atom('c'))],
    ['[$a|"bc"]', [97, 98, 99]],
    ['[[1|2]|[3|[]]]', [new ImproperList([1], 2), 3]],
    ['[1|[2|[]]]', [1, 2]],
    ['#{a => 1, a => 2}', m(atom('a'), 2)],
    ['#{{x} => 1, {x} => 2, <<"k">> => 3, <<"k">> => 4}', m(tuple(atom('x')), 2, Buffer.from('k'), 4)],
    ['#{1 => a, 1.0 => b}', m(1, atom('a'), new Float(1), atom('b'))],
    ['<0.1.2>', new Pid(atom('nonode@nohost'), 1, 2, 0)],
    ["<'a@h'.1.2>", new Pid(atom('a@h'), 1, 2, 0)],
    ['<a@h.4294967295.0>', new Pid(atom('a@h'), 4294967295, 0, 0)],
    ['#Ref<0.3.2.1>', new Reference(atom('nonode@nohost'), 0, [1, 2, 3])],
    ["#Ref<'a@h'.7>", new Reference(atom('a@h'), 0, [7])],
    ['#Port<0.7>', new Port(atom('nonode@nohost'), 7, 0)],
    ['#Port<0.18446744073709551615>', new Port(atom('nonode@nohost'), 18446744073709551615n, 0)],
    ['#LocalExt<790102>', new LocalExt(Buffer.from([121, 1, 2]))],
    ['fun lists:map/2', new ExportFun(atom('lists'), atom('map'), 2)],
    ["fun 'a b':'c'/0", new ExportFun(atom('a b'), atom('c'), 0)],
    ['  {a} .  % comment\n', tuple(atom('a'))],
    ['%% leading\n[1,\n 2]', [1, 2]],
  ];
  for (const [text, want] of cases) {
    const got = parseTerm(text);
    t.ok(termEquals(got, want), text);
  }
  t.same(parseTerm('2.5'), 2.5);
  t.ok(parseTerm('1.0') instanceof Float);
  t.equal(typeof parseTerm('9007199254740992'), 'bigint');
  t.ok(Object.is((parseTerm('-0.0') as Float).value, -0));
  t.equal(parseTerm('- 0'), 0);
  t.ok(Array.isArray(parseTerm('[1|[2]]')));
  const pidTerm = parseTerm('{<0.5.6>, #Ref<0.1>, #Port<0.2>}', { node: 'me@here', creation: 9 }) as ReturnType<typeof tuple>;
  t.ok(termEquals(pidTerm, tuple(new Pid(atom('me@here'), 5, 6, 9), new Reference(atom('me@here'), 9, [1]), new Port(atom('me@here'), 2, 9))));
  t.ok(termEquals(parseTerm('<0.1.2>', { node: atom('x@y') }), new Pid(atom('x@y'), 1, 2, 0)));
});

t.test('parse errors carry code, offset, line and column', async (t) => {
  const bad: [string, number, RegExp][] = [
    ['{a,', 3, /end of input/],
    ['[1|2|3]', 4, /expected '\]'/],
    ['X', 0, /variables/],
    ['_', 0, /variables/],
    ['<<"ā">>', 2, /above 255/],
    ['#Fun<a.1.2>', 0, /local fun/],
    ['1 2', 2, /after the term/],
    ['#{a}', 3, /'=>'/],
    ['{a}}', 3, /after the term/],
    ['{a b}', 3, /',' or '}'/],
    ['#{a => 1 b}', 9, /',' or '}'/],
    ['[1 2]', 3, /',', '\|' or '\]'/],
    ['"abc', 0, /unterminated string/],
    ["'abc", 0, /unterminated atom/],
    [`'${'x'.repeat(256)}'`, 0, /255/],
    ['37#1', 0, /base/],
    ['1#1', 0, /base/],
    ['16#', 3, /digits/],
    ['1.0e400', 0, /out of range/],
    ['1.0e', 3, /after the term/],
    ['$', 1, /end of input/],
    ['"\\x{110000}"', 1, /out of range/],
    ['"\\xZ"', 1, /\\x/],
    ['"\\', 1, /end of input/],
    ['"\\^', 1, /end of input/],
    ['-a', 1, /number after/],
    ['}', 0, /unexpected '}'/],
    ['!', 0, /unexpected character '!'/],
    ['<0.1>', 0, /pid/],
    ['<0.1.2', 0, /pid/],
    ['<0.99999999999.0>', 0, /out of range/],
    ['<X.1.2>', 0, /pid/],
    ['#Ref<0>', 0, /Ref/],
    ['#Ref<0.1.2.3.4.5.6>', 0, /Ref/],
    ['#Port<0.18446744073709551616>', 0, /port number/],
    ['#LocalExt<7>', 0, /hex/],
    ['#rec{}', 0, /unexpected character '#'/],
    ['fun 1', 4, /module/],
    ['fun m:1', 6, /function/],
    ['fun m:f/x', 8, /arity/],
    ['fun m:f/256', 8, /arity/],
    ['<<a>>', 2, /segment value/],
    ['<<1:a>>', 4, /segment size/],
    ['<<1/foo>>', 4, /unknown type/],
    ['<<1/1>>', 4, /type specifier/],
    ['<<1/unit:0>>', 9, /bad unit/],
    ['<<1:3/little>>', 2, /whole bytes/],
    ['<<1.5>>', 2, /integer/],
    ['<<1.5:16/float>>', 2, /32 or 64/],
    ['<<1.5/utf8>>', 2, /code point/],
    ['<<16#D800/utf8>>', 2, /code point/],
    ['<<1:8/utf8>>', 2, /no size/],
    ['<<1/binary>>', 2, /binary value/],
    ['<<1.5/integer>>', 2, /integer/],
    ['<<1 2>>', 4, /',' or '>>'/],
    ['<<"a"/utf8-little, -"a">>', 20, /segment value/],
    ['', 0, /end of input/],
  ];
  for (const [text, offset, re] of bad) {
    try {
      parseTerm(text);
      t.fail(`no error for ${text}`);
    } catch (e) {
      t.ok(e instanceof ParseError, text);
      const pe = e as ParseError;
      t.equal(pe.code, 'ERR_PARSE');
      t.equal(pe.offset, offset, `offset for ${text}: ${pe.message}`);
      t.match(pe.message, re, text);
    }
  }
  try {
    parseTerm('{a,\n  b,\n  X}');
  } catch (e) {
    const pe = e as ParseError;
    t.equal(pe.line, 3);
    t.equal(pe.column, 3);
    t.match(pe.message, /line 3, column 3 \(offset 11\)/);
  }
});

t.test('formats terms', async (t) => {
  const cases: [Term, string][] = [
    [tuple(atom('ok'), [1, 2.5, Buffer.from('hi')], m(atom('a'), atom('B c'))), `{ok, [1, 2.5, <<"hi">>], #{a => 'B c'}}`],
    [new ImproperList([1], 2), '[1|2]'],
    [new ImproperList([1, 2], new ImproperList([3], atom('x'))), '[1, 2, 3|x]'],
    [new ImproperList([1], [2, 3]), '[1, 2, 3]'],
    [new ImproperList([], 5), '5'],
    [new ImproperList([], []), '[]'],
    [[], '[]'],
    [tuple(), '{}'],
    [new Map(), '#{}'],
    [{}, '#{}'],
    [{ b: 1, a: 'x' }, '#{<<"a">> => <<"x">>, <<"b">> => 1}'],
    [m(new Float(1), 0, 2, 0, atom('a'), 0), '#{2 => 0, 1.0 => 0, a => 0}'],
    ['héllo', '<<"héllo"/utf8>>'],
    ['', '<<>>'],
    ['a"b\\c\n', '<<"a\\"b\\\\c\\n">>'],
    ['\x00', '<<0>>'],
    [Buffer.from('abc'), '<<"abc">>'],
    [Buffer.from([0xff, 1]), '<<255,1>>'],
    [new Uint8Array([104, 105]), '<<"hi">>'],
    [Buffer.from('😀'), '<<"😀"/utf8>>'],
    [new BitBinary(Buffer.from([1, 0x40]), 3), '<<1,2:3>>'],
    [new BitBinary(Buffer.from([0x80]), 1), '<<1:1>>'],
    [new BitBinary(Buffer.from('ab'), 8), '<<"ab">>'],
    [new BitBinary(Buffer.alloc(0), 8), '<<>>'],
    [1, '1'],
    [-1, '-1'],
    [1e21, '1000000000000000000000'],
    [2n ** 70n, '1180591620717411303424'],
    [new Float(1), '1.0'],
    [new Float(-0), '-0.0'],
    [2.5, '2.5'],
    [true, 'true'],
    [null, 'undefined'],
    [undefined, 'undefined'],
    [atom(''), "''"],
    [atom('aB_9@'), 'aB_9@'],
    [atom('Ab'), "'Ab'"],
    [atom('a-b'), "'a-b'"],
    [atom('end'), "'end'"],
    [atom('maybe'), "'maybe'"],
    [atom('ä'), 'ä'],
    [atom('привет'), "'привет'"],
    [atom("it's\t\x01\x7f\x9f"), "'it\\'s\\t\\001\\d\\237'"],
    [new Pid(atom('a@h'), 1, 2, 3), '<0.1.2>'],
    [new Reference(atom('a@h'), 1, [1, 2, 3]), '#Ref<0.3.2.1>'],
    [new Port(atom('a@h'), 7, 1), '#Port<0.7>'],
    [new ExportFun(atom('lists'), atom('map'), 2), 'fun lists:map/2'],
    [new ExportFun(atom('A'), atom('b c'), 0), "fun 'A':'b c'/0"],
    [new Fun(1, Buffer.alloc(16), 3, atom('erl_eval'), 45, 97283095, new Pid(atom('a@h'), 0, 0, 0), []), '#Fun<erl_eval.45.97283095>'],
    [new LocalExt(Buffer.from([121, 0xab])), '#LocalExt<79ab>'],
    [[97, 98], '[97, 98]'],
  ];
  for (const [term, want] of cases) t.equal(formatTerm(term), want, want);
  const nodes = { nodes: true };
  t.equal(formatTerm(new Pid(atom('a@h'), 1, 2, 3), nodes), "<'a@h'.1.2>");
  t.equal(formatTerm(new Reference(atom('b'), 1, [5]), nodes), "#Ref<'b'.5>");
  t.equal(formatTerm(new Port(atom('a@h'), 7, 1), nodes), "#Port<'a@h'.7>");
  const strings = { strings: true };
  t.equal(formatTerm([104, 105, 10], strings), '"hi\\n"');
  t.equal(formatTerm([104, 0x1f600], strings), '"h😀"');
  t.equal(formatTerm([104, 2.5], strings), '[104, 2.5]');
  t.equal(formatTerm([104, 1], strings), '[104, 1]');
  t.equal(formatTerm(new ImproperList([104], 105), strings), '[104|105]');
  t.equal(formatTerm([], strings), '[]');
  t.throws(() => formatTerm(NaN), EncodeError);
  t.throws(() => formatTerm(new Float(Infinity)), EncodeError);
  t.throws(() => formatTerm((() => 1) as unknown as Term), EncodeError);
  // Round trips, nodes included.
  const rich = tuple(new Pid(atom('n@h'), 1, 2, 0), new Reference(atom('n@h'), 0, [1, 0, 3]), new Port(atom('n@h'), 5, 0), 'x', [1, new Float(2)]);
  t.ok(termEquals(parseTerm(formatTerm(rich, nodes)), rich));
});

t.test('floats: the shortest text, laid out as OTP does', async (t) => {
  const cases: [number, string][] = [
    [1, '1.0'], [2.5, '2.5'], [0, '0.0'], [-0, '-0.0'], [1e15, '1.0e15'], [1e16, '1.0e16'], [1e21, '1.0e21'],
    [123456789012345680, '1.2345678901234568e17'], [0.1, '0.1'], [0.0001, '0.0001'], [1e-5, '1.0e-5'],
    [1e-10, '1.0e-10'], [5e-324, '5.0e-324'], [1.7976931348623157e308, '1.7976931348623157e308'],
    [12345.678, '12345.678'], [100, '100.0'], [1000, '1.0e3'], [9007199254740992, '9.007199254740992e15'],
    [123e5, '1.23e7'], [0.000123, '1.23e-4'], [120, '120.0'], [1200, '1.2e3'], [0.0012, '0.0012'],
    [999999999999999.9, '999999999999999.9'], [-1.5, '-1.5'], [1234567, '1234567.0'], [4503599627370496, '4503599627370496.0'],
  ];
  for (const [x, want] of cases) t.equal(formatFloat(x), want, want);
});

t.test('deep terms', async (t) => {
  let l: Term = [];
  let tp: Term = 0;
  let mp: Term = 0;
  for (let i = 0; i < 100_000; i++) {
    l = [l];
    tp = tuple(tp);
    mp = m(mp, i);
  }
  for (const x of [l, tp]) {
    const text = formatTerm(x);
    t.ok(termEquals(parseTerm(text), x));
  }
  const nested = `${'['.repeat(100_001)}${']'.repeat(100_001)}`;
  t.ok(termEquals(parseTerm(nested), l));
  t.ok(termEquals(parseTerm(formatTerm(mp)), mp), 'maps nested in keys');
  // [1|[2|[3|...]]] is read as one flat list (no quadratic copying).
  const n = 50_000;
  const chain = `${Array.from({ length: n }, (_, i) => `[${i}|`).join('')}[]${']'.repeat(n)}`;
  const flat = parseTerm(chain) as number[];
  t.equal(flat.length, n);
  t.equal(flat[n - 1], n - 1);
});

// ---------------------------------------------------------------- real Erlang

// test/erl/bbtext.erl makes random terms and prints them as Erlang does.
for (const v of variantsSideBySide(t)) {
  t.test(`reads and writes what ${v.label} writes and reads`, async (t) => {
    const seed = randomInt(1, 2 ** 31);
    const n = 300;
    const out = await erlWith(erlModule('bbtext'), `bbtext:gen_all(${seed}, ${n})`, '', v.root);
    const lines = out.split('\n');
    const terms: Term[] = [];
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const w = parseTerm(lines[2 * i]);
      const p = parseTerm(lines[2 * i + 1]);
      if (!termEquals(w, p)) bad.push(`~w ${lines[2 * i]} vs ~tp ${lines[2 * i + 1]}`);
      terms.push(w);
    }
    t.same(bad.slice(0, 3), [], `~w and ~tp texts parse to the same terms (seed ${seed})`);
    const ours = terms.map((x) => formatTerm(x)).join('\n');
    const hex = terms.map((x) => encode(x).toString('hex')).join('\n');
    const check = await erlWith(erlModule('bbtext'), `bbtext:check(${seed}, ${n}, Data)`, `${ours}\n%%HEX%%\n${hex}`, v.root);
    const [badText, badBin] = check.trim().split('\n').map((l) => JSON.parse(l.replace(/^BAD(BIN)? /, '')) as number[]);
    t.same(badText.map((i) => ours.split('\n')[i - 1]).slice(0, 3), [], `erl reads our text back =:= (seed ${seed})`);
    t.same(badBin.map((i) => ours.split('\n')[i - 1]).slice(0, 3), [], `encode(parseTerm(~w text)) is =:= in erl (seed ${seed})`);
    t.ok(terms.some((x) => x instanceof Map && x.size > 32) || n < 100, 'covers large maps');
  });

  t.test(`floats and atoms are written exactly as ${v.label} writes them`, async (t) => {
    const seed = randomInt(1, 2 ** 31);
    const floats = await erlWith(erlModule('bbtext'), `bbtext:floats(${seed}, 3000)`, '', v.root);
    const fbad = floats.split('\n').filter((l) => l !== '' && formatTerm(parseTerm(l)) !== l);
    t.same(fbad.slice(0, 5), [], `3000 floats (seed ${seed})`);
    const release = Number((await runErl('io:format("~s", [erlang:system_info(otp_release)])', { root: v.root })).trim());
    const atoms = await erlWith(erlModule('bbtext'), `bbtext:atoms(${seed}, 2000)`, '', v.root);
    const abad = atoms
      .split('\n')
      .filter((l) => l !== '' && !(release < 27 && (l === 'maybe' || l === 'else')))
      .filter((l) => formatTerm(parseTerm(l)) !== l);
    t.same(abad.slice(0, 5), [], `2000 atoms (seed ${seed})`);
  });
}
