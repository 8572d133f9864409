// Addresses of an ELF file to source frames, for the language server and
// the CLI. Three backends, the best one that works here: the libdw addon
// (inline chains, compile units, functions, fast); a long-lived
// llvm-symbolizer (inline chains, slower, no listings); the ELF symbol
// tables (function names only). Pure Node, no VS Code.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { findDebugInfo, SYSTEM_DEBUG_DIR } from './debuginfo';
import { type Debuginfod, type FetchWatch } from './debuginfod';
import { loadSymbolsAddon, type SourceFrame, type CompileUnit, type FunctionRange, type SymbolsAddon, type SymbolsModule } from '../../native/symbols';
import { readElfInfo, readElfSymbols, symbolAt, type ElfSymbol, type LoadSegment } from './elf';
import { SourceError } from '../../core/sourceError';

export interface ModuleDebug {
  path: string;
  buildId?: string;
  debugFile?: string;
  found: 'itself' | 'build-id' | 'debuginfod' | 'debuglink' | 'none';
  missing?: string;
}
export interface ModuleSymbols {
  readonly debug: ModuleDebug;
  readonly segments: LoadSegment[];
  /** Frames of each address (file vaddrs), innermost first; [] for an address nothing is known of. */
  resolve(addresses: number[] | Float64Array): Promise<SourceFrame[][]>;
  /** [] when the backend cannot list them. */
  compileUnits(): Promise<CompileUnit[]>;
  /** [] when the backend cannot list them. */
  functions(): Promise<FunctionRange[]>;
}
export type BackendKind = 'libdw' | 'llvm-symbolizer' | 'elf-symbols';
export interface Symbolizer {
  readonly kind: BackendKind;
  /** One line for the user: which backend is in use and, when not libdw, how to get the better one. */
  readonly description: string;
  /** Cached by path and modification time. Never fetches: debug files fetched before are found in the debuginfod cache. */
  module(path: string): ModuleSymbols;
  /**
   * The module, its debug file first fetched from debuginfod when none is
   * here and debuginfod is on: for what the user asked about (an address, a
   * region's sources), never for a sweep. Throws the fetch's SourceError.
   */
  fetchedModule(path: string, watch?: FetchWatch): Promise<ModuleSymbols>;
  dispose(): void;
}

export interface SymbolizerOptions {
  /** The user's debug directories (build-id trees or debug-link targets), searched before /usr/lib/debug. */
  debugDirs: string[];
  /** The debuginfod servers to fetch missing debug files from; none when debuginfod is off. */
  debuginfod?: Debuginfod;
  /** Loads the libdw addon; throws when it cannot (tests pass one that fails as dlopen does). */
  loadAddon?: () => SymbolsAddon;
  /** The llvm-symbolizer to run; null for none; undefined to look on PATH. */
  llvmSymbolizer?: string | null;
}

/** llvm-symbolizer on PATH, else the newest llvm-symbolizer-NN there. */
export function findLlvmSymbolizer(): string | undefined {
  const candidates: Array<[number, string]> = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^llvm-symbolizer(?:-(\d+))?$/.exec(name);
      if (m) candidates.push([m[1] ? Number(m[1]) : Infinity, path.join(dir, name)]);
    }
  }
  candidates.sort((a, b) => b[0] - a[0]);
  return candidates[0]?.[1];
}

/** What a backend adds to a module's ELF facts: how it answers. */
type ModuleAnswers = Omit<ModuleSymbols, 'debug' | 'segments'>;

/**
 * A backend: its modules cached by path and dropped when the file's
 * modification time changes (rebuilt between runs). Each module's debug file
 * is found once, by findDebugInfo, whichever backend reads it.
 */
class BackendSymbolizer implements Symbolizer {
  private readonly modules = new Map<string, { mtimeMs: number; module: ModuleSymbols }>();

  constructor(
    readonly kind: BackendKind,
    readonly description: string,
    private readonly debugDirs: readonly string[],
    private readonly debuginfod: Debuginfod | undefined,
    private readonly answers: (file: string, debug: ModuleDebug) => ModuleAnswers,
    private readonly stop: () => void = () => {},
  ) {}

