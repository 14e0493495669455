// compileErl's cache across processes (src/testing/erl.ts): the output is
// found again by the sources' content, and a module that reads other files
// (-include) is never served from it, so a changed header always recompiles.
import t from 'tap';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileErl, runErl } from '../../src/testing/index.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** Writes `text` to `file` with an mtime one second later than the last write (compileErl's in-process key). */
let tick = Date.now() / 1000;
async function put(file: string, text: string): Promise<void> {
  await writeFile(file, text);
  tick += 1;
  await utimes(file, tick, tick);
}

t.test('compileErl: the cache is keyed by content; modules with -include are compiled each time', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bb-compile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mod = `bbcache_${uniq}`;
  const src = join(dir, `${mod}.erl`);
  const v = (n: number) => `-module(${mod}).\n-export([v/0]).\nv() -> ${n}.\n`;

  await put(src, v(1));
  const first = await compileErl([src]);
  t.match(first, /beambridge-erl-cache-/, 'compiled into the cache');
  await put(src, v(2));
  const second = await compileErl([src]);
  t.not(second, first, 'other content, other entry');
  t.equal((await runErl(`io:format("~p", [${mod}:v()])`, { modules: [src] })).trim(), '2', 'the new code runs');
  await put(src, v(1));
  t.equal(await compileErl([src]), first, 'the first content finds its entry again');

  const inc = `bbinc_${uniq}`;
  const hrl = join(dir, `${inc}.hrl`);
  const isrc = join(dir, `${inc}.erl`);
  await put(hrl, '-define(V, 1).\n');
  // By absolute path: compileErl compiles a copy of the source elsewhere.
  await put(isrc, `-module(${inc}).\n-include("${hrl}").\n-export([v/0]).\nv() -> ?V.\n`);
  const a = await compileErl([isrc]);
  t.notMatch(a, /beambridge-erl-cache-/, 'a module with -include is not cached');
  t.equal((await runErl(`io:format("~p", [${inc}:v()])`, { modules: [isrc] })).trim(), '1');
  await put(hrl, '-define(V, 2).\n');
  await utimes(isrc, tick + 1, tick + 1);
  t.equal((await runErl(`io:format("~p", [${inc}:v()])`, { modules: [isrc] })).trim(), '2', 'a changed header is compiled in');
});

t.test('compileErl: a relative -include finds the header beside the source', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bb-compile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mod = `bbrel_${uniq}`;
  await mkdir(join(dir, 'sub'));
  await put(join(dir, `${mod}.hrl`), '-define(V, 41).\n');
  await put(join(dir, 'sub', `${mod}_more.hrl`), '-define(W, 1).\n');
  const src = join(dir, `${mod}.erl`);
  await put(src, `-module(${mod}).\n-include("${mod}.hrl").\n-include("sub/${mod}_more.hrl").\n-export([v/0]).\nv() -> ?V + ?W.\n`);
  t.equal((await runErl(`io:format("~p", [${mod}:v()])`, { modules: [src] })).trim(), '42');
});
