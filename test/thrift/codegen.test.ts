// The IDL parser and the TypeScript generator: the committed chat code is
// exactly what the generator makes (the freshness check), a richer IDL
// generates code that type-checks under strict TypeScript and works end to
// end, and bad IDL fails with a line and column.
import t from 'tap';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { parseThriftIdl } from '../../src/thrift/idl.js';
import { generateTypeScript } from '../../src/thrift/codegen/generate.js';
import { ThriftIdlError } from '../../src/thrift/errors.js';
import { I64Map } from '../../src/thrift/i64map.js';
import { canon } from './ref.js';

const repo = join(new URL('.', import.meta.url).pathname, '..', '..');

t.test('the committed src/thrift/gen/chat.ts is fresh', async (t) => {
  const idl = parseThriftIdl(readFileSync(join(repo, 'idl', 'chat.thrift'), 'utf8'));
  const code = generateTypeScript(idl, { runtimeImport: '../runtime.js', sourceName: 'idl/chat.thrift' });
  t.equal(code, readFileSync(join(repo, 'src', 'thrift', 'gen', 'chat.ts'), 'utf8'), 'run `npm run gen:thrift` if this fails');
});

t.test('parse chat.thrift', async (t) => {
  const idl = parseThriftIdl(readFileSync(join(repo, 'idl', 'chat.thrift'), 'utf8'));
  t.same(idl.namespaces, { py: 'chat', js: 'chat' });
  t.same(
    idl.enums.map((e) => e.name),
    ['PresenceState', 'PollStatus'],
  );
  t.same(
    idl.structs.map((s) => `${s.kind} ${s.name}`),
    ['struct ChatMessage', 'struct Typing', 'struct ChannelEvent', 'struct PollResult', 'struct Presence', 'struct SlotRange', 'exception NotOnline', 'exception WrongPartition'],
  );
  const svc = idl.services[0]!;
  t.equal(svc.functions.length, 11);
  const send = svc.functions.find((f) => f.name === 'send')!;
  t.same(
    send.throws.map((x) => [x.id, x.name]),
    [
      [1, 'no'],
      [2, 'wp'],
    ],
  );
  t.same(idl.structs[0]!.fields[5], { id: 6, name: 'clientMsgId', type: { kind: 'base', name: 'string' }, requiredness: 'optional' });
});

const RICH = `
# A richer IDL: every construct the generator supports.
namespace js rich
include "shared.thrift"
typedef i64 UserId
typedef map<UserId, list<string>> Tags (js.type = "ignored")
const i32 LIMIT = 10
const list<string> NAMES = ["a", "b"]
const map<string, i64> BIG = { "max": 9223372036854775807 }
enum Color { RED, GREEN = 5, BLUE }
/* block
   comment */
struct Inner { 1: required UserId id; 2: optional binary blob }
union Either { 1: string s, 2: i32 n }
struct Outer {
  1: Inner inner,
  2: set<i16> small = [1, 2],
  3: Tags tags,
  4: Color color = Color.GREEN,
  5: double ratio = 0.5,
  6: byte b,
  7: bool flag = true,
  8: list<map<i64, set<Color>>> deep,
  9: optional Either either,
  10: string name = "n" (annotation = "x")
}
exception Oops { 1: string message, 2: i32 errorCode }
service Rich {
  Outer echo(1: Outer o, 2: UserId id) throws (1: Oops oops)
  oneway void fire(1: i32 n)
  void nothing()
}
`;

