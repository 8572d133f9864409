// /tmp/perf-PID.map: the symbols of JIT-compiled code, one `START SIZE name`
// line each (hex without 0x), written by `node --perf-basic-prof` and JVM
// agents. The writer appends while we read, so a read takes whole lines only
// and the next one carries on from there when the file has grown.

import * as fs from 'node:fs';

import { partitionPoint } from '../../core/search';

export interface PerfMapSymbol {
  name: string;
  start: number;
  size: number;
}

const LINE = /^([0-9a-fA-F]+) ([0-9a-fA-F]+) (.*)$/;

export class PerfMap {
  private symbols: PerfMapSymbol[] = [];
  private sorted = true;
  /** Bytes of the file parsed so far: always the end of a whole line. */
  private parsedBytes = 0;

  constructor(readonly path: string) {}

  /** Reads the lines appended since the last read; returns whether there were any. */
  refresh(): boolean {
    let size: number;
    try {
      size = fs.statSync(this.path).size;
    } catch {
      return false;
    }
    if (size < this.parsedBytes) {
      // Truncated: a new process with a reused pid.
      this.symbols = [];
      this.parsedBytes = 0;
    }
    if (size === this.parsedBytes) return false;
    const fd = fs.openSync(this.path, 'r');
    let text: Buffer;
    try {
      text = Buffer.alloc(size - this.parsedBytes);
      text = text.subarray(0, fs.readSync(fd, text, 0, text.length, this.parsedBytes));
    } finally {
      fs.closeSync(fd);
    }
    const complete = text.lastIndexOf(0x0a) + 1;
    if (complete === 0) return false;
    this.parsedBytes += complete;
    for (const line of text.toString('utf8', 0, complete).split('\n')) {
      const m = LINE.exec(line);
      if (m) this.symbols.push({ start: parseInt(m[1], 16), size: parseInt(m[2], 16), name: m[3] });
    }
    this.sorted = false;
    return true;
  }

  /**
   * The symbol covering a runtime address, re-reading the file when it has
   * grown since and the address is not known yet. A later line for the same
   * start replaces an earlier one (recompiled code).
   */
  lookup(address: bigint | number): PerfMapSymbol | undefined {
    return this.find(Number(address)) ?? (this.refresh() ? this.find(Number(address)) : undefined);
  }

  private find(at: number): PerfMapSymbol | undefined {
    if (!this.sorted) {
      const all = this.symbols.sort((a, b) => a.start - b.start);
      this.symbols = all.filter((s, i) => i + 1 === all.length || all[i + 1].start !== s.start);
      this.sorted = true;
    }
    const symbols = this.symbols;
    const symbol = symbols[partitionPoint(0, symbols.length, (k) => symbols[k].start <= at) - 1];
    return symbol && at < symbol.start + symbol.size ? symbol : undefined;
  }
}
