// Compiles an Erlang module of test/erl with the erlc of the OTP under test
// (inside its debootstrap root when there is one, which cannot see /work),
// into a temporary directory removed in teardown. Returns the directory as
// erl sees it, for `-pa`.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Teardownable } from '../helpers/procs.js';

const run = promisify(execFile);

export async function compileErl(t: Teardownable, module: string, root: string): Promise<string> {
  const src = fileURLToPath(new URL(`../erl/${module}.erl`, import.meta.url));
  const dir = mkdtempSync(join(root ? `${root}/tmp` : '/tmp', 'bb-erl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen = root ? `/tmp/${basename(dir)}` : dir;
  copyFileSync(src, join(dir, `${module}.erl`));
  const [cmd, args] = root ? ['chroot', [root, 'erlc', '-o', seen, `${seen}/${module}.erl`]] : ['erlc', ['-o', seen, `${seen}/${module}.erl`]];
  await run(cmd, args, { timeout: 120_000 });
  return seen;
}
