// A capture run by the helper executable (native/tools/capture_helper.cc)
// rather than by the addon in this process: the one way a capture gets
// privileges, in a small program of its own and with the user's consent,
// never in the editor or node. This side stays unprivileged: it creates the
// capture's file (so it stays the user's), listens on a socket in a private
// directory for the helper's messages, and starts the helper by an argv
// array, never a shell command.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import { EngineError, packageRoot, type CoreOptions, type NativeCapture, type NativeMessage } from './engine';

/** The running helper, however it was started: settles once it has ended, with what it said on its own (its stderr), if anything. */
export interface HelperProcess {
  ended: Promise<string>;
}

/**
 * How the helper runs: as this user ('helper', for a helper given
 * capabilities once), through `sudo`, through polkit's `pkexec`, or by a
 * starter of the caller's (the extension's terminal) given the argv.
 */
export type HelperVia = 'helper' | 'sudo' | 'pkexec' | ((argv: string[]) => HelperProcess);

/** Where the helper is: next to the addon, in the package's build. */
export function helperPath(): string {
  return path.join(packageRoot(), 'native', 'build', 'Release', 'sideband-capture');
}

/** The largest pid Linux gives (PID_MAX_LIMIT); the helper checks the same. */
const PID_MAX = 4194304;

/** The helper's argv, after whatever runs it: every value checked or ours, for no shell to ever see. */
export function helperArgv(options: CoreOptions, control: string): string[] {
  const pid = options.pid;
  if (options.command?.length || pid === undefined)
    throw new EngineError('EUSAGE', 'the capture helper attaches to a running process and never launches one (elevated, the command would run as root). Fix: start the program, then capture its pid.');
  if (!Number.isInteger(pid) || pid < 1 || pid > PID_MAX) throw new EngineError('EUSAGE', `${pid} is not a process id (1 to ${PID_MAX}). Fix: give the pid of a running process.`);
  const argv = [helperPath(), '--output', path.resolve(options.output), '--control', control, '--pid', String(pid)];
  if (options.ringPages !== undefined) argv.push('--ring-pages', String(options.ringPages >>> 0));
  if (options.emit !== undefined) argv.push('--emit', String(options.emit >>> 0));
  if (options.followChildren === false) argv.push('--no-children');
  if (options.tryIoctl === false) argv.push('--no-ioctl');
  if (options.regionTracepoints === false) argv.push('--no-region-tracepoints');
  return argv;
}

/** Runs `argv` as a child of ours, its stderr kept for when it ends without a word on the socket. */
function spawnHelper(argv: string[]): HelperProcess {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  child.stderr.on('data', (chunk: Buffer) => (said = (said + chunk.toString()).slice(-4096)));
  return {
    ended: new Promise((resolve) => {
      child.on('error', (e) => resolve(`cannot run ${argv[0]}: ${e.message}`));
      child.on('close', (code, signal) => resolve(said.trim() || `${argv[0]} exited with ${signal ?? `status ${code}`}`));
    }),
  };
}

/**
 * What runs the helper for `via`. sudo gets -n where no one can answer its
 * password prompt (no terminal on stdin), so it fails at once rather than wait.
 */
function starterOf(via: HelperVia): (argv: string[]) => HelperProcess {
  if (typeof via === 'function') return via;
  if (via === 'sudo') return (argv) => spawnHelper(['sudo', ...(process.stdin.isTTY ? [] : ['-n']), '--', ...argv]);
  if (via === 'pkexec') return (argv) => spawnHelper(['pkexec', ...argv]);
  return spawnHelper;
}

const ZERO_STATS = { records: 0, statusRecords: 0, ioctlRecords: 0, procRecords: 0, lost: 0, lostRecords: 0 };

/** The helper's messages, as JSON lines: the addon's, with bytes in hex and 64-bit numbers as strings. */
function toNative(line: string): NativeMessage {
  const m = JSON.parse(line);
  switch (m.kind) {
    case 'attached':
      return {
        ...m,
        events: m.events.map((e: { name: string; attr: string; ids: string[] }) => ({ name: e.name, attr: new Uint8Array(Buffer.from(e.attr, 'hex')).buffer, ids: e.ids.map(BigInt) })),
        ioctlId: BigInt(m.ioctlId),
        tracefs: new Map(Object.entries(m.tracefs as Record<string, string>).map(([file, text]) => [file, Buffer.from(text)])),
      };
    case 'snapshot':
      return { ...m, start: BigInt(m.start), end: BigInt(m.end) };
    case 'failed':
      return { kind: 'failed', error: Object.assign(new Error(m.message), { code: m.code as string }) };
    default:
      return m;
  }
}

/** A capture the helper runs, driven as the addon's is (NativeCapture), its messages passed on as the addon's. */
export class HelperCapture implements NativeCapture {
  private connection?: net.Socket;
  /** Commands given before the helper connected (it may wait for a password). */
  private pending: string[] = [];
  private attached = false;
  private stopped = false;

  constructor(
    private readonly options: CoreOptions,
    private readonly via: HelperVia,
    private readonly onMessage: (m: NativeMessage) => void,
  ) {
    helperArgv(options, ''); // refuses a command or a bad pid now, as the addon's constructor would
  }

  start(): void {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sideband-helper-')); // 0700: only we (and root) reach the socket
    const control = path.join(dir, 'control');
    const argv = helperArgv(this.options, control);
    // Ours, created before the helper runs: it writes into it, never creates it.
    fs.closeSync(fs.openSync(this.options.output, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600));
    const server = net.createServer((socket) => {
      server.close(); // one helper, one connection
      this.connection = socket;
      for (const command of this.pending.splice(0)) socket.write(command);
      readline.createInterface({ input: socket }).on('line', (line) => {
        let message: NativeMessage;
        try {
          message = toNative(line);
        } catch (e) {
          message = { kind: 'warning', code: 'EHELPER', message: `the capture helper sent a line that is no message (${(e as Error).message}): it was left out. Fix: reinstall the extension, so that the helper and the extension match.` };
        }
        this.receive(message);
      });
      socket.on('error', () => {}); // its end is the helper's, reported by ended below
    });
    server.listen(control, () => {
      starterOf(this.via)(argv).ended.then((said) => {
        server.close();
        fs.rmSync(dir, { recursive: true, force: true });
        if (this.stopped) return;
        // Ended without saying it stopped: refused (a password not given, the helper missing), or killed.
        this.receive({ kind: 'failed', error: Object.assign(new Error(`the capture helper ended without capturing: ${said}. Fix: run it again and allow it when asked; what it said names any other cause.`), { code: 'EHELPER' }) });
        this.receive({ kind: 'stopped', reason: 'failed', exitStatus: -1, stats: ZERO_STATS });
      });
    });
  }

  private receive(m: NativeMessage): void {
    if (this.stopped) return;
    if (m.kind === 'attached') this.attached = true;
    if (m.kind === 'stopped') {
      this.stopped = true;
      this.connection?.end();
      // As the addon's, a capture that never attached leaves no file.
      if (!this.attached) fs.rmSync(this.options.output, { force: true });
    }
    this.onMessage(m);
  }

  private command(line: string): void {
    if (this.connection) this.connection.write(line);
    else this.pending.push(line);
  }

  snapshot(): void {
    this.command('snapshot\n');
  }

  stop(force = false): void {
    this.command(force ? 'kill\n' : 'stop\n');
  }
}
