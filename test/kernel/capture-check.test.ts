// The capture core's own resources and its ring reader, checked by a static
// program of the core with no Node (native/tools/capture_check.cc): every fd
// and ring given back at stop and on forced error paths, a launched command
// started and ended cleanly, a corrupt ring reported. One test per check.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

import { ROOT } from './harness';

const BIN = path.join(ROOT, 'native', 'build', 'capture-check');

function build(): void {
  const make = spawnSync('make', ['-s', '-C', path.join(ROOT, 'native'), 'build/capture-check'], { encoding: 'utf8' });
  assert.equal(make.status, 0, `make build/capture-check failed:\n${make.stdout}${make.stderr}`);
}

function runCheck(name: string): void {
  build();
  // A check that hangs (a stop that never ends) fails by this bound.
  const run = spawnSync(BIN, [name], { encoding: 'utf8', timeout: 60_000 });
  const out = `${run.stdout}${run.stderr}`;
  assert.equal(run.signal, null, `capture-check ${name} did not finish (${run.signal}):\n${out}`);
  assert.doesNotMatch(out, /^FAIL /m, out);
  assert.match(out, /^PASS /m, out);
  assert.equal(run.status, 0, out);
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
