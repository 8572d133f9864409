// Shared plumbing for tests against the real kernel: build the C fixtures,
// run the `sideband` CLI and `perf record` side by side, and read back what
// each wrote, ours through our decoder and perf's through `perf script`.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { readPerfData } from '../../node/perfdata/reader';
import { type PerfData } from '../../core/perfdata/format';
import { decodeRecord, type DecodedRecord } from '../../core/records';
import { indexRecords } from '../../core/recordStream';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'bin', 'sideband.js');

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sideband-${name}-`));
}

/**
 * A relative name under `dir` whose absolute path is `length` characters
 * long, in directories short enough for any file system.
 */
export function nameOfLength(dir: string, length: number): string {
  const parts: string[] = [];
  let used = dir.length + 1;
  while (length - used > 255) {
    parts.push('d'.repeat(200));
    used += 201;
  }
  parts.push('f'.repeat(length - used));
  return parts.join('/');
}

const built = new Map<string, string>();

/** Compiles test/fixtures/NAME.c once per test process. */
export function fixture(name: string): string {
  const existing = built.get(name);
  if (existing) return existing;
  const out = path.join(tempDir('fixture'), name);
  execFileSync('gcc', ['-O1', '-g', '-pthread', '-o', out, path.join(ROOT, 'test', 'fixtures', `${name}.c`)]);
  built.set(name, out);
  return out;
}

/** A running process whose output lines can be awaited. */
export class Proc {
  readonly lines: string[] = [];
  readonly exited: Promise<number>;
  private waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(readonly child: ChildProcess) {
    const take = (stream: NodeJS.ReadableStream | null): void => {
      if (!stream) return;
      readline.createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          const m = line.match(w.re);
          if (m) w.resolve(m);
          return !m;
        });
      });
    };
    take(child.stdout);
    take(child.stderr);
    this.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  }

  static start(cmd: string, args: string[], opts: { stdin?: boolean } = {}): Proc {
    return new Proc(spawn(cmd, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] }));
  }

  /** Resolves with the first line (seen or to come) matching `re`; fails after `ms`. */
  waitFor(re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; output so far:\n${this.lines.join('\n')}`)), ms);
      this.waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  get output(): string {
    return this.lines.join('\n');
  }
}

export function sideband(args: string[], opts: { stdin?: boolean } = {}): Proc {
  return Proc.start(process.execPath, [CLI, ...args], opts);
}

/** `perf record -e dummy` attached to `pid` (with `options` of perf's added), enabled through its control fifo. */
export async function perfRecordAttach(pid: number, output: string, options: string[] = []): Promise<Proc> {
  const dir = path.dirname(output);
  const ctl = path.join(dir, 'perf-ctl.fifo');
  const ack = path.join(dir, 'perf-ack.fifo');
  execFileSync('mkfifo', [ctl, ack]);
  const perf = Proc.start('perf', ['record', '-q', '-e', 'dummy', '--namespaces', '-D', '-1', `--control=fifo:${ctl},${ack}`, ...options, '-p', String(pid), '-o', output]);
  // Opening the fifos waits for perf to open its ends: it is then set up.
  const ctlFd = await fs.promises.open(ctl, 'w');
  const ackFd = await fs.promises.open(ack, 'r');
  await ctlFd.write('enable\n');
  const buf = Buffer.alloc(16);
  await ackFd.read(buf, 0, 16, null);
  await ctlFd.close();
  await ackFd.close();
  return perf;
}

export interface Capture {
  file: PerfData;
  records: DecodedRecord[];
}

export function readCapture(file: string): Capture {
  const data = readPerfData(file);
  const index = indexRecords(data.data, data.stream);
  const records: DecodedRecord[] = [];
  for (let i = 0; i < index.count; i++) records.push(decodeRecord(index, i));
  return { file: data, records };
}

/** A sideband record as `perf script` prints it, reduced to what identifies it. */
export interface ScriptRecord {
  type: string;
  time: number;
  key: string;
}

/**
 * Parses `perf script --show-task-events --show-mmap-events
 * --show-namespace-events` into keys that identify each record across tools.
 */
export function perfScript(file: string): ScriptRecord[] {
  const run = spawnSync('perf', ['script', '--show-task-events', '--show-mmap-events', '--show-namespace-events', '-i', file], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (run.status !== 0 || run.stderr.trim()) throw new Error(`perf script on ${file} failed or warned (exit ${run.status}):\n${run.stderr}`);
  const text = run.stdout;
  const out: ScriptRecord[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/\s(\d+\.\d+): PERF_RECORD_(\w+)(.*)$/);
    if (!m) continue;
    const [, time, type, rest] = m;
    let key: string | undefined;
    let r: RegExpMatchArray | null;
    if (type === 'COMM' && (r = rest.match(/^( exec)?: (.*):(\d+)\/(\d+)$/))) key = `COMM ${r[3]}/${r[4]} ${r[2]}${r[1] ? ' exec' : ''}`;
    else if ((type === 'FORK' || type === 'EXIT') && (r = rest.match(/^\((\d+):(\d+)\):\((\d+):(\d+)\)/))) key = `${type} ${r[1]}/${r[2]} parent ${r[3]}/${r[4]}`;
    else if (type === 'MMAP2' && (r = rest.match(/^ (\d+)\/(\d+): \[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ (\S+) .*\]: \S+ (.*)$/)))
      key = `MMAP2 ${r[1]}/${r[2]} ${r[3]} ${r[4]} ${r[6]}`;
    else if (type === 'NAMESPACES' && (r = rest.match(/^ (\d+)\/(\d+)/))) key = `NAMESPACES ${r[1]}/${r[2]}`;
    if (key) out.push({ type, time: Math.round(Number(time) * 1e9), key });
  }
  return out;
}

/** The same key for one of our decoded records. */
export function keyOf(r: DecodedRecord): string | undefined {
  const f = r.fields;
  switch (r.type) {
    case 'COMM':
      return `COMM ${r.pid}/${r.tid} ${f.comm}${f.exec ? ' exec' : ''}`;
    case 'FORK':
    case 'EXIT':
      return `${r.type} ${r.pid}/${r.tid} parent ${f.ppid}/${f.ptid}`;
    case 'MMAP2':
      return `MMAP2 ${r.pid}/${r.tid} ${f.addr} ${f.len} ${f.filename}`;
    case 'NAMESPACES':
      return `NAMESPACES ${r.pid}/${r.tid}`;
    default:
      return undefined;
  }
}
