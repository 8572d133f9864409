import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { findDebugInfo } from '../../node/symbols/debuginfo';
import { fileAddress, readElfInfo, readElfSymbols, runtimeAddress, symbolAt } from '../../node/symbols/elf';
import { PerfMap } from '../../node/symbols/perfmap';
import { loadSymbolsAddon, type SymbolsAddon, type SourceFrame } from '../../native/symbols';
import { openSymbolizer, type Symbolizer } from '../../node/symbols/symbolizer';
import { SourceResolver } from '../../node/symbols/resolver';
import { sourceErrorOf } from '../../core/sourceError';
import { RecordError } from '../../core/records';

/** What f throws; fails the test when it returns. */
function captured(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures');
const SOURCES = ['symbols_fixture.c', 'symbols_lib.c'].map((name) => path.join(FIXTURES, name));
const KNOWN = ['fixture_leaf', 'fixture_caller', 'lib_accumulate', 'main'];

let dir: string;
let exe: string;
let lib: string;

function run(file: string, args: string[], input?: string): string {
  const r = spawnSync(file, args, { encoding: 'utf8', input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** Function symbols by name, as nm lists them: independent of our ELF reader. */
function nm(file: string): Map<string, number> {
  const symbols = new Map<string, number>();
  for (const line of run('nm', [file]).split('\n')) {
    const [address, type, name] = line.split(' ');
    if (name && /^[tTwW]$/.test(type)) symbols.set(name, parseInt(address, 16));
  }
  return symbols;
}

/** [start, end) of the .text section, from readelf. */
function textSection(file: string): [number, number] {
  const line = run('readelf', ['-SW', file])
    .split('\n')
    .find((l) => /\s\.text\s/.test(l));
  assert.ok(line, `${file} has a .text section`);
  const [, address, , size] = /\.text\s+PROGBITS\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line)!;
  return [parseInt(address, 16), parseInt(address, 16) + parseInt(size, 16)];
}

/** llvm-symbolizer's frames for each address, in our SourceFrame form: the oracle. */
function oracle(file: string, addresses: number[], debugDir?: string): SourceFrame[][] {
  const dirs = debugDir ? [`--debug-file-directory=${debugDir}`] : [];
  const out = run('llvm-symbolizer', ['--output-style=JSON', `--obj=${file}`, ...dirs], addresses.map((a) => `0x${a.toString(16)}`).join('\n') + '\n');
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const frames = (JSON.parse(line).Symbol as Array<{ FunctionName: string; FileName: string; Line: number; Column: number }>).map((f) => {
        const frame: SourceFrame = { function: f.FunctionName };
        if (f.FileName && f.Line) Object.assign(frame, { file: f.FileName, line: f.Line }, f.Column ? { column: f.Column } : {});
        return frame;
      });
      return frames.every((f) => !f.function && !f.file) ? [] : frames;
    });
}

const sweep = (file: string): number[] => {
  const [start, end] = textSection(file);
  return Array.from({ length: end - start }, (_, i) => start + i);
};

/** A symbolizer whose addon loader fails as dlopen does when libdw.so.1 is missing. */
function missingLibrary(): () => SymbolsAddon {
  return () => {
    // A real dlopen failure: a module linked against a library that is gone.
    const missing = path.join(dir, 'libsideband_gone.so');
    const stub = path.join(dir, 'needs_gone.node');
    if (!fs.existsSync(stub)) {
      fs.writeFileSync(path.join(dir, 'gone.c'), 'int sideband_gone(void) { return 1; }\n');
      fs.writeFileSync(path.join(dir, 'stub.c'), 'int sideband_gone(void);\nint stub(void) { return sideband_gone(); }\n');
      run('gcc', ['-shared', '-fPIC', '-o', missing, path.join(dir, 'gone.c')]);
      run('gcc', ['-shared', '-fPIC', '-o', stub, path.join(dir, 'stub.c'), `-L${dir}`, '-lsideband_gone']);
      fs.rmSync(missing);
    }
    return require(stub) as SymbolsAddon;
  };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'symbols-test-'));
  exe = path.join(dir, 'fixture');
  lib = path.join(dir, 'libfixture.so');
  run('gcc', ['-g', '-O2', '-fPIE', '-pie', '-o', exe, ...SOURCES]);
  run('gcc', ['-g', '-O2', '-fPIC', '-shared', '-DSYMBOLS_LIBRARY', '-o', lib, ...SOURCES]);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('libdw backend against llvm-symbolizer', () => {
  let symbolizer: Symbolizer;
  before(() => {
    symbolizer = openSymbolizer({ debugDirs: [], llvmSymbolizer: null });
  });
  after(() => symbolizer.dispose());

  test('the addon loads and says which libdw it uses', () => {
    assert.equal(symbolizer.kind, 'libdw');
    assert.match(loadSymbolsAddon().libdwVersion, /^\d+\.\d+/);
    assert.match(symbolizer.description, /libdw/);
  });

  for (const which of ['PIE executable', 'shared library'] as const) {
    test(`${which}: known functions, at their starts and a few bytes in`, async () => {
      const file = which === 'PIE executable' ? exe : lib;
      const symbols = nm(file);
      const names = KNOWN.filter((n) => symbols.has(n));
      assert.ok(names.length >= 3, `nm lists the fixture's functions in ${file}`);
      const addresses = names.flatMap((n) => [symbols.get(n)!, symbols.get(n)! + 4, symbols.get(n)! + 9]);
      const ours = await symbolizer.module(file).resolve(addresses);
      assert.deepEqual(ours, oracle(file, addresses));
      for (const [i, name] of names.entries()) assert.equal(ours[i * 3].at(-1)?.function, name, `the frame at ${name}'s start`);
    });

    test(`${which}: every address of .text, inline chains included`, async () => {
      const file = which === 'PIE executable' ? exe : lib;
      const addresses = sweep(file);
      const ours = await symbolizer.module(file).resolve(addresses);
      const theirs = oracle(file, addresses);
      const differing = addresses.filter((_, i) => JSON.stringify(ours[i]) !== JSON.stringify(theirs[i]));
      assert.deepEqual(
        differing.slice(0, 5).map((a) => ({ address: a.toString(16), ours: ours[addresses.indexOf(a)], llvm: theirs[addresses.indexOf(a)] })),
        [],
      );
      // The sweep must have seen what it is for: chains through both always_inline functions.
      const chains = new Set(ours.filter((f) => f.length > 1).map((f) => f.map((x) => x.function).join(' < ')));
      assert.ok([...chains].some((c) => c.startsWith('fixture_square < fixture_leaf')), `chains seen: ${[...chains].join(', ')}`);
      assert.ok([...chains].some((c) => c.startsWith('lib_weigh < lib_accumulate')), `chains seen: ${[...chains].join(', ')}`);
    });
  }

  test('compile units and functions name the fixture sources and their lines', async () => {
    const module = symbolizer.module(exe);
    const units = await module.compileUnits();
    for (const source of SOURCES) {
      const unit = units.find((u) => u.name === source);
      assert.ok(unit, `a compile unit named ${source} among ${units.map((u) => u.name).join(', ')}`);
      assert.ok(unit.files.includes(source) && unit.files.every((f) => path.isAbsolute(f)), `${source}'s unit lists it: ${unit.files.join(', ')}`);
      assert.ok(unit.ranges.length > 0 && unit.ranges.every(([low, high]) => low < high));
    }
    const functions = await module.functions();
    const symbols = nm(exe);
    for (const name of ['fixture_leaf', 'fixture_caller', 'lib_accumulate']) {
      const definition = new RegExp(`\\b${name}\\(.*\\{$`);
      const source = SOURCES.find((s) => fs.readFileSync(s, 'utf8').split('\n').some((l) => definition.test(l)))!;
      const line = fs.readFileSync(source, 'utf8').split('\n').findIndex((l) => definition.test(l)) + 1;
      const entry = functions.find((f) => f.name === name && f.low === symbols.get(name));
      assert.deepEqual(entry && { file: entry.file, line: entry.line }, { file: source, line }, `${name} in functions()`);
      assert.ok(entry!.high > entry!.low);
    }
  });

  test('an address nothing is known of gives no frames', async () => {
    const [low] = textSection(exe);
    assert.deepEqual(await symbolizer.module(exe).resolve([0, low - 0x1000 > 0 ? 8 : 0]), [[], []]);
  });

  test('a file that is not ELF is an error naming it', () => {
    const text = path.join(dir, 'not-elf.txt');
    fs.writeFileSync(text, 'hello\n');
    assert.throws(() => symbolizer.module(text), new RegExp(`${text} is not a 64-bit little-endian ELF file`));
    assert.throws(() => loadSymbolsAddon().open(text, null), new RegExp(text));
  });

  test('errors on the way to source carry a code and the field at fault, from TypeScript and from the addon alike', async () => {
    const text = path.join(dir, 'not-elf-either.txt');
    fs.writeFileSync(text, 'hello\n');
    const resolver = new SourceResolver(symbolizer);
    const region = { start: 0x1000n, end: 0x2000n, pgoff: 0n, filename: text };
    assert.deepEqual(await resolver.resolveIn(1, [0x1800n], region), [
      { frames: [], error: `${text} is not a 64-bit little-endian ELF file`, code: 'bad-elf', field: 'e_ident' },
    ]);
    assert.equal((await resolver.resolveIn(1, [0x2800n], { ...region, filename: exe }))[0].code, 'outside-region');
    assert.equal((await resolver.regionSources(1, { ...region, filename: path.join(dir, 'no-such-file') })).code, 'file');
    assert.equal((await resolver.regionSources(1, { ...region, filename: '[heap]' })).code, 'not-a-file');
    // The addon's own refusal keeps its code across into JavaScript.
    assert.equal(sourceErrorOf(captured(() => loadSymbolsAddon().open(text, null))).code, 'bad-elf');
    assert.deepEqual(sourceErrorOf(new Error('something else')), { code: 'symbolizer', message: 'something else' });
    assert.deepEqual(sourceErrorOf(new RecordError('COMM.comm', "COMM record's comm has no terminating NUL", 64)), {
      code: 'bad-capture',
      message: "COMM record's comm has no terminating NUL (at byte 64)",
      field: 'COMM.comm',
    });
  });
});

