// The engine inside a host that misbehaves or goes away: a listener that
// throws, a thread that cannot start, a JavaScript thread too busy to hear
// from it, a worker torn down or an extension deactivated mid-capture must
// not crash or hang the process, lose records, or lose the end.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';

import { indexPerfDataFile, readPerfData } from '../../node/perfdata/reader';
import { decodeRecord, RecordType } from '../../core/records';
import { fixture, Proc, ROOT, tempDir } from './harness';

const dir = tempDir('engine');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
/** A file of this test's scratch directory, for the captures' output. */
const scratch = (name: string): string => path.join(dir, name);

test('listeners that throw: the session still finishes, says so, and lets the process exit', () => {
  const script = `
    const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'engine.js'))});
    const thrown = [];
    process.on('uncaughtException', (e) => thrown.push(e.message));
    const session = new CaptureSession({ command: ['/bin/true'], output: ${JSON.stringify(scratch('throwing.data'))} });
    for (const event of ['attached', 'written', 'snapshot', 'stopped'])
      session.on(event, () => { throw new Error('listener of ' + event); });
    session.start();
    session.stopped.then((s) => setTimeout(() => console.log(JSON.stringify({ reason: s.reason, records: s.stats.records, thrown })), 50));
  `;
  // A hung process (a thread never joined, Node's loop held) fails by timeout.
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 }));
  assert.equal(out.reason, 'exited');
  assert.ok(out.records > 0);
  for (const event of ['attached', 'written', 'snapshot', 'stopped']) assert.ok(out.thrown.includes(`listener of ${event}`), `${event}: ${out.thrown}`);
});

test('a session that has stopped holds no fd and no ring, though it is still referenced', () => {
  const script = `
    const fs = require('node:fs');
    const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'engine.js'))});
    const fds = () => fs.readdirSync('/proc/self/fd').map((fd) => { try { return fd + ' ' + fs.readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } }).filter(Boolean);
    const rings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('perf_event')).length;
    const before = new Set(fds());
    const session = new CaptureSession({ command: ['/bin/true'], output: ${JSON.stringify(scratch('fds.data'))} });
    globalThis.kept = session;  // no garbage collection can close them for it
    session.on('stopped', (s) => console.log(JSON.stringify({ reason: s.reason, left: fds().filter((f) => !before.has(f)), rings: rings() })));
    session.start();
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 }));
  assert.equal(out.reason, 'exited');
  assert.deepEqual(out.left, [], 'fds the stopped capture still holds');
  assert.equal(out.rings, 0, 'perf rings still mapped');
});

test('a reader thread that cannot be created: start() throws an Error that says so, and the process lives on and exits', { timeout: 30_000 }, async () => {
  const script = `
    const { Capture } = require(${JSON.stringify(path.join(ROOT, 'native', 'build', 'Release', 'sideband.node'))});
    const capture = new Capture({ pid: process.pid, output: ${JSON.stringify(scratch('thread.data'))} }, () => {});
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
        new Capture({ pid: workerData.pid, output: workerData.output }, (m) => {
          if (m.kind === 'written' && !told) parentPort.postMessage((told = true));
        }).start();
      \`, { eval: true, workerData: { addon: ${JSON.stringify(path.join(ROOT, 'native', 'build', 'Release', 'sideband.node'))}, pid: ${pid}, output: ${JSON.stringify(scratch('worker.data'))} } });
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

test('a JavaScript thread too busy to hear from the core: the core writes the records to the file all the same, and loses none silently', () => {
  const mappings = 400_000; // some 50 MiB of MMAP2 records, more than the rings hold
  const mapped = fixture('churn');
  const output = scratch('busy.data');
  const script = `
    const fs = require('node:fs');
    const { execFileSync } = require('node:child_process');
    const { CaptureSession } = require(${JSON.stringify(path.join(ROOT, 'out', 'native', 'engine.js'))});
    const session = new CaptureSession({ pid: process.pid, output: ${JSON.stringify(output)} });
    session.once('snapshot', () => {
      const before = fs.statSync(${JSON.stringify(output)}).size;
      // The burst runs while this thread waits for it: no JavaScript runs meanwhile.
      execFileSync(${JSON.stringify(fixture('burst'))}, [${JSON.stringify(mapped)}, '${mappings}']);
      const during = fs.statSync(${JSON.stringify(output)}).size - before;
      session.stop().then((stop) => console.log(JSON.stringify({ during, lost: stop.stats.lost })));
    });
    session.start();
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 }));
  const seen = indexPerfDataFile(output).index;
  let inFile = 0;
  for (let i = 0; i < seen.count; i++) if (seen.type[i] === RecordType.MMAP2 && decodeRecord(seen, i).fields.filename === mapped) inFile++;
  // Were the records written by this thread, the file would not have grown while it was blocked.
  assert.ok(out.during > (mappings / 2) * 64, `the file grew by ${out.during} bytes while JavaScript was blocked: the core wrote them`);
  assert.ok(inFile + out.lost >= mappings, `every mapping was either in the file or counted lost by the kernel: ${inFile} + ${out.lost} of ${mappings}`);
});

