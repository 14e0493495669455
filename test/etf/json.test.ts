// The lossless JSON form of terms (src/etf/json.ts): every kind of term survives
// text and back, deep terms print without recursion, malformed input is refused.
import t from 'tap';
import {
  atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  jsonToTerm,
  JsonTermError,
  LocalExt,
  Pid,
  Port,
  Reference,
  termEquals,
  termToJson,
  tuple,
  type Term,
} from '../../src/etf/index.js';

const pid = new Pid(atom('a@h'), 85, 2, 7);
const EVERY: Term[] = [
  0, -1, 9007199254740991, 2n ** 64n, -(2n ** 200n),
  2.5, new Float(1), new Float(-0), 5e-324, 1.7976931348623157e308,
  true, false, atom('ok'), atom(''), atom('ünïcødé'), atom('with "quotes"'),
  Buffer.from('text'), Buffer.from([0, 255, 128]), Buffer.alloc(0), new BitBinary(Buffer.from([0xa0]), 3),
  [], [1, [2, [3]]], new ImproperList([1, atom('a')], atom('b')),
  tuple(), tuple(atom('a'), tuple(1, 2)),
  new Map<Term, Term>([[atom('k'), 1], [tuple(1, 2), [3]], [Buffer.from('bin'), new Map()]]),
  pid, new Port(atom('a@h'), 2n ** 40n, 3), new Port(atom('a@h'), 5, 3), new Reference(atom('a@h'), 7, [1, 2, 3]),
  new ExportFun(atom('lists'), atom('map'), 2),
  new Fun(1, Buffer.alloc(16, 9), 3, atom('m'), 4, 2n ** 40n, pid, [1, atom('x')]),
  new LocalExt(Buffer.from([121, 1, 2, 3])),
];

t.test('every kind of term survives JSON text and back', async (t) => {
  for (const term of EVERY) {
    const text = termToJson(term);
    const back = jsonToTerm(JSON.parse(text));
    t.ok(termEquals(back, term), `${text}`);
  }
  const all = termToJson(EVERY);
  t.ok(termEquals(jsonToTerm(JSON.parse(all)), EVERY), 'all of them in one list');
  t.equal(termToJson(new Float(-0)), '{"$float":-0.0}');
  t.ok(Object.is((jsonToTerm(JSON.parse('{"$float":-0.0}')) as Float).value, -0), '-0.0 keeps its sign through JSON.parse');
  t.equal(termToJson(new Float(1e300)), '{"$float":1e+300}');
  t.equal(termToJson(2n ** 64n), '{"$int":"18446744073709551616"}');
  t.equal(termToJson(42n), '42', 'a bigint in the safe range is a plain number');
  t.equal(termToJson(null), '{"$atom":"undefined"}');
  t.equal(termToJson('js string'), '"js string"', 'a JS string is a binary');
  t.equal(termToJson({ a: 1 }), '{"$map":[["a",1]]}', 'a plain object is a map with binary keys');
});

t.test('deep terms print without recursion', async (t) => {
  let deep: Term = [];
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const text = termToJson(deep);
  t.equal(text.length, 2 * 200_001);
});

t.test('malformed JSON terms are refused with ERR_JSON_TERM', async (t) => {
  const bad = [
    { nope: 1 }, { $int: 'x' }, { $float: 'x' }, { $atom: 1 }, { $bin: 5 }, { $bits: 'AA==', bits: 9 },
    { $list: [] }, { $tuple: 1 }, { $map: [[1]] }, { $pid: { node: 'a@h', id: -1, serial: 0, creation: 0 } },
    { $ref: { node: 'a@h', creation: 1, ids: 'x' } }, { $fun: { uniq: 'zz', freeVars: [] } }, { $export: null }, null,
  ];
  for (const b of bad) t.throws(() => jsonToTerm(b), JsonTermError, JSON.stringify(b));
  t.throws(() => termToJson(Number.NaN), JsonTermError);
  t.throws(() => termToJson((() => 1) as unknown as Term), JsonTermError);
});
