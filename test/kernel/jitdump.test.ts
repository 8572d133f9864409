// jitdump end to end: a capture of `node --perf-prof` running a script that
// optimizes and deoptimizes a function. V8 writes jit-PID.dump and maps it,
// so the capture finds it: its code appears in the timeline with V8's names
// at times inside the capture, ends with its process, and `regions` and
// `resolve` name it. And a node in its own mount namespace, whose dump is
// at a path that in ours holds nothing: read through /proc/PID/root while
// it runs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { readPerfData } from '../../node/perfdata/reader';
import { LoadedPerfData } from '../../node/symbols/resolver';
import { CLI, ROOT, sideband, tempDir } from './harness';
import { type Timeline } from '../../core/timeline';

/** Node 24, whose V8 writes the dump with --perf-prof. */
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');

// %-calls (--allow-natives-syntax) tier the function up and down on cue, not on the machine's speed.
const SCRIPT = `
function add(a, b) { return a + b; }
%PrepareFunctionForOptimization(add);
add(1, 2);
add(3, 4);
%OptimizeFunctionOnNextCall(add);
add(5, 6);
const optimized = %ActiveTierIsTurbofan(add);
%DeoptimizeFunction(add);
console.log(\`optimized \${optimized}, then deoptimized \${!%ActiveTierIsTurbofan(add)}\`);
`;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('jitdump: node --perf-prof', () => {
  const dir = tempDir('jitdump');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'tiers.js');
  fs.writeFileSync(script, SCRIPT);
  const file = path.join(dir, 'node.data');

  const captured = (async () => {
    // V8 opens jit-PID.dump in its working directory, as it starts.
    const capture = sideband(['capture', '-o', file, '--', 'sh', '-c', `cd "${dir}" && exec "${NODE}" --perf-prof --allow-natives-syntax tiers.js`]);
    assert.equal(await capture.exited, 0, capture.output);
    assert.match(capture.output, /optimized true, then deoptimized true/, capture.output);
    const pid = readPerfData(file).meta!.target.pid;
    return { pid, dump: path.join(dir, `jit-${pid}.dump`), capture: LoadedPerfData.load(file) };
  })();

  test("the optimized function is a region named as V8 named it, at a time inside its process's life, from the dump it mapped", async () => {
    const { pid, dump, capture } = await captured;
    assert.deepEqual(capture.jitdumpProblems, []);
    const tl = capture.timeline;
    const process = tl.processAt(pid, tl.lastMoment(pid))!;
    const regions = tl.regionsAt(pid, tl.lastMoment(pid)).filter((r) => r.provenance === 'jitdump');
    assert.ok(regions.length > 100, `V8 compiles its builtins and the bootstrap's functions too, not only ours: ${regions.length}`);
    assert.ok(regions.every((r) => r.jitdump === dump && r.time > process.firstTime && r.time < process.exitTime && r.end > r.start), 'each between the fork and the exit');
    const add = regions.filter((r) => r.filename.includes(`add ${script}:2:`));
    assert.ok(add.some((r) => /^JS:\*'?add /.test(r.filename)), `its Turbofan code (*): ${add.map((r) => r.filename).join(', ')}`);
  });

  test('its process exit ends every JIT region, and no region stays', async () => {
    const { pid, capture } = await captured;
    const tl = capture.timeline;
    const process = tl.processAt(pid, tl.lastMoment(pid))!;
    const before = tl.regionsAt(pid, tl.lastMoment(pid)).filter((r) => r.provenance === 'jitdump');
    const ended = tl.endedRegionsAt(pid, process.exitTime).filter((r) => r.provenance === 'jitdump');
    assert.deepEqual(tl.regionsAt(pid, process.exitTime), []);
    const key = (r: { start: bigint; filename: string }): string => `${r.start.toString(16)} ${r.filename}`;
    const endedByExit = ended.filter((r) => r.ended.how === 'exit' && r.ended.time === process.exitTime).map(key);
    assert.deepEqual(endedByExit.sort(), before.map(key).sort());
  });

  test('regions lists the code with its dump, and resolve names an address in it', async () => {
    const { pid, dump, capture } = await captured;
    const tl = capture.timeline;
    const optimized = tl.regionsAt(pid, tl.lastMoment(pid)).find((r) => r.provenance === 'jitdump' && /^JS:\*'?add /.test(r.filename))!;
    const regions = cli(['regions', file, '--pid', String(pid)]);
    assert.equal(regions.status, 0, regions.stderr);
    const line = regions.stdout.split('\n').find((l) => l.startsWith(`${optimized.start.toString(16)}-${optimized.end.toString(16)} `));
    assert.ok(line?.endsWith(` ${optimized.filename}  # jitdump ${dump}`), `${line}\n${regions.stdout.slice(0, 2000)}`);
    const middle = optimized.start + (optimized.end - optimized.start) / 2n;
    const resolved = cli(['resolve', file, '--pid', String(pid), middle.toString(16)]);
    assert.equal(resolved.status, 0, resolved.stderr);
    assert.equal(resolved.stdout, `${optimized.filename}\n`);
  });
});

describe('jitdump: a node in another mount namespace', () => {
  const dir = tempDir('jitdump-mntns');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Its working directory is a tmpfs mounted in its namespace only: in ours the path stays empty.
  const hidden = path.join(dir, 'hidden');
  fs.mkdirSync(hidden);
  const stop = path.join(dir, 'stop');
  const script = path.join(dir, 'wait.js');
  fs.writeFileSync(
    script,
    `function hot(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }
for (let k = 0; k < 200; k++) hot(10000);
console.log('running ' + process.pid);
setInterval(() => require('node:fs').existsSync(${JSON.stringify(stop)}) && process.exit(0), 20);
`,
  );

  test('its dump is read through /proc/PID/root while it runs, and no file at the path in ours is taken for it', async () => {
    const file = path.join(dir, 'mntns.data');
    const capture = sideband(['capture', '-o', file, '--', 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs none "${hidden}" && cd "${hidden}" && exec "${NODE}" --perf-prof "${script}"`]);
    let pid = -1;
    try {
      pid = Number((await capture.waitFor(/^running (\d+)$/))[1]);
      const inOurs = path.join(hidden, `jit-${pid}.dump`);
      assert.equal(fs.existsSync(inOurs), false, 'the dump is not at its path in our namespace');
      // The capture file grows as it runs: look until its records reach the dump's MMAP and code (a bounded wait for an event).
      let timeline: Timeline | undefined;
      let loaded = LoadedPerfData.load(file);
      for (let look = 0; look < 100; look++) {
        loaded = loaded.refreshed();
        if (loaded.timeline.count && loaded.timeline.regionsAt(pid, loaded.timeline.endTime).some((r) => r.provenance === 'jitdump' && r.filename.includes('hot'))) {
          timeline = loaded.timeline;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(timeline, `no JIT code of ${pid} came: ${loaded.jitdumpProblems.join('; ')}`);
      const hot = timeline.regionsAt(pid, timeline.endTime).filter((r) => r.provenance === 'jitdump' && r.filename.includes(`hot ${script}:1:`));
      assert.ok(hot.length > 0);
      assert.ok(hot.every((r) => r.jitdump === `/proc/${pid}/root${inOurs}`), hot.map((r) => r.jitdump).join(', '));
      assert.deepEqual(loaded.jitdumpProblems, []);
    } finally {
      fs.writeFileSync(stop, '');
    }
    assert.equal(await capture.exited, 0, capture.output);
    // Gone now, with its namespace: its path in ours is not read in its stead.
    const after = LoadedPerfData.load(file);
    assert.deepEqual(after.timeline.endedRegionsAt(pid, after.timeline.endTime).filter((r) => r.provenance === 'jitdump'), []);
    assert.equal(after.jitdumpProblems.length, 1, after.jitdumpProblems.join('\n'));
    assert.match(after.jitdumpProblems[0], /^pid \d+ wrote .*hidden\/jit-\d+\.dump in another mount namespace, and no longer runs in it: our file at that path is not its dump, so its JIT code is not shown\./);
  });
});
