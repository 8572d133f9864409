import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IndexFlag, Misc, PROC_IDS, PROC_ID_BASE, PROC_ID_HI, Provenance, RecordError, RecordType, Stale, StreamLayout, decodeRecord, RecordIndexBuilder, parseAttr, provenanceOf, staleReasons } from '../../core/records';
import { indexRecords } from '../../core/recordStream';
import { RecordStore } from '../../webview/store';
import { Body, Trailer, comm, concat, exit, fork, lost, memorySource, mmap2, namespaces, record, sidebandAttr, userRecord } from '../fixtures/records';

const KERNEL_ID = 1n;
const IOCTL_ID = 99n;
const stream: StreamLayout = { attrs: [{ attr: parseAttr(sidebandAttr()), ids: [KERNEL_ID, IOCTL_ID] }] };
const at = (pid: number, time: number, cpu: number, id: bigint, tid = pid): Trailer => ({ pid, tid, time, cpu, id });
const libc = { addr: 0x7f0000001000n, len: 0x156000n, pgoff: 0x26000n, maj: 254, min: 1, ino: 339380n, prot: 5, flags: 2, filename: '/usr/lib/libc.so.6' };
const links = [
  { dev: 4n, ino: 4026531833n },
  { dev: 4n, ino: 4026531838n },
];

/** One of each record kind the timeline shows, each from a different source. */
const records = [
  // perf record's synthesized status: time 0, no id.
  fork(at(100, 0, 0, 0n), { pid: 1, tid: 1 }),
  comm(at(100, 1000, 1, KERNEL_ID), 'sh', Misc.EXEC_OR_DATA),
  mmap2(at(100, 2000, 1, PROC_IDS[Stale.RACE | Stale.ZOMBIE]), libc, Misc.USER | Misc.STATUS_ONLY),
  namespaces(at(100, 3000, 0, IOCTL_ID), links, Misc.STATUS_ONLY),
  // The ioctl event's id without STATUS_ONLY is a real record of our own thread.
  comm(at(100, 3500, 0, IOCTL_ID), 'reader'),
  fork(at(101, 4000, 1, KERNEL_ID, 102), { pid: 101, tid: 101 }),
  lost(at(101, 5000, 1, KERNEL_ID, 102), KERNEL_ID, 17),
  exit(at(101, 6000, 0, KERNEL_ID, 102), { pid: 101, tid: 101 }),
  userRecord(RecordType.FINISHED_ROUND),
  userRecord(RecordType.FINISHED_INIT),
  record(RecordType.SAMPLE, Misc.USER, new Body().u64(0x401000n), at(100, 7000, 0, KERNEL_ID)),
];
const bytes = concat(records);
const starts = records.map((_, i) => records.slice(0, i).reduce((n, r) => n + r.byteLength, 0));
const typeOf = (r: Uint8Array) => new DataView(r.buffer, r.byteOffset).getUint32(0, true);

