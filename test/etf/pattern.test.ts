// Terms that feel native: the `term` template (parsed once per call site,
// spliced values keep their JS mapping), Erlang pattern matching with `match`
// and `pattern` (variables, `_`, repeated variables, `=`, `:=`, `[H | T]`),
// their TypeScript types, receive({ match }) with a pattern, and every term
// class printed in Erlang syntax by toString and util.inspect.
import t from 'tap';
import { inspect } from 'node:util';
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalExt,
  ParseError,
  Pid,
  Port,
  Reference,
  Tuple,
  atom,
  encode,
  formatTerm,
  match,
  parseTerm,
  pattern,
  term,
  termEquals,
  tuple,
  type Term,
} from '../../src/etf/index.js';
import { Node } from '../../src/otp/index.js';
import { freePort } from '../../src/testing/index.js';

const node = atom('web1@127.0.0.1');
const pid = new Pid(node, 4, 0, 1);

t.test('term builds terms from Erlang syntax with JS values spliced in', async (t) => {
  const to = 1002;
  const text = 'hi';
  const v = term`{send, ${pid}, ${to}, ${text}, undefined}`;
  t.ok(v instanceof Tuple, 'a tuple');
  t.equal(formatTerm(v, { nodes: true }), `{send, <'web1@127.0.0.1'.4.0>, 1002, <<"hi">>, undefined}`, 'a JS string stays a binary, the bare word undefined is the atom');
  t.equal((v as Tuple).at(1), pid, 'a spliced object is the value itself, not a copy');
  const nested = term`#{user => ${42n}, tags => [a, b | ${[atom('c')]}], pair => {${1.5}, ${new Float(2)}}}`;
  t.equal(formatTerm(nested), '#{pair => {1.5, 2.0}, tags => [a, b, c], user => 42}', 'spliced values in maps, list tails and tuples');
  const improper = term`[1 | ${atom('x')}]`;
  t.ok(improper instanceof ImproperList, 'a non-list spliced as a tail gives an improper list');
  t.ok(termEquals(term`{ok, ${[1, 2]}}`, parseTerm('{ok, [1, 2]}')), 'a spliced array is a list');
  t.ok(encode(term`{a, ${'x'}}`).equals(encode(tuple(atom('a'), 'x'))), 'encodes as the equivalent tuple() call');
  t.ok(termEquals(term('{ok, 1}'), parseTerm('{ok, 1}')), 'a plain string argument is parseTerm');
});

t.test('term parses the literal parts once per call site', async (t) => {
  const build = (x: Term) => term`{a, [1, 2], <<"lit">>, ${x}}`;
  const first = build(1) as Tuple;
  const second = build(2) as Tuple;
  t.equal(first.at(3), 1, 'first call fills its value');
  t.equal(second.at(3), 2, 'second call fills its own value');
  t.not(first.at(1), second.at(1), 'each call gets fresh containers (safe to mutate)');
  t.not(first.at(2), second.at(2), 'and fresh binaries');
  const wide = (x: Term) => term`{${x}, [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w, x, y, z], #{k => v}}`;
  let wrong = 0;
  for (let i = 0; i < 1000; i++) if ((wide(i) as Tuple).at(0) !== i) wrong++;
  t.equal(wrong, 0, '1000 calls of one call site each got their own value');
});

t.test('term refuses what has no place in a term', async (t) => {
  const x = 1 as Term;
  t.throws(() => term`{Var, ${x}}`, { code: 'ERR_PARSE', message: /variable in a term template/ }, 'variables are not terms');
  t.throws(() => term`'quoted ${x}'`, { code: 'ERR_PARSE', message: /inside a quoted atom/ }, 'no splicing inside quotes');
  t.throws(() => term`<<${x}, 2>>`, { code: 'ERR_PARSE', message: /inside <<\.\.\.>>/ }, 'no splicing inside a binary');
  t.throws(() => term`{a ${x}}`, ParseError, 'a value must be separated like any element');
  t.throws(() => term`#{a := 1}`, { message: /expected '=>'/ }, ':= belongs to patterns');
});

