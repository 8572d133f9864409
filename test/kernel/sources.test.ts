// Regions to source through the sideband language server, on real captures:
// a PIE (non-zero bias) whose shared library is dlopened after attach, and a
// Node program with a perf map. llvm-symbolizer, given the file and the
// address /proc/PID/maps and readelf say the function is at, is the oracle;
// for JIT code, the perf map the runtime wrote is.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LoadedPerfData } from '../../node/symbols/resolver';
import { wireRegion } from '../../protocol/webview';
import { Proc, ROOT, sideband, tempDir } from './harness';
import { LanguageServer, markdownShown } from './lsp';

const FIXTURES = path.join(ROOT, 'test', 'fixtures');

interface OracleFrame {
  FunctionName: string;
  FileName: string;
  Line: number;
}

/** What llvm-symbolizer says of `vaddr` in `file`: frames innermost first. */
function llvmSymbolize(file: string, vaddrs: bigint[]): OracleFrame[][] {
  const out = execFileSync('llvm-symbolizer', ['--output-style=JSON', `--obj=${file}`, ...vaddrs.map((v) => `0x${v.toString(16)}`)], { encoding: 'utf8' });
  // Addresses given as arguments come back as one JSON array.
  return (JSON.parse(out) as Array<{ Symbol: OracleFrame[] }>).map((a) => a.Symbol);
}

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  file: string;
}

function procMaps(pid: number): Mapping[] {
  return fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [range, , offset, , , ...file] = line.split(/\s+/);
      const [start, end] = range.split('-').map((h) => BigInt(`0x${h}`));
      return { start, end, offset: BigInt(`0x${offset}`), file: file.join(' ') };
    });
}

/** readelf's view of the PT_LOAD segments: offset and vaddr of each. */
function loadSegments(file: string): Array<{ offset: bigint; vaddr: bigint; filesz: bigint }> {
  return execFileSync('readelf', ['-lW', file], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /^\s*LOAD\s/.test(l))
    .map((l) => {
      const [, offset, vaddr, , filesz] = l.trim().split(/\s+/);
      return { offset: BigInt(offset), vaddr: BigInt(vaddr), filesz: BigInt(filesz) };
    });
}

/** The file and file vaddr of a runtime address, from /proc and readelf alone. */
function fileAddressOf(maps: Mapping[], address: bigint): { file: string; vaddr: bigint } {
  const m = maps.find((x) => address >= x.start && address < x.end);
  assert.ok(m, `0x${address.toString(16)} is mapped`);
  const offset = address - m.start + m.offset;
  const seg = loadSegments(m.file).find((s) => offset >= s.offset && offset < s.offset + s.filesz);
  assert.ok(seg, `offset 0x${offset.toString(16)} of ${m.file} is in a PT_LOAD`);
  return { file: m.file, vaddr: seg.vaddr + offset - seg.offset };
}