describe('indexRecords', () => {
  const index = indexRecords(bytes, stream);

  test('indexes every non-sample record and skips samples and FINISHED_ROUND', () => {
    assert.equal(index.count, 9);
    assert.equal(index.skipped, 2);
    assert.equal(index.truncatedAt, undefined);
    assert.deepEqual(Array.from(index.type), [
      RecordType.FORK,
      RecordType.COMM,
      RecordType.MMAP2,
      RecordType.NAMESPACES,
      RecordType.COMM,
      RecordType.FORK,
      RecordType.LOST,
      RecordType.EXIT,
      RecordType.FINISHED_INIT,
    ]);
  });

  test('reads time and cpu from the trailer, pid and tid from the body where it has them', () => {
    assert.deepEqual(Array.from(index.time), [0, 1000, 2000, 3000, 3500, 4000, 5000, 6000, 6000]);
    assert.deepEqual(Array.from(index.cpu), [0, 1, 1, 0, 0, 1, 1, 0, -1]);
    assert.deepEqual(Array.from(index.pid), [100, 100, 100, 100, 100, 101, 101, 101, -1]);
    assert.deepEqual(Array.from(index.tid), [100, 100, 100, 100, 100, 102, 102, 102, -1]);
    assert.deepEqual(Array.from(index.trailer), [8, 8, 8, 8, 8, 8, 8, 8, 0]);
    const indexed = starts.filter((_, i) => ![RecordType.FINISHED_ROUND, RecordType.SAMPLE].includes(typeOf(records[i])));
    assert.deepEqual(Array.from(index.offset), indexed);
  });

  test('tells provenance and staleness from misc and the IDENTIFIER', () => {
    const provenance = Array.from(index.flags, provenanceOf);
    assert.deepEqual(provenance, [
      Provenance.Synthesized,
      Provenance.Kernel,
      Provenance.Proc,
      Provenance.Ioctl,
      Provenance.Kernel,
      Provenance.Kernel,
      Provenance.Kernel,
      Provenance.Kernel,
      Provenance.Kernel,
    ]);
    assert.deepEqual(
      Array.from(index.flags, (f) => f & IndexFlag.IS_STATUS),
      [0, 0, 1, 1, 0, 0, 0, 0, 0],
    );
    assert.deepEqual(staleReasons(index.flags[2]), ['race', 'zombie']);
    assert.deepEqual(
      Array.from(index.flags, (f) => staleReasons(f).length),
      [0, 0, 2, 0, 0, 0, 0, 0, 0],
    );
  });

  test('every PROC id is proc provenance, with its low bits as stale reasons', () => {
    const proc = concat(PROC_IDS.map((id, i) => comm(at(7, 100 + i, 0, id), 'p', Misc.STATUS_ONLY)));
    const ix = indexRecords(proc, stream);
    assert.equal(ix.count, 8);
    for (let i = 0; i < 8; i++) {
      assert.equal(provenanceOf(ix.flags[i]), Provenance.Proc);
      assert.equal((ix.flags[i] & IndexFlag.STALE_MASK) >> IndexFlag.STALE_SHIFT, i);
    }
  });

  test('a status-only record without a PROC id is ioctl, whatever its id', () => {
    // Ids next to the PROC range: its high word with other low bits, and the range's neighbours.
    const ids = [KERNEL_ID, IOCTL_ID, 0n, 0xffff_ffff_ffff_ffffn, BigInt(PROC_ID_HI), PROC_ID_BASE - 1n, PROC_ID_BASE + 8n, PROC_ID_BASE ^ (1n << 16n)];
    // Time 0 and id 0 would make a record synthesized, were it not status-only.
    const status = concat(ids.map((id) => comm(at(7, 0, 0, id), 'p', Misc.STATUS_ONLY)));
    const ix = indexRecords(status, { attrs: stream.attrs });
    assert.equal(ix.count, ids.length);
    assert.deepEqual(Array.from(ix.flags, provenanceOf), ids.map(() => Provenance.Ioctl));
    assert.deepEqual(Array.from(ix.flags, (f) => staleReasons(f).length), ids.map(() => 0));
    // Without STATUS_ONLY the same records are the kernel's, or perf record's synthesis for id 0.
    const real = indexRecords(concat(ids.map((id) => comm(at(7, 0, 0, id), 'p'))), stream);
    assert.deepEqual(
      Array.from(real.flags, provenanceOf),
      ids.map((id) => (id === 0n ? Provenance.Synthesized : Provenance.Kernel)),
    );
  });

  test('without any id in the trailer, status-only records are ioctl and time-0 ones synthesized', () => {
    const noId = parseAttr(sidebandAttr((1n << 1n) | (1n << 2n) | (1n << 7n))); // TID | TIME | CPU
    const s: StreamLayout = { attrs: [{ attr: noId, ids: [] }] };
    /** COMM with the 24-byte trailer of TID | TIME | CPU. */
    const shortComm = (time: number, misc: number) => record(RecordType.COMM, misc, new Body().u32(9, 9).string('x').u32(9, 9).u64(time).u32(0, 0));
    const ix = indexRecords(concat([shortComm(0, Misc.STATUS_ONLY), shortComm(0, 0), shortComm(5, Misc.STATUS_ONLY), shortComm(5, 0)]), s);
    assert.deepEqual(Array.from(ix.trailer), [6, 6, 6, 6]);
    assert.deepEqual(Array.from(ix.flags, provenanceOf), [Provenance.Ioctl, Provenance.Synthesized, Provenance.Ioctl, Provenance.Kernel]);
  });

  test('indexes input that does not start on an 8-byte boundary', () => {
    const backing = new Uint8Array(bytes.byteLength + 4);
    backing.set(bytes, 4);
    const unaligned = backing.subarray(4);
    assert.equal(unaligned.byteOffset % 8, 4);
    const ix = indexRecords(unaligned, stream);
    assert.equal(ix.count, index.count);
    assert.deepEqual(Array.from(ix.time), Array.from(index.time));
    assert.deepEqual(Array.from(ix.flags), Array.from(index.flags));
    assert.deepEqual(decodeRecord(ix, 2), decodeRecord(index, 2));
  });
});

