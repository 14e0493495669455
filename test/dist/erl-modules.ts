// Erlang modules of the tests (test/erl/*.erl) for an erl node started with
// startErlNode, also inside an OTP root (a chroot'd erl cannot see /work):
// the sources are copied under the root's /tmp, and the returned expression
// compiles and loads them in the node (compiled by that OTP, so no .beam
// crosses releases). The copies are removed in teardown.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Teardownable } from '../helpers/procs.js';

let seq = 0;

/** An Erlang expression (for `startErlNode`'s `eval`) that loads `modules` from test/erl. */
export function loadErlModules(t: Teardownable, root: string, modules: string[]): string {
  const dir = `/tmp/bb-erl-${process.pid}-${++seq}`;
  const host = join(root || '/', dir);
  mkdirSync(host, { recursive: true });
  t.teardown(() => rmSync(host, { recursive: true, force: true }));
  return modules
    .map((m) => {
      copyFileSync(fileURLToPath(new URL(`../erl/${m}.erl`, import.meta.url)), join(host, `${m}.erl`));
      return `{ok, ${m}, B_${m}} = compile:file("${dir}/${m}.erl", [binary]), {module, _} = code:load_binary(${m}, "${m}.erl", B_${m})`;
    })
    .join(', ');
}
