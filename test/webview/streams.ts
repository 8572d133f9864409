// Synthetic sideband streams for the webview's tests and bench, built with
// the raw record builders of test/fixtures/records.ts.

import { Misc, PROC_IDS, RecordType, Stale } from '../../core/records';
import { Mapping, Trailer, comm, exit, fork, lost, mmap2, namespaces, sidebandAttr, syscallSample, tracepointAttr, userRecord } from '../fixtures/records';
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

const MAPPING_SYSCALLS = { munmap: 11, mremap: 25, mprotect: 10 } as const;
type MappingSyscall = keyof typeof MAPPING_SYSCALLS;
/** Sample ids of the syscall tracepoints: sys_enter_X is 20 + 2k, sys_exit_X 21 + 2k. */
const syscallIds = (call: MappingSyscall): { enter: bigint; exit: bigint } => {
  const k = BigInt(Object.keys(MAPPING_SYSCALLS).indexOf(call));
  return { enter: 20n + 2n * k, exit: 21n + 2n * k };
};
/** The sideband and the mapping syscalls' tracepoints, named as a capture names them. */
export const LIFETIME_EVENTS: StreamEvents[] = [
  ...EVENTS,
  ...(Object.keys(MAPPING_SYSCALLS) as MappingSyscall[]).flatMap((call, k) => [
    { attr: tracepointAttr(600 + 2 * k), ids: [syscallIds(call).enter], name: `syscalls:sys_enter_${call}` },
    { attr: tracepointAttr(601 + 2 * k), ids: [syscallIds(call).exit], name: `syscalls:sys_exit_${call}` },
  ]),
];

/** A mapping syscall of `pid` as its two samples: the entry with its arguments, the exit with `ret` at `time`. */
function mappingSyscall(s: StreamBuilder, pid: number, time: number, call: MappingSyscall, args: bigint[], ret: bigint): number {
  s.add(syscallSample({ pid, tid: pid, time: time - 1000, cpu: 0, id: syscallIds(call).enter }, MAPPING_SYSCALLS[call], args));
  return s.add(syscallSample({ pid, tid: pid, time, cpu: 0, id: syscallIds(call).exit }, MAPPING_SYSCALLS[call], [ret]));
}

/**
 * Pid 300's regions coming and going, each way once, at round moments: its
 * status maps an app, /tmp/libgone.so, /tmp/libvanish.so and /tmp/code;
 * munmap removes libgone.so at +1 ms, mprotect takes PROT_EXEC from code's
 * second page at +2 ms, mremap moves its last two pages to 0x600000 at
 * +3 ms, and a second status snapshot at +5 ms no longer lists libvanish.so.
 */
export function lifetimesCapture() {
  const s = new StreamBuilder();
  const app = mapping(0x400000n, 0x2000n, '/usr/bin/app');
  const code = mapping(0x500000n, 0x4000n, '/tmp/code');
  const statusMap = (time: number, m: Mapping): number => s.add(mmap2(proc(300, time), m, Misc.USER | STATUS));
  const r = {
    statusFork: s.add(fork(proc(300, START), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA)),
    statusApp: statusMap(START, app),
    statusGone: statusMap(START, mapping(0x7f0000000000n, 0x3000n, '/tmp/libgone.so')),
    statusVanish: statusMap(START, mapping(0x7f1000000000n, 0x1000n, '/tmp/libvanish.so')),
    statusCode: statusMap(START, code),
    finishedInit: s.add(userRecord(RecordType.FINISHED_INIT)),
    munmap: mappingSyscall(s, 300, START + 1_000_000, 'munmap', [0x7f0000000000n, 0x3000n], 0n),
    mprotect: mappingSyscall(s, 300, START + 2_000_000, 'mprotect', [0x501000n, 0x1000n, 1n], 0n),
    // MREMAP_MAYMOVE | MREMAP_FIXED, growing by a page on the way.
    mremap: mappingSyscall(s, 300, START + 3_000_000, 'mremap', [0x502000n, 0x2000n, 0x3000n, 3n, 0x600000n], 0x600000n),
    snapshotFork: s.add(fork(proc(300, START + 5_000_000), { pid: 1, tid: 1 }, RecordType.FORK, STATUS | Misc.EXEC_OR_DATA)),
    snapshotApp: statusMap(START + 5_000_000, app),
    snapshotCode: statusMap(START + 5_000_000, { ...code, len: 0x1000n }),
    snapshotMoved: statusMap(START + 5_000_000, { ...code, addr: 0x600000n, len: 0x3000n, pgoff: 0x2000n }),
    late: s.add(comm(real(300, START + 6_000_000), 'app')),
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
