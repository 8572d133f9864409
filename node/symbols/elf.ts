// What the timeline and the symbolizer need from an ELF file's headers: its
// GNU build-id and debug link (the names debuggers use to find its debug
// info), its PT_LOAD segments (to turn a runtime address into the file's own
// address), and its function symbols. Reads headers and the few sections
// asked for, never the whole file: debug files run to hundreds of MB.

import * as fs from 'node:fs';

import { partitionPoint } from '../../core/search';
import { SourceError } from '../../core/sourceError';

const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;
const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

export type ElfType = 'rel' | 'exec' | 'dyn' | 'core' | 'other';

export interface LoadSegment {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  /** PF_X = 1, PF_W = 2, PF_R = 4. */
  flags: number;
}

export interface ElfInfo {
  buildId?: string;
  debuglink?: { name: string; crc: number };
  type: ElfType;
  segments: LoadSegment[];
  /** Whether the file holds DWARF itself (a .debug_info with contents). */
  hasDebugInfo: boolean;
}

export interface ElfSymbol {
  name: string;
  /** The symbol's vaddr in the file. */
  low: number;
  size: number;
}

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

/** Sanity bounds of sections read whole, so a size within a big file still cannot claim GBs. */
interface Limit {
  bytes: number;
  /** What fills that many bytes, for the error. */
  of: string;
}
/** A file name (NAME_MAX is 255; a page is generous), its padding and the CRC. */
const DEBUGLINK_LIMIT: Limit = { bytes: 4096 + 8, of: 'a file name and its CRC' };
/** The most sections a header counts, each with a long name. */
const SECTION_NAMES_LIMIT: Limit = { bytes: 0xffff * 256, of: '65535 section names of 255 bytes' };

/**
 * An ELF64 little-endian file opened for a few small reads: what x86_64 perf
 * records name. Every size comes from the file's own headers, so none sizes
 * a read beyond the file.
 */
class ElfFile {
  readonly header: Buffer;
  private readonly size: number;
  private sectionTable?: Section[];

  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {
    this.size = fs.fstatSync(fd).size;
    this.header = this.read(0, 64);
    if (this.header.length < 64 || this.header.readUInt32BE(0) !== 0x7f454c46 || this.header[4] !== 2 || this.header[5] !== 1)
      throw new SourceError('bad-elf', `${path} is not a 64-bit little-endian ELF file`, 'e_ident');
  }

  /** Up to `length` bytes at `offset`: fewer where the file ends. */
  read(offset: number, length: number): Buffer {
    const bytes = Buffer.alloc(Math.max(0, Math.min(length, this.size - offset)));
    if (bytes.length === 0) return bytes; // and an offset past 2^53 is never handed to readSync
    const n = fs.readSync(this.fd, bytes, 0, bytes.length, offset);
    return bytes.subarray(0, n);
  }

  /** Exactly `length` bytes at `offset`, or an error naming `what` when the file does not hold them or they are over `limit`. */
  private readWhole(offset: number, length: number, what: string, limit?: Limit): Buffer {
    if (limit && length > limit.bytes)
      throw new SourceError('bad-elf', `${this.path}: its ${what} is ${length} bytes, more than the ${limit.bytes} of ${limit.of}: the file is corrupt; rebuild or reinstall it`, what);
    if (offset > this.size || length > this.size - offset)
      throw new SourceError(
        'bad-elf',
        `${this.path}: its ${what} (${length} bytes at offset ${offset}) reaches past the end of the ${this.size}-byte file: the file is truncated or corrupt; rebuild or reinstall it`,
        what,
      );
    return this.read(offset, length);
  }

  programHeaders(): Buffer[] {
    const phoff = Number(this.header.readBigUInt64LE(32));
    const phentsize = this.header.readUInt16LE(54);
    const phnum = this.header.readUInt16LE(56);
    if (phentsize < 56 || phnum > 256) return [];
    const table = this.read(phoff, phentsize * phnum);
    const headers: Buffer[] = [];
    for (let i = 0; (i + 1) * phentsize <= table.length && i < phnum; i++) headers.push(table.subarray(i * phentsize, (i + 1) * phentsize));
    return headers;
  }