describe('sources: a PIE and a dlopened library, captured', () => {
  const dir = tempDir('sources');
  const target = path.join(dir, 'source_target');
  const library = path.join(dir, 'libsource.so');
  const captureFile = path.join(dir, 'capture.data');
  let pid = 0;
  let functions = new Map<string, bigint>();
  let maps: Mapping[] = [];
  let server: LanguageServer;

  before(async () => {
    execFileSync('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', target, path.join(FIXTURES, 'source_target.c'), '-ldl']);
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', '-o', library, path.join(FIXTURES, 'source_lib.c')]);
    const fx = Proc.start(target, [library], { stdin: true });
    pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
    const capture = sideband(['capture', '--pid', String(pid), '-o', captureFile]);
    await capture.waitFor(/attached/);
    fx.send('go');
    await fx.waitFor(/^done/);
    functions = new Map(fx.lines.flatMap((l) => [...l.matchAll(/^fn (\w+) (0x[0-9a-f]+)/g)].map((m) => [m[1], BigInt(m[2])] as const)));
    maps = procMaps(pid);
    capture.child.kill('SIGINT');
    assert.equal(await capture.exited, 0, capture.output);
    fx.send('bye');
    assert.equal(await fx.exited, 0, fx.output);
    server = await LanguageServer.start({ workspace: FIXTURES });
    await server.showCapture(captureFile);
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the PIE is loaded with a bias, and the library was mapped after attach', () => {
    const main = maps.find((m) => m.file === target);
    assert.ok(main && main.start > 0x10000n, 'PIE mapped away from its link address');
    const capture = LoadedPerfData.load(captureFile);
    const regions = capture.regionsOf(pid);
    const lib = regions.find((r) => r.filename === library && r.prot !== undefined && (r.prot & 4) !== 0);
    const exe = regions.find((r) => r.filename === target && r.prot !== undefined && (r.prot & 4) !== 0);
    assert.ok(lib && !lib.statusOnly, 'the library region is a real record');
    assert.ok(exe && exe.statusOnly && exe.provenance === 'proc', 'the executable region is status-only, from /proc');
  });

  test('known functions and a sweep through them resolve as llvm-symbolizer says, inline chain included', async () => {
    const addresses: bigint[] = [];
    for (const name of ['target_spin', 'main', 'lib_checksum', 'lib_scale']) {
      const at = functions.get(name);
      assert.ok(at, `the target printed ${name}`);
      for (let k = 0n; k < 48n; k += 3n) addresses.push(at + k);
    }
    const ours = await server.resolve({ capture: captureFile, pid, addresses: addresses.map((a) => a.toString(16)) });
    assert.equal(ours.length, addresses.length);
    let inlined = 0;
    addresses.forEach((address, i) => {
      const { file, vaddr } = fileAddressOf(maps, address);
      const [oracle] = llvmSymbolize(file, [vaddr]);
      const got = ours[i];
      assert.equal(got.error, undefined, `0x${address.toString(16)}: ${got.error}`);
      const where = `0x${address.toString(16)} (${path.basename(file)} 0x${vaddr.toString(16)})`;
      assert.deepEqual(
        got.frames.map((f) => [f.function, f.file, f.line]),
        oracle.map((f) => [f.FunctionName, f.FileName, f.Line]),
        where,
      );
      if (got.frames.length > 1) inlined++;
    });
    assert.ok(inlined > 0, 'some addresses are in lib_mix, inlined into lib_checksum');
  });

  test("a region's source files come from its compile units: the library's region lists source_lib.c", async () => {
    const regions = LoadedPerfData.load(captureFile).regionsOf(pid);
    const text = regions.find((r) => r.filename === library && r.prot !== undefined && (r.prot & 4) !== 0)!;
    const sources = await server.regionSources(pid, wireRegion(text));
    assert.equal(sources.missing, undefined);
    const lib = sources.files.find((f) => f.path === path.join(FIXTURES, 'source_lib.c'));
    assert.ok(lib && lib.inWorkspace && lib.exists, JSON.stringify(sources.files));
    assert.equal(sources.files[0].path, lib.path, 'workspace files first');
    assert.ok(!sources.files.some((f) => f.path.endsWith('source_target.c')), "the executable's sources are not the library's");
    // The page after the code holds read-only data, no code: its region (were data mappings
    // recorded) would list no sources, and say why.
    const rodata = { ...text, start: text.end, end: text.end + 0x1000n, pgoff: text.pgoff + (text.end - text.start) };
    assert.match((await server.regionSources(pid, wireRegion(rodata))).missing ?? '', /no compile unit of .*libsource\.so has code in this region/);
  });

  test('an address resolves within the region the timeline names', async () => {
    const regions = LoadedPerfData.load(captureFile).regionsOf(pid);
    const address = functions.get('lib_scale')!;
    const region = regions.find((r) => address >= r.start && address < r.end)!;
    const [resolution] = await server.resolve({ pid, addresses: [`0x${address.toString(16)}`], region: wireRegion(region) });
    assert.equal(resolution.frames[0]?.function, 'lib_scale');
    assert.equal(resolution.frames[0]?.file, path.join(FIXTURES, 'source_lib.c'));
    assert.equal(resolution.frames[0]?.inWorkspace, true);
    const [outside] = await server.resolve({ pid, addresses: [(region.end + 16n).toString(16)], region: wireRegion(region) });
    assert.match(outside.error ?? '', /outside/);
    assert.equal(outside.code, 'outside-region');
  });

  test("CodeLens and hovers in the sources say where each function is mapped, real or status-only", async () => {
    const libSource = path.join(FIXTURES, 'source_lib.c');
    const libText = fs.readFileSync(libSource, 'utf8');
    const libUri = await server.open(libSource, libText);
    const lenses = (await server.codeLenses(libUri)) ?? [];
    const checksumLine = libText.split('\n').findIndex((l) => l.startsWith('long lib_checksum'));
    const lens = lenses.find((l) => l.range.start.line === checksumLine);
    assert.ok(lens?.command, `a lens on lib_checksum's line; got ${JSON.stringify(lenses)}`);
    const libAt = functions.get('lib_checksum')!;
    assert.match(lens.command.title, new RegExp(`^mapped in pid ${pid} \\(source_target\\) at 0x${libAt.toString(16)}–0x[0-9a-f]+ since \\+\\d+\\.\\d ms, real mmap$`));
    assert.equal(lens.command.command, 'perfSideband.revealRegion');
    assert.equal(lens.command.arguments?.[0].pid, pid);

    const targetSource = path.join(FIXTURES, 'source_target.c');
    const targetText = fs.readFileSync(targetSource, 'utf8');
    const targetUri = await server.open(targetSource, targetText);
    const spinLine = targetText.split('\n').findIndex((l) => l.includes('long target_spin('));
    const hover = await server.hover(targetUri, spinLine, targetText.split('\n')[spinLine].indexOf('target_spin') + 3);
    const markdown = markdownShown(hover);
    assert.match(markdown, new RegExp(`mapped in pid ${pid} \\(source_target\\) at 0x${functions.get('target_spin')!.toString(16)}–0x[0-9a-f]+ since .*, status-only from /proc`));
    assert.match(markdown, /\[Reveal in timeline\]\(command:perfSideband\.revealRegion\?/);
    assert.equal(await server.hover(targetUri, 0, 3), null, 'a word that is no mapped function gets no hover');
  });

  test('`sideband resolve` prints function file:line as of the end of the capture', async () => {
    const names = ['target_spin', 'lib_scale'];
    const cli = sideband(['resolve', captureFile, '--pid', String(pid), ...names.map((n) => `0x${functions.get(n)!.toString(16)}`), 'ffff']);
    assert.equal(await cli.exited, 1, 'an unmapped address makes the exit status 1');
    const printed = cli.lines.filter((l) => !l.startsWith('sideband:'));
    names.forEach((name, i) => {
      const { file, vaddr } = fileAddressOf(maps, functions.get(name)!);
      const [oracle] = llvmSymbolize(file, [vaddr]);
      assert.equal(printed[i], `${oracle[0].FunctionName} ${oracle[0].FileName}:${oracle[0].Line}`);
    });
    assert.ok(cli.lines.includes('??'));
    assert.ok(cli.lines.some((l) => /^sideband: ffff: 0xffff is not mapped in pid \d+ at the end of the capture$/.test(l)), cli.output);
  });
});