test("the extension's deactivate stops a running capture and finishes its file before the host goes", () => {
  const target = spawn(fixture('churn'), [fixture('churn')], { stdio: 'ignore' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-deactivate-'));
  try {
    // The extension in a stand-in for VS Code: the settings' defaults from package.json, a process
    // pick that picks the target, and every other API a harmless stub.
    const script = `
      const Module = require('node:module');
      const pkg = require(${JSON.stringify(path.join(ROOT, 'package.json'))});
      const stub = (fixed = {}) => {
        const made = {};
        return new Proxy(function () {}, {
          get: (_, key) => (key in fixed ? fixed[key] : key === 'then' || typeof key === 'symbol' ? undefined : (made[key] ??= stub())),
          set: (_, key, value) => ((made[key] = value), true),
          apply: () => stub(),
          construct: () => stub(),
        });
      };
      class EventEmitter {
        listeners = [];
        event = (listener) => (this.listeners.push(listener), { dispose() {} });
        fire(e) { this.listeners.forEach((l) => l(e)); }
        dispose() {}
      }
      const commands = new Map();
      let extension;
      // Whatever deactivate leaves running, the host then exits.
      const deactivate = () =>
        Promise.resolve(typeof extension.deactivate === 'function' ? extension.deactivate() : 'no deactivate').then((result) => {
          console.log(JSON.stringify({ deactivated: result ?? null }));
          process.exit(0);
        });
      const vscode = stub({
        version: pkg.engines.vscode.replace('^', ''),
        EventEmitter,
        commands: stub({ registerCommand: (name, run) => (commands.set(name, run), { dispose() {} }), executeCommand: async () => undefined }),
        debug: stub({ activeDebugSession: undefined }),
        window: stub({
          showQuickPick: async (items) => items.find((item) => item.target?.pid === ${target.pid}),
          // Attaching shows a progress until the first snapshot: then VS Code deactivates the extension.
          withProgress: (_, task) => task({ report() {} }, { onCancellationRequested() {} }).then(deactivate),
          showErrorMessage: async (message) => console.log(JSON.stringify({ error: message })),
        }),
        workspace: stub({ getConfiguration: (section) => ({ get: (key) => pkg.contributes.configuration.properties[section + '.' + key]?.default }) }),
      });
      const load = Module._load;
      Module._load = function (request, ...rest) { return request === 'vscode' ? vscode : load.call(this, request, ...rest); };
      extension = require(${JSON.stringify(path.join(ROOT, 'out', 'extension', 'extension.js'))});
      extension.activate(stub({ subscriptions: [], asAbsolutePath: (p) => ${JSON.stringify(ROOT)} + '/' + p }));
      void commands.get('perfSideband.capture')();
    `;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TMPDIR: tmp } });
    assert.deepEqual({ status: child.status, signal: child.signal, stdout: child.stdout }, { status: 0, signal: null, stdout: '{"deactivated":null}\n' }, child.stderr);
    // The capture's file is finished, its trailer saying the capture was stopped: by deactivate, as the target still runs.
    const [dir] = fs.readdirSync(tmp).filter((name) => name.startsWith('perf-sideband-'));
    const [file] = fs.readdirSync(path.join(tmp, dir));
    const capture = readPerfData(path.join(tmp, dir, file));
    assert.equal(capture.meta?.stopReason, 'requested');
    assert.equal(capture.warnings.length, 0, capture.warnings.join('\n'));
  } finally {
    target.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
