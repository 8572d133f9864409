// Property-based fuzzing of the perf.data reader (node/perfdata/reader.ts,
// core/perfdata/format.ts, core/recordStream.ts and its zstd), with
// fast-check: files of each form perf writes (file, pipe, both compressed)
// from test/fuzz/corpus/perfdata/, bent by mutations fast-check draws and
// shrinks. Run by scripts/fuzz.sh for a while and test/unit/fuzz.test.ts
// briefly, always in a child process: a hang is caught by its caller's
// bound, with the input it hung on left in the work directory.
//
// node out/test/fuzz/perfdataReader.js [--runs N | --seconds S] [--seed N --path P] [--work DIR]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';

import { RecordError } from '../../core/records';
import { indexPerfDataFile, openPerfData, readPerfData } from '../../node/perfdata/reader';
import { type FuzzOptions, caseFile, checkProperty, corpus, mutate, mutationArb, parseFuzzArgs } from './mutations';

const CORPUS = path.resolve(__dirname, '..', '..', '..', 'test', 'fuzz', 'corpus', 'perfdata');

/** Each record the timeline would index, named by where it is and what it says. */
function recordKeys(file: string): string[] {
  // Small chunks: records and compressed frames meet chunk ends.
  const { index } = indexPerfDataFile(file, 4096);
  const keys: string[] = [];
  for (let i = 0; i < index.count; i++) keys.push(`${index.offset[i]}/${index.type[i]}/${index.size[i]}/${index.time[i]}/${index.pid[i]}/${index.tid[i]}`);
  return keys.sort();
}

/**
 * Reads `file` as every path into the reader does. Throws anything but a
 * RecordError naming the field at fault (an error the product says and
 * goes on from) as a finding.
 */
function readAsProductDoes(file: string): void {
  for (const read of [() => readPerfData(file), () => openPerfData(file), () => recordKeys(file)]) {
    try {
      read();
    } catch (e) {
      if (!(e instanceof RecordError)) throw new Error(`the reader threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not a RecordError`, { cause: e });
      if (!e.field) throw new Error(`a RecordError that names no field: ${e.message}`);
    }
  }
}

/** Runs every property; throws fast-check's report of the first that fails, with where its input was kept. */
export function fuzzReader(options: FuzzOptions): { runs: number } {
  fs.mkdirSync(options.work, { recursive: true });
  const files = corpus(CORPUS);
  const seeds = files.filter((s) => s.name.startsWith('seed-'));
  // Every kept input first, as it is: the regressions found before.
  for (const s of files) {
    fs.writeFileSync(caseFile(options), s.bytes);
    try {
      readAsProductDoes(caseFile(options));
    } catch (e) {
      throw new Error(`${s.name} of ${CORPUS}: ${(e as Error).message}`, { cause: e });
    }
  }
  let runs = checkProperty(
    options,
    0.5,
    'hostile',
    // Seeds drawn by name, so a failure's report names its seed rather than printing it.
    fc.record({ seed: fc.constantFrom(...files.map((f) => f.name)), mutations: fc.array(mutationArb, { minLength: 1, maxLength: 8 }) }),
    ({ seed, mutations }) => mutate(files.find((f) => f.name === seed)!.bytes, mutations),
    (file) => readAsProductDoes(file),
  );

  // A file cut anywhere in its records (a capture killed, a copy cut short)
  // reads every record that ends by the cut, and no other; compressed, the
  // records come a frame at a time, so only none that were not there.
  const full = new Map(
    seeds.map((s) => {
      const file = path.join(options.work, s.name);
      fs.writeFileSync(file, s.bytes);
      return [s.name, { bytes: s.bytes, keys: recordKeys(file), start: openPerfData(file).records[0].start, compressed: /compressed/.test(s.name) }];
    }),
  );
  runs += checkProperty(
    options,
    0.5,
    'truncated',
    fc.record({ seed: fc.constantFrom(...seeds.map((s) => s.name)), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
    ({ seed, fraction }) => {
      const { start, bytes } = full.get(seed)!;
      return bytes.subarray(0, start + Math.floor(fraction * (bytes.length - start)));
    },
    (file, { seed }) => {
      const whole = full.get(seed)!;
      const cut = fs.statSync(file).size;
      const kept = recordKeys(file);
      const all = new Set(whole.keys);
      const invented = kept.filter((k) => !all.has(k));
      if (invented.length) throw new Error(`cut at byte ${cut}, ${seed} read records it does not have: ${invented.join(' ')}`);
      if (whole.compressed) return;
      const wanted = whole.keys.filter((k) => {
        const [offset, , size] = k.split('/').map(Number);
        return whole.start + offset + size <= cut;
      });
      if (kept.length !== wanted.length) throw new Error(`cut at byte ${cut}, ${seed} read ${kept.length} records, not the ${wanted.length} that end by then`);
    },
  );
  return { runs };
}

function main(argv: string[]): void {
  const options = parseFuzzArgs(argv, () => fs.mkdtempSync(path.join(os.tmpdir(), 'perfdata-fuzz-')));
  const started = Date.now();
  const { runs } = fuzzReader(options);
  console.log(`perfdata reader: ${runs} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s, none failed (work directory ${options.work})`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