  module(file: string): ModuleSymbols {
    const mtimeMs = fs.statSync(file).mtimeMs;
    const cached = this.modules.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.module;
    const info = readElfInfo(file);
    const found = findDebugInfo(file, info, this.debugDirs, this.debuginfod);
    const debug: ModuleDebug =
      found.found === 'none'
        ? { path: file, buildId: info.buildId, found: 'none', missing: found.missing }
        : { path: file, buildId: info.buildId, found: found.found, debugFile: found.file };
    const module = { debug, segments: info.segments, ...this.answers(file, debug) };
    this.modules.set(file, { mtimeMs, module });
    return module;
  }

  async fetchedModule(file: string, watch?: FetchWatch): Promise<ModuleSymbols> {
    const module = this.module(file);
    const { found, buildId } = module.debug;
    if (found !== 'none' || !this.debuginfod || !buildId) return module;
    await this.debuginfod.fetch(buildId, file, watch);
    // Found again, in the cache now.
    this.modules.delete(file);
    return this.module(file);
  }

  dispose(): void {
    this.stop();
    this.modules.clear();
  }
}

const NO_LISTINGS = { compileUnits: async () => [], functions: async () => [] };

function libdwSymbolizer(addon: SymbolsAddon, debugDirs: readonly string[], debuginfod: Debuginfod | undefined): Symbolizer {
  return new BackendSymbolizer('libdw', `Symbols: libdw ${addon.libdwVersion} (DWARF with inline frames).`, debugDirs, debuginfod, (file, debug) => {
    let opened: SymbolsModule | undefined;
    const native = (): SymbolsModule => (opened ??= addon.open(file, debug.found === 'itself' ? null : (debug.debugFile ?? null)));
    return {
      resolve: async (addresses) => native().resolve(addresses instanceof Float64Array ? addresses : Float64Array.from(addresses)),
      compileUnits: async () => native().compileUnits(),
      functions: async () => native().functions(),
    };
  });
}

interface LlvmFrame {
  FunctionName: string;
  FileName: string;
  Line: number;
  Column: number;
}

/**
 * One llvm-symbolizer for all modules: requests (`"FILE" 0xADDR` lines) are
 * pipelined over its stdin and its JSON answers, one line per request, come
 * back in order. Started on first use, and again after it dies.
 */
class LlvmSymbolizerProcess {
  private child?: ChildProcessWithoutNullStreams;
  private buffered = '';
  private readonly waiting: Array<{ count: number; lines: string[]; done: (lines: string[]) => void; fail: (e: Error) => void }> = [];

  constructor(
    readonly program: string,
    private readonly debugDirs: readonly string[],
  ) {}

  request(file: string, addresses: ArrayLike<number>): Promise<string[]> {
    if (addresses.length === 0) return Promise.resolve([]);
    const child = this.started();
    const quoted = `"${file}"`;
    let input = '';
    for (let i = 0; i < addresses.length; i++) input += `${quoted} 0x${addresses[i].toString(16)}\n`;
    return new Promise((done, fail) => {
      this.waiting.push({ count: addresses.length, lines: [], done, fail });
      child.stdin.write(input);
    });
  }

  private started(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    // Naming a debug directory replaces llvm's default, so /usr/lib/debug comes along.
    const dirs = [...this.debugDirs, SYSTEM_DEBUG_DIR].map((dir) => `--debug-file-directory=${dir}`);
    const child = spawn(this.program, ['--output-style=JSON', ...dirs], { stdio: 'pipe' });
    this.child = child;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.answer(text));
    const died = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      this.buffered = '';
      for (const request of this.waiting.splice(0)) request.fail(new Error(`${this.program} ${why}; it is restarted on the next request.`));
    };
    child.on('error', (e) => died(`could not run: ${e.message}`));
    child.on('exit', (code, signal) => died(`exited (${signal ?? `status ${code}`})`));
    child.stdin.on('error', () => {
      // EPIPE when it died: reported by 'exit'.
    });
    return child;
  }

  private answer(text: string): void {
    this.buffered += text;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      const request = this.waiting[0];
      if (!request) continue;
      request.lines.push(line);
      if (request.lines.length === request.count) {
        this.waiting.shift();
        request.done(request.lines);
      }
    }
  }

  dispose(): void {
    const child = this.child;
    this.child = undefined;
    child?.kill();
  }
}

