// Every example in README.md runs: each ```ts / ```js block is extracted,
// type-checked (the TypeScript ones, against the built package, as a user
// imports it: 'beambridge', 'beambridge/chat', ...) and run in its own node
// process, which must exit with status 0. The marker convention (README.md,
// "Contributing"): an HTML comment on the line before the block,
//   <!-- example: stub -->        a chat stub is started first; 'stub1@127.0.0.1',
//                                 'secret' and 9090 become its node, cookie and
//                                 Thrift port, and ERL_EPMD_PORT its EPMD
//   <!-- example: cjs -->         runs as a CommonJS file
//   <!-- example: skip REASON --> not run (a reason is required)
// Node names `x@127.0.0.1` are made unique per run and per example (the EPMD
// and the stub drop the previous example's node only when they see its sockets
// close, which a loaded machine delays). `npm test` builds first.
import t from 'tap';
import ts from 'typescript';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStub, type StubNode } from '../src/testing/index.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
// Inside the package, so that `import 'beambridge'` resolves to this package (self-reference).
// One directory per run: a fixed one was deleted under a run by another run in
// the same checkout (its start or its teardown), and every later example then
// failed to spawn (ENOENT).
let dir = ''; // set by the test below

interface Example {
  line: number;
  lang: 'ts' | 'js';
  code: string;
  marker: { kind: 'plain' | 'stub' | 'cjs' | 'skip'; reason?: string };
}

/** The fenced ts/js blocks of `text`, with the marker comment before each. */
export function extractExamples(text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|js|javascript)\s*$/.exec(lines[i]);
    if (!open) {
      if (/^```/.test(lines[i])) {
        // Skip over any other fenced block (sh, erlang, transcripts).
        for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++);
      }
      continue;
    }
    let j = i - 1;
    while (j >= 0 && lines[j].trim() === '') j--;
    const m = j >= 0 ? /^<!--\s*example:\s*(\w+)\s*(.*?)\s*-->$/.exec(lines[j].trim()) : null;
    const start = i + 1;
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++);
    const kind = (m?.[1] ?? 'plain') as Example['marker']['kind'];
    if (!['plain', 'stub', 'cjs', 'skip'].includes(kind)) throw new Error(`README.md:${j + 1}: unknown example marker '${m?.[1]}'`);
    out.push({ line: start, lang: open[1].startsWith('t') ? 'ts' : 'js', code: lines.slice(start, i).join('\n'), marker: { kind, reason: m?.[2] || undefined } });
  }
  return out;
}

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

/** The example's code as run: stub placeholders filled in, node names made unique to example `n`. */
function prepare(e: Example, n: number, stub: StubNode | undefined): string {
  let code = e.code.replace(/stub1@127\.0\.0\.1/g, '\u0000STUB\u0000');
  code = code.replace(/\b([a-z][a-z0-9_]*)@127\.0\.0\.1/g, `$1_${uniq}e${n}@127.0.0.1`);
  if (stub) {
    code = code
      .replace(/\u0000STUB\u0000/g, stub.node)
      .replace(/'secret'/g, `'${stub.cookie}'`)
      .replace(/\b9090\b/g, String(stub.thriftPort));
  }
  return code.replace(/\u0000STUB\u0000/g, 'stub1@127.0.0.1');
}

/** Runs one example; `how` says how it ended (exit status, or the signal and whether the limit killed it) and after how long. */
function run(file: string, env: NodeJS.ProcessEnv, limitMs: number): Promise<{ code: number | null; how: string; stdout: string; stderr: string }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { cwd: dir, env, timeout: limitMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string; killed?: boolean }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : 1) : 0;
      const ended = !e ? 'exit 0' : e.killed ? `killed by the ${limitMs} ms limit` : e.signal ? `signal ${e.signal}` : `exit ${String(e.code)}`;
      resolve({ code, how: `${ended} after ${Date.now() - t0} ms`, stdout, stderr });
    });
  });
}

const examples = extractExamples(readFileSync(join(repo, 'README.md'), 'utf8'));

t.test('the marker convention', async (t) => {
  const sample = ['<!-- example: stub -->', '```ts', 'a', '```', '', '```sh', '```ts', '```', '```js', 'b', '```'].join('\n');
  const got = extractExamples(sample);
  t.same(got.map((e) => [e.marker.kind, e.lang, e.code]), [['stub', 'ts', 'a'], ['plain', 'js', 'b']], 'a marker applies to the next block; other fences are skipped whole');
  t.throws(() => extractExamples('<!-- example: sometimes -->\n```ts\n```'), /unknown example marker/, 'an unknown marker is an error, not silently a plain example');
  t.ok(examples.length >= 8, `README.md has ${examples.length} examples`);
  for (const e of examples.filter((x) => x.marker.kind === 'skip')) t.ok(e.marker.reason, `README.md:${e.line}: a skipped example says why`);
});

t.test('every README example type-checks and runs', async (t) => {
  mkdirSync(join(repo, '.tap'), { recursive: true });
  dir = mkdtempSync(join(repo, '.tap', 'readme-examples-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const runnable = examples.filter((e) => e.marker.kind !== 'skip');
  const stub = runnable.some((e) => e.marker.kind === 'stub') ? await startStub(t) : undefined;

  const files = runnable.map((e, i) => {
    const base = join(dir, `readme-${String(i).padStart(2, '0')}-line${e.line}`);
    const code = prepare(e, i, e.marker.kind === 'stub' ? stub : undefined);
    const source = `${base}.${e.marker.kind === 'cjs' ? 'cts' : 'mts'}`;
    const target = `${base}.${e.marker.kind === 'cjs' ? 'cjs' : 'mjs'}`;
    writeFileSync(source, code);
    const js = e.lang === 'ts'
      ? ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
      : code;
    writeFileSync(target, js);
    return { e, source, target };
  });

  const program = ts.createProgram(files.filter((f) => f.e.lang === 'ts').map((f) => f.source), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.slice(dir.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  t.same(diagnostics, [], 'the TypeScript examples type-check against the package as users import it');

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TAP') && k !== 'NODE_OPTIONS') env[k] = v;
  // One example at a time (they would starve each other on 2 cores), each with
  // a generous limit. The tap example would otherwise get tap's default 30 s
  // for its whole run (TAP_TIMEOUT is not passed down), which booting its own
  // stub on a loaded machine can exceed; give it the same limit as the runner.
  const limitMs = 180_000;
  env.TAP_TIMEOUT = String(limitMs / 1000);
  for (const f of files) {
    const withStub = f.e.marker.kind === 'stub' && stub ? { ERL_EPMD_PORT: String(stub.epmdPort) } : {};
    const r = await run(f.target, { ...env, ...withStub }, limitMs);
    t.comment(`README.md:${f.e.line}: ${r.how}`);
    t.equal(r.code, 0, `README.md:${f.e.line} (${f.e.marker.kind}) runs to exit 0${r.code === 0 ? '' : ` (${r.how})\nstderr: ${r.stderr.slice(-2000)}\nstdout: ${r.stdout.slice(-1000)}`}`);
  }
});
