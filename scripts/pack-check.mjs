#!/usr/bin/env node
// The package as a user gets it: `npm pack`, install the tarball in a fresh
// project (from the npm cache: --prefer-offline), then check that
//   1. every subpath export resolves with its types under
//      "moduleResolution": "nodenext" (tsc, strict, skipLibCheck off);
//   2. every subpath imports at run time, and a CommonJS file reaches the
//      package through dynamic import();
//   3. a project using only encode/decode loads no native module (the
//      net-keepalive FFI binding loads when a socket first needs it);
//   4. the tarball holds LICENSE, the sources its source maps point to, and
//      erlang-stub/ without build output, and the stub builds and starts from
//      node_modules through beambridge/testing.
//
//   npm run pack:check            (CI runs it after the build; about a minute)
//   node scripts/pack-check.mjs --build  (rebuild first, as npm publish would)
//   node scripts/pack-check.mjs --keep   (leaves the project in the printed directory)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
const devVersion = (name) => lock.packages[`node_modules/${name}`].version;
const started = Date.now();
const failures = [];
const step = (what) => console.log(`pack-check: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
const check = (ok, what) => {
  if (ok) console.log(`  ok  ${what}`);
  else {
    console.log(`  FAIL ${what}`);
    failures.push(what);
  }
};
const run = (cmd, args, o = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, ...o });

const dir = mkdtempSync(join(tmpdir(), 'beambridge-pack-'));
try {
  // The build is the one in dist/ (CI builds first); --build rebuilds it (npm's prepack).
  if (!existsSync(join(repo, 'dist/index.d.ts'))) throw new Error('dist/ is missing: run npm run build (or pass --build)');
  step(`npm pack${process.argv.includes('--build') ? ' (prepack builds)' : ' of the current build'}`);
  const packArgs = ['pack', '--json', '--pack-destination', dir, ...(process.argv.includes('--build') ? [] : ['--ignore-scripts'])];
  const packed = JSON.parse(run('npm', packArgs, { cwd: repo }))[0];
  const tarball = join(dir, packed.filename);
  const files = packed.files.map((f) => f.path);
  check(files.includes('LICENSE'), 'the tarball holds LICENSE');
  check(files.includes('erlang-stub/Makefile') && files.includes('erlang-stub/bin/chat-stub'), 'the tarball holds erlang-stub/');
  check(!files.some((f) => /^erlang-stub\/ebin/.test(f)), 'and none of its build output');
  check(!files.some((f) => f.startsWith('test/') || f.startsWith('scratch/')), 'no tests in the tarball');
  const page = ['index.html', 'channel.html', 'chat.js', 'channel.js', 'chat.css'].map((f) => `dist/chat/gateway/page/${f}`);
  check(page.every((f) => files.includes(f)), 'the chat page ships beside the gateway (dist/chat/gateway/page/)');
  const maps = files.filter((f) => f.endsWith('.map'));
  const missing = [];
  for (const m of maps) {
    const { sources } = JSON.parse(readFileSync(join(repo, m), 'utf8'));
    for (const s of sources) {
      const target = join(dirname(m), s);
      if (!files.includes(target)) missing.push(`${m} -> ${target}`);
    }
  }
  check(maps.length > 0 && missing.length === 0, `every source map's sources ship (${maps.length} maps${missing.length ? `; missing: ${missing.slice(0, 3).join(', ')}` : ''})`);

  step('install the tarball in a fresh project (--prefer-offline)');
  const app = join(dir, 'app');
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`));
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }, null, 2));
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `@types/node@${devVersion('@types/node')}`, `typescript@${devVersion('typescript')}`], { cwd: app });

  step('types of every subpath under nodenext');
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true,
      // DOM only for @msgpack/msgpack's own declarations (they name BufferSource).
      lib: ['ES2022', 'DOM'], types: ['node'], skipLibCheck: false,
    },
    include: ['check.ts'],
  }, null, 2));
  const ident = (s) => s.replace(/[^a-z]/gi, '_');
  writeFileSync(join(app, 'check.ts'), [
    ...subpaths.map((s) => `import * as ${ident(s)} from '${s}';`),
    `import { Node, term, match, encode, decode, type Term } from 'beambridge';`,
    `import type { DistConnection } from 'beambridge/wire';`,
    `import type { ThriftClient } from 'beambridge/thrift';`,
    `import type { StubNode } from 'beambridge/testing';`,
    `const t: Term = term\`{ok, \${1}}\`;`,
    `const m = match('{ok, X}', decode(encode(t)));`,
    `export const x: unknown[] = [m?.X, Node.start, ${subpaths.map(ident).join(', ')}];`,
    `export type Y = [DistConnection, ThriftClient, StubNode];`,
    '',
  ].join('\n'));
  let tsc = '';
  try {
    tsc = run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', app]);
  } catch (e) {
    tsc = `${e.stdout}${e.stderr}`;
  }
  check(tsc.trim() === '', `tsc finds every subpath's types: ${subpaths.join(', ')}${tsc.trim() ? `\n${tsc}` : ''}`);

  step('run time');
  const imports = run(process.execPath, ['--input-type=module', '-e', `
    const names = {};
    for (const s of ${JSON.stringify(subpaths)}) names[s] = Object.keys(await import(s)).length;
    console.log(JSON.stringify(names));`], { cwd: app });
  const counts = JSON.parse(imports);
  check(subpaths.every((s) => counts[s] > 0), `every subpath imports: ${JSON.stringify(counts)}`);
  writeFileSync(join(app, 'cjs.cjs'), `import('beambridge').then((b) => console.log(typeof b.encode, typeof b.Node));\n`);
  check(run(process.execPath, ['cjs.cjs'], { cwd: app }).trim() === 'function function', 'a CommonJS file loads it with dynamic import()');
  const probe = `
    const { encode, decode } = await import('beambridge');
    decode(encode([1, 'two', 3.5]));
    const native = () => process.report.getReport().sharedObjects.filter((s) => s.endsWith('.node'));
    const before = native();
    const net = await import('node:net');
    const { Node } = await import('beambridge');
    console.log(JSON.stringify({ before, afterRoot: native() }));`;
  const probed = JSON.parse(run(process.execPath, ['--input-type=module', '-e', probe], { cwd: app }));
  check(probed.before.length === 0, `encode/decode load no native module (loaded: ${JSON.stringify(probed.before)})`);
  check(probed.afterRoot.length === 0, 'importing the whole root loads none either');

  step('the stub builds and starts from node_modules');
  const stub = run(process.execPath, ['--input-type=module', '-e', `
    import { startStub, stubEbinDir } from 'beambridge/testing';
    const s = await startStub({ users: 10, friends: 2 });
    console.log(JSON.stringify({ node: s.node, thrift: s.thriftPort, ebin: stubEbinDir() }));
    await s.stop();`], { cwd: app, timeout: 240_000 });
  const started2 = JSON.parse(stub.trim().split('\n').pop());
  check(typeof started2.thrift === 'number' && started2.thrift > 0, `startStub from node_modules: ${started2.node}, Thrift port ${started2.thrift}`);
  check(resolve(started2.ebin).startsWith(resolve(app)), `built inside the installed package, not the repository (${started2.ebin})`);
} finally {
  if (keep) console.log(`pack-check: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

step(failures.length === 0 ? 'all checks passed' : `${failures.length} check(s) failed`);
process.exit(failures.length === 0 ? 0 : 1);
