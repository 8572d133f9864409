// The kernel issue's check program on this machine's kernel, which lacks
// PERF_EVENT_IOC_EMIT_SIDEBAND: the same static binary that
// `npm run test:kernel` boots in a kernel with the ioctl must fall back to
// /proc here, and its records must still match what /proc says.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

import { ROOT } from './harness';

test('kernel-check --host: without the ioctl the engine takes /proc, and says so', () => {
  const make = spawnSync('make', ['-s', '-C', path.join(ROOT, 'native'), 'build/kernel-check'], { encoding: 'utf8' });
  assert.equal(make.status, 0, `make build/kernel-check failed:\n${make.stdout}${make.stderr}`);
  const run = spawnSync(path.join(ROOT, 'native', 'build', 'kernel-check'), ['--host'], { encoding: 'utf8', timeout: 60_000 });
  const out = `${run.stdout}${run.stderr}`;
  assert.equal(run.status, 0, out);
  assert.match(out, /^PASS snapshot path: SnapshotInfo path=proc /m, out);
  assert.match(out, /^PASS status records have provenance proc: /m, out);
  assert.doesNotMatch(out, /^FAIL /m, out);
});