describe('sources: a library dlclosed while captured', () => {
  const dir = tempDir('sources-closed');
  const target = path.join(dir, 'source_target');
  const library = path.join(dir, 'libsource.so');
  const captureFile = path.join(dir, 'capture.data');
  let pid = 0;
  let libChecksum = 0n;
  let server: LanguageServer;

  before(async () => {
    execFileSync('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', target, path.join(FIXTURES, 'source_target.c'), '-ldl']);
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', '-o', library, path.join(FIXTURES, 'source_lib.c')]);
    const fx = Proc.start(target, [library], { stdin: true });
    pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
    const capture = sideband(['capture', '--pid', String(pid), '-o', captureFile]);
    await capture.waitFor(/attached/);
    fx.send('go');
    libChecksum = BigInt((await fx.waitFor(/^fn lib_checksum (0x[0-9a-f]+)/))[1]);
    await fx.waitFor(/^done/);
    fx.send('close');
    await fx.waitFor(/^closed/);
    assert.ok(!fs.readFileSync(`/proc/${pid}/maps`, 'utf8').includes(library), 'dlclose unmapped the library');
    // Where the capture records no munmap, this snapshot is what finds the library gone.
    capture.child.kill('SIGUSR1');
    await capture.waitFor(/^sideband: snapshot 1:/);
    capture.child.kill('SIGINT');
    assert.equal(await capture.exited, 0, capture.output);
    fx.send('bye');
    assert.equal(await fx.exited, 0, fx.output);
    server = await LanguageServer.start({ workspace: FIXTURES });
    await server.showCapture(captureFile);
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** How the lens and hover end for code no longer mapped: the munmap that unmapped it, or the snapshot that found it gone. */
  const ENDED = '(?:unmapped at \\+[\\d.]+ m?s \\(munmap\\)|gone between \\+[\\d.]+ m?s and \\+[\\d.]+ m?s \\(found by a status snapshot\\))';

  test("CodeLens and hovers of the library's code say where it was mapped and how that ended, not that it is mapped", async () => {
    const libSource = path.join(FIXTURES, 'source_lib.c');
    const libText = fs.readFileSync(libSource, 'utf8');
    const libUri = await server.open(libSource, libText);
    const lenses = (await server.codeLenses(libUri)) ?? [];
    const checksumLine = libText.split('\n').findIndex((l) => l.startsWith('long lib_checksum'));
    const lens = lenses.find((l) => l.range.start.line === checksumLine);
    assert.ok(lens?.command, `a lens on lib_checksum's line; got ${JSON.stringify(lenses)}`);
    assert.match(lens.command.title, new RegExp(`^was mapped in pid ${pid} \\(source_target\\) at 0x${libChecksum.toString(16)}–0x[0-9a-f]+ since \\+\\d+\\.\\d ms, real mmap; ${ENDED}$`));
    const hover = await server.hover(libUri, checksumLine, libText.split('\n')[checksumLine].indexOf('lib_checksum') + 3);
    const markdown = markdownShown(hover);
    assert.match(markdown, /^\*\*lib_checksum\*\* \(source_lib\.c:\d+\), no longer mapped at the end of this capture:/);
    assert.match(markdown, new RegExp(`- was mapped in pid ${pid} \\(source_target\\) at 0x${libChecksum.toString(16)}–0x[0-9a-f]+ since .*; ${ENDED} · \\[Reveal in timeline\\]`));
  });

  test('code of the program, still mapped, is described as mapped', async () => {
    const targetSource = path.join(FIXTURES, 'source_target.c');
    const targetText = fs.readFileSync(targetSource, 'utf8');
    const lenses = (await server.codeLenses(await server.open(targetSource, targetText))) ?? [];
    assert.ok(lenses.length > 0);
    for (const lens of lenses) assert.match(lens.command?.title ?? '', new RegExp(`^mapped in pid ${pid} `));
  });
});

describe('sources: a live capture, followed while it is written', () => {
  const dir = tempDir('live-sources');
  const target = path.join(dir, 'source_target');
  const library = path.join(dir, 'libsource.so');
  const captureFile = path.join(dir, 'live.data');
  const libSource = path.join(FIXTURES, 'source_lib.c');
  const libText = fs.readFileSync(libSource, 'utf8');
  const servers: LanguageServer[] = [];
  let fx: Proc | undefined;
  let capture: Proc | undefined;
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    capture?.child.kill('SIGKILL');
    fx?.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lensTitles = async (server: LanguageServer, uri: string): Promise<string[]> => ((await server.codeLenses(uri)) ?? []).map((l) => l.command?.title ?? '');

  test('a library mapped after the server started gets its lenses while the capture runs, and a restarted server has them at once', async () => {
    execFileSync('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', target, path.join(FIXTURES, 'source_target.c'), '-ldl']);
    execFileSync('gcc', ['-g', '-O2', '-fPIC', '-shared', '-o', library, libSource]);
    fx = Proc.start(target, [library], { stdin: true });
    const pid = Number((await fx.waitFor(/^ready (\d+)/))[1]);
    capture = sideband(['capture', '--pid', String(pid), '-o', captureFile]);
    await capture.waitFor(/attached/);

    // The server is given the live capture at its start, as the client gives it (no notification).
    const first = await LanguageServer.start({ workspace: FIXTURES, capture: captureFile });
    servers.push(first);
    const uri = await first.open(libSource, libText);
    assert.deepEqual(await lensTitles(first, uri), [], 'the library is not mapped yet');

    fx.send('go');
    await fx.waitFor(/^done/);
    // Only the file tells the server: it refreshes the lenses once the library's MMAP2 is written.
    const mapped = new RegExp(`^mapped in pid ${pid} \\(source_target\\) at 0x[0-9a-f]+–0x[0-9a-f]+ since \\+[\\d.]+ ms, real mmap$`);
    let titles: string[] = [];
    while (!titles.some((t) => mapped.test(t))) {
      await first.nextRefresh(30_000, `a lens matching ${mapped} (lenses so far: ${JSON.stringify(titles)})`);
      titles = await lensTitles(first, uri);
    }
    assert.match(first.stderr.join(''), new RegExp(`capture ${captureFile}, given at start`), 'the log says where the capture came from');

    // A restarted server knows the capture from its initialization options, before any refresh.
    await first.stop();
    const second = await LanguageServer.start({ workspace: FIXTURES, capture: captureFile });
    servers.push(second);
    const again = await second.open(libSource, libText);
    assert.ok((await lensTitles(second, again)).some((t) => mapped.test(t)), 'the restarted server answers with the mapping at once');

    capture.child.kill('SIGINT');
    assert.equal(await capture.exited, 0, capture.output);
    fx.send('bye');
    assert.equal(await fx.exited, 0, fx.output);
  });

  test('a capture shown after the start is followed too, and lenses are refreshed when it is', async () => {
    const server = await LanguageServer.start({ workspace: FIXTURES });
    servers.push(server);
    const uri = await server.open(libSource, libText);
    assert.deepEqual(await lensTitles(server, uri), [], 'no capture, no lenses');
    const refreshed = server.nextRefresh(30_000, 'the refresh that follows showCapture');
    await server.showCapture(captureFile);
    await refreshed;
    assert.ok((await lensTitles(server, uri)).some((t) => t.startsWith('mapped in pid ')), 'the lenses describe the capture shown');
  });
});

