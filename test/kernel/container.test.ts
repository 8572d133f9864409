// perf_event_open refused inside a container: the error names the container
// and prints the devcontainer.json runArgs that allow perf, with a note on
// seccomp when a filter is what refused it. The container is made real for
// the capture alone: a mount namespace where /proc/1/cgroup names docker (as
// a cgroup v1 container's does), and a seccomp filter that refuses
// perf_event_open, as a runtime's profile can.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { CLI, fixture, Proc, tempDir } from './harness';

/** The CLI capturing /bin/true under the seccomp filter, in a mount namespace where `cgroup` is /proc/1/cgroup, if given. */
function captureUnderFilter(out: string, cgroup?: string): Proc {
  const capture = [fixture('deny_perf_event_open'), process.execPath, CLI, 'capture', '-o', out, '--', '/bin/true'];
  if (!cgroup) return Proc.start(capture[0], capture.slice(1));
  // The paths reach sh as its arguments, never as its script.
  return Proc.start('unshare', ['--mount', '--', 'sh', '-c', 'mount --bind "$0" /proc/1/cgroup && exec "$@"', cgroup, ...capture]);
}

test('in a container, under a seccomp filter that refuses perf_event_open: one error with the runArgs and the seccomp note', async () => {
  const dir = tempDir('container');
  const cgroup = path.join(dir, 'cgroup');
  fs.writeFileSync(cgroup, '12:pids:/docker/0123456789abcdef\n');
  const out = path.join(dir, 'x.data');
  const run = captureUnderFilter(out, cgroup);
  assert.equal(await run.exited, 1, run.output);
  assert.match(run.output, /perf_event_open was refused \(Operation not permitted\) inside a container \(\/proc\/1\/cgroup names docker; kernel\.perf_event_paranoid is -?\d+\)/);
  assert.match(run.output, /Fix: in \.devcontainer\/devcontainer\.json, set `"runArgs": \["--cap-add=PERFMON", "--cap-add=SYS_PTRACE"\]` and rebuild the container/);
  assert.match(run.output, /under a seccomp filter.*add `"--security-opt", "seccomp=unconfined"` to runArgs/);
  assert.equal(run.lines.filter((l) => l.includes('error')).length, 1, run.output);
  assert.doesNotMatch(run.output, /namespace records are off/, 'not the namespaces, which the filter refused with the rest');
  assert.ok(!fs.existsSync(out), 'no file');
});

test('the same refusal outside a container says nothing of containers', async () => {
  const out = path.join(tempDir('no-container'), 'x.data');
  const run = captureUnderFilter(out);
  assert.equal(await run.exited, 1, run.output);
  assert.match(run.output, /perf_event_open was refused: Operation not permitted/);
  assert.doesNotMatch(run.output, /container|runArgs/);
});