  sections(): Section[] {
    if (this.sectionTable) return this.sectionTable;
    const shoff = Number(this.header.readBigUInt64LE(40));
    const shentsize = this.header.readUInt16LE(58);
    const shnum = this.header.readUInt16LE(60);
    const shstrndx = this.header.readUInt16LE(62);
    const table = shoff && shentsize >= 64 ? this.readWhole(shoff, shentsize * shnum, 'section header table') : Buffer.alloc(0);
    const raw = Array.from({ length: Math.floor(table.length / shentsize) }, (_, i) => {
      const sh = table.subarray(i * shentsize);
      return {
        nameAt: sh.readUInt32LE(0),
        type: sh.readUInt32LE(4),
        offset: Number(sh.readBigUInt64LE(24)),
        size: Number(sh.readBigUInt64LE(32)),
        link: sh.readUInt32LE(40),
        entsize: Number(sh.readBigUInt64LE(56)),
      };
    });
    const names = raw[shstrndx] ? this.readWhole(raw[shstrndx].offset, raw[shstrndx].size, 'section .shstrtab', SECTION_NAMES_LIMIT) : Buffer.alloc(0);
    this.sectionTable = raw.map(({ nameAt, ...rest }) => ({ name: cString(names, nameAt), ...rest }));
    return this.sectionTable;
  }

  contents(section: Section, limit?: Limit): Buffer {
    return section.type === SHT_NOBITS ? Buffer.alloc(0) : this.readWhole(section.offset, section.size, `section ${section.name}`, limit);
  }
}

function cString(bytes: Buffer, at: number): string {
  const end = bytes.indexOf(0, at);
  return bytes.toString('latin1', at, end < 0 ? bytes.length : end);
}

function withElf<T>(path: string, use: (elf: ElfFile) => T): T {
  const fd = fs.openSync(path, 'r');
  try {
    return use(new ElfFile(path, fd));
  } finally {
    fs.closeSync(fd);
  }
}

const TYPES: Record<number, ElfType> = { 1: 'rel', 2: 'exec', 3: 'dyn', 4: 'core' };

function buildIdOf(elf: ElfFile): string | undefined {
  for (const ph of elf.programHeaders()) {
    if (ph.readUInt32LE(0) !== PT_NOTE) continue;
    const notes = elf.read(Number(ph.readBigUInt64LE(8)), Math.min(Number(ph.readBigUInt64LE(32)), 1 << 16));
    for (let at = 0; at + 12 <= notes.length; ) {
      const nameSize = notes.readUInt32LE(at);
      const descSize = notes.readUInt32LE(at + 4);
      const type = notes.readUInt32LE(at + 8);
      const nameAt = at + 12;
      const descAt = nameAt + Math.ceil(nameSize / 4) * 4;
      if (descAt + descSize > notes.length) break;
      if (type === NT_GNU_BUILD_ID && nameSize === 4 && notes.toString('latin1', nameAt, nameAt + 3) === 'GNU') {
        return notes.toString('hex', descAt, descAt + descSize);
      }
      at = descAt + Math.ceil(descSize / 4) * 4;
    }
  }
  return undefined;
}

