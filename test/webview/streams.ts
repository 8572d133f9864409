// Synthetic sideband streams for the webview's tests and bench, built with
// the raw record builders of test/fixtures/records.ts.

import { Misc, PROC_IDS, RecordType, Stale } from '../../core/records';
import { Mapping, Trailer, comm, exit, fork, lost, mmap2, namespaces, sidebandAttr, userRecord } from '../fixtures/records';
import type { StreamEvents } from './harness';

export const KERNEL_ID = 1n;
export const IOCTL_ID = 99n;
export const EVENTS: StreamEvents[] = [{ attr: sidebandAttr(), ids: [KERNEL_ID, IOCTL_ID] }];

export const real = (pid: number, time: number, tid = pid): Trailer => ({ pid, tid, time, cpu: 0, id: KERNEL_ID });
export const proc = (pid: number, time: number, tid = pid, stale = 0): Trailer => ({ pid, tid, time, cpu: 1, id: PROC_IDS[stale] });
export const ioctl = (pid: number, time: number, tid = pid): Trailer => ({ pid, tid, time, cpu: 1, id: IOCTL_ID });
export const STATUS = Misc.STATUS_ONLY;

export function mapping(addr: bigint, len: bigint, filename: string, prot = 5, pgoff = 0n): Mapping {
  return { addr, len, pgoff, maj: 254, min: 1, ino: 4242n, prot, flags: 2, filename };
}

/** Records appended one by one, remembering each one's index in the webview's RecordIndex (FINISHED_ROUND would be skipped; FINISHED_INIT is indexed). */
export class StreamBuilder {
  private readonly parts: Uint8Array[] = [];
  private bytes = 0;
  count = 0;

  add(record: Uint8Array): number {
    this.parts.push(record);
    this.bytes += record.byteLength;
    return this.count++;
  }

  get byteLength(): number {
    return this.bytes;
  }

