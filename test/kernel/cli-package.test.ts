// The command line as an npm package: `npm pack` of this tree, installed
// with `npm install -g` into an empty prefix, captures with its own addon
// and exports to Perfetto with the generated messages it ships.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';

import { decodedTrace } from '../fixtures/perfetto';
import { tempDir } from './harness';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const dir = tempDir('cli-package');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], cwd = dir): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

test('npm pack, then npm install -g of the tarball on a clean prefix, gives a sideband that captures and exports to Perfetto', () => {
  // npm test has just built what the package holds: pack it as it is.
  const tarball = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], ROOT);
  const [{ filename }] = JSON.parse(tarball) as { filename: string }[];
  const prefix = path.join(dir, 'prefix');
  // --offline: the package needs nothing from the registry.
  run('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(dir, filename)]);
  const sideband = path.join(prefix, 'bin', 'sideband');
  const output = path.join(dir, 'true.data');
  run(sideband, ['capture', '-o', output, '--', '/bin/true']);
  const dump = run(sideband, ['dump', output]);
  // The installed command's own addon, mapped before the launch: the capture is the package's, not this tree's.
  const addon = path.join(fs.realpathSync(prefix), 'lib', 'node_modules', 'perf-sideband', 'native', 'build', 'Release', 'sideband.node');
  assert.match(dump, new RegExp(`MMAP2 \\[status proc\\] .*filename=${addon.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\n`));
  assert.match(dump, /COMM comm=true exec=true/);
  const trace = path.join(dir, 'true.pftrace');
  run(sideband, ['export', output, '--perfetto', '-o', trace]);
  assert.ok([...decodedTrace(fs.readFileSync(trace)).processes.values()].some((p) => p.name === 'true'), 'the trace has /bin/true\'s process track');
});