/**
 * An ELF64 header, the section names, then a section header per entry (the
 * names' table first): the smallest file whose headers can claim any size.
 * `header` overrides header fields by byte offset, `padTo` pads the file.
 */
function hostileElf(sections: Array<{ name: string; offset?: bigint; size: bigint }>, header: Record<number, number> = {}, padTo = 0): Buffer {
  const names = `\0.shstrtab\0${sections.map((s) => `${s.name}\0`).join('')}`;
  const shoff = 64 + Math.ceil(names.length / 8) * 8;
  const file = Buffer.alloc(Math.max(padTo, shoff + 64 * (sections.length + 2)));
  file.writeUInt32BE(0x7f454c46, 0);
  file.set([2, 1, 1], 4);
  file.writeUInt16LE(3, 16); // ET_DYN
  file.writeUInt16LE(62, 18); // x86-64
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(BigInt(shoff), 40);
  file.writeUInt16LE(64, 52);
  file.writeUInt16LE(64, 58);
  file.writeUInt16LE(sections.length + 2, 60);
  file.writeUInt16LE(1, 62);
  file.write(names, 64, 'latin1');
  const entries = [{ name: '.shstrtab', type: 3, offset: 64n, size: BigInt(names.length) }, ...sections.map((s) => ({ type: 1, offset: 64n, ...s }))];
  entries.forEach((e, i) => {
    const at = shoff + 64 * (i + 1);
    file.writeUInt32LE(names.indexOf(`\0${e.name}\0`) + 1, at);
    file.writeUInt32LE(e.type, at + 4);
    file.writeBigUInt64LE(e.offset, at + 24);
    file.writeBigUInt64LE(e.size, at + 32);
  });
  for (const [at, value] of Object.entries(header)) file.writeUInt16LE(value, Number(at));
  return file;
}

