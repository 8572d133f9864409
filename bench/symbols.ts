// Measure 5: symbolizing 100,000 random addresses of libc's executable
// segment through the sideband language server's request (as the regions
// panel asks it: a region of a process and addresses in it; the server
// runs the libdw backend) against llvm-symbolizer in batch mode (one
// process, addresses on stdin), the same addresses in the same run, and how
// often both name the same innermost function at the same file:line.

import * as fs from 'node:fs';

import { readElfInfo, runtimeAddress } from '../node/symbols/elf';
import { type SourceFrame } from '../native/symbols';
import { LanguageServer } from '../test/kernel/lsp';
import { regionOfWire } from '../protocol/webview';
import { ratioOf, type Result } from './results';
import { progress, run } from './tools';

export type Resolver = (addresses: Float64Array) => Promise<SourceFrame[][]>;

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const ADDRESSES = 100_000;
const AGREEMENT_BAR = 0.999;
const PF_X = 1;

/** The same addresses every run (a fixed-seed LCG), so runs compare. */
function randomAddresses(low: number, high: number): Float64Array {
  let seed = 0x5eed;
  return Float64Array.from({ length: ADDRESSES }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return low + Math.floor((seed / 2 ** 32) * (high - low));
  });
}

interface LlvmFrame {
  FunctionName: string;
  FileName: string;
  Line: number;
}

interface Innermost {
  function: string;
  /** 'file:line', or '' without line info. */
  place: string;
}

const innermost = (frames: readonly SourceFrame[]): Innermost =>
  frames.length ? { function: frames[0].function, place: frames[0].file && frames[0].line ? `${frames[0].file}:${frames[0].line}` : '' } : { function: '', place: '' };

function llvmInnermost(line: string): Innermost {
  const [f] = (JSON.parse(line) as { Symbol: LlvmFrame[] }).Symbol;
  return { function: f?.FunctionName ?? '', place: f?.FileName && f.Line ? `${f.FileName}:${f.Line}` : '' };
}

/**
 * The language server's `sideband/resolve`, on libc as this process maps
 * it: the file addresses become this process's runtime addresses in that
 * region, and the server maps them back. A fresh server, so the first
 * call pays for reading the DWARF as llvm-symbolizer does.
 */
async function languageServerResolver(): Promise<{ resolve: Resolver; stop: () => Promise<void> }> {
  const line = fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((l) => / r-xp /.test(l) && /\/libc\.so\.6$/.test(l));
  if (!line) throw new Error('libc.so.6 is not mapped executable in this process');
  const [range, , offset, , , filename] = line.split(/\s+/);
  const [start, end] = range.split('-');
  const region = { start, end, pgoff: offset, filename };
  const segments = readElfInfo(filename).segments;
  const mapped = regionOfWire(region);
  const server = await LanguageServer.start();
  return {
    resolve: async (vaddrs) => {
      const addresses = Array.from(vaddrs, (v) => {
        const address = runtimeAddress(segments, mapped, v);
        if (address === undefined) throw new Error(`0x${v.toString(16)} is not in the mapped part of ${filename}`);
        return address.toString(16);
      });
      const answers = await server.resolve({ pid: process.pid, addresses, region });
      if (answers[0] && !/^Symbols: libdw /.test(answers[0].backend)) throw new Error(`the language server is not on libdw: ${answers[0].backend}`);
      return answers.map((a) => a.frames);
    },
    stop: () => server.stop(),
  };
}

export async function measureSymbols(): Promise<Result[]> {
  const server = await languageServerResolver();
  try {
    return await measureThrough(server.resolve);
  } finally {
    await server.stop();
  }
}

async function measureThrough(resolver: Resolver): Promise<Result[]> {
  const text = readElfInfo(LIBC).segments.find((s) => s.flags & PF_X);
  if (!text) throw new Error(`${LIBC} has no executable PT_LOAD`);
  const addresses = randomAddresses(text.vaddr, text.vaddr + text.filesz);

  progress(`symbols: ${ADDRESSES} addresses of ${LIBC} through the language server`);
  let start = process.hrtime.bigint();
  const ours = await resolver(addresses);
  const oursCold = Number(process.hrtime.bigint() - start) / 1e9;
  start = process.hrtime.bigint();
  await resolver(addresses);
  const oursWarm = Number(process.hrtime.bigint() - start) / 1e9;

  progress('symbols: the same through llvm-symbolizer');
  const input = `${Array.from(addresses, (a) => `0x${a.toString(16)}`).join('\n')}\n`;
  const llvm = run('llvm-symbolizer', ['--output-style=JSON', `--obj=${LIBC}`], { input, maxBuffer: 1 << 30 });
  const theirs = llvm.stdout.trim().split('\n').map(llvmInnermost);
  if (theirs.length !== ADDRESSES) throw new Error(`llvm-symbolizer answered ${theirs.length} of ${ADDRESSES} addresses`);

  // Where llvm-symbolizer names no function, it has not read the debug
  // file's .symtab (it reads only the given binary's table): libgcc's
  // soft-float code in libc has no DWARF, and some small static functions
  // (x_putint32 in xdr_sizeof.c) no subprogram DIE; only that .symtab names
  // them. There we count agreement on file:line and say how many we name.
  let agreeing = 0;
  let unnamedByLlvm = 0;
  let namedByUsOnly = 0;
  const examples: string[] = [];
  for (let i = 0; i < ADDRESSES; i++) {
    const mine = innermost(ours[i]);
    const llvmSays = theirs[i];
    const same = llvmSays.function === '' ? mine.place === llvmSays.place : mine.function === llvmSays.function && mine.place === llvmSays.place;
    if (llvmSays.function === '') {
      unnamedByLlvm++;
      if (mine.function !== '') namedByUsOnly++;
    }
    if (same) agreeing++;
    else if (examples.length < 3)
      examples.push(`0x${addresses[i].toString(16)}: ours ${mine.function} ${mine.place}, llvm ${llvmSays.function} ${llvmSays.place}`);
  }
  const agreement = agreeing / ADDRESSES;
  const speedUp = ratioOf(llvm.seconds, oursCold);
  return [
    {
      name: 'symbols: 100k libc addresses',
      ours: oursCold,
      peer: llvm.seconds,
      unit: 's',
      ratio: speedUp,
      bar: '>= 1 (llvm/ours)',
      met: speedUp !== null && speedUp >= 1,
      note: `through the language server's sideband/resolve, first call on a fresh server (DWARF read included); a second call takes ${oursWarm.toFixed(3)} s, ${Math.round(ADDRESSES / oursWarm)} addresses/s; peer: llvm-symbolizer --output-style=JSON, one process, addresses on stdin`,
    },
    {
      name: 'symbols: agreement with llvm',
      ours: agreement * 100,
      peer: AGREEMENT_BAR * 100,
      unit: '%',
      ratio: ratioOf(agreement, AGREEMENT_BAR),
      bar: `>= 1 (ours/${AGREEMENT_BAR * 100}%)`,
      met: agreement >= AGREEMENT_BAR,
      note: `same innermost function and file:line (file:line only where llvm-symbolizer names no function: ${unnamedByLlvm} addresses, of which we name ${namedByUsOnly} from libc6-dbg's .symtab, which llvm does not read); ${ADDRESSES - agreeing} disagree${examples.length ? `, e.g. ${examples.join('; ')}` : ''}; peer column: the bar`,
    },
  ];
}
