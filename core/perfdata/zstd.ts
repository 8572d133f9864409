// The zstd stream inside perf's COMPRESSED records, decompressed with fzstd
// after its frame headers are checked.
//
// fzstd (pure JavaScript, no Node) is used because Node's own zstd arrived
// only in 22.15, and VS Code 1.90's Electron runs Node 20; libzstd in the
// addon would leave the CLI and the server without it where the addon does
// not load. perf compresses each ring's data with ZSTD_flushStream, never
// ending the frame: one frame runs through all the records of a file (or
// of a data.N), so zstd's state is kept from one payload to the next.
// fzstd allocates the window a frame header claims, so each header is read
// here first, and one that claims more than zstd's own default limit is
// refused before fzstd sees it.

import { Decompress } from 'fzstd';

const FRAME_MAGIC = 0xfd2fb528;
/** ZSTD_WINDOWLOG_LIMIT_DEFAULT: `zstd -d` refuses larger windows unless told otherwise. */
const WINDOW_LIMIT = 1 << 27;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F, then a u32 size. */
const SKIPPABLE_MAGIC = 0x184d2a50;

export class ZstdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZstdError';
  }
}

/** Where the scan is in the stream of frames. */
type ScanState =
  | { at: 'magic' | 'frameHeader' | 'blockHeader' | 'skippableSize' }
  | { at: 'skip'; bytes: number; then: 'magic' | 'blockHeader' | 'frameEnd' };

/** Bytes each header takes, but the frame header's, which its first byte tells. */
const HEADER_BYTES = { magic: 4, blockHeader: 3, skippableSize: 4 } as const;

export class ZstdStream {
  private readonly decompress: Decompress;
  private output: Uint8Array[] = [];
  private state: ScanState = { at: 'magic' };
  /** Bytes of a header that a payload ended inside: fzstd is given them once they are read. */
  private pending = new Uint8Array(0);
  /** Content size the current frame declared, or -1; and what it has given so far. */
  private declared = -1;
  private produced = 0;
  /** Whether the current frame ends with a 4-byte checksum. */
  private checksum = false;

  /** The most the current push may give: what perf's buffer for one record holds. */
  private limit = 0;
  private pushed = 0;

  constructor() {
    this.decompress = new Decompress((chunk) => {
      this.produced += chunk.byteLength;
      this.pushed += chunk.byteLength;
      if (this.declared >= 0 && this.produced > this.declared)
        throw new ZstdError(`a zstd frame decompresses to more than the ${this.declared} bytes its header declares`);
      if (this.pushed > this.limit) throw new ZstdError(`the payload decompresses to more than ${this.limit} bytes, the size of perf's ring (mmap_len in the COMPRESSED feature)`);
      this.output.push(chunk);
    });
  }

  /** Decompresses the next payload of the stream, which may give `limit` bytes at most: the bytes it completes, in order. */
  push(payload: Uint8Array, limit: number): Uint8Array[] {
    this.output = [];
    this.limit = limit;
    this.pushed = 0;
    const bytes = this.pending.byteLength ? concat(this.pending, payload) : payload;
    this.pending = new Uint8Array(0);
    let fed = 0;
    let at = 0;
    while (at < bytes.byteLength) {
      const state = this.state;
      if (state.at === 'skip') {
        const take = Math.min(state.bytes, bytes.byteLength - at);
        state.bytes -= take;
        at += take;
        if (state.bytes > 0) break;
        if (state.then === 'frameEnd') {
          // Each frame's output is checked whole: fzstd gets the frame up to its end first.
          this.feed(bytes.subarray(fed, at));
          fed = at;
          this.endFrame();
          this.state = { at: 'magic' };
        } else {
          this.state = { at: state.then };
        }
        continue;
      }
      const size = state.at === 'frameHeader' ? frameHeaderBytes(bytes[at]) : HEADER_BYTES[state.at];
      if (bytes.byteLength - at < size) {
        this.pending = bytes.slice(at);
        break;
      }
      this.read(new DataView(bytes.buffer, bytes.byteOffset + at, size));
      at += size;
    }
    this.feed(bytes.subarray(fed, at));
    return this.output;
  }

