// The Erlang stub builds with erlc alone and no warnings, its EUnit suites
// pass, and (when the debootstrap'd roots of scripts/otp-roots.sh exist) it
// compiles without warnings and behaves the same on OTP 27 and 29.
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STUB_DIR, buildStub, otpVariants } from '../../src/testing/index.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
  });
}

const lock = join(STUB_DIR, 'ebin', '.build.lock');

t.test('make -C erlang-stub builds every module with no warnings', async (t) => {
  await buildStub();
  const r = await run('flock', [lock, 'make', '-C', STUB_DIR]);
  t.equal(r.code, 0, r.stderr);
  // A fresh compile of every module into a scratch directory prints nothing.
  const out = mkdtempSync('/tmp/chat-stub-erlc-');
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const srcs = readdirSync(join(STUB_DIR, 'src')).filter((f) => f.endsWith('.erl')).map((f) => join('src', f));
  const c = await run('erlc', ['+warnings_as_errors', '+warn_export_vars', '+warn_shadow_vars', '-I', 'include', '-o', out, ...srcs], { cwd: STUB_DIR });
  t.equal(c.code, 0, c.stderr);
  t.equal(c.stdout + c.stderr, '', 'no compiler output at all');
  t.ok(srcs.length >= 15, `${srcs.length} modules`);
});

t.test('EUnit: core, presence, partitioning, Thrift codec and server', async (t) => {
  await buildStub();
  const b = await run('flock', [lock, 'make', '-s', '-C', STUB_DIR, 'test-beams']);
  t.equal(b.code, 0, b.stderr);
  const r = await run('make', ['-s', '-C', STUB_DIR, 'test'], { timeoutMs: 600_000 });
  const summary = /All (\d+) tests passed/.exec(r.stdout);
  // The output is a diagnostic: tap prints it when the exit code is not 0.
  t.equal(r.code, 0, 'EUnit exits 0', { stdout: r.stdout.slice(-6000), stderr: r.stderr.slice(-2000) });
  t.ok(summary && Number(summary[1]) >= 60, `EUnit: ${summary?.[0] ?? 'no summary'}`);
});

for (const v of otpVariants().filter((x) => x.root !== '')) {
  t.test(`${v.label}: compiles with no warnings and runs the interop scenario`, async (t) => {
    await buildStub();
    const rel = `/tmp/chat-stub-otp-${process.pid}`;
    const dir = join(v.root, rel);
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const d of ['src', 'include']) cpSync(join(STUB_DIR, d), join(dir, d), { recursive: true });
    for (const f of ['chat_thrift_client.erl', 'chat_interop_scenario.erl']) cpSync(join(STUB_DIR, 'test', f), join(dir, 'src', f));
    cpSync(join(STUB_DIR, 'ebin', 'chat_stub.app'), join(dir, 'ebin', 'chat_stub.app'));
    const srcs = readdirSync(join(dir, 'src')).filter((f) => f.endsWith('.erl')).map((f) => `${rel}/src/${f}`);
    const c = await run('chroot', [v.root, 'erlc', '+warnings_as_errors', '+warn_export_vars', '+warn_shadow_vars', '-I', `${rel}/include`, '-o', `${rel}/ebin`, ...srcs]);
    t.equal(c.code, 0, c.stderr + c.stdout);
    t.equal(c.stdout + c.stderr, '', 'no compiler output');
    // The same scenario in-VM on this OTP and on the system OTP: same transcript.
    const expr = (ebin: string) => [
      '-noshell', '-pa', ebin, '-eval',
      'logger:set_primary_config(level, none), ok = chat_stub:start(#{thrift_port => 0, control_port => 0, ' +
      'thrift_ips => ["127.0.0.1"], slots => [{0, 1019}]}), ' +
      'io:put_chars([chat_json:encode(chat_interop_scenario:run(chat_thrift_listener:port(), compact, framed, 100)), $\\n]), ' +
      'io:put_chars([erlang:system_info(otp_release), $\\n]), halt().',
    ];
    const there = await run('chroot', [v.root, 'erl', ...expr(`${rel}/ebin`)]);
    t.equal(there.code, 0, there.stderr);
    const here = await run('erl', [...expr(join(STUB_DIR, 'ebin')), '-pa', join(STUB_DIR, 'ebin-test')]);
    t.equal(here.code, 0, here.stderr);
    const [thereJson, thereRel] = there.stdout.trim().split('\n');
    const [hereJson] = here.stdout.trim().split('\n');
    t.not(thereRel, '25', `ran on OTP ${thereRel}`);
    // The ports differ; everything else must not.
    const norm = (json: string) => (JSON.parse(json) as { step: string; result: { ok?: unknown[][] } }[]).map((s) =>
      s.step === 'partitionMap' ? { ...s, result: { ok: s.result.ok!.map((r) => [r[0], r[1], r[2], 'port']) } } : s);
    t.same(norm(thereJson!), norm(hereJson!));
  });
}
