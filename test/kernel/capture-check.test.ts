// The capture core's own resources and its ring reader, checked by a static
// program of the core with no Node (native/tools/capture_check.cc): every fd
// and ring given back at stop and on forced error paths, a launched command
// started and ended cleanly, a corrupt ring reported. One test per check,
// which runs it as built for the product and again under ASan and UBSan.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { ROOT, tempDir } from './harness';

const BIN = path.join(ROOT, 'native', 'build', 'capture-check');
const SANITIZED = path.join(ROOT, 'native', 'build', 'capture-check-sanitized');

function build(): void {
  const make = spawnSync('make', ['-s', '-j2', '-C', path.join(ROOT, 'native'), 'build/capture-check', 'build/capture-check-sanitized'], { encoding: 'utf8' });
  assert.equal(make.status, 0, `make build/capture-check failed:\n${make.stdout}${make.stderr}`);
}

function runCheck(name: string): void {
  build();
  for (const bin of [BIN, SANITIZED]) {
    // A check that hangs (a stop that never ends) fails by this bound.
    const run = spawnSync(bin, [name], { encoding: 'utf8', timeout: 60_000 });
    const out = `${path.basename(bin)} ${name}:\n${run.stdout}${run.stderr}`;
    assert.equal(run.signal, null, `${path.basename(bin)} ${name} did not finish (${run.signal}):\n${out}`);
    // A sanitizer's report ends the run (-fno-sanitize-recover) with its summary.
    assert.doesNotMatch(out, /^SUMMARY: \w+Sanitizer/m, out);
    assert.doesNotMatch(out, /^FAIL /m, out);
    assert.match(out, /^PASS /m, out);
    assert.equal(run.status, 0, out);
  }
}

test('a record size that cannot be is reported, what follows it to the head is dropped, and the ring goes on', () => {
  runCheck('ring-bad-size');
});

test('a capture that stops gives back every fd and ring at once, not when it is collected', () => {
  runCheck('fds-at-stop');
});

test('a capture that fails part way through opening its events (EMFILE) gives back what it opened', () => {
  runCheck('fds-on-open-error');
});

test('a launch whose second pipe cannot be made closes the first and names the cause', () => {
  runCheck('launch-pipe-fails');
});

test('a launch whose fork fails closes its pipes and names the cause', () => {
  runCheck('launch-fork-fails');
});

test('a launched command still waiting when the attach fails exits on the closed pipe', () => {
  runCheck('launch-go-closed');
});

test('launching a command leaves our non-blocking stdio socket non-blocking', () => {
  runCheck('launch-stdio-nonblock');
});

test('a launched command resets every signal handler before it unblocks a signal', () => {
  build();
  // strace tells the order of the calls; a signal that arrived between
  // fork and the reset would run our handler in the child.
  const trace = path.join(tempDir('strace'), 'trace');
  const run = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=rt_sigprocmask,rt_sigaction,clone,clone3,execve', BIN, 'fds-at-stop'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  const text = fs.readFileSync(trace, 'utf8');
  // "PID call(args" where a call is entered, "PID <... call resumed>rest"
  // where one that was interrupted by another thread's line returns.
  const calls = [...text.matchAll(/^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$/gm)].map(([, pid, resumed, call, args]) => ({
    pid: Number(pid),
    call: resumed ?? call,
    entered: resumed === undefined,
    args,
  }));
  const exec = calls.find((c) => c.call === 'execve' && c.args.startsWith('"/bin/true"'));
  assert.ok(exec, `no execve of /bin/true in the trace:\n${text}`);
  const fork = calls.findIndex((c) => c.call.startsWith('clone') && c.args.endsWith(`= ${exec.pid}`));
  assert.ok(fork >= 0, `no clone returning ${exec.pid} in the trace:\n${text}`);
  const parentMask = calls.slice(0, fork).filter((c) => c.pid === calls[fork].pid && c.entered && c.call === 'rt_sigprocmask').at(-1);
  assert.match(parentMask?.args ?? 'none', /^SIG_(SETMASK|BLOCK), ~\[/, `the launching thread did not block signals before fork:\n${text}`);
  const child = calls.filter((c) => c.pid === exec.pid && c.entered);
  const resets = child.flatMap((c, i) => (c.call === 'rt_sigaction' && c.args.includes('SIG_DFL') ? [i] : []));
  const unblock = child.findIndex((c) => c.call === 'rt_sigprocmask');
  assert.ok(resets.length >= 30, `the child reset ${resets.length} handlers:\n${text}`);
  assert.ok(unblock > resets[resets.length - 1], `the child unblocked signals (call ${unblock}) before it reset every handler (the last at ${resets[resets.length - 1]}):\n${text}`);
});

test('stopping a launched command that ignores SIGTERM ends, with SIGKILL after a deadline, and says so', () => {
  runCheck('stop-term-ignored');
});