describe('decodeRecord', () => {
  const index = indexRecords(bytes, stream);

  test('FORK and EXIT', () => {
    const f = decodeRecord(index, 5);
    assert.equal(f.type, 'FORK');
    assert.deepEqual([f.pid, f.tid, f.time, f.cpu], [101, 102, 4000, 1]);
    assert.deepEqual(f.fields, { ppid: 101, ptid: 101, forkTime: 4000, exec: false });
    assert.equal(f.provenance, 'kernel');
    const e = decodeRecord(index, 7);
    assert.equal(e.type, 'EXIT');
    assert.deepEqual(e.fields, { ppid: 101, ptid: 101, forkTime: 6000 });
    assert.equal(decodeRecord(index, 0).provenance, 'synthesized');
  });

  test('COMM', () => {
    const c = decodeRecord(index, 1);
    assert.deepEqual(c.fields, { comm: 'sh', exec: true });
    assert.equal(c.statusOnly, false);
    assert.equal(decodeRecord(index, 4).fields.comm, 'reader');
  });

  test('MMAP2', () => {
    const m = decodeRecord(index, 2);
    assert.equal(m.type, 'MMAP2');
    assert.equal(m.statusOnly, true);
    assert.equal(m.provenance, 'proc');
    assert.deepEqual(m.stale, ['race', 'zombie']);
    assert.equal(m.misc, Misc.USER | Misc.STATUS_ONLY);
    assert.deepEqual(m.fields, {
      addr: '0x7f0000001000',
      len: '0x156000',
      end: '0x7f0000157000',
      pgoff: '0x26000',
      data: false,
      maj: 254,
      min: 1,
      ino: '339380',
      inoGeneration: '0',
      prot: 5,
      flags: 2,
      filename: '/usr/lib/libc.so.6',
    });
  });

  test('NAMESPACES', () => {
    const n = decodeRecord(index, 3);
    assert.equal(n.provenance, 'ioctl');
    assert.deepEqual(n.fields.namespaces, [
      { dev: '0x4', ino: '4026531833' },
      { dev: '0x4', ino: '4026531838' },
    ]);
  });

  test('LOST', () => {
    const l = decodeRecord(index, 6);
    assert.equal(l.type, 'LOST');
    assert.deepEqual(l.fields, { id: '1', lost: 17 });
    assert.deepEqual([l.pid, l.tid], [101, 102]);
  });

  test('FINISHED_INIT', () => {
    const i = decodeRecord(index, 8);
    assert.equal(i.type, 'FINISHED_INIT');
    assert.deepEqual(i.fields, {});
  });
});