describe('ELF headers that claim more than the file holds', () => {
  const refused = (name: string, bytes: Buffer, message: RegExp): void => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    assert.throws(
      () => readElfInfo(file),
      (e: Error) => e.message.startsWith(file) && message.test(e.message),
    );
  };

  test('a section header table of 65535 entries of 65535 bytes in a tiny file', () => {
    refused('huge-table.so', hostileElf([], { 58: 0xffff, 60: 0xffff }), /section header table \(4294836225 bytes at offset \d+\) reaches past the end of the \d+-byte file.*truncated or corrupt/);
  });

  test('a section-name table of 1 TiB, and of 1 MiB in a tiny file', () => {
    const names = (size: bigint): Buffer => {
      const bytes = hostileElf([]);
      bytes.writeBigUInt64LE(size, Number(bytes.readBigUInt64LE(40)) + 64 + 32);
      return bytes;
    };
    refused('huge-names.so', names(1n << 40n), /section \.shstrtab is 1099511627776 bytes, more than the \d+ of 65535 section names/);
    refused('long-names.so', names(1n << 20n), /section \.shstrtab \(1048576 bytes at offset 64\) reaches past the end/);
  });

  test('a debug link section of 1 TiB, of 4000 bytes in a tiny file, and of 8000 bytes in a file that holds them', () => {
    const link = (size: bigint, padTo = 0): Buffer => hostileElf([{ name: '.gnu_debuglink', size }], {}, padTo);
    refused('huge-link.so', link(1n << 40n), /section \.gnu_debuglink is 1099511627776 bytes, more than the \d+ of a file name and its CRC/);
    refused('cut-link.so', link(4000n), /section \.gnu_debuglink \(4000 bytes at offset 64\) reaches past the end/);
    refused('long-link.so', link(8000n, 8192), /section \.gnu_debuglink is 8000 bytes, more than the \d+ of a file name and its CRC/);
  });
});