function framesOfLlvmAnswer(line: string): SourceFrame[] {
  const answer = JSON.parse(line) as { Symbol?: LlvmFrame[] };
  const frames: SourceFrame[] = [];
  for (const f of answer.Symbol ?? []) {
    if (!f.FunctionName && !(f.FileName && f.Line)) continue;
    const frame: SourceFrame = { function: f.FunctionName };
    if (f.FileName && f.Line) {
      frame.file = f.FileName;
      frame.line = f.Line;
      if (f.Column) frame.column = f.Column;
    }
    frames.push(frame);
  }
  // An inline chain with a hole cannot be shown honestly.
  return frames.length === (answer.Symbol ?? []).length ? frames : [];
}

function llvmSymbolizer(program: string, debugDirs: readonly string[], debuginfod: Debuginfod | undefined, whyNotLibdw: string): Symbolizer {
  const process = new LlvmSymbolizerProcess(program, debugDirs);
  const description = `Symbols: ${program} (slower, no source listings), as the libdw helper could not be loaded (${whyNotLibdw}). Fix: install elfutils' libdw, which the helper links (\`apt install libdw1\`, or \`dnf install elfutils-libs\` on RHEL and Fedora), then run "Perf Sideband: Restart Language Server".`;
  return new BackendSymbolizer(
    'llvm-symbolizer',
    description,
    debugDirs,
    debuginfod,
    (file) => {
      // Its requests are lines of `"FILE" ADDR` with no escapes: a quote would
      // end the name early and a line break start another request, and every
      // later answer would go to the wrong question.
      if (/["\r\n]/.test(file))
        throw new SourceError(
          'symbolizer',
          `${JSON.stringify(file)} cannot be passed to ${program}: its name has a double quote or a line break, and llvm-symbolizer reads one quoted file name per line. Fix: rename the file, or \`apt install libdw1\` and run "Perf Sideband: Restart Language Server" for the libdw helper, which takes any name.`,
        );
      return { resolve: async (addresses) => (await process.request(file, addresses)).map(framesOfLlvmAnswer), ...NO_LISTINGS };
    },
    () => process.dispose(),
  );
}

function elfSymbolizer(debugDirs: readonly string[], debuginfod: Debuginfod | undefined, whyNotLibdw: string): Symbolizer {
  const description = `Symbols: ELF symbol tables only (function names, no source lines), as the libdw helper could not be loaded (${whyNotLibdw}) and no llvm-symbolizer is on PATH. Fix: install elfutils' libdw, which the helper links (\`apt install libdw1\`, or \`dnf install elfutils-libs\` on RHEL and Fedora), or \`apt install llvm\` for llvm-symbolizer, then run "Perf Sideband: Restart Language Server".`;
  return new BackendSymbolizer('elf-symbols', description, debugDirs, debuginfod, (file, debug) => {
    let symbols: ElfSymbol[] | undefined;
    // A stripped file keeps only .dynsym; its debug file has the full .symtab.
    const table = (): ElfSymbol[] => (symbols ??= [debug.debugFile ? readElfSymbols(debug.debugFile) : [], readElfSymbols(file)].find((t) => t.length) ?? []);
    return {
      resolve: async (addresses) =>
        Array.from(addresses, (vaddr) => {
          const symbol = symbolAt(table(), vaddr);
          return symbol ? [{ function: symbol.name }] : [];
        }),
      ...NO_LISTINGS,
    };
  });
}

/** The best backend that works here: the libdw addon, else llvm-symbolizer, else ELF symbol names. */
export function openSymbolizer(options: SymbolizerOptions): Symbolizer {
  let whyNotLibdw: string;
  try {
    return libdwSymbolizer((options.loadAddon ?? loadSymbolsAddon)(), options.debugDirs, options.debuginfod);
  } catch (e) {
    whyNotLibdw = (e as Error).message;
  }
  const llvm = options.llvmSymbolizer === undefined ? findLlvmSymbolizer() : options.llvmSymbolizer;
  if (llvm) return llvmSymbolizer(llvm, options.debugDirs, options.debuginfod, whyNotLibdw);
  return elfSymbolizer(options.debugDirs, options.debuginfod, whyNotLibdw);
}