describe('indexRecords on cut and hostile input', () => {
  test('stops at a record cut off by the end and keeps those before it', () => {
    const lastStart = starts[starts.length - 1];
    for (const cut of [lastStart + 4, lastStart + 8, bytes.byteLength - 8]) {
      const ix = indexRecords(bytes.subarray(0, cut), stream);
      assert.equal(ix.truncatedAt, lastStart, `cut at ${cut}`);
      assert.equal(ix.count, 9);
      assert.deepEqual(decodeRecord(ix, 2).fields.filename, '/usr/lib/libc.so.6');
    }
  });

  /** `bytes` with the header.size of its record k replaced. */
  function withSize(k: number, size: number): Uint8Array {
    const copy = bytes.slice();
    new DataView(copy.buffer).setUint16(starts[k] + 6, size, true);
    return copy;
  }

  function throwsRecordError(input: Uint8Array, s: StreamLayout, field: string): void {
    assert.throws(
      () => indexRecords(input, s),
      (e: unknown) => e instanceof RecordError && e.field === field,
    );
  }

  test('a record of size 0 or not a multiple of 8 names header.size', () => {
    throwsRecordError(withSize(1, 0), stream, 'header.size');
    throwsRecordError(withSize(1, 12), stream, 'header.size');
    throwsRecordError(withSize(1, 4), stream, 'header.size');
  });

  test('a record smaller than its fixed fields names them', () => {
    // COMM: 8 header + 8 pid/tid + 32 trailer = 48, so 40 cannot hold it.
    const shortComm = record(RecordType.COMM, 0, new Body(), at(1, 1, 0, KERNEL_ID));
    assert.equal(shortComm.byteLength, 40);
    throwsRecordError(shortComm, stream, 'COMM.size');
    const shortMmap2 = record(RecordType.MMAP2, 0, new Body().u64(0, 0, 0, 0, 0), at(1, 1, 0, KERNEL_ID));
    throwsRecordError(shortMmap2, stream, 'MMAP2.size');
  });

  /** perf's AUXTRACE record: size, offset, reference, idx, tid, cpu, then `aux` bytes not counted in its size. */
  function auxtrace(aux: number): Uint8Array {
    return concat([record(RecordType.AUXTRACE, 0, new Body().u64(aux, 0, 0).u32(0, 0, 0, 0)), new Uint8Array(aux)]);
  }

  test('AUX data after an AUXTRACE record is skipped with it', () => {
    const ix = indexRecords(concat([auxtrace(16), records[1]]), stream);
    assert.equal(ix.count, 1);
    assert.equal(ix.skipped, 1);
    assert.equal(decodeRecord(ix, 0).fields.comm, 'sh');
  });

  test('AUX data that is not a multiple of 8 names AUXTRACE.size', () => {
    // It would leave every later record misaligned with the words it is read from.
    throwsRecordError(concat([auxtrace(12), records[1]]), stream, 'AUXTRACE.size');
  });

  test('an id no attr lists is an error when attrs have different trailers', () => {
    const other = sidebandAttr((1n << 1n) | (1n << 2n) | (1n << 16n)); // TID | TIME | IDENTIFIER: no CPU
    const two: StreamLayout = {
      attrs: [
        { attr: parseAttr(sidebandAttr()), ids: [KERNEL_ID] },
        { attr: parseAttr(other), ids: [5n] },
      ],
    };
    assert.equal(indexRecords(comm(at(1, 1, 0, KERNEL_ID), 'a'), two).count, 1);
    throwsRecordError(comm(at(1, 1, 0, 77n), 'a'), two, 'sample_id.id');
  });

  test('events with different trailers and no IDENTIFIER cannot be told apart', () => {
    const noIdentifier = (cpu: boolean) => parseAttr(sidebandAttr((1n << 1n) | (1n << 2n) | (cpu ? 1n << 7n : 0n)));
    const two: StreamLayout = { attrs: [{ attr: noIdentifier(true), ids: [] }, { attr: noIdentifier(false), ids: [] }] };
    throwsRecordError(new Uint8Array(0), two, 'attrs');
    throwsRecordError(new Uint8Array(0), { attrs: [] }, 'attrs');
  });
});

describe('RecordIndexBuilder', () => {
  test('fed in pieces from a tiny capacity, it grows to the same index as one call', () => {
    const many = concat(Array.from({ length: 300 }, (_, i) => records[i % records.length]));
    const whole = indexRecords(many, stream);
    const builder = new RecordIndexBuilder(stream, 1);
    // Feed whole records only, in uneven pieces, as a streaming reader does.
    let base = 0;
    while (base < many.byteLength) {
      const piece = many.slice(base, Math.min(many.byteLength, base + 200));
      const next = builder.add(piece, base);
      assert.ok(next > 0, 'every piece holds at least one whole record');
      base += next;
    }
    const built = builder.finish(memorySource(many));
    assert.equal(built.count, whole.count);
    for (const column of ['offset', 'size', 'type', 'flags', 'time', 'pid', 'tid', 'cpu', 'trailer'] as const) assert.deepEqual(built[column], whole[column], column);
    assert.equal(built.skipped, whole.skipped);
  });
});

describe('the webview store', () => {
  test('a live stream past 4 GiB keeps every record at its own offset', () => {
    // Records of the largest size a header can give, so 4 GiB is only 65k of
    // them; one 64 MiB batch is sent again and again, so the test holds 64
    // MiB and the store's offsets still pass 2^32.
    const largest = comm(at(7, 1000, 0, KERNEL_ID), 'x'.repeat(65479));
    assert.equal(largest.byteLength, 65528);
    const batch = concat(Array.from({ length: 1024 }, () => largest));
    const store = new RecordStore(stream, 0);
    let sent = 0;
    while (sent <= 2 ** 32) {
      store.append(sent, batch.buffer as ArrayBuffer);
      sent += batch.byteLength;
    }
    const { index } = store;
    assert.equal(index.count, sent / largest.byteLength);
    const last = index.count - 1;
    assert.ok(last * largest.byteLength > 2 ** 32, 'the last record starts past 4 GiB');
    for (let i = 0; i < index.count; i++) if (index.offset[i] !== i * largest.byteLength) assert.fail(`record ${i} is at offset ${index.offset[i]}, not ${i * largest.byteLength}`);
    assert.equal(decodeRecord(index, last).fields.comm, 'x'.repeat(65479));
  });
});