/**
 * A shared library whose function `deep` holds `levels` lexical blocks, each
 * inside the last, in DWARF written by hand: no DW_AT_sibling, as a crafted
 * file would have it, and deeper than a compiler gets to in reasonable time.
 */
function deeplyNestedDwarf(levels: number): string {
  const source = path.join(dir, `nested-${levels}.s`);
  const file = path.join(dir, `libnested-${levels}.so`);
  const abbrev = (code: number, tag: number, attributes: Array<[number, number]>): string =>
    [code, tag].map((v) => `\t.uleb128 ${v}\n`).join('') + '\t.byte 1\n' + attributes.map(([at, form]) => `\t.uleb128 ${at}\n\t.uleb128 ${form}\n`).join('') + '\t.byte 0, 0\n';
  const named = [[0x03, 0x08], [0x11, 0x01], [0x12, 0x07]] as Array<[number, number]>; // DW_AT_name string, low_pc addr, high_pc data8
  fs.writeFileSync(
    source,
    [
      '\t.text\n\t.globl deep\n\t.type deep, @function\ndeep:\n\tnop\n\tnop\n\tret\n\t.size deep, .-deep\n',
      '\t.section .debug_abbrev,"",@progbits\n.Labbrev:\n',
      abbrev(1, 0x11, named), // DW_TAG_compile_unit
      abbrev(2, 0x2e, named), // DW_TAG_subprogram
      abbrev(3, 0x0b, []), // DW_TAG_lexical_block, with children
      '\t.byte 0\n',
      '\t.section .debug_info,"",@progbits\n\t.long .Lend - .Lstart\n.Lstart:\n\t.short 4\n\t.long .Labbrev\n\t.byte 8\n',
      '\t.uleb128 1\n\t.string "nested.c"\n\t.quad deep\n\t.quad 3\n',
      '\t.uleb128 2\n\t.string "deep"\n\t.quad deep\n\t.quad 3\n',
      `\t.rept ${levels}\n\t.uleb128 3\n\t.endr\n\t.rept ${levels + 2}\n\t.byte 0\n\t.endr\n.Lend:\n`,
    ].join(''),
  );
  run('gcc', ['-shared', '-nostdlib', '-o', file, source]);
  return file;
}

describe('hostile DWARF', () => {
  test('DIEs nested 100,000 deep: one error naming the file and the cause, not a stack overflow', () => {
    const file = deeplyNestedDwarf(100_000);
    const deep = nm(file).get('deep')!;
    // In a child with the usual 8 MiB stack: recursing once per level overflowed it and killed the process.
    const script = `
      const module = require(${JSON.stringify(path.resolve(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'sideband_symbols.node'))}).open(${JSON.stringify(file)}, null);
      const attempt = (f) => { try { return { value: f() }; } catch (e) { return { error: e.message, code: e.code, field: e.field }; } };
      console.log(JSON.stringify({ resolve: attempt(() => module.resolve(Float64Array.of(${deep + 1}))), functions: attempt(() => module.functions()) }));
    `;
    const child = spawnSync('sh', ['-c', 'ulimit -s 8192 && exec "$0" -e "$1"', process.execPath, script], { encoding: 'utf8', timeout: 60_000 });
    assert.deepEqual({ status: child.status, signal: child.signal }, { status: 0, signal: null }, child.stderr);
    const out = JSON.parse(child.stdout);
    const refusal = new RegExp(`^${file}: its DWARF nests DIEs more than \\d+ levels deep in compile unit nested\\.c .*Fix: `);
    assert.match(out.resolve.error, refusal);
    assert.match(out.functions.error, refusal);
    assert.deepEqual([out.resolve.code, out.resolve.field], ['bad-elf', 'DWARF']);
  });
});

