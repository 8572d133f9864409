// Host logic that needs no VS Code: targets, settings, the protocol's
// validators and request pairing, build-ids, and following a perf.data file
// while it is written.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { Emit } from '../../native/engine';
import { readBuildId } from '../../node/symbols/elf';
import { openPerfData, readPerfData, readRecords, recordReader } from '../../node/perfdata/reader';
import { PerfDataWriter } from '../../node/perfdata/writer';
import { type SidebandMeta } from '../../core/perfdata/metadata';
import { indexRecords } from '../../core/recordStream';
import { copyRecords } from '../../core/records';
import { StopSnapshots } from '../../extension/stopSnapshots';
import { chooseElevation, consentText, liftedByPrivileges } from '../../extension/elevation';
import { helperArgv, helperPath } from '../../native/helper';
import { childrenOf, listProcesses, newestChildOfAdapter, optionsFromSettings, parseStat, pidFromConfiguration, pidFromSessionName, processLinks, splitCommandLine } from '../../extension/targets';
import { parseHostMessage, parseWebviewMessage, ProtocolError, Requests, type WebviewMessage } from '../../protocol/webview';
import { comm, concat, fork, sidebandAttr, type Trailer } from '../fixtures/records';
import { testMeta } from '../fixtures/meta';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'extension-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('snapshots at debugger stops', () => {
  /** A debuggee's stops and continues, played to StopSnapshots: how many snapshots they took. */
  function snapshotsTaken(events: Array<'stopped' | 'continued' | 'on' | 'off'>): number {
    let on = true;
    let taken = 0;
    const stops = new StopSnapshots(
      () => on,
      () => taken++,
    );
    for (const e of events) {
      if (e === 'on' || e === 'off') on = e === 'on';
      else stops.event(e);
    }
    return taken;
  }

  test('each stop takes one snapshot, however many threads report it', () => {
    assert.equal(snapshotsTaken(['stopped']), 1);
    assert.equal(snapshotsTaken(['stopped', 'stopped', 'stopped']), 1, 'three threads stopping at once are one stop');
    assert.equal(snapshotsTaken(['stopped', 'stopped', 'continued', 'stopped', 'continued', 'continued', 'stopped']), 3);
    assert.equal(snapshotsTaken(['continued', 'continued']), 0, 'running takes none');
  });

  test('with perfSideband.snapshotOnStop off, stops take none; turned on, the next stop takes one', () => {
    assert.equal(snapshotsTaken(['off', 'stopped', 'continued', 'stopped']), 0);
    assert.equal(snapshotsTaken(['off', 'stopped', 'continued', 'on', 'stopped', 'stopped']), 1);
  });
});

