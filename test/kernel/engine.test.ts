// The engine inside a host that misbehaves: a listener that throws must not
// stop the capture, lose its end, or keep the process alive.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { fixture, Proc, ROOT } from './harness';

test('listeners that throw: the session still finishes, says so, and lets the process exit', () => {
  const script = `
    const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'lib', 'engine.js'))});
    const thrown = [];
    process.on('uncaughtException', (e) => thrown.push(e.message));
    const session = new CaptureSession({ command: ['/bin/true'] });
    for (const event of ['attached', 'records', 'snapshot', 'stopped'])
      session.on(event, () => { throw new Error('listener of ' + event); });
    session.start();
    session.stopped.then((s) => setTimeout(() => console.log(JSON.stringify({ reason: s.reason, records: s.stats.records, thrown })), 50));
  `;
  // A hung process (a thread never joined, Node's loop held) fails by timeout.
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 }));
  assert.equal(out.reason, 'exited');
  assert.ok(out.records > 0);
  for (const event of ['attached', 'records', 'snapshot', 'stopped']) assert.ok(out.thrown.includes(`listener of ${event}`), `${event}: ${out.thrown}`);
});

test('a reader thread that cannot be created: start() throws an Error that says so, and the process lives on and exits', { timeout: 30_000 }, async () => {
  const script = `
    const { Capture } = require(${JSON.stringify(path.join(ROOT, 'native', 'build', 'Release', 'sideband.node'))});
    const capture = new Capture({ pid: process.pid }, () => {});
    console.log('ready');
    process.stdin.once('data', () => {
      process.stdin.destroy();
      try {
        capture.start();
        console.log(JSON.stringify({ started: true }));
        capture.stop();
      } catch (e) {
        console.log(JSON.stringify({ error: e.message, code: e.code }));
      }
    });
  `;
  const child = Proc.start(process.execPath, ['-e', script], { stdin: true });
  await child.waitFor(/^ready$/);
  // Address space for what the process has and a little more, not for a thread's 8 MiB stack: std::thread throws system_error.
  const vmKb = Number(/VmSize:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.child.pid}/status`, 'utf8'))![1]);
  execFileSync('prlimit', [`--pid=${child.child.pid}`, `--as=${(vmKb + 4096) * 1024}`]);
  child.child.stdin!.write('go\n');
  const status = await child.exited;
  assert.equal(status, 0, child.lines.join('\n'));
  const out = JSON.parse(child.lines.find((l) => l.startsWith('{'))!);
  assert.equal(out.code, 'ETHREAD');
  assert.match(out.error, /cannot start the capture's reader thread: Resource temporarily unavailable\. Fix: /);
});

test('a worker torn down while its capture runs: the capture stops with it, and the process lives on', async () => {
  const target = Proc.start(fixture('churn'), [fixture('churn')]);
  try {
    const [, pid] = await target.waitFor(/^ready (\d+)$/);
    // The worker starts a capture, says once records flow, and is terminated;
    // then the process goes on (the target still churning) and exits by itself.
    const script = `
      const { Worker } = require('node:worker_threads');
      const worker = new Worker(\`
        const { workerData, parentPort } = require('node:worker_threads');
        const { Capture } = require(workerData.addon);
        let told = false;
        new Capture({ pid: workerData.pid }, (m) => {
          if (m.kind === 'records' && !told) parentPort.postMessage((told = true));
        }).start();
      \`, { eval: true, workerData: { addon: ${JSON.stringify(path.join(ROOT, 'native', 'build', 'Release', 'sideband.node'))}, pid: ${pid} } });
      worker.once('message', () => void worker.terminate());
      worker.once('exit', () => setTimeout(() => console.log('the process outlived its worker'), 500));
    `;
    // A process that crashes fails on its signal; one that hangs (a reader thread never joined) is killed by the timeout.
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.deepEqual({ status: child.status, signal: child.signal, stdout: child.stdout }, { status: 0, signal: null, stdout: 'the process outlived its worker\n' }, child.stderr);
  } finally {
    target.child.kill();
  }
});