/** Headers, build-id, debug link and load segments of an ELF64 little-endian file; throws when it cannot be read as one. */
export function readElfInfo(path: string): ElfInfo {
  return withElf(path, (elf) => {
    const segments = elf
      .programHeaders()
      .filter((ph) => ph.readUInt32LE(0) === PT_LOAD)
      .map((ph) => ({
        flags: ph.readUInt32LE(4),
        offset: Number(ph.readBigUInt64LE(8)),
        vaddr: Number(ph.readBigUInt64LE(16)),
        filesz: Number(ph.readBigUInt64LE(32)),
        memsz: Number(ph.readBigUInt64LE(40)),
      }));
    const sections = elf.sections();
    const link = sections.find((s) => s.name === '.gnu_debuglink');
    let debuglink: ElfInfo['debuglink'];
    if (link) {
      const bytes = elf.contents(link, DEBUGLINK_LIMIT);
      const name = cString(bytes, 0);
      const crcAt = Math.ceil((name.length + 1) / 4) * 4;
      if (name && crcAt + 4 <= bytes.length) debuglink = { name, crc: bytes.readUInt32LE(crcAt) };
    }
    return {
      buildId: buildIdOf(elf),
      debuglink,
      type: TYPES[elf.header.readUInt16LE(16)] ?? 'other',
      segments,
      hasDebugInfo: sections.some((s) => (s.name === '.debug_info' || s.name === '.zdebug_info') && s.type !== SHT_NOBITS && s.size > 0),
    };
  });
}

/** The hex build-id of an ELF64 little-endian file, or undefined when it has none or is not one. */
export function readBuildId(path: string): string | undefined {
  try {
    return withElf(path, buildIdOf);
  } catch {
    return undefined;
  }
}

/**
 * The file vaddr of a runtime address inside a mapping of the file (its start
 * and page offset, as an MMAP record gives them), or undefined when the
 * mapped bytes at that address lie in no PT_LOAD.
 */
export function fileAddress(segments: readonly LoadSegment[], region: { start: bigint; pgoff: bigint }, address: bigint): number | undefined {
  const offset = Number(address - region.start + region.pgoff);
  const segment = segments.find((s) => offset >= s.offset && offset < s.offset + s.filesz);
  return segment && segment.vaddr + offset - segment.offset;
}

/** The runtime address of a file vaddr in a mapping of the file, or undefined when that mapping does not hold it. */
export function runtimeAddress(segments: readonly LoadSegment[], region: { start: bigint; end: bigint; pgoff: bigint }, vaddr: number): bigint | undefined {
  const segment = segments.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  if (!segment) return undefined;
  const address = region.start + BigInt(segment.offset + vaddr - segment.vaddr) - region.pgoff;
  return address >= region.start && address < region.end ? address : undefined;
}

/**
 * The defined function symbols of the file's .symtab, else its .dynsym,
 * sorted by address. Of aliases at one address the largest is kept, and of
 * equals the last in table order, as llvm-symbolizer and the libdw addon do.
 */
export function readElfSymbols(path: string): ElfSymbol[] {
  return withElf(path, (elf) => {
    const sections = elf.sections();
    const table = sections.find((s) => s.type === SHT_SYMTAB && s.size > 0) ?? sections.find((s) => s.type === SHT_DYNSYM);
    if (!table || table.entsize < 24 || !sections[table.link]) return [];
    const entries = elf.contents(table);
    const names = elf.contents(sections[table.link]);
    const symbols: ElfSymbol[] = [];
    for (let at = table.entsize; at + 24 <= entries.length; at += table.entsize) {
      const type = entries[at + 4] & 0xf;
      const sectionIndex = entries.readUInt16LE(at + 6);
      const name = cString(names, entries.readUInt32LE(at));
      if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || sectionIndex === 0 || !name) continue;
      symbols.push({ name, low: Number(entries.readBigUInt64LE(at + 8)), size: Number(entries.readBigUInt64LE(at + 16)) });
    }
    symbols.sort((a, b) => a.low - b.low || a.size - b.size);
    return symbols.filter((s, i) => i + 1 === symbols.length || symbols[i + 1].low !== s.low);
  });
}

/** The symbol covering vaddr in a table from readElfSymbols; one without a size reaches to the next. */
export function symbolAt(symbols: readonly ElfSymbol[], vaddr: number): ElfSymbol | undefined {
  const symbol = symbols[partitionPoint(0, symbols.length, (k) => symbols[k].low <= vaddr) - 1];
  if (!symbol || (symbol.size !== 0 && vaddr >= symbol.low + symbol.size)) return undefined;
  return symbol;
}
