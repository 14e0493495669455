// The hand-checked mappings of codec-encode.test.ts and codec-decode.test.ts against real Erlang, on every OTP
// variant present: for each case erl (1) encodes the Erlang term, which we
// decode to the stated JS value, (2) decodes our encoding of the JS value and
// checks it is =:= to the term, and (3) for `exact` cases our bytes equal
// term_to_binary(T, [{minor_version, 2}]) byte for byte.
import t from 'tap';
import { BitBinary, ExportFun, Float, ImproperList, Pid, atom, decode, encode, tuple, type Term } from '../../src/index.js';
import { runErl } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';

interface Case {
  erl: string;
  js: Term;
  /** Our encoding equals term_to_binary(T, [{minor_version, 2}]). */
  exact?: boolean;
}

const cases: Case[] = [
  { erl: '0', js: 0, exact: true },
  { erl: '255', js: 255, exact: true },
  { erl: '256', js: 256, exact: true },
  { erl: '-1', js: -1, exact: true },
  { erl: '-2147483648', js: -2147483648, exact: true },
  { erl: '2147483648', js: 2147483648, exact: true },
  { erl: '1732900000123', js: 1732900000123, exact: true },
  { erl: '9007199254740991', js: 9007199254740991, exact: true },
  { erl: '9007199254740992', js: 9007199254740992n, exact: true },
  { erl: '-(1 bsl 64)', js: -(2n ** 64n), exact: true },
  { erl: '1 bsl 2040', js: 2n ** 2040n, exact: true },
  { erl: '-(1 bsl 1000)', js: -(2n ** 1000n), exact: true },
  { erl: '1.5', js: 1.5, exact: true },
  { erl: '1.0', js: new Float(1), exact: true },
  { erl: '-0.0', js: new Float(-0), exact: true },
  { erl: '5.0e-324', js: 5e-324, exact: true },
  { erl: '1.7976931348623157e308', js: new Float(1.7976931348623157e308), exact: true },
  { erl: 'ok', js: atom('ok'), exact: true },
  { erl: "''", js: atom(''), exact: true },
  { erl: "'héllo'", js: atom('héllo'), exact: true },
  { erl: 'list_to_atom([16#1F600])', js: atom('😀'), exact: true },
  { erl: 'list_to_atom(lists:duplicate(255, $é))', js: atom('é'.repeat(255)), exact: true },
  { erl: 'true', js: true, exact: true },
  { erl: 'false', js: false, exact: true },
  { erl: 'undefined', js: atom('undefined'), exact: true },
  { erl: '{}', js: tuple(), exact: true },
  { erl: '{msg, 123456789, 987654321, <<"hello there, how are you?">>, 1732900000123}', js: tuple(atom('msg'), 123456789, 987654321, Buffer.from('hello there, how are you?'), 1732900000123), exact: true },
  { erl: 'list_to_tuple(lists:seq(1, 300))', js: tuple(...Array.from({ length: 300 }, (_, i) => i + 1)), exact: true },
  { erl: '[]', js: [], exact: true },
  { erl: '"abc"', js: [97, 98, 99], exact: true },
  { erl: '[1, 2, 300]', js: [1, 2, 300], exact: true },
  { erl: 'lists:duplicate(65535, 7)', js: new Array(65535).fill(7), exact: true },
  { erl: 'lists:duplicate(65536, 7)', js: new Array(65536).fill(7), exact: true },
  { erl: '[a | b]', js: new ImproperList([atom('a')], atom('b')), exact: true },
  { erl: '[1, 2 | 3.5]', js: new ImproperList([1, 2], 3.5), exact: true },
  { erl: '[[1 | 2] | {}]', js: new ImproperList([new ImproperList([1], 2)], tuple()), exact: true },
  { erl: '<<>>', js: Buffer.alloc(0), exact: true },
  { erl: '<<1, 2, 3>>', js: Buffer.from([1, 2, 3]), exact: true },
  { erl: '<<"héllo"/utf8>>', js: Buffer.from('héllo'), exact: true },
  { erl: '<<7:3>>', js: new BitBinary(Buffer.from([0xe0]), 3), exact: true },
  { erl: '<<1, 1:1>>', js: new BitBinary(Buffer.from([1, 0x80]), 1), exact: true },
  { erl: '#{}', js: new Map(), exact: true },
  { erl: '#{a => 1}', js: new Map([[atom('a'), 1]]), exact: true },
  { erl: '#{1 => a, 1.0 => b}', js: new Map<Term, Term>([[1, atom('a')], [new Float(1), atom('b')]]) },
  { erl: '#{<<"k">> => [1], {x} => #{}}', js: new Map<Term, Term>([[Buffer.from('k'), [1]], [tuple(atom('x')), new Map()]]) },
  { erl: 'fun lists:map/2', js: new ExportFun(atom('lists'), atom('map'), 2), exact: true },
  { erl: 'c:pid(0, 1, 2)', js: new Pid(atom('nonode@nohost'), 1, 2, 0), exact: true },
];

/** Encodings of JS values that Erlang must decode to the stated term. */
const encodeOnly: { erl: string; js: Term }[] = [
  { erl: '<<"héllo"/utf8>>', js: 'héllo' },
  { erl: "#{<<\"a\">> => 1, <<\"b\">> => [<<\"x\">>]}", js: { a: 1, b: ['x'] } },
  { erl: 'undefined', js: null },
  { erl: '[undefined]', js: [undefined] },
  { erl: '0', js: -0 },
  { erl: '100000000000000000000', js: 1e20 },
  { erl: '[1.0]', js: [new Float(1)] },
  { erl: '<<1, 2>>', js: new Uint8Array([1, 2]) },
  { erl: '<<1, 2>>', js: new BitBinary(Buffer.from([1, 2]), 8) },
  { erl: '[1 | 2]', js: new ImproperList([1], 2) },
  { erl: '[1, 2]', js: new ImproperList([1], [2]) },
];

// The cases go to erl on stdin, one `HEX<TAB>EXPR` line each, for test/erl/bb_codec.erl.

for (const variant of variantsSideBySide(t)) {
  t.test(`codec against ${variant.label}`, async (t) => {
    const input = [...cases, ...encodeOnly].map((c) => `${encode(c.js).toString('hex')}\t${c.erl}\n`).join('');
    const out = (await runErl('bb_codec:run()', { root: variant.root, input, modules: [erlModule('bb_codec')] })).trim().split('\n');
    t.equal(out.length, cases.length + encodeOnly.length, 'one line per case');
    cases.forEach((c, i) => {
      const [theirs, theirs2, same] = out[i].split(' ');
      t.same(decode(Buffer.from(theirs, 'hex'), { lossless: true }), c.js, `decode term_to_binary(${c.erl})`);
      t.same(decode(Buffer.from(theirs2, 'hex'), { lossless: true }), c.js, `decode term_to_binary(${c.erl}, [{minor_version, 2}])`);
      t.equal(same, 'true', `binary_to_term(encode(js)) =:= ${c.erl}`);
      if (c.exact) t.equal(encode(c.js).toString('hex').toUpperCase(), theirs2, `encode(js) is byte-identical for ${c.erl}`);
    });
    encodeOnly.forEach((c, j) => {
      const [, , same] = out[cases.length + j].split(' ');
      t.equal(same, 'true', `binary_to_term(encode(js)) =:= ${c.erl}`);
    });
  });
}
