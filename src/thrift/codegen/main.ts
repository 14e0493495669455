#!/usr/bin/env node
// The Thrift codegen command:
//   node dist/thrift/codegen/main.js IDL -o OUT.ts [--runtime SPECIFIER] [--check]
// writes the TypeScript generated from IDL to OUT.ts; with --check it writes
// nothing and exits 1 if OUT.ts differs from what it would generate (CI runs
// this to catch a stale committed output).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { parseThriftIdl } from '../idl.js';
import { generateTypeScript } from './generate.js';

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      runtime: { type: 'string' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length !== 1 || !values.out) {
    console.error('usage: thrift-codegen IDL -o OUT.ts [--runtime beambridge/thrift/runtime] [--check]');
    return values.help ? 0 : 2;
  }
  const idlPath = positionals[0]!;
  const code = generateTypeScript(parseThriftIdl(readFileSync(idlPath, 'utf8')), {
    runtimeImport: values.runtime ?? 'beambridge/thrift/runtime',
    sourceName: `idl/${basename(idlPath)}`,
  });
  if (values.check) {
    const current = existsSync(values.out) ? readFileSync(values.out, 'utf8') : '';
    if (current !== code) {
      console.error(`${values.out} is stale: run \`npm run gen:thrift\` and commit the result`);
      return 1;
    }
    console.log(`${values.out} is up to date`);
    return 0;
  }
  writeFileSync(values.out, code);
  console.log(`wrote ${values.out}`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
}