  /** Reads the header in `view` and moves the scan past it. */
  private read(view: DataView): void {
    switch (this.state.at) {
      case 'magic': {
        const magic = view.getUint32(0, true);
        if (magic === FRAME_MAGIC) this.state = { at: 'frameHeader' };
        else if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) this.state = { at: 'skippableSize' };
        else throw new ZstdError(`the payload is not zstd: 0x${magic.toString(16).padStart(8, '0')} where a frame's magic number 0xfd2fb528 belongs`);
        return;
      }
      case 'skippableSize':
        this.state = { at: 'skip', bytes: view.getUint32(0, true), then: 'magic' };
        return;
      case 'frameHeader': {
        const descriptor = view.getUint8(0);
        if (descriptor & 0x08) throw new ZstdError('a zstd frame header sets its reserved bit: the payload is corrupt');
        if (descriptor & 3) throw new ZstdError('a zstd frame needs a dictionary, which perf never uses: the payload is corrupt');
        const singleSegment = (descriptor >> 5) & 1;
        let window = 0;
        let next = 1;
        if (!singleSegment) {
          const w = view.getUint8(next++);
          const base = 2 ** (10 + (w >> 3));
          window = base + (base / 8) * (w & 7);
        }
        const fcsBytes = fcsBytesOf(descriptor);
        const content =
          fcsBytes === 1 ? view.getUint8(next)
          : fcsBytes === 2 ? view.getUint16(next, true) + 256
          : fcsBytes === 4 ? view.getUint32(next, true)
          : fcsBytes === 8 ? view.getUint32(next, true) + view.getUint32(next + 4, true) * 4294967296
          : -1;
        // fzstd allocates a single-segment frame's content size, or else its window.
        const claim = singleSegment ? content : window;
        if (claim > WINDOW_LIMIT)
          throw new ZstdError(`a zstd frame claims a ${singleSegment ? 'content size' : 'window'} of ${claim} bytes, more than the ${WINDOW_LIMIT} zstd itself decodes by default`);
        this.declared = content;
        this.produced = 0;
        this.checksum = ((descriptor >> 2) & 1) === 1;
        this.state = { at: 'blockHeader' };
        return;
      }
      case 'blockHeader': {
        const header = view.getUint8(0) | (view.getUint8(1) << 8) | (view.getUint8(2) << 16);
        const kind = (header >> 1) & 3;
        if (kind === 3) throw new ZstdError('a zstd block has the reserved type 3: the payload is corrupt');
        const body = kind === 1 ? 1 : header >>> 3; // an RLE block holds one byte
        if (!(header & 1)) this.state = { at: 'skip', bytes: body, then: 'blockHeader' };
        else this.state = { at: 'skip', bytes: body + (this.checksum ? 4 : 0), then: 'frameEnd' };
        return;
      }
    }
  }

  private feed(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    try {
      // fzstd keeps what it is given until it has a whole block, which may
      // span payloads: it gets bytes of its own, not a view of the caller's
      // buffer, which the caller reuses.
      this.decompress.push(bytes.slice());
    } catch (e) {
      if (e instanceof ZstdError) throw e;
      throw new ZstdError(`the payload is not valid zstd: ${(e as Error).message}`);
    }
  }

  private endFrame(): void {
    if (this.declared >= 0 && this.produced !== this.declared)
      throw new ZstdError(`a zstd frame decompresses to ${this.produced} bytes, not the ${this.declared} its header declares`);
  }
}

/** Frame_Content_Size's bytes: by its flag, or 1 for a single-segment frame without it. */
function fcsBytesOf(descriptor: number): number {
  const flag = descriptor >> 6;
  return flag ? 1 << flag : (descriptor >> 5) & 1;
}

/** A frame header's bytes after the magic: descriptor, window, dictionary id, content size. */
function frameHeaderBytes(descriptor: number): number {
  return 1 + ((descriptor >> 5) & 1 ? 0 : 1) + [0, 1, 2, 4][descriptor & 3] + fcsBytesOf(descriptor);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.byteLength + b.byteLength);
  joined.set(a);
  joined.set(b, a.byteLength);
  return joined;
}
