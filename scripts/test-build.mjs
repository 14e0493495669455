#!/usr/bin/env node
// The build `npm test` needs (pretest), without building twice: dist/ is
// rebuilt only when it was not built from the sources as they are now.
//
//   node scripts/test-build.mjs          build unless dist/ is up to date
//   node scripts/test-build.mjs --stamp  record that dist/ was just built from
//                                        the current sources (`npm run build` ends with it)
//
// "Up to date" means dist/.build-digest holds the SHA-256 of everything the
// build reads: every file under src/, tsconfig.json, the build script of
// package.json and the TypeScript version. Any change there, a dist/ built by
// hand (`npx tsc`, which writes no digest) or a missing dist/ rebuilds.
// CI builds once (`npm run build`, then `npm test` finds dist/ current).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(repo, 'dist', '.build-digest');

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

/** SHA-256 over the build's inputs: each file's path and bytes, the build command and tsc's version. */
function sourceDigest() {
  const h = createHash('sha256');
  for (const f of [...files(join(repo, 'src')), join(repo, 'tsconfig.json')]) {
    const bytes = readFileSync(f);
    h.update(`${relative(repo, f)}\0${bytes.length}\0`).update(bytes);
  }
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const tsc = JSON.parse(readFileSync(join(repo, 'node_modules', 'typescript', 'package.json'), 'utf8'));
  h.update(`build\0${pkg.scripts.build}\0typescript\0${tsc.version}`);
  return h.digest('hex');
}

if (process.argv.includes('--stamp')) {
  writeFileSync(STAMP, `${sourceDigest()}\n`);
} else {
  const digest = sourceDigest();
  const built = existsSync(STAMP) && existsSync(join(repo, 'dist', 'cli', 'main.js')) ? readFileSync(STAMP, 'utf8').trim() : '';
  if (built === digest) {
    console.log(`test-build: dist/ is up to date with src/ (${digest.slice(0, 12)}): not rebuilt`);
  } else {
    console.log(`test-build: ${built ? 'src/ changed since dist/ was built' : 'dist/ has no build digest'}: npm run build`);
    execFileSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' });
  }
}