  build(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

/** The comm the tooltip test injects: markup that would run if it ever reached innerHTML. */
export const HOSTILE_COMM = '<img src=x onerror=alert(1)>';
export const START = 1_000_000;

/**
 * A small capture with each thing the view shows once, at known times: pid
 * 100's status (ioctl and /proc, one raced), a rename to a hostile name, a
 * fork of 200 that maps a library, a LOST, 200's exit, and a mapping over
 * part of 100's libc.
 */
export function smallCapture() {
  const s = new StreamBuilder();
  const r = {
    statusFork: s.add(fork(proc(100, START), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA)),
    statusComm: s.add(comm(proc(100, START + 200_000), 'server', STATUS)),
    statusApp: s.add(mmap2(ioctl(100, START + 400_000), mapping(0x400000n, 0x2000n, '/usr/bin/server'), Misc.USER | STATUS)),
    statusLibc: s.add(mmap2(proc(100, START + 600_000, 100, Stale.RACE), mapping(0x7f0000000000n, 0x20000n, '/usr/lib/libc.so.6'), Misc.USER | STATUS)),
    finishedInit: s.add(userRecord(RecordType.FINISHED_INIT)),
    rename: s.add(comm(real(100, 3_000_000), HOSTILE_COMM)),
    fork: s.add(fork(real(200, 4_000_000), { pid: 100, tid: 100 })),
    childComm: s.add(comm(real(200, 4_100_000), 'worker')),
    plugin: s.add(mmap2(real(200, 4_500_000), mapping(0x500000n, 0x1000n, '/home/user/project/libplugin.so'))),
    lost: s.add(lost(real(200, 5_000_000), KERNEL_ID, 17)),
    exit: s.add(exit(real(200, 6_000_000), { pid: 100, tid: 100 })),
    over: s.add(mmap2(real(100, 7_000_000), mapping(0x7f0000008000n, 0x4000n, '/tmp/over', 3))),
  };
  return { bytes: s.build(), count: s.count, records: r };
}

const LIBRARIES = ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30', '/usr/lib/x86_64-linux-gnu/libpthread.so.0', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'];

/**
 * A busy capture of about `target` records over `seconds`: a status snapshot
 * of a server with threads, then a build-like storm of short-lived children,
 * each forked, renamed by exec, mapping its libraries, some with threads and
 * namespaces, then exiting; LOST records now and then. Deterministic.
 */
export function busyCapture(target: number, seconds = 10) {
  const s = new StreamBuilder();
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  let t = START;
  const server = 1000;
  // The snapshot: the server, its 8 threads, their names and its maps.
  s.add(fork(proc(server, t), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA));
  s.add(namespaces(proc(server, (t += 500)), [{ dev: 4n, ino: 4026531833n }], STATUS));
  s.add(comm(proc(server, (t += 500)), 'make', STATUS));
  for (let k = 1; k <= 8; k++) {
    s.add(fork(proc(server, (t += 500), server + k), { pid: server, tid: server }, RecordType.FORK, STATUS));
    s.add(comm(proc(server, (t += 500), server + k, k === 8 ? Stale.VANISHED : 0), `make-worker-${k}`, STATUS));
  }
  for (let k = 0; k < LIBRARIES.length; k++) s.add(mmap2(proc(server, (t += 500)), mapping(0x7f0000000000n + BigInt(k) * 0x200000n, 0x1c0000n, LIBRARIES[k]), Misc.USER | STATUS));
  s.add(userRecord(RecordType.FINISHED_INIT));
  const step = (seconds * 1e9) / target;
  let pid = 20000;
  const live: Array<{ pid: number; threads: number[] }> = [];
  while (s.count < target) {
    const r = random();
    if (r < 0.06 || live.length < 4) {
      // A new child of the server or of a live child, exec'ing a tool: its binary, the loader and some libraries, as exec maps them.
      const parent = live.length && random() < 0.3 ? live[Math.floor(random() * live.length)].pid : server;
      const child = pid++;
      const tool = ['cc1', 'as', 'ld', 'sh', 'python3'][child % 5];
      s.add(fork(real(child, (t += Math.round(step * random() * 2))), { pid: parent, tid: parent }));
      s.add(comm(real(child, (t += Math.round(step * random() * 2))), tool, Misc.EXEC_OR_DATA));
      s.add(mmap2(real(child, (t += Math.round(step * random() * 2))), mapping(0x400000n, 0x80000n, `/usr/bin/${tool}`)));
      for (let k = 0; k < 3 + (child % 4); k++) s.add(mmap2(real(child, (t += Math.round(step * random() * 2))), mapping(0x7f0000000000n + BigInt(k) * 0x200000n, 0x1c0000n, LIBRARIES[(k + child) % LIBRARIES.length])));
      live.push({ pid: child, threads: [] });
    } else if (r < 0.7 || (r >= 0.8 && r < 0.94)) {
      const p = live[Math.floor(random() * live.length)];
      const lib = LIBRARIES[Math.floor(random() * LIBRARIES.length)];
      s.add(mmap2(real(p.pid, (t += Math.round(step * random() * 2))), mapping(0x7f0000000000n + BigInt(Math.floor(random() * 4096)) * 0x10000n, 0x21000n, lib)));
    } else if (r < 0.76) {
      const p = live[Math.floor(random() * live.length)];
      const tid = pid++;
      s.add(fork(real(p.pid, (t += Math.round(step * random() * 2)), tid), { pid: p.pid, tid: p.pid }));
      p.threads.push(tid);
    } else if (r < 0.77) {
      const p = live[Math.floor(random() * live.length)];
      s.add(namespaces(real(p.pid, (t += Math.round(step * random() * 2))), [{ dev: 4n, ino: BigInt(4026532000 + Math.floor(random() * 10)) }]));
    } else if (r < 0.7705) {
      s.add(lost(real(server, (t += Math.round(step * random() * 2))), KERNEL_ID, 1 + Math.floor(random() * 100)));
    } else if (r < 0.8) {
      const p = live[Math.floor(random() * live.length)];
      s.add(comm(real(p.pid, (t += Math.round(step * random() * 2))), `job-${Math.floor(random() * 1000)}`));
    } else {
      // The oldest child ends: its threads, then itself.
      const p = live.shift()!;
      for (const tid of p.threads) s.add(exit(real(p.pid, (t += Math.round(step * random() * 0.2)), tid), { pid: p.pid, tid: p.pid }));
      s.add(exit(real(p.pid, (t += Math.round(step * random() * 2))), { pid: server, tid: server }));
    }
  }
  return { bytes: s.build(), count: s.count, start: START, end: t };
}
