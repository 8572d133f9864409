// The machine a capture runs on, as perf record describes it in its
// header features, read from /proc and /sys.

import * as fs from 'node:fs';

/** The machine a capture ran on, for perf's HOSTNAME, OSRELEASE, ARCH, NRCPUS and CMDLINE features. */
export interface HostInfo {
  hostname: string;
  osRelease: string;
  /** As `uname -m` says, e.g. x86_64: perf maps it to its own arch names. */
  arch: string;
  /** Highest present CPU number + 1, as perf writes it. */
  cpusAvailable: number;
  cpusOnline: number;
  cmdline: string[];
}

/** Numbers in a kernel CPU list such as "0-3,8,10-11". */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) continue;
    for (let cpu = Number(m[1]); cpu <= Number(m[2] ?? m[1]); cpu++) cpus.push(cpu);
  }
  return cpus;
}

function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** What perf record would write about this machine, read from /proc and /sys. */
export function readHostInfo(): HostInfo {
  const present = parseCpuList(readText('/sys/devices/system/cpu/present'));
  return {
    hostname: readText('/proc/sys/kernel/hostname'),
    osRelease: readText('/proc/sys/kernel/osrelease'),
    arch: readText('/proc/sys/kernel/arch'),
    cpusAvailable: present.length ? Math.max(...present) + 1 : 0,
    cpusOnline: parseCpuList(readText('/sys/devices/system/cpu/online')).length,
    cmdline: process.argv,
  };
}
