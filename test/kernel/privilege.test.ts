// Least privilege, as a user of its own at perf_event_paranoid 2 (the
// kernel's default; each test sets it and restores it, even on failure):
// the CLI and the capture helper capture the user's own process; another
// user's is refused, naming ptrace; namespaces degrade with one warning; and
// the helper run through sudo, allowed for this user alone in a sudoers file
// the test writes and removes, captures root's process into a file that
// stays the user's.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import { CLI, Proc, ROOT, readCapture, tempDir } from './harness';

const PARANOID = '/proc/sys/kernel/perf_event_paranoid';
const HELPER = path.join(ROOT, 'native', 'build', 'Release', 'sideband-capture');
const USER = `sbpriv${process.pid}`;
const SUDOERS = `/etc/sudoers.d/sideband-test-${USER}`;

let uid = 0;
let gid = 0;
/** The user's own directory: its captures, its TMPDIR (the CLI's socket and registry). */
let home = '';

before(() => {
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }));
  gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }));
  home = tempDir('privilege');
  fs.chownSync(home, uid, gid);
});

after(() => {
  fs.rmSync(SUDOERS, { force: true });
  execFileSync('userdel', [USER]);
  fs.rmSync(home, { recursive: true, force: true });
});

/** Runs `body` at perf_event_paranoid 2, and puts back what was there however it ends. */
async function atParanoid2(body: () => Promise<void>): Promise<void> {
  const was = fs.readFileSync(PARANOID, 'utf8').trim();
  fs.writeFileSync(PARANOID, '2');
  try {
    await body();
  } finally {
    fs.writeFileSync(PARANOID, was);
  }
}