t.test('match binds variables as Erlang does', async (t) => {
  const msg = term`{chat_event, ${1001}, #{seq => 7, text => <<"hi">>}}`;
  const m = match('{chat_event, User, #{seq := Seq}}', msg);
  t.same(m, { User: 1001, Seq: 7 }, 'variables bound; the map may have more keys');
  t.equal(match('{chat_event, User, #{missing := _}}', msg), null, 'a missing map key does not match');
  t.equal(match('{other, _, _}', msg), null, 'a different atom does not match');
  t.equal(match('{chat_event, _}', msg), null, 'a different tuple size does not match');
  t.same(match('{_, _, _}', msg), {}, '_ matches anything and binds nothing');
  t.same(match('{X, X}', tuple(1, 1)), { X: 1 }, 'a repeated variable matches equal terms');
  t.equal(match('{X, X}', tuple(1, 2)), null, 'a repeated variable refuses different terms');
  t.same(match('{X, X}', tuple(1, 1n)), { X: 1 }, 'an integer is the same term as a number or a bigint');
  t.equal(match('{X, X}', tuple(1, new Float(1))), null, 'but not the float 1.0 (=:=, as in a pattern)');
  t.same(match('{_A, _A}', tuple(3, 3)), { _A: 3 }, 'a variable starting with _ still binds, as in Erlang');
  t.equal(match('{_A, _A}', tuple(3, 4)), null, 'and must match the same term twice');
  t.same(match('[H | T]', [1, 2, 3]), { H: 1, T: [2, 3] }, '[H | T] splits a list');
  t.same(match('[A, B | T]', [1, 2]), { A: 1, B: 2, T: [] }, 'the tail of a list of exactly two is []');
  t.equal(match('[A, B]', [1, 2, 3]), null, 'a proper list pattern needs the exact length');
  t.equal(match('[]', [1]), null, '[] matches only the empty list');
  const imp = match('[H | T]', new ImproperList([1, 2], atom('x')));
  t.ok(imp && imp.H === 1 && imp.T instanceof ImproperList, 'the tail of an improper list is improper');
  t.same(match('"ab"', [97, 98]), {}, 'a string pattern is a list of characters');
  t.same(match('<<"hi">>', Buffer.from('hi')), {}, 'a binary pattern matches the bytes');
  t.same(match('<<"hi">>', 'hi'), {}, 'and a JS string, which is a binary');
  t.same(match('{ok, undefined}', tuple(atom('ok'), undefined)), {}, 'JS undefined is the atom undefined');
  const whole = match('M = {ok, V}', tuple(atom('ok'), 5));
  t.ok(whole && whole.V === 5 && whole.M instanceof Tuple, '= binds the whole value too');
  t.same(match('#{<<"seq">> := S}', { seq: 9 }), { S: 9 }, 'a plain object is a map with binary keys');
  t.equal(match('#{seq := S}', { seq: 9 }), null, 'so an atom key does not find it');
  t.same(match('#{<<"k">> := V}', new Map<Term, Term>([[Buffer.from('k'), 1]])), { V: 1 }, 'binary keys of a Map are found by value');
  t.same(match("#{{a, 1} := V}", new Map<Term, Term>([[tuple(atom('a'), 1), 2]])), { V: 2 }, 'compound keys are found by value');
  t.same(match('{<0.4.0>, _}', tuple(new Pid(atom('nonode@nohost'), 4, 0, 0), 1)), {}, 'pid literals match');
});

t.test('match refuses malformed patterns', async (t) => {
  t.throws(() => match('{ok, X', 1), ParseError, 'unbalanced');
  t.throws(() => match('#{k => V}', new Map()), { message: /uses ':='/ }, '=> in a map pattern is Erlang\'s compile error');
  t.throws(() => match('#{K := 1}', new Map()), { message: /map key in a pattern/ }, 'a variable as a map key');
  t.throws(() => match('<<X:8>>', Buffer.from([1])), { message: /binary patterns with variables/ }, 'bit syntax with variables');
});

t.test('pattern compiles once, and splices bound values', async (t) => {
  const ref = new Reference(node, 1, [1, 2, 3]);
  const other = new Reference(node, 1, [9, 9, 9]);
  const p = pattern`{reply, ${ref}, Value}`;
  t.same(p.match(tuple(atom('reply'), new Reference(node, 1, [1, 2, 3]), 42)), { Value: 42 }, 'an equal reference matches');
  t.equal(p.match(tuple(atom('reply'), other, 42)), null, 'another reference does not');
  t.equal(p.test(tuple(atom('reply'), ref, 1)), true, 'test() says yes');
  t.equal(p.source, '{reply, ${0}, Value}', 'source shows where values were spliced');
  const q = pattern('{ok, X}');
  t.equal(pattern('{ok, X}'), q, 'the same string gives the same compiled pattern');
  t.same(match(q, tuple(atom('ok'), 1)), { X: 1 }, 'match takes a compiled pattern');
  const key = Buffer.from('seq');
  t.same(pattern`#{${key} := S}`.match({ seq: 3 }), { S: 3 }, 'a spliced map key');
});

