// The engine inside a host that misbehaves: a listener that throws must not
// stop the capture, lose its end, or keep the process alive.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

import { ROOT } from './harness';

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

test('a session that has stopped holds no fd and no ring, though it is still referenced', () => {
  const script = `
    const fs = require('node:fs');
    const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'lib', 'engine.js'))});
    const fds = () => fs.readdirSync('/proc/self/fd').map((fd) => { try { return fd + ' ' + fs.readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } }).filter(Boolean);
    const rings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('perf_event')).length;
    const before = new Set(fds());
    const session = new CaptureSession({ command: ['/bin/true'] });
    globalThis.kept = session;  // no garbage collection can close them for it
    session.on('stopped', (s) => console.log(JSON.stringify({ reason: s.reason, left: fds().filter((f) => !before.has(f)), rings: rings() })));
    session.start();
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 }));
  assert.equal(out.reason, 'exited');
  assert.deepEqual(out.left, [], 'fds the stopped capture still holds');
  assert.equal(out.rings, 0, 'perf rings still mapped');
});
