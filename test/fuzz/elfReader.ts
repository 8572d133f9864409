// Property-based fuzzing of the TypeScript ELF reader (node/symbols/elf.ts):
// the headers, build-id note, debug link and symbol tables the symbolizer
// reads of a mapped file, before the symbols addon opens it (whose C++ side
// native/fuzz/symbols_fuzz.cc fuzzes, from the same seed files). Hostile
// bytes throw nothing but a SourceError naming the part at fault.
//
// node out/test/fuzz/elfReader.js [--runs N | --seconds S] [--seed N --path P] [--work DIR]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';

import { SourceError } from '../../core/sourceError';
import { readBuildId, readElfInfo, readElfSymbols } from '../../node/symbols/elf';
import { type FuzzOptions, caseFile, checkProperty, corpus, mutate, mutationArb, parseFuzzArgs } from './mutations';

const ROOT = path.resolve(__dirname, '..', '..', '..');
// The ELF files the native target starts from, and the TypeScript reader's own regressions.
const CORPORA = [path.join(ROOT, 'native', 'fuzz', 'corpus', 'symbols'), path.join(ROOT, 'test', 'fuzz', 'corpus', 'elf')];

/** Reads `file` as the symbolizer does; throws anything but a SourceError naming its field as a finding. */
function readAsProductDoes(file: string): void {
  readBuildId(file); // never throws: a file without one has none
  for (const read of [() => readElfInfo(file), () => readElfSymbols(file)]) {
    try {
      read();
    } catch (e) {
      if (!(e instanceof SourceError)) throw new Error(`the ELF reader threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a SourceError`, { cause: e });
      if (!e.field) throw new Error(`a SourceError that names no field: ${e.message}`);
    }
  }
}

export function fuzzElfReader(options: FuzzOptions): { runs: number } {
  fs.mkdirSync(options.work, { recursive: true });
  const files = CORPORA.flatMap(corpus);
  for (const s of files) {
    fs.writeFileSync(caseFile(options), s.bytes);
    try {
      readAsProductDoes(caseFile(options));
    } catch (e) {
      throw new Error(`${s.name}: ${(e as Error).message}`, { cause: e });
    }
  }
  const runs = checkProperty(
    options,
    1,
    'elf',
    // Seeds drawn by name, so a failure's report names its seed rather than printing it.
    fc.record({ seed: fc.constantFrom(...files.map((f) => f.name)), mutations: fc.array(mutationArb, { minLength: 1, maxLength: 8 }) }),
    ({ seed, mutations }) => mutate(files.find((f) => f.name === seed)!.bytes, mutations),
    (file) => readAsProductDoes(file),
  );
  return { runs };
}

if (require.main === module) {
  try {
    const options = parseFuzzArgs(process.argv.slice(2), () => fs.mkdtempSync(path.join(os.tmpdir(), 'elf-fuzz-')));
    const started = Date.now();
    const { runs } = fuzzElfReader(options);
    console.log(`ELF reader: ${runs} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s, none failed (work directory ${options.work})`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
