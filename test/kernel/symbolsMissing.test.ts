// The language server where the symbols addon cannot be loaded (an
// installed copy without it, as when libdw is missing and the addon fails
// to load): it answers from a fallback, and tells the user so once, with
// the fix, not at every answer.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { fixture, tempDir } from './harness';
import { LanguageServer, SERVER } from './lsp';

/** A package holding the server alone: no native/ beside it, so its addon is not there to load. */
function serverWithoutAddon(): string {
  const root = tempDir('no-addon');
  fs.mkdirSync(path.join(root, 'dist'));
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'perf-sideband', version: '0.0.0' }));
  fs.copyFileSync(SERVER, path.join(root, 'dist', 'server.js'));
  return path.join(root, 'dist', 'server.js');
}

test('without the symbols addon the server answers from a fallback, and says why and the fix once, not per answer', async () => {
  const program = fixture('churn');
  // Function addresses as nm gives them: file addresses, which a region mapped at 0 from offset 0 keeps.
  const functions = execFileSync('nm', ['--defined-only', program], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length === 3 && /^[tT]$/.test(f[1]) && f[2] === 'main');
  assert.equal(functions.length, 1, 'the fixture has a main');
  const region = { start: '0', end: fs.statSync(program).size.toString(16), pgoff: '0', filename: program };
  const copy = serverWithoutAddon();
  const server = await LanguageServer.start({ server: copy });
  try {
    for (let k = 0; k < 3; k++) {
      const [answer] = await server.resolve({ pid: 1, addresses: [functions[0][0]], region });
      assert.equal(answer.frames[0]?.function, 'main', `answer ${k}: ${JSON.stringify(answer)}`);
      assert.match(answer.backend, /llvm-symbolizer|ELF symbol tables/, 'a fallback answered');
      // New settings reload the symbolizer, which falls back again: that is no news to the user.
      await server.changeSettings({ debugDirectories: [path.dirname(program)] });
    }
    await server.regionSources(1, region);
    assert.equal(server.shown.length, 1, `one message: ${JSON.stringify(server.shown)}`);
    assert.match(server.shown[0], /libdw helper could not be loaded .*Fix: install elfutils' libdw/s);
  } finally {
    await server.stop();
    fs.rmSync(path.dirname(path.dirname(copy)), { recursive: true, force: true });
  }
});

test('with the addon, the server tells the user nothing of its symbols', async () => {
  const program = fixture('churn');
  const server = await LanguageServer.start();
  try {
    await server.resolve({ pid: 1, addresses: ['0'], region: { start: '0', end: '1000', pgoff: '0', filename: program } });
    assert.deepEqual(server.shown, []);
  } finally {
    await server.stop();
  }
});