describe('sources: JIT code through the perf map', () => {
  const dir = tempDir('jit');
  const captureFile = path.join(dir, 'capture.data');
  let server: LanguageServer;
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('addresses of a hot JS function resolve to its name, as node --perf-basic-prof wrote it', async () => {
    const script = path.join(dir, 'hot.js');
    fs.writeFileSync(
      script,
      `function sidebandHotLoop(n) { let s = 0; for (let i = 0; i < n; i++) s += Math.sqrt(i); return s; }
console.log('ready ' + process.pid);
process.stdin.once('data', () => {
  let t = 0;
  for (let k = 0; k < 300; k++) t += sidebandHotLoop(20000);
  console.log('done ' + t);
  process.stdin.once('data', () => process.exit(0));
});\n`,
    );
    // In its own directory: V8 writes an isolate log to the working directory beside the perf map.
    const node = new Proc(spawn(process.execPath, ['--perf-basic-prof', script], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] }));
    const pid = Number((await node.waitFor(/^ready (\d+)/))[1]);
    const perfMap = `/tmp/perf-${pid}.map`;
    try {
      const capture = sideband(['capture', '--pid', String(pid), '-o', captureFile]);
      await capture.waitFor(/attached/);
      node.send('go');
      await node.waitFor(/^done/);
      capture.child.kill('SIGINT');
      assert.equal(await capture.exited, 0, capture.output);
      const entries = fs
        .readFileSync(perfMap, 'utf8')
        .split('\n')
        .map((l) => l.split(' '))
        .filter((f) => f.length >= 3 && f.slice(2).join(' ').includes('sidebandHotLoop'));
      assert.ok(entries.length > 0, 'V8 wrote the function to its perf map');
      server = await LanguageServer.start();
      const addresses = entries.map(([start, size]) => (BigInt(`0x${start}`) + BigInt(`0x${size}`) / 2n).toString(16));
      const resolved = await server.resolve({ capture: captureFile, pid, addresses });
      resolved.forEach((r, i) => assert.equal(r.frames[0]?.function, entries[i].slice(2).join(' '), r.error));
      node.send('bye');
      assert.equal(await node.exited, 0);
    } finally {
      node.child.kill();
      fs.rmSync(perfMap, { force: true });
    }
  });
});
