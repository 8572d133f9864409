// The one thing the timeline needs from an ELF file: its GNU build-id, the
// name debuggers and perf use to find a binary's debug info. Reads the
// program headers and PT_NOTE segments only, with a few small reads.

import * as fs from 'node:fs';

const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;

/** The hex build-id of an ELF64 little-endian file, or undefined when it has none or is not one. */
export function readBuildId(path: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const read = (offset: number, length: number): Buffer => {
      const bytes = Buffer.alloc(length);
      const n = fs.readSync(fd, bytes, 0, length, offset);
      return bytes.subarray(0, n);
    };
    const header = read(0, 64);
    // ELF magic, 64-bit, little-endian: what x86_64 perf records name.
    if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return undefined;
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    if (phentsize < 56 || phnum > 256) return undefined;
    const table = read(phoff, phentsize * phnum);
    for (let i = 0; i < phnum && (i + 1) * phentsize <= table.length; i++) {
      const ph = table.subarray(i * phentsize);
      if (ph.readUInt32LE(0) !== PT_NOTE) continue;
      const notes = read(Number(ph.readBigUInt64LE(8)), Math.min(Number(ph.readBigUInt64LE(32)), 1 << 16));
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
  } finally {
    fs.closeSync(fd);
  }
}
