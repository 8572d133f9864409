// A growable little-endian byte builder, for the header, the feature
// sections and the metadata trailer of the files we write.

import type { Section } from './format';

const utf8Encoder = new TextEncoder();

/** Growable little-endian byte builder for the header and feature payloads. */
export class ByteWriter {
  private bytes = new Uint8Array(512);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private reserve(n: number): number {
    const at = this.length;
    if (at + n > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.max(this.bytes.byteLength * 2, at + n));
      grown.set(this.bytes.subarray(0, at));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += n;
    return at;
  }
  // reserve() may replace the buffer: call it before reading this.bytes or this.view.
  u32(value: number): this {
    const at = this.reserve(4);
    this.view.setUint32(at, value, true);
    return this;
  }
  u64(value: number | bigint): this {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(value), true);
    return this;
  }
  raw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.byteLength);
    this.bytes.set(bytes, at);
    return this;
  }
  section(section: Section): this {
    return this.u64(section.offset).u64(section.size);
  }
  /** perf's do_write_string: u32 length, the string, a NUL, zeros up to a multiple of 64. */
  perfString(value: string): this {
    const text = utf8Encoder.encode(value);
    const length = Math.ceil((text.byteLength + 1) / 64) * 64;
    this.u32(length).raw(text);
    this.reserve(length - text.byteLength);
    return this;
  }
  alignTo(n: number): this {
    this.reserve((n - (this.length % n)) % n);
    return this;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}