describe('elevated captures', () => {
  test('pkexec where a polkit agent can ask (a local graphical session), else sudo in a terminal', () => {
    assert.equal(chooseElevation({ WAYLAND_DISPLAY: 'wayland-0' }, false, true), 'pkexec');
    assert.equal(chooseElevation({ DISPLAY: ':0' }, false, true), 'pkexec');
    assert.equal(chooseElevation({ DISPLAY: ':0' }, false, false), 'sudo-terminal', 'no pkexec');
    assert.equal(chooseElevation({}, false, true), 'sudo-terminal', 'no graphical session for the agent');
    assert.equal(chooseElevation({ DISPLAY: ':0' }, true, true), 'sudo-terminal', 'a remote extension host');
    assert.equal(chooseElevation({ DISPLAY: 'localhost:10.0', SSH_CONNECTION: '10.0.0.1 5 10.0.0.2 22' }, false, true), 'sudo-terminal', 'X forwarded over ssh');
  });

  test('privileges are offered for the refusals they lift, not for others', () => {
    for (const code of ['EPTRACE', 'EPARANOID', 'EPERM']) assert.ok(liftedByPrivileges(code), code);
    for (const code of ['ENOPID', 'EMFILE', 'ECONTAINER', 'ENOPERF', undefined]) assert.ok(!liftedByPrivileges(code), String(code));
  });

  test("the helper's argv: checked pid, the file's absolute path, no command; the consent shows it quoted to be read", () => {
    const argv = helperArgv({ pid: 42, output: 'rel/x y.data', ringPages: 64, followChildren: false }, '/run/s');
    assert.deepEqual(argv, [helperPath(), '--output', path.resolve('rel/x y.data'), '--control', '/run/s', '--pid', '42', '--ring-pages', '64', '--no-children']);
    for (const pid of [0, -1, 1.5, 4194305, Number.NaN]) assert.throws(() => helperArgv({ pid, output: 'x' }, '/s'), /is not a process id/, String(pid));
    assert.throws(() => helperArgv({ command: ['sh'], output: 'x' }, '/s'), /never launches one/);
    const text = consentText('sudo-terminal', ['/opt/x/sideband-capture', '--output', "/tmp/it's here.data"]);
    assert.match(text, /as root through sudo in a terminal/);
    assert.match(text, /\/opt\/x\/sideband-capture --output '\/tmp\/it'\\''s here\.data'/);
  });
});

describe('targets', () => {
  test('a typed command line splits as a shell splits words and quotes, without expanding anything', () => {
    assert.deepEqual(splitCommandLine(`node  app.js --name "two words" 'it''s' a\\ b "q\\"x" $HOME`), ['node', 'app.js', '--name', 'two words', 'its', 'a b', 'q"x', '$HOME']);
    assert.deepEqual(splitCommandLine(`prog ""`), ['prog', '']);
    assert.throws(() => splitCommandLine(`prog "open`), /unclosed " quote/);
  });

  test("js-debug's child session name gives the debuggee's pid; other names give none", () => {
    assert.equal(pidFromSessionName('app.js [4242]'), 4242);
    assert.equal(pidFromSessionName('Debug the demo'), undefined);
    assert.equal(pidFromSessionName('app [x]'), undefined);
  });

  test('attach configurations give their processId once resolved; launch configurations give none', () => {
    assert.equal(pidFromConfiguration({ request: 'attach', processId: 77 }), 77);
    assert.equal(pidFromConfiguration({ request: 'attach', processId: ' 78 ' }), 78);
    assert.equal(pidFromConfiguration({ request: 'attach', processId: '${command:pickProcess}' }), undefined);
    assert.equal(pidFromConfiguration({ request: 'attach', processId: 0 }), undefined);
    assert.equal(pidFromConfiguration({ request: 'launch', processId: 77 }), undefined);
  });

  test('settings become capture options; an unknown record kind is refused by name', () => {
    const settings: Record<string, unknown> = { emit: ['fork', 'mmap'], ringPages: 64, followChildren: false, useKernelIoctl: false };
    const options = optionsFromSettings((key) => settings[key] as never);
    assert.deepEqual(options, { ringPages: 64, followChildren: false, tryIoctl: false, emit: Emit.Fork | Emit.Mmap });
    assert.equal(optionsFromSettings(() => undefined).emit, Emit.All);
    assert.throws(() => optionsFromSettings((key) => (key === 'emit' ? ['fork', 'exits'] : undefined) as never), /perfSideband.emit has "exits".*Fix: use only fork, namespaces, comm, mmap/);
  });

  test('the process list has user processes with their command lines, and no kernel threads', () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    try {
      const list = listProcesses([process.pid]);
      const sleeper = list.find((p) => p.pid === pid);
      assert.ok(sleeper, `pid ${pid} (sleep) is listed`);
      assert.equal(sleeper.comm, 'sleep');
      assert.equal(sleeper.commandLine, 'sleep 30');
      assert.ok(!list.some((p) => p.pid === process.pid), 'an excluded pid is left out');
      assert.ok(!list.some((p) => p.pid === 2), 'kthreadd, a kernel thread, is left out');
    } finally {
      child.kill();
    }
  });

  test("/proc/PID/stat gives a process's parent and start time, whatever its comm holds", () => {
    assert.deepEqual(parseStat(7, '7 (a) (b c) S 4242 7 7 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 50'), { pid: 7, ppid: 4242, startTime: 98765 });
    assert.equal(parseStat(7, '7 (cut short) S 4242'), undefined);
    assert.equal(parseStat(process.pid, fs.readFileSync('/proc/self/stat', 'latin1'))?.ppid, process.ppid);
  });

  test('the likely debuggee is the newest child of the adapter the session started, not of the host\'s other children', () => {
    const host = 100;
    const links = [
      { pid: 200, ppid: host, startTime: 10 }, // a language server, there before the session
      { pid: 201, ppid: 200, startTime: 90 }, // its newest child: not the debuggee
      { pid: 300, ppid: host, startTime: 50 }, // the adapter
      { pid: 301, ppid: 300, startTime: 60 },
      { pid: 303, ppid: 300, startTime: 70 }, // the adapter's newest child
      { pid: 302, ppid: 300, startTime: 70 }, // as new by the clock, but an older pid
      { pid: 304, ppid: 303, startTime: 80 }, // a grandchild of the adapter
    ];
    assert.equal(newestChildOfAdapter(host, new Set([200]), links), 303);
    assert.equal(newestChildOfAdapter(host, new Set([200, 300]), links), undefined, 'no adapter started: no guess');
    assert.deepEqual(childrenOf(host, links), [200, 300]);
  });

  test("a real adapter's newest child is found among this process's children, its older sibling and another child's newer child passed over", async () => {
    /** The pids a shell echoes, once it has echoed `count` of them. */
    const echoed = (child: ReturnType<typeof spawn>, count: number) =>
      new Promise<number[]>((resolve, reject) => {
        let text = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const pids = text.split('\n').filter(Boolean).map(Number);
          if (pids.length >= count) resolve(pids);
        });
        child.on('exit', () => reject(new Error(`the shell exited having echoed ${JSON.stringify(text)}`)));
      });
    // There before the session: a child of ours that starts a child of its own later than the adapter's.
    const other = spawn('sh', ['-c', 'read go; sleep 30 & echo $!; wait'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const before = new Set(childrenOf(process.pid, processLinks()));
    assert.ok(before.has(other.pid!));
    const adapter = spawn('sh', ['-c', 'sleep 30 & echo $!; sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const sleepers: number[] = [];
    try {
      const adapterChildren = await echoed(adapter, 2);
      sleepers.push(...adapterChildren);
      other.stdin!.write('go\n');
      const [otherChild] = await echoed(other, 1);
      sleepers.push(otherChild);
      assert.ok(processLinks().some((p) => p.pid === otherChild && p.ppid === other.pid), 'the other child has a child of its own now');
      assert.equal(newestChildOfAdapter(process.pid, before, processLinks()), adapterChildren[1]);
    } finally {
      for (const pid of sleepers) process.kill(pid, 'SIGKILL');
      adapter.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });
});

describe('protocol', () => {
  const attr = sidebandAttr().slice().buffer;

  test('well-formed messages pass both validators unchanged', () => {
    const open = { type: 'open', title: 't', live: true, events: [{ attr, ids: ['1', '18446744073709551615'] }], expectedBytes: 0, warnings: [] };
    assert.equal(parseHostMessage(open), open);
    assert.equal(parseHostMessage({ type: 'reveal', pid: 3 }).type, 'reveal');
    assert.equal(parseHostMessage({ type: 'reply', id: 1, files: [{ path: '/x', inWorkspace: false, buildId: 'ab' }] }).type, 'reply');
    assert.equal(parseWebviewMessage({ type: 'drawn', records: 5, newestTime: 1e9 }).type, 'drawn');
    assert.equal(parseWebviewMessage({ type: 'stored', end: 4096 }).type, 'stored');
    const region = { start: '7f0000000000', end: '7f0000020000', pgoff: '0', filename: '/usr/lib/libc.so.6' };
    assert.equal(parseWebviewMessage({ type: 'regionSources', id: 2, pid: 100, region }).type, 'regionSources');
    assert.equal(parseWebviewMessage({ type: 'regionSources', id: 2, pid: 100, region: { ...region, buildId: '0123456789abcdef0123456789abcdef01234567' } }).type, 'regionSources');
    assert.equal(parseWebviewMessage({ type: 'resolveAddress', id: 3, pid: 100, address: '7f0000001234', region }).type, 'resolveAddress');
    assert.equal(parseWebviewMessage({ type: 'openFile', path: '/src/a.c', line: 12 }).type, 'openFile');
    assert.equal(parseHostMessage({ type: 'reveal', pid: 3, time: 5, region: '7f0000000000' }).type, 'reveal');
    const sources = { files: [{ path: '/src/a.c', inWorkspace: true, exists: true }], backend: 'llvm-symbolizer' };
    assert.equal(parseHostMessage({ type: 'sourcesReply', id: 2, sources }).type, 'sourcesReply');
    assert.equal(parseHostMessage({ type: 'sourcesReply', id: 2, sources: { files: [], missing: 'No debug info.', backend: 'none' } }).type, 'sourcesReply');
    const read = { path: '/proc/7/root/usr/lib/libc.so.6', via: "/usr/lib/libc.so.6 in pid 7's mount namespace mnt:[4026532200], not ours" };
    assert.equal(parseHostMessage({ type: 'sourcesReply', id: 2, sources: { ...sources, read } }).type, 'sourcesReply');
    const frames = [
      { function: 'inner', file: '/src/a.c', line: 3, column: 7, inWorkspace: true, exists: true },
      { function: 'outer', inWorkspace: false, exists: false },
    ];
    assert.equal(parseHostMessage({ type: 'resolveReply', id: 3, resolution: { frames, backend: 'llvm-symbolizer' } }).type, 'resolveReply');
    assert.equal(parseWebviewMessage({ type: 'readJitdump', id: 4, pid: 100, filename: '/app/jit-100.dump', from: 0, mountNamespace: '4026531841' }).type, 'readJitdump');
    assert.equal(parseHostMessage({ type: 'jitdumpReply', id: 4, path: '/proc/100/root/app/jit-100.dump', bytes: new ArrayBuffer(40) }).type, 'jitdumpReply');
    assert.equal(parseHostMessage({ type: 'jitdumpReply', id: 4, path: '/app/jit-100.dump', bytes: new ArrayBuffer(0), problem: 'gone' }).type, 'jitdumpReply');
  });

  test('malformed messages are refused with the field that is wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /expected an object, got null/],
      [{ type: 'nope' }, /unknown message type "nope"/],
      [{ type: 'records', offset: 0, bytes: new Uint8Array(8) }, /'records' message has a missing or invalid 'bytes'/],
      [{ type: 'open', title: 't', live: true, events: [{ attr, ids: ['-1'] }], expectedBytes: 0, warnings: [] }, /'open' .* 'events'/],
      [{ type: 'marker', time: Number.NaN, kind: 'stopped', label: '' }, /'marker' .* 'time'/],
      [{ type: 'marker', time: 1, kind: 'paused', label: '' }, /'marker' .* 'kind'/],
      [{ type: 'reveal', pid: 1, time: 'soon' }, /'reveal' message has an invalid 'time'/],
      [{ type: 'toString' }, /unknown message type/],
    ];
    for (const [data, message] of cases) assert.throws(() => parseHostMessage(data), (e: Error) => e instanceof ProtocolError && message.test(e.message), JSON.stringify(data));
    assert.throws(() => parseWebviewMessage({ type: 'describeFiles', id: 1, paths: [3] }), /'describeFiles' .* 'paths'/);
    assert.throws(() => parseWebviewMessage({ type: 'stored', end: '4096' }), /'stored' .* 'end'/);
    const region = { start: '400000', end: '402000', pgoff: '0', filename: '/usr/bin/server' };
    const webviewCases: Array<[unknown, RegExp]> = [
      [{ type: 'regionSources', id: 1, pid: 100, region: { ...region, start: '0x400000' } }, /'regionSources' .* 'region'/],
      [{ type: 'regionSources', id: 1, pid: 100, region: { start: '400000', end: '402000', filename: '/usr/bin/server' } }, /'regionSources' .* 'region'/],
      [{ type: 'regionSources', id: 1, region }, /'regionSources' .* 'pid'/],
      [{ type: 'regionSources', id: 1, pid: 100, region: { ...region, buildId: 'not hex' } }, /'regionSources' .* 'region'/],
      [{ type: 'resolveAddress', id: 1, pid: 100, address: 'xyz', region }, /'resolveAddress' .* 'address'/],
      [{ type: 'resolveAddress', id: 1, pid: 100, address: '1'.repeat(17), region }, /'resolveAddress' .* 'address'/],
      [{ type: 'openFile', path: '/a.c', line: 0 }, /'openFile' message has an invalid 'line'/],
      [{ type: 'readJitdump', id: 1, pid: 100, filename: '/jit-100.dump', from: 0, mountNamespace: 4026531841 }, /'readJitdump' message has an invalid 'mountNamespace'/],
    ];
    for (const [data, message] of webviewCases) assert.throws(() => parseWebviewMessage(data), (e: Error) => e instanceof ProtocolError && message.test(e.message), JSON.stringify(data));
    const hostCases: Array<[unknown, RegExp]> = [
      [{ type: 'sourcesReply', id: 1 }, /'sourcesReply' .* 'sources'/],
      [{ type: 'sourcesReply', id: 1, sources: { files: [{ path: '/a.c', inWorkspace: true }], backend: 'x' } }, /'sourcesReply' .* 'sources'/],
      [{ type: 'sourcesReply', id: 1, sources: { files: [], missing: 3, backend: 'x' } }, /'sourcesReply' .* 'sources'/],
      [{ type: 'resolveReply', id: 1, resolution: { frames: [{ function: 'f', line: 1.5, inWorkspace: false, exists: false }], backend: 'x' } }, /'resolveReply' .* 'resolution'/],
      [{ type: 'resolveReply', id: 1, resolution: { frames: [] } }, /'resolveReply' .* 'resolution'/],
      [{ type: 'resolveReply', id: 1, resolution: { frames: [], backend: 'x', read: { via: 'no path' } } }, /'resolveReply' .* 'resolution'/],
      [{ type: 'reveal', pid: 1, region: 'start' }, /'reveal' message has an invalid 'region'/],
      [{ type: 'jitdumpReply', id: 1, path: '/jit-100.dump', bytes: [0x44] }, /'jitdumpReply' .* 'bytes'/],
    ];
    for (const [data, message] of hostCases) assert.throws(() => parseHostMessage(data), (e: Error) => e instanceof ProtocolError && message.test(e.message), JSON.stringify(data));
  });

  test('a reply settles the request with its id, whatever the order', async () => {
    const posted: WebviewMessage[] = [];
    const requests = new Requests((m) => posted.push(m));
    const first = requests.describeFiles(['/a']);
    const second = requests.describeFiles(['/b']);
    const ids = posted.map((m) => (m.type === 'describeFiles' ? m.id : -1));
    assert.notEqual(ids[0], ids[1]);
    requests.settle({ type: 'reply', id: ids[1], files: [{ path: '/b', inWorkspace: true }] });
    requests.settle({ type: 'reply', id: ids[0], files: [{ path: '/a', inWorkspace: false }] });
    assert.deepEqual(await first, [{ path: '/a', inWorkspace: false }]);
    assert.deepEqual(await second, [{ path: '/b', inWorkspace: true }]);
  });

  test('each kind of request is settled by its own kind of reply; a re-asked request gets a new id', async () => {
    const posted: WebviewMessage[] = [];
    const requests = new Requests((m) => posted.push(m));
    const region = { start: '500000', end: '501000', pgoff: '0', filename: '/p/libplugin.so' };
    const unanswered = requests.regionSources(200, region);
    const sources = requests.regionSources(200, region);
    const resolution = requests.resolveAddress(200, '500123', region);
    assert.deepEqual(posted, [
      { type: 'regionSources', id: 1, pid: 200, region },
      { type: 'regionSources', id: 2, pid: 200, region },
      { type: 'resolveAddress', id: 3, pid: 200, address: '500123', region },
    ]);
    assert.throws(() => requests.settle({ type: 'sourcesReply', id: 3, sources: { files: [], backend: 'b' } }), /'sourcesReply' message answers request 3, which only a 'resolveReply' answers/);
    requests.settle({ type: 'resolveReply', id: 3, resolution: { frames: [], error: 'No symbols.', backend: 'b' } });
    requests.settle({ type: 'sourcesReply', id: 2, sources: { files: [], missing: 'No debug info.', backend: 'b' } });
    // Settled once: a second reply with the same id is dropped.
    requests.settle({ type: 'sourcesReply', id: 2, sources: { files: [], backend: 'later' } });
    assert.deepEqual(await resolution, { frames: [], error: 'No symbols.', backend: 'b' });
    assert.deepEqual(await sources, { files: [], missing: 'No debug info.', backend: 'b' });
    const stillPending = await Promise.race([unanswered.then(() => 'settled'), new Promise((resolve) => setImmediate(() => resolve('pending')))]);
    assert.equal(stillPending, 'pending');
  });
});

describe('build-ids', () => {
  test('match what file(1) reads from the same binaries', () => {
    for (const binary of ['/bin/ls', process.execPath]) {
      const described = spawnSync('file', ['-L', binary], { encoding: 'utf8' }).stdout;
      const expected = /BuildID\[[^\]]+\]=([0-9a-f]+)/.exec(described)?.[1];
      assert.ok(expected, `file(1) reads a build-id from ${binary}: ${described}`);
      assert.equal(readBuildId(binary), expected, binary);
    }
  });

  test('files that are not ELF, or are missing, have none', () => {
    const text = path.join(tmp, 'not-elf');
    fs.writeFileSync(text, 'hello, this is not an ELF file at all, just text of some length\n');
    assert.equal(readBuildId(text), undefined);
    assert.equal(readBuildId(path.join(tmp, 'missing')), undefined);
  });
});

describe('following a capture file while it is written', () => {
  const t = (pid: number, dt: number): Trailer => ({ pid, tid: pid, time: 1e12 + dt, cpu: 0, id: 5n });
  const meta = (markers?: SidebandMeta['markers']): SidebandMeta =>
    testMeta({ stats: { records: 3, statusRecords: 0, ioctlRecords: 0, procRecords: 0, lost: 0, lostRecords: 0 }, markers });

  test('an unfinished file reads up to its last flushed record, in chunks that may split records', () => {
    const file = path.join(tmp, 'growing.data');
    const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: [5n], name: 'dummy:u' }] });
    const records = concat([fork(t(10, 1), { pid: 1, tid: 1 }), comm(t(10, 2), 'child'), comm(t(10, 3), 'renamed')]);
    writer.append(records);
    writer.flush();
    const opened = openPerfData(file);
    const reader = recordReader(opened);
    for (const _ of readRecords(opened, reader, 24));
    assert.deepEqual(reader.stream.attrs.map((a) => a.name), ['dummy:u'], "a reader following the file learns the event's name from its start");
    assert.deepEqual(copyRecords(reader.index(), 0), records, 'the flushed records, whole, read in chunks smaller than one');
    writer.finish(meta([{ time: '1000000000002', kind: 'stopped', label: 'breakpoint' }]));
    const finished = readPerfData(file);
    assert.deepEqual(finished.meta?.markers, [{ time: '1000000000002', kind: 'stopped', label: 'breakpoint' }], 'debugger markers travel in the metadata');
    assert.equal(indexRecords(finished.data, finished.stream).count, 3);
  });

  test('malformed markers in the metadata are refused before anything is written', () => {
    const file = path.join(tmp, 'bad-markers.data');
    const writer = PerfDataWriter.open(file, { events: [{ attr: sidebandAttr(), ids: [5n], name: 'dummy:u' }] });
    assert.throws(() => writer.finish(meta([{ time: 'soon', kind: 'stopped', label: '' }])), /meta\.markers/);
  });
});