t.test('bindings are typed from the pattern text', async (t) => {
  const v: Term = tuple(atom('chat_event'), 1, new Map([[atom('seq'), 2]]));
  const m = match('{chat_event, User, #{seq := Seq}, <<"Quoted">>, \'Atom\', $X, 16#FF, _, _Skip}', v);
  if (m) {
    const u: Term = m.User;
    const s: Term = m.Seq;
    const k: Term = m._Skip;
    // @ts-expect-error Quoted, Atom, X and FF are not variables
    void m.Quoted;
    // @ts-expect-error 16#FF is an integer, not a variable
    void m.FF;
    void [u, s, k];
  }
  t.equal(m, null, 'this value has the wrong shape; the test is about the types');
  const wide: string = '{ok, X}';
  const w = match(wide, tuple(atom('ok'), 1));
  t.same(w, { X: 1 }, 'a pattern that is not a literal type gives a record');
});

t.test('receive takes a pattern and resolves with its variables', async (t) => {
  const port = await freePort();
  const n = await Node.start({ name: `pat${process.pid}@127.0.0.1`, cookie: 'c', epmd: { embedded: true, port } });
  t.teardown(() => n.stop());
  const p = n.spawn();
  const q = n.spawn();
  q.send(p.pid, term`{noise, 1}`);
  q.send(p.pid, term`{chat_event, 7, #{seq => 3}}`);
  const { User, Seq } = await p.receive({ match: '{chat_event, User, #{seq := Seq}}', timeoutMs: 5000 });
  t.same([User, Seq], [7, 3], 'selected the matching message and bound its variables');
  const ref = n.makeRef();
  q.send(p.pid, term`{reply, ${n.makeRef()}, wrong}`);
  q.send(p.pid, term`{reply, ${ref}, right}`);
  const r = await p.receive({ match: pattern`{reply, ${ref}, R}`, timeoutMs: 5000 });
  t.equal(r.R, atom('right'), 'a spliced reference picks the reply to this request');
  t.same(await p.receive({ timeoutMs: 0, match: (m) => match('{noise, _}', m) !== null }), term`{noise, 1}`, 'a predicate still resolves with the message');
  await t.rejects(p.receive({ match: '{never, _}', timeoutMs: 0 }), { code: 'ERR_TIMEOUT' }, 'timeouts work as before');
});

t.test('every term class prints in Erlang syntax', async (t) => {
  const cases: [Term, string][] = [
    [atom('ok'), 'ok'],
    [atom('hello world'), "'hello world'"],
    [tuple(atom('ok'), 42), '{ok, 42}'],
    [new Float(1), '1.0'],
    [pid, "<'web1@127.0.0.1'.4.0>"],
    [new Port(node, 7, 1), "#Port<'web1@127.0.0.1'.7>"],
    [new Reference(node, 1, [3, 2, 1]), "#Ref<'web1@127.0.0.1'.1.2.3>"],
    [new BitBinary(Buffer.from([0xff, 0x80]), 1), '<<255,1:1>>'],
    [new ImproperList([1], atom('t')), '[1|t]'],
    [new ExportFun(atom('lists'), atom('map'), 2), 'fun lists:map/2'],
    [new Fun(0, Buffer.alloc(16), 0, atom('m'), 1, 2, pid, []), '#Fun<m.1.2>'],
    [new LocalExt(Buffer.from([121, 1])), '#LocalExt<7901>'],
  ];
  for (const [v, text] of cases) {
    t.equal(String(v), text, `String() of ${text}`);
    t.equal(inspect(v), text, `util.inspect of ${text}`);
  }
  t.equal(inspect({ msg: tuple(atom('ok'), [1, 2]) }), '{ msg: {ok, [1, 2]} }', 'inside a JS object, console.log shows Erlang syntax');
  t.equal(`${tuple(atom('a'), 'b')}`, '{a, <<"b">>}', 'template literals too; a JS string shows as the binary it is');
  const big = tuple(Buffer.alloc(20_000, 97));
  t.ok(inspect(big).length < 10_100 && inspect(big).includes('more characters'), 'inspect bounds a huge term like a long string');
  t.ok(atom('ok') instanceof Atom, 'classes unchanged');
});
