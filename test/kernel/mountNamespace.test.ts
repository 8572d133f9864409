// Files of a target in another mount namespace, on a real capture: the
// target runs under `unshare --mount --pid --fork` with its own build of the
// library bind-mounted over the path ours lives at (the same code, its lines
// moved down), and its own /tmp. What comes back must be its file's lines,
// read through /proc/PID/root, its perf map found by its pid there (NSpid),
// and a build-id that does not match refused; once it is gone, our file at
// its path is not read in its stead, but for a build-id to check it by (perf
// record --buildid-mmap, recording beside ours).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LoadedPerfData } from '../../node/symbols/resolver';
import { wireRegion } from '../../protocol/webview';
import { type Region } from '../../core/timeline';
import { perfRecordAttach, Proc, ROOT, sideband } from './harness';
import { LanguageServer, markdownShown } from './lsp';

const FIXTURES = path.join(ROOT, 'test', 'fixtures');
/** Lines put before the target's copy of the library's source: its functions' lines move down by as many. */
const SHIFT = 7;

/** What llvm-symbolizer says of `vaddr` in `file`: the innermost frame's function, file and line. */
function llvmSymbolize(file: string, vaddr: bigint): [string, string, number] {
  const out = execFileSync('llvm-symbolizer', ['--output-style=JSON', `--obj=${file}`, `0x${vaddr.toString(16)}`], { encoding: 'utf8' });
  const [{ Symbol: [frame] }] = JSON.parse(out) as Array<{ Symbol: Array<{ FunctionName: string; FileName: string; Line: number }> }>;
  return [frame.FunctionName, frame.FileName, frame.Line];
}

function buildIdOf(file: string): string {
  const id = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', file], { encoding: 'utf8' }))?.[1];
  assert.ok(id, `${file} has a build-id`);
  return id;
}

/** The file vaddr of `address` in the executable region `region` of `file`, by readelf's PT_LOAD that holds its offset. */
function fileVaddr(file: string, region: Region, address: bigint): bigint {
  const offset = address - region.start + region.pgoff;
  for (const line of execFileSync('readelf', ['-lW', file], { encoding: 'utf8' }).split('\n')) {
    if (!/^\s*LOAD\s/.test(line)) continue;
    const [off, vaddr, , filesz] = line.trim().split(/\s+/).slice(1, 5).map(BigInt);
    if (offset >= off && offset < off + filesz) return vaddr + offset - off;
  }
  assert.fail(`offset 0x${offset.toString(16)} of ${file} is in no PT_LOAD`);
}