/** `cmd` run as the test user, with no capability and no group of root's. */
function asUser(cmd: string, args: string[]): Proc {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TMPDIR: home, HOME: home };
  return new Proc(spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

function capture(args: string[]): Proc {
  return asUser(process.execPath, [CLI, 'capture', ...args]);
}

/** What a capture of `pid` recorded of it, as the file says; the file is the user's. */
function recordedOf(file: string, pid: number): { forks: number; namespaces: boolean; regionChanges: string } {
  assert.equal(fs.statSync(file).uid, uid, 'the file is the user\'s');
  const { file: data, records } = readCapture(file);
  return { forks: records.filter((r) => r.type === 'FORK' && r.pid === pid && r.statusOnly).length, namespaces: data.meta!.namespaces, regionChanges: data.meta!.regionChanges! };
}

for (const via of [[], ['--via', 'helper']]) {
  const by = via.length ? 'the helper' : 'the CLI';

  test(`${by}, unprivileged at paranoid 2: the user's own process is captured, namespaces off with one warning`, () =>
    atParanoid2(async () => {
      const target = asUser('sleep', ['30']);
      const out = path.join(home, `own${via.length}.data`);
      const run = capture([...via, '--pid', String(target.child.pid), '--duration', '0.3', '-o', out]);
      assert.equal(await run.exited, 0, run.output);
      assert.equal(run.lines.filter((l) => /namespace records are off: they need CAP_PERFMON/.test(l)).length, 1, run.output);
      assert.match(run.output, /setcap cap_perfmon,cap_sys_ptrace\+ep '[^']*sideband-capture'/);
      assert.doesNotMatch(run.output, /which node/);
      assert.deepEqual(recordedOf(out, target.child.pid!), { forks: 1, namespaces: false, regionChanges: 'snapshots' });
      target.child.kill();
    }));

  test(`${by}, unprivileged at paranoid 2: another user's process is refused, naming ptrace and the remedies`, () =>
    atParanoid2(async () => {
      const target = Proc.start('sleep', ['30']);
      const out = path.join(home, `other${via.length}.data`);
      const run = capture([...via, '--pid', String(target.child.pid), '-o', out]);
      assert.equal(await run.exited, 1, run.output);
      assert.match(run.output, /no permission to observe process \d+ \(owned by uid 0\): perf needs ptrace read access/);
      assert.match(run.output, /--via sudo.*setcap cap_perfmon,cap_sys_ptrace\+ep '[^']*sideband-capture'.*kernel\.perf_event_paranoid=2/);
      assert.equal(run.lines.filter((l) => /error/.test(l)).length, 1, run.output);
      assert.ok(!fs.existsSync(out), 'no file');
      target.child.kill();
    }));
}

test('elevated: without a sudoers entry, sudo -n refuses at once, in one error', () =>
  atParanoid2(async () => {
    const target = Proc.start('sleep', ['30']);
    const out = path.join(home, 'refused.data');
    const run = capture(['--via', 'sudo', '--pid', String(target.child.pid), '-o', out]);
    assert.equal(await run.exited, 1, run.output);
    assert.match(run.output, /error: the capture helper ended without capturing: sudo: a password is required.*Fix:/);
    assert.ok(!fs.existsSync(out), 'no file');
    target.child.kill();
  }));

test('elevated: the helper through sudo, allowed for it alone, captures root\'s process into the user\'s file', () =>
  atParanoid2(async () => {
    fs.writeFileSync(SUDOERS, `${USER} ALL=(root) NOPASSWD: ${HELPER}\n`, { mode: 0o440 });
    try {
      execFileSync('visudo', ['-c', '-q', '-f', SUDOERS]);
      const target = Proc.start('sleep', ['30']);
      const out = path.join(home, 'elevated.data');
      const run = capture(['--via', 'sudo', '--pid', String(target.child.pid), '-o', out]);
      // The CLI's signals reach root's helper as commands on its socket: a snapshot, then a stop.
      await run.waitFor(/attached to \d+/);
      run.child.kill('SIGUSR1');
      await run.waitFor(/snapshot 1: 1 process/);
      run.child.kill('SIGINT');
      assert.equal(await run.exited, 0, run.output);
      assert.doesNotMatch(run.output, /warning/, 'root needs no degrading');
      // A status FORK from each snapshot; the tracepoints' formats came from the helper: the user cannot read tracefs.
      assert.deepEqual(recordedOf(out, target.child.pid!), { forks: 2, namespaces: true, regionChanges: 'tracepoints' });

      // Root's own file, named to the helper: it writes only its user's.
      const planted = path.join(tempDir('privilege-root'), 'root.data');
      fs.writeFileSync(planted, 'root\'s\n');
      fs.chmodSync(path.dirname(planted), 0o755);
      const direct = asUser('sudo', ['-n', HELPER, '--output', planted, '--control', path.join(home, 'none'), '--pid', String(target.child.pid)]);
      assert.equal(await direct.exited, 1, direct.output);
      assert.match(direct.output, /root\.data is not a regular file of uid \d+: the helper writes only its user's own files/);
      assert.equal(fs.readFileSync(planted, 'utf8'), 'root\'s\n');
      target.child.kill();
    } finally {
      fs.rmSync(SUDOERS, { force: true });
    }
  }));

test('the helper takes a pid as digits only, rings it can lock as root, and never a command', async () => {
  for (const pid of ['1;id', '-1', '0', ' 12', '4194305', '12abc']) {
    const run = Proc.start(HELPER, ['--output', '/dev/null', '--control', '/nonexistent', '--pid', pid]);
    assert.equal(await run.exited, 2, `${pid}: ${run.output}`);
    assert.match(run.output, /--pid needs a process id/);
  }
  const greedy = Proc.start(HELPER, ['--output', '/dev/null', '--control', '/nonexistent', '--pid', '1', '--ring-pages', '1048576']);
  assert.equal(await greedy.exited, 2, greedy.output);
  assert.match(greedy.output, /--ring-pages needs 1 to 8192/);
  const run = Proc.start(HELPER, ['--output', '/dev/null', '--control', '/nonexistent', '--', 'sh']);
  assert.equal(await run.exited, 2, run.output);
  assert.match(run.output, /usage: sideband-capture/);
});