describe('debug info lookup', () => {
  let stripped: string;
  let buildIdDir: string;
  before(() => {
    stripped = path.join(dir, 'stripped');
    run('strip', ['-o', stripped, exe]);
    const buildId = readElfInfo(exe).buildId!;
    buildIdDir = path.join(dir, 'debug-dirs');
    fs.mkdirSync(path.join(buildIdDir, '.build-id', buildId.slice(0, 2)), { recursive: true });
    run('objcopy', ['--only-keep-debug', exe, path.join(buildIdDir, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`)]);
  });

  test('a file with DWARF is its own debug file', () => {
    assert.deepEqual(findDebugInfo(exe, readElfInfo(exe), []), { found: 'itself', file: exe });
  });

  test('a stripped file finds its debug file by build-id in a user directory, and resolves as the original', async () => {
    const info = readElfInfo(stripped);
    assert.equal(info.hasDebugInfo, false);
    const found = findDebugInfo(stripped, info, [buildIdDir]);
    assert.equal(found.found, 'build-id');
    const symbolizer = openSymbolizer({ debugDirs: [buildIdDir], llvmSymbolizer: null });
    const addresses = sweep(exe).filter((_, i) => i % 7 === 0);
    // The same inputs as ours: the stripped file (only .dynsym names it) and the directory.
    const ours = await symbolizer.module(stripped).resolve(addresses);
    const theirs = oracle(stripped, addresses, buildIdDir);
    // Where llvm knows nothing (no DWARF: _start), we still name the function
    // from the debug file's .symtab, which llvm does not read.
    const debugSymbols = readElfSymbols(found.found === 'build-id' ? found.file : '');
    const expected = theirs.map((frames, i) => {
      const symbol = symbolAt(debugSymbols, addresses[i]);
      return frames.length || !symbol ? frames : [{ function: symbol.name }];
    });
    assert.deepEqual(ours, expected);
    assert.ok(expected.some((frames, i) => frames.length && !theirs[i].length), 'the sweep reaches code only the .symtab names');
    assert.equal(symbolizer.module(stripped).debug.found, 'build-id');
  });

  test('a stripped file finds its debug file by .gnu_debuglink, and reports a stale one', async () => {
    const linkDir = path.join(dir, 'linked');
    fs.mkdirSync(path.join(linkDir, '.debug'), { recursive: true });
    const debugFile = path.join(linkDir, '.debug', 'fixture.debug');
    run('objcopy', ['--only-keep-debug', exe, debugFile]);
    const linked = path.join(linkDir, 'fixture');
    run('objcopy', ['--strip-debug', `--add-gnu-debuglink=${debugFile}`, exe, linked]);
    const info = readElfInfo(linked);
    assert.equal(info.debuglink?.name, 'fixture.debug');
    assert.deepEqual(findDebugInfo(linked, info, []), { found: 'debuglink', file: debugFile, dir: path.join(linkDir, '.debug') });
    const symbolizer = openSymbolizer({ debugDirs: [], llvmSymbolizer: null });
    const addresses = KNOWN.map((n) => nm(exe).get(n)!).filter(Boolean);
    assert.deepEqual(await symbolizer.module(linked).resolve(addresses), oracle(linked, addresses));

    fs.appendFileSync(debugFile, Buffer.from([0]));
    const stale = findDebugInfo(linked, info, []);
    assert.equal(stale.found, 'none');
    assert.match(stale.found === 'none' ? stale.missing : '', /stale.*fixture\.debug/);
  });

  test('a debug link that is not a plain file name is not followed out of the debug directories', () => {
    // objcopy writes only a link's basename: make one of the same length and
    // rewrite it to climb out of the directory the lookup searches.
    const linkDir = path.join(dir, 'climbing', 'bin');
    fs.mkdirSync(linkDir, { recursive: true });
    const planted = path.join(dir, 'climbing', 'ab.secret.debug');
    run('objcopy', ['--only-keep-debug', exe, planted]);
    const linked = path.join(linkDir, 'fixture');
    run('objcopy', ['--strip-debug', `--add-gnu-debuglink=${planted}`, exe, linked]);
    const bytes = fs.readFileSync(linked);
    const at = bytes.indexOf('ab.secret.debug\0');
    assert.ok(at > 0 && bytes.indexOf('ab.secret.debug\0', at + 1) < 0, 'the link name is in the file once');
    bytes.write('../secret.debug', at, 'latin1');
    fs.writeFileSync(linked, bytes);
    // The CRC matches: only the name keeps the lookup from taking it.
    fs.renameSync(planted, path.join(dir, 'climbing', 'secret.debug'));
    const info = readElfInfo(linked);
    assert.equal(info.debuglink?.name, '../secret.debug');
    const found = findDebugInfo(linked, info, []);
    assert.equal(found.found, 'none', JSON.stringify(found));
    assert.match(found.found === 'none' ? found.missing : '', /debug link "\.\.\/secret\.debug" is not a plain file name/);
  });

  test('a debug link candidate larger than any debug file is not read for its CRC', () => {
    const linkDir = path.join(dir, 'huge');
    fs.mkdirSync(linkDir, { recursive: true });
    const debugFile = path.join(linkDir, 'fixture.debug');
    run('objcopy', ['--only-keep-debug', exe, debugFile]);
    const linked = path.join(linkDir, 'fixture');
    run('objcopy', ['--strip-debug', `--add-gnu-debuglink=${debugFile}`, exe, linked]);
    // Sparse: 64 GiB to the lookup, nothing on disk; reading it for a CRC would stall the server.
    fs.truncateSync(debugFile, 64 * 2 ** 30);
    const found = findDebugInfo(linked, readElfInfo(linked), []);
    assert.equal(found.found, 'none');
    assert.match(found.found === 'none' ? found.missing : '', /fixture\.debug is 68719476736 bytes, larger than any debug file/);
  });

  test('a file without debug info gets one sentence naming its build-id and the fix', () => {
    const info = readElfInfo(stripped);
    const missing = findDebugInfo(stripped, info, []);
    assert.equal(missing.found, 'none');
    const sentence = missing.found === 'none' ? missing.missing : '';
    assert.ok(sentence.startsWith(`${stripped} has no debug info`), sentence);
    assert.ok(sentence.includes(info.buildId!) && sentence.includes('perfSideband.debugDirectories') && sentence.includes('debuginfod-find'), sentence);
  });
});

describe('runtime addresses', () => {
  test('a running PIE maps its function back to the file vaddr and the function, and back again', async () => {
    const child = spawn(exe, ['30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const printed = await new Promise<string>((resolve, reject) => {
        child.stdout.once('data', (text: Buffer) => resolve(text.toString().trim()));
        child.once('error', reject);
      });
      const address = BigInt(printed);
      const mapping = fs
        .readFileSync(`/proc/${child.pid}/maps`, 'utf8')
        .split('\n')
        .map((line) => line.split(/\s+/))
        .filter((f) => f[5] === exe)
        .map(([range, , pgoff]) => ({ start: BigInt(`0x${range.split('-')[0]}`), end: BigInt(`0x${range.split('-')[1]}`), pgoff: BigInt(`0x${pgoff}`) }))
        .find((r) => address >= r.start && address < r.end);
      assert.ok(mapping, `a mapping of ${exe} holds ${printed}`);
      const segments = readElfInfo(exe).segments;
      const vaddr = fileAddress(segments, mapping, address);
      assert.ok(vaddr !== undefined && BigInt(vaddr) !== address, 'the PIE runs at a non-zero bias');
      assert.equal(vaddr, nm(exe).get('fixture_leaf'));
      const symbolizer = openSymbolizer({ debugDirs: [], llvmSymbolizer: null });
      const [frames] = await symbolizer.module(exe).resolve([vaddr]);
      assert.equal(frames.at(-1)?.function, 'fixture_leaf');
      assert.equal(runtimeAddress(segments, mapping, vaddr), address);
      assert.equal(runtimeAddress(segments, { ...mapping, end: mapping.start + 1n }, vaddr), undefined, 'outside the mapping');
    } finally {
      child.kill();
    }
  });
});

describe('fallback backends', () => {
  test('the chooser takes llvm-symbolizer when the addon cannot be loaded, and says how to get libdw', async () => {
    const symbolizer = openSymbolizer({ debugDirs: [], loadAddon: missingLibrary() });
    try {
      assert.equal(symbolizer.kind, 'llvm-symbolizer');
      assert.match(symbolizer.description, /libsideband_gone\.so: cannot open shared object file/);
      assert.match(symbolizer.description, /apt install libdw1/);
      const addresses = sweep(lib).filter((_, i) => i % 3 === 0);
      // Two requests in flight at once: answers are matched to them in order.
      const [first, second] = await Promise.all([
        symbolizer.module(lib).resolve(addresses.slice(0, 200)),
        symbolizer.module(exe).resolve(sweep(exe).slice(0, 50)),
      ]);
      assert.deepEqual(first, oracle(lib, addresses.slice(0, 200)));
      assert.deepEqual(second, oracle(exe, sweep(exe).slice(0, 50)));
      assert.deepEqual(await symbolizer.module(lib).compileUnits(), []);
    } finally {
      symbolizer.dispose();
    }
  });

  test('llvm-symbolizer is not handed a file name that would split its request line, and later answers stay with their questions', async () => {
    // llvm-symbolizer reads `"FILE" ADDR` lines: a quote ends the name early
    // and a newline starts another request, so this name asks for more
    // answers than we wait for, and they would go to the next question.
    const hostile = path.join(dir, 'fix" 0x10\n0x20 "ture');
    fs.copyFileSync(exe, hostile);
    const symbolizer = openSymbolizer({ debugDirs: [], loadAddon: missingLibrary() });
    try {
      assert.equal(symbolizer.kind, 'llvm-symbolizer');
      assert.throws(
        () => symbolizer.module(hostile),
        (e: Error) => e.message.includes(JSON.stringify(hostile)) && /double quote or a line break/.test(e.message) && /apt install libdw1/.test(e.message),
      );
      const addresses = sweep(lib).slice(0, 50);
      assert.deepEqual(await symbolizer.module(lib).resolve(addresses), oracle(lib, addresses));
    } finally {
      symbolizer.dispose();
    }
  });

  test('with no llvm-symbolizer either, ELF symbols name the functions', async () => {
    const symbolizer = openSymbolizer({ debugDirs: [], loadAddon: missingLibrary(), llvmSymbolizer: null });
    assert.equal(symbolizer.kind, 'elf-symbols');
    assert.match(symbolizer.description, /apt install llvm/);
    const symbols = nm(lib);
    const names = KNOWN.filter((n) => symbols.has(n));
    const frames = await symbolizer.module(lib).resolve(names.map((n) => symbols.get(n)! + 1));
    assert.deepEqual(frames, names.map((name) => [{ function: name }]));
    assert.deepEqual(readElfSymbols(lib).find((s) => s.name === 'fixture_leaf')?.low, symbols.get('fixture_leaf'));
  });
});

describe('perf maps', () => {
  test('parses whole lines, leaves a partial last line for later, and re-reads when the file grows', () => {
    const file = path.join(dir, 'perf-4242.map');
    fs.writeFileSync(file, '7f0000001000 40 LazyCompile:*add a.js:1\n7f0000000000 100 Builtin:Interp\n7f0000002000 2');
    const map = new PerfMap(file);
    assert.equal(map.lookup(0x7f0000001010n)?.name, 'LazyCompile:*add a.js:1');
    assert.equal(map.lookup(0x7f00000000ffn)?.name, 'Builtin:Interp');
    assert.equal(map.lookup(0x7f0000000100n), undefined, 'past the end of a symbol');
    assert.equal(map.lookup(0x7f0000002001n), undefined, 'the partial line is not read');
    fs.appendFileSync(file, '0 Function:*mul b.js:9\n7f0000001000 40 LazyCompile:*add a.js:1 (recompiled)\n');
    assert.equal(map.lookup(0x7f0000002001n)?.name, 'Function:*mul b.js:9');
    assert.equal(map.lookup(0x7f0000001000n)?.name, 'LazyCompile:*add a.js:1 (recompiled)');
  });
});