describe('files of a target in another mount namespace', () => {
  // Not under /tmp: the target's namespace mounts a /tmp of its own.
  const dir = fs.mkdtempSync('/var/tmp/sideband-mntns-');
  const target = path.join(dir, 'source_target');
  const library = path.join(dir, 'libsource.so');
  const theirSource = path.join(dir, 'theirs', 'source_lib.c');
  const theirLibrary = path.join(dir, 'theirs', 'libsource.so');
  const captureFile = path.join(dir, 'capture.data');
  const perfFile = path.join(dir, 'perf.data');
  let unshare: Proc;
  let pid = 0;
  let libScale = 0n;
  let server: LanguageServer;
  let text: Region;

  before(async () => {
    execFileSync('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', target, path.join(FIXTURES, 'source_target.c'), '-ldl']);
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', '-o', library, path.join(FIXTURES, 'source_lib.c')]);
    fs.mkdirSync(path.dirname(theirSource));
    fs.writeFileSync(theirSource, '\n'.repeat(SHIFT) + fs.readFileSync(path.join(FIXTURES, 'source_lib.c'), 'utf8'));
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', '-o', theirLibrary, theirSource]);
    // Its own /tmp, and its build of the library where ours is: then the target, as pid 1 there.
    const script = `mount -t tmpfs sideband-tmp /tmp && mount --bind "$1" "$2" && exec "$3" "$2"`;
    unshare = Proc.start('unshare', ['--mount', '--pid', '--fork', 'sh', '-c', script, 'sh', theirLibrary, library, target], { stdin: true });
    await unshare.waitFor(/^ready 1$/);
    const children = fs.readFileSync(`/proc/${unshare.child.pid}/task/${unshare.child.pid}/children`, 'utf8').trim().split(/\s+/);
    assert.equal(children.length, 1, 'unshare has one child: the target');
    pid = Number(children[0]);
    const perf = await perfRecordAttach(pid, perfFile, ['--buildid-mmap']);
    const capture = sideband(['capture', '--pid', String(pid), '-o', captureFile]);
    await capture.waitFor(/attached/);
    unshare.send('go');
    await unshare.waitFor(/^done/);
    libScale = BigInt(unshare.lines.map((l) => /^fn lib_scale (0x[0-9a-f]+)/.exec(l)?.[1]).find(Boolean)!);
    capture.child.kill('SIGINT');
    perf.child.kill('SIGINT');
    assert.equal(await capture.exited, 0, capture.output);
    // perf writes its file out, then dies of the SIGINT again for its parent to see (record__sig_exit).
    assert.equal(await perf.exited, 128, perf.output);
    text = LoadedPerfData.load(captureFile)
      .regionsOf(pid)
      .find((r) => r.filename === library && libScale >= r.start && libScale < r.end)!;
    assert.ok(text && !text.statusOnly, 'the library was mapped after attach, under its path in the target namespace');
    server = await LanguageServer.start({ workspace: dir });
    await server.showCapture(captureFile);
  });
  after(async () => {
    await server?.stop();
    if (unshare && unshare.child.exitCode === null) {
      unshare.send('bye');
      await unshare.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("an address resolves to the target's file's lines, read through /proc/PID/root, not to ours", async () => {
    const theirs = llvmSymbolize(theirLibrary, fileVaddr(theirLibrary, text, libScale));
    const ours = llvmSymbolize(library, fileVaddr(library, text, libScale));
    assert.deepEqual([theirs[0], ours[0]], ['lib_scale', 'lib_scale']);
    assert.equal(theirs[2], ours[2] + SHIFT, 'the two builds tell different lines');
    for (const asked of [{ capture: captureFile }, { region: wireRegion(text) }]) {
      const [got] = await server.resolve({ pid, addresses: [libScale.toString(16)], ...asked });
      assert.equal(got.error, undefined, got.error);
      assert.deepEqual([got.frames[0].function, got.frames[0].file, got.frames[0].line], theirs, JSON.stringify(asked));
      assert.equal(got.read?.path, `/proc/${pid}/root${library}`);
      assert.match(got.read?.via ?? '', new RegExp(`pid ${pid}'s mount namespace mnt:\\[\\d+\\], not ours`));
    }
  });

  test("the region's source files are the target's, and the answer says which file was read", async () => {
    const sources = await server.regionSources(pid, wireRegion(text));
    assert.equal(sources.missing, undefined, sources.missing);
    assert.deepEqual(
      sources.files.map((f) => f.path),
      [theirSource],
    );
    assert.equal(sources.read?.path, `/proc/${pid}/root${library}`);
  });

  test("a region whose record carries a build-id is read only from a file with that build-id", async () => {
    const address = [libScale.toString(16)];
    const [mismatch] = await server.resolve({ pid, addresses: address, region: { ...wireRegion(text), buildId: buildIdOf(library) } });
    assert.equal(mismatch.code, 'build-id-mismatch');
    assert.deepEqual(mismatch.frames, []);
    assert.match(mismatch.error ?? '', new RegExp(`has build-id ${buildIdOf(theirLibrary)}, but the record of pid ${pid}'s mapping of .*libsource\\.so says ${buildIdOf(library)}: it is another build`));
    assert.equal((await server.regionSources(pid, { ...wireRegion(text), buildId: buildIdOf(library) })).code, 'build-id-mismatch');
    const [match] = await server.resolve({ pid, addresses: address, region: { ...wireRegion(text), buildId: buildIdOf(theirLibrary) } });
    assert.equal(match.frames[0]?.function, 'lib_scale', match.error);
  });

  test('a file neither in its namespace nor mapped there is refused with the reason, not looked for in ours', async () => {
    // In our /tmp, which its namespace does not share: ours has the file, its namespace has not.
    const missing = path.join(fs.mkdtempSync('/tmp/sideband-mntns-ours-'), 'libsource.so');
    fs.copyFileSync(library, missing);
    let got;
    try {
      [got] = await server.resolve({ pid, addresses: ['10010'], region: { start: '10000', end: '11000', pgoff: '0', filename: missing } });
    } finally {
      fs.rmSync(path.dirname(missing), { recursive: true, force: true });
    }
    assert.equal(got.code, 'file');
    assert.equal(got.error, `${missing} cannot be read in pid ${pid}'s mount namespace ${got.error?.match(/mnt:\[\d+\]/)?.[0]} (/proc/${pid}/root${missing}: ENOENT), nor through its mapping /proc/${pid}/map_files/10000-11000. Fix: it is gone from there, and no mapping of the process holds it at that range now: look at a region it maps now.`);
  });

  test('JIT code resolves through the perf map named by its pid in its own pid namespace, in its /tmp', async () => {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^NSpid:\\s+${pid}\\s+1$`, 'm'));
    // An address mapped nowhere: the perf map is what knows it.
    const jit = 0x10000n;
    fs.writeFileSync(`/proc/${pid}/root/tmp/perf-1.map`, `${jit.toString(16)} 100 jit_in_the_container\n`);
    const decoy = `/tmp/perf-${pid}.map`;
    fs.writeFileSync(decoy, `${jit.toString(16)} 100 ours_by_the_outer_pid\n`);
    try {
      const [got] = await server.resolve({ pid, addresses: [(jit + 0x10n).toString(16)], capture: captureFile });
      assert.deepEqual(got.frames.map((f) => f.function), ['jit_in_the_container']);
      assert.equal(got.read?.path, `/proc/${pid}/root/tmp/perf-1.map`);
    } finally {
      fs.rmSync(decoy);
    }
  });

  test('in another pid namespace alone, the perf map is in our /tmp, named by its pid there', async () => {
    const alone = Proc.start('unshare', ['--pid', '--fork', 'sh', '-c', 'echo ready; read line'], { stdin: true });
    try {
      await alone.waitFor(/^ready$/);
      const inner = Number(fs.readFileSync(`/proc/${alone.child.pid}/task/${alone.child.pid}/children`, 'utf8').trim());
      assert.match(fs.readFileSync(`/proc/${inner}/status`, 'utf8'), new RegExp(`^NSpid:\\s+${inner}\\s+1$`, 'm'));
      const jit = { start: '20000', end: '21000', pgoff: '0', filename: '//anon' };
      const map = '/tmp/perf-1.map';
      fs.writeFileSync(map, '20000 100 jit_by_its_inner_pid\n');
      fs.writeFileSync(`/tmp/perf-${inner}.map`, '20000 100 ours_by_the_outer_pid\n');
      try {
        const [got] = await server.resolve({ pid: inner, addresses: ['20010'], region: jit });
        assert.deepEqual(got.frames.map((f) => f.function), ['jit_by_its_inner_pid']);
        assert.equal(got.read?.path, map);
        assert.match(got.read?.via ?? '', new RegExp(`named by its pid 1 in its own pid namespace$`));
      } finally {
        fs.rmSync(map);
        fs.rmSync(`/tmp/perf-${inner}.map`);
      }
    } finally {
      alone.send('bye');
      assert.equal(await alone.exited, 0, alone.output);
    }
  });

  test('`sideband resolve` prints the target\'s line and says which file it read', async () => {
    const cli = sideband(['resolve', captureFile, '--pid', String(pid), `0x${libScale.toString(16)}`]);
    assert.equal(await cli.exited, 0, cli.output);
    const [fn, file, line] = llvmSymbolize(theirLibrary, fileVaddr(theirLibrary, text, libScale));
    assert.ok(cli.lines.includes(`${fn} ${file}:${line}`), cli.output);
    assert.ok(cli.lines.some((l) => l.includes(`note: read /proc/${pid}/root${library}: `)), cli.output);
  });

  test("CodeLens and hovers are on the target's source, and say which file was read; ours gets none", async () => {
    const theirText = fs.readFileSync(theirSource, 'utf8');
    const uri = await server.open(theirSource, theirText);
    const line = theirText.split('\n').findIndex((l) => l.includes('long lib_scale('));
    const lens = ((await server.codeLenses(uri)) ?? []).find((l) => l.range.start.line === line);
    assert.ok(lens?.command, `a lens on lib_scale's line ${line}`);
    assert.match(lens.command.title, new RegExp(`^mapped in pid ${pid} \\(source_target\\) at 0x${libScale.toString(16)}–0x[0-9a-f]+ since .*, real mmap, read from /proc/${pid}/root${library} \\(.*pid ${pid}'s mount namespace mnt:\\[\\d+\\], not ours\\)$`));
    const hover = await server.hover(uri, line, theirText.split('\n')[line].indexOf('lib_scale') + 2);
    const markdown = markdownShown(hover);
    assert.ok(markdown.includes(`, read from /proc/${pid}/root${library} (`), markdown);
    const oursSource = path.join(FIXTURES, 'source_lib.c');
    const ours = await server.open(oursSource, fs.readFileSync(oursSource, 'utf8'));
    assert.deepEqual((await server.codeLenses(ours)) ?? [], [], 'our build of the library is not what the target maps');
  });

  test("perf's record of the mapping carries the target's build-id, which the file read through its root has", async () => {
    const recorded = LoadedPerfData.load(perfFile)
      .regionsOf(pid)
      .find((r) => r.filename === library && libScale >= r.start && libScale < r.end);
    assert.equal(recorded?.buildId, buildIdOf(theirLibrary));
    const [got] = await server.resolve({ pid, addresses: [libScale.toString(16)], capture: perfFile });
    assert.equal(got.error, undefined, got.error);
    assert.equal(got.frames[0].file, theirSource);
    assert.equal(got.read?.path, `/proc/${pid}/root${library}`);
  });

  test('when its path there no longer names the file it mapped, the mapped file is read through /proc/PID/map_files', async () => {
    // Its bind mount detached (lazily: the mapping holds it): the path in its namespace names our build now, while it still maps its own.
    execFileSync('nsenter', ['-t', String(pid), '-m', 'umount', '--lazy', library]);
    const [got] = await server.resolve({ pid, addresses: [libScale.toString(16)], capture: captureFile });
    assert.equal(got.error, undefined, got.error);
    assert.equal(got.frames[0].file, theirSource);
    assert.equal(got.read?.path, `/proc/${pid}/map_files/${text.start.toString(16)}-${text.end.toString(16)}`);
    assert.match(got.read?.via ?? '', new RegExp(`the file pid ${pid} maps there`));
  });

  test('once the target is gone, our file at its path is not read in its stead', async () => {
    unshare.send('bye');
    assert.equal(await unshare.exited, 0, unshare.output);
    const [got] = await server.resolve({ pid, addresses: [libScale.toString(16)], capture: captureFile });
    assert.equal(got.code, 'other-namespace');
    assert.deepEqual(got.frames, []);
    assert.match(got.error ?? '', new RegExp(`pid ${pid} ran in another mount namespace \\(mnt:\\[\\d+\\], ours is mnt:\\[\\d+\\]\\) and has exited, so ${library} here may be another file`));
    const sources = await server.regionSources(pid, wireRegion(text));
    assert.equal(sources.code, 'other-namespace');
  });

  test('once the target is gone, our file at its path is read only when it has the build-id of the record', async () => {
    const address = [libScale.toString(16)];
    const [refused] = await server.resolve({ pid, addresses: address, capture: perfFile });
    assert.equal(refused.code, 'build-id-mismatch');
    assert.deepEqual(refused.frames, []);
    assert.ok(
      refused.error?.startsWith(`${library} has build-id ${buildIdOf(library)}, but the record of pid ${pid}'s mapping of ${library} says ${buildIdOf(theirLibrary)}: it is another build`),
      refused.error,
    );
    // The build that ran, put in place at its path here (a new file, as an install does): then it is read, and says how it was checked.
    fs.copyFileSync(theirLibrary, `${library}.new`);
    fs.renameSync(`${library}.new`, library);
    const [got] = await server.resolve({ pid, addresses: address, capture: perfFile });
    assert.equal(got.error, undefined, got.error);
    assert.deepEqual([got.frames[0].function, got.frames[0].file], ['lib_scale', theirSource]);
    assert.equal(got.read?.path, library);
    assert.match(got.read?.via ?? '', /checked by the build-id of the record/);
  });
});
