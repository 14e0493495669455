#!/usr/bin/env node
// The `beambridge` command (package.json "bin"). All the work is in run.ts;
// this file wires the real process streams and signals to it.
import { run } from './run.js';

const stop = new AbortController();
let interrupted = 0;
const onSignal = (sig: NodeJS.Signals) => {
  interrupted++;
  // The first signal asks the running command to stop cleanly; a second one ends at once.
  if (interrupted > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
  stop.abort(new Error(sig));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `beambridge ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env }, stop.signal);
// Anything a command left open (sockets, timers) must not keep the process alive.
const code = process.exitCode;
process.stdout.write('', () => process.exit(code));
