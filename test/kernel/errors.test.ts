// Bad input and refusals: one clear message naming the cause and the fix,
// no crash, and no file that poses as a complete capture.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { CLI, fixture, Proc, readCapture, sideband, tempDir } from './harness';

/** Runs the CLI as the unprivileged user `nobody`. */
function asNobody(args: string[]): Proc {
  return Proc.start('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, CLI, ...args]);
}

function sharedDir(name: string): string {
  const dir = tempDir(name);
  fs.chmodSync(dir, 0o777);
  return dir;
}

test('a pid that does not exist: named, with the fix, and no file', async () => {
  const dir = tempDir('nopid');
  const out = path.join(dir, 'x.data');
  const capture = sideband(['capture', '--pid', '4194300', '-o', out]);
  assert.equal(await capture.exited, 1);
  assert.match(capture.output, /process 4194300 does not exist.*Fix:/);
  assert.equal(capture.lines.filter((l) => l.includes('error')).length, 1, 'one message');
  assert.ok(!fs.existsSync(out));
});

test('a command that cannot run: named, with the fix, and no file', async () => {
  const dir = tempDir('nocmd');
  const out = path.join(dir, 'x.data');
  const capture = sideband(['capture', '-o', out, '--', 'no-such-command-sideband']);
  assert.equal(await capture.exited, 1);
  assert.match(capture.output, /cannot run 'no-such-command-sideband'.*Fix:/);
  assert.ok(!fs.existsSync(out));
});

test('usage errors say what is wrong and show the usage', async () => {
  const p = sideband(['capture', '--pid', 'abc', '-o', '/tmp/x']);
  assert.equal(await p.exited, 2);
  assert.match(p.output, /--pid needs a positive number, not abc/);
  assert.match(p.output, /usage:/);
});

test('no permission over another user\'s process: ptrace access named, with the remedy', async () => {
  const target = Proc.start('sleep', ['30']);
  const dir = sharedDir('eperm');
  const capture = asNobody(['capture', '--pid', String(target.child.pid), '-o', path.join(dir, 'x.data')]);
  assert.equal(await capture.exited, 1, capture.output);
  assert.match(capture.output, /no permission to observe process \d+ \(owned by uid 0\).*ptrace.*Fix:/);
  target.child.kill();
});

test('unprivileged: rings shrink to the mlock budget and namespaces are dropped, both explained', async () => {
  const dir = sharedDir('mlock');
  const out = path.join(dir, 'x.data');
  const capture = asNobody(['capture', '--ring-pages', '8192', '-o', out, '--', '/bin/true']);
  assert.equal(await capture.exited, 0, capture.output);
  assert.match(capture.output, /rings shrunk from 8192 to \d+ pages per CPU.*perf_event_mlock_kb.*Fix:/);
  assert.match(capture.output, /namespace records are off: they need CAP_PERFMON.*Fix:/);
  const { file, records } = readCapture(out);
  assert.ok(file.meta!.ringPages < 8192);
  assert.ok(records.some((r) => r.type === 'COMM' && r.fields.exec === true), 'the capture still works');
  assert.ok(!records.some((r) => r.type === 'NAMESPACES'));
});

test('dump refuses what is not perf.data, with the cause', async () => {
  const dir = tempDir('garbage');
  const file = path.join(dir, 'garbage.data');
  fs.writeFileSync(file, 'this is not a capture\n'.repeat(20));
  const p = sideband(['dump', file]);
  assert.equal(await p.exited, 1);
  assert.match(p.output, /not a perf\.data file/);
  const missing = sideband(['dump', path.join(dir, 'missing.data')]);
  assert.equal(await missing.exited, 1);
  assert.match(missing.output, /cannot read .*missing\.data/);
});

test('dump of a cut-off capture reads up to the last whole record and warns', async () => {
  const dir = tempDir('truncated');
  const out = path.join(dir, 'full.data');
  const capture = sideband(['capture', '-o', out, '--', '/bin/true']);
  assert.equal(await capture.exited, 0, capture.output);
  const full = readCapture(out);
  const bytes = fs.readFileSync(out);
  const cut = path.join(dir, 'cut.data');
  // Keep the header and part of the data: as if the disk filled mid-write.
  fs.writeFileSync(cut, bytes.subarray(0, full.file.dataOffset + Math.floor(full.file.data.byteLength / 2) + 3));
  const p = sideband(['dump', '--json', cut]);
  assert.equal(await p.exited, 0, p.output);
  assert.match(p.output, /warning/);
  const shown = p.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  assert.ok(shown.length > 0 && shown.length < full.records.length);
  assert.deepEqual(shown[0].type, full.records[0].type);
});

test('the core builds as a static program with no Node, and captures on its own', () => {
  execFileSync('make', ['-s', '-C', path.join(__dirname, '..', '..', '..', 'native'), 'static']);
  const bin = path.join(__dirname, '..', '..', '..', 'native', 'build', 'sideband-core');
  assert.match(execFileSync('file', [bin], { encoding: 'utf8' }), /statically linked/);
  const out = execFileSync(bin, ['--', fixture('churn'), '/nonexistent'], { encoding: 'utf8' });
  assert.match(out, /^attached pid=\d+/m);
  assert.match(out, /^snapshot index=0 path=proc/m);
  assert.match(out, /^record 7 pid=\d+ tid=\d+ time=[1-9]\d* proc$/m, 'a status-only FORK from /proc');
  assert.match(out, /^record 3 pid=\d+ tid=\d+ time=\d+ real$/m, 'the exec as a real COMM');
  assert.match(out, /^stopped reason=exited/m);
});

test('dump into a reader that stops early (| head) ends quietly', async () => {
  const dir = tempDir('epipe');
  const file = path.join(dir, 'burst.bin');
  fs.writeFileSync(file, Buffer.alloc(4096, 0xc3));
  const out = path.join(dir, 'x.data');
  // Enough records that dump is still writing when its reader goes away.
  assert.equal(await sideband(['capture', '-o', out, '--', fixture('burst'), file, '200000']).exited, 0);
  // A real pipe into head, as a user types it: pipefail reports dump's own exit.
  const dump = Proc.start('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" dump "${out}" | head -n 1`]);
  assert.equal(await dump.exited, 0, dump.output);
  assert.match(dump.output, /FORK/);
  assert.doesNotMatch(dump.output, /EPIPE|Error/);
});

test('an output that cannot be written is refused before anything is attached or launched', async () => {
  const dir = tempDir('output');
  const marker = path.join(dir, 'ran');
  for (const output of [path.join(dir, 'missing', 'x.data'), dir]) {
    const capture = sideband(['capture', '-o', output, '--', '/bin/sh', '-c', `touch ${marker}`]);
    assert.equal(await capture.exited, 1, capture.output);
    assert.match(capture.output, /cannot write .*Fix: choose a writable path for -o/);
    assert.doesNotMatch(capture.output, /attached/);
  }
  assert.ok(!fs.existsSync(marker), 'the command never ran');
});

// --- The registry of running captures, which `sideband snapshot` signals -----------------

/** The CLI with TMPDIR `tmp` and no XDG_RUNTIME_DIR (as root here, and on CI): its registry is `tmp`/perf-sideband-0, away from other runs' captures. */
function sidebandIn(tmp: string, args: string[]): Proc {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  delete env.XDG_RUNTIME_DIR;
  return new Proc(spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A directory anyone may make files in, as /tmp. */
function stickyDir(name: string): string {
  const dir = tempDir(name);
  fs.chmodSync(dir, 0o1777);
  return dir;
}

/** A shell command run as `nobody`: the attacker. */
function asAttacker(script: string): void {
  execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', 'sh', '-c', script]);
}

/** Stops `victim` with SIGTERM and says whether that is what ended it (not an earlier SIGUSR1). */
async function endedByUs(victim: Proc): Promise<string | null> {
  victim.child.kill('SIGTERM');
  await victim.exited;
  return victim.child.signalCode;
}

test('registry: a directory another user made first is refused; its entries are never signalled, and captures still run', async () => {
  const tmp = stickyDir('registry-planted');
  const victim = Proc.start('sleep', ['30']);
  const planted = path.join(tmp, 'perf-sideband-0');
  asAttacker(`mkdir -m 777 ${planted} && echo '{}' > ${planted}/${victim.child.pid}`);

  const ask = sidebandIn(tmp, ['snapshot']);
  assert.equal(await ask.exited, 1, ask.output);
  assert.match(ask.output, /error: .*perf-sideband-0 belongs to uid 65534, not to us \(uid 0\).*Fix: remove it/);

  const capture = sidebandIn(tmp, ['capture', '--pid', String(victim.child.pid), '--duration', '0.5', '-o', path.join(tmp, 'x.data')]);
  assert.equal(await capture.exited, 0, capture.output);
  assert.match(capture.output, /warning: `sideband snapshot` will not find this capture: .*belongs to uid 65534.*kill -USR1/);
  assert.deepEqual(fs.readdirSync(planted), [String(victim.child.pid)], 'the capture wrote nothing there');
  assert.equal(await endedByUs(victim), 'SIGTERM');
});

test('registry: a symlink planted where it goes is not followed', async () => {
  const tmp = stickyDir('registry-symlink');
  const victimDir = tempDir('registry-victim'); // root's own, as ~/.ssh would be
  asAttacker(`ln -s ${victimDir} ${path.join(tmp, 'perf-sideband-0')}`);
  const target = Proc.start('sleep', ['30']);
  const capture = sidebandIn(tmp, ['capture', '--pid', String(target.child.pid), '-o', path.join(tmp, 'x.data')]);
  await capture.waitFor(/attached/);
  assert.deepEqual(fs.readdirSync(victimDir), [], 'nothing written through the link');
  capture.child.kill('SIGINT');
  assert.equal(await capture.exited, 0, capture.output);
  assert.match(capture.output, /warning: `sideband snapshot` will not find this capture: .*perf-sideband-0 is a symbolic link/);
  target.child.kill();
});

test('registry: an entry left by a capture that died, its pid now another process\'s, is removed and not signalled', async () => {
  const tmp = tempDir('registry-stale');
  const victim = Proc.start('sleep', ['30']);
  const registry = path.join(tmp, 'perf-sideband-0');
  fs.mkdirSync(registry, { mode: 0o700 });
  const pid = victim.child.pid!;
  fs.writeFileSync(path.join(registry, String(pid)), JSON.stringify({ pid, started: '1', target: 1, output: '/tmp/gone.data' }));

  const ask = sidebandIn(tmp, ['snapshot']);
  assert.equal(await ask.exited, 1, ask.output);
  assert.match(ask.output, /no running capture found/);
  assert.deepEqual(fs.readdirSync(registry), [], 'the stale entry is removed');
  assert.equal(await endedByUs(victim), 'SIGTERM');
});

test('registry: a snapshot asked while a capture stops does not kill it', async () => {
  const tmp = tempDir('registry-late');
  const target = Proc.start('sleep', ['30']);
  const out = path.join(tmp, 'x.data');
  const capture = sidebandIn(tmp, ['capture', '--pid', String(target.child.pid), '--duration', '0.5', '-o', out]);
  await capture.waitFor(/attached/);
  // Asked again and again until it has exited: some land after it stopped snapshotting.
  const asker = spawn('sh', ['-c', `while kill -USR1 ${capture.child.pid} 2>/dev/null; do sleep 0.002; done`], { stdio: 'ignore' });
  assert.equal(await capture.exited, 0, capture.output);
  assert.match(capture.output, /records .* written to/);
  asker.kill();
  target.child.kill();
});
