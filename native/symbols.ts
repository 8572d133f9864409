// The typed face of the symbols addon (native/addon/symbols_addon.cc, over
// libdw): what it answers for an ELF file, and where it is loaded from.

import * as path from 'node:path';

import { packageRoot } from './engine';

export interface SourceFrame {
  /** '' only where the line table knows the address and no function does (padding between functions). */
  function: string;
  file?: string;
  line?: number;
  column?: number;
}
export interface CompileUnit {
  name: string;
  files: string[];
  ranges: [number, number][];
}
export interface FunctionRange {
  name: string;
  file: string;
  line: number;
  low: number;
  high: number;
}

/** One ELF file (and its separate debug file, if any) opened by the addon. */
export interface SymbolsModule {
  resolve(addresses: Float64Array): SourceFrame[][];
  compileUnits(): CompileUnit[];
  functions(): FunctionRange[];
}
export interface SymbolsAddon {
  open(mainFile: string, debugFile: string | null): SymbolsModule;
  libdwVersion: string;
}

/** Loads the addon; throws as dlopen does when it cannot (no libdw, or not built). */
export function loadSymbolsAddon(): SymbolsAddon {
  const file = path.join(packageRoot(), 'native', 'build', 'Release', 'sideband_symbols.node');
  // A computed path, so bundlers leave the require to run time.
  return require(file) as SymbolsAddon;
}