t.test('a richer IDL generates strict TypeScript that works end to end', async (t) => {
  const dir = mkdtempSync(join(repo, '.tap', 'codegen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const idl = parseThriftIdl(RICH);
  t.same(idl.includes, ['shared.thrift']);
  t.same(idl.enums[0]!.values, [
    { name: 'RED', value: 0 },
    { name: 'GREEN', value: 5 },
    { name: 'BLUE', value: 6 },
  ]);
  const runtime = join(repo, 'src', 'thrift', 'runtime.js');
  const file = join(dir, 'rich.ts');
  writeFileSync(file, generateTypeScript(idl, { runtimeImport: runtime, sourceName: 'rich.thrift' }));

  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    skipLibCheck: true,
  });
  const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file);
  t.same(
    diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    [],
    'generated code type-checks under strict',
  );

  const rich = (await import(pathToFileURL(file).href)) as Record<string, any>;
  t.equal(rich.LIMIT, 10);
  t.same(rich.NAMES, ['a', 'b']);
  t.equal(rich.BIG.get('max'), 2n ** 63n - 1n);
  const outer = {
    inner: { id: 2n ** 63n - 1n, blob: Buffer.from([1, 2, 3]) },
    small: new Set([1, -2]),
    tags: new Map([[5n, ['x', 'y']]]),
    color: rich.Color.BLUE,
    ratio: 0.25,
    b: -3,
    flag: false,
    deep: [new Map([[-(2n ** 63n), new Set([rich.Color.RED, rich.Color.BLUE])]])],
    either: { n: 4 },
    name: 'héllo',
  };
  for (const protocol of ['binary', 'compact'] as const) {
    const back = rich.Outer.decode(rich.Outer.encode(outer, protocol), protocol);
    t.ok(back.tags instanceof I64Map, 'map<i64, ...> decodes to an I64Map');
    t.same(canon(back), canon(outer), `${protocol} round trip`);
  }
  const defaults = rich.Outer.decode(Buffer.from([0]));
  t.same(
    [defaults.small, defaults.color, defaults.ratio, defaults.flag, defaults.name, defaults.inner],
    [new Set([1, 2]), rich.Color.GREEN, 0.5, true, 'n', undefined],
    'IDL defaults fill absent fields',
  );
  t.throws(() => rich.Inner.decode(Buffer.from([0])), { code: 'ERR_THRIFT_MISSING_FIELD' }, 'required field enforced');
  t.throws(() => rich.Inner.encode({}), { code: 'ERR_THRIFT_ENCODE' });

  let fired = 0;
  const srv = await rich.serveRich({
    echo(o: unknown, id: bigint) {
      if (id === 0n) throw new rich.Oops({ message: 'bad id', errorCode: 7 });
      return o;
    },
    fire(n: number) {
      fired += n;
    },
    nothing() {},
  });
  t.teardown(() => srv.close());
  const c = await rich.RichClient.connect({ port: srv.port, protocol: 'binary' });
  t.teardown(() => c.close());
  t.same(canon(await c.echo(outer, 1)), canon(outer));
  const e = await c.echo(outer, 0).catch((x: unknown) => x);
  t.ok(e instanceof rich.Oops);
  t.equal(e.code, 'ERR_THRIFT_OOPS');
  t.equal(e.message, 'bad id', 'a `message` field is the error message');
  t.equal(e.errorCode, 7);
  await c.fire(2);
  t.equal(await c.nothing(), undefined);
  t.equal(fired, 2, 'oneway call ran (the server answered the next call after it)');
});

t.test('bad IDL fails with line and column', async (t) => {
  const cases: [string, RegExp][] = [
    ['struct A {\n  1: i32 a,\n  1: i32 b\n}', /duplicate field id 1.*line 3/],
    ['struct A { a: i32 }', /expected a field id/],
    ['enum E { A = x }', /expected an integer/],
    ['service S { void f( }', /expected a field id/],
    ['struct A { 1: i32 a', /end of file/],
    ['const string S = "abc', /unterminated string/],
    ['/* never closed', /unterminated comment/],
    ['struct A { 1: i32 a } @', /unexpected character/],
    ['wibble', /expected a definition/],
  ];
  for (const [src, re] of cases) {
    const err = (() => {
      try {
        parseThriftIdl(src);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(err instanceof ThriftIdlError, src);
    t.match((err as Error).message, re);
  }
  const e = (() => {
    try {
      parseThriftIdl('\n\n   struct A { 1: i32 a, 2: oops }');
    } catch (x) {
      return x as ThriftIdlError;
    }
  })();
  t.equal(e?.line, 3);
  t.equal(e?.code, 'ERR_THRIFT_IDL');
  t.throws(() => generateTypeScript(parseThriftIdl('struct A { 1: Missing m }')), /unknown type Missing/);
  t.throws(() => generateTypeScript(parseThriftIdl('service S { void close() }')), /reserved/);
  t.throws(() => generateTypeScript(parseThriftIdl('exception E { 1: string code }')), /field named code/);
});
