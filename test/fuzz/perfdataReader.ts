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

const CORPUS = path.resolve(__dirname, '..', '..', '..', 'test', 'fuzz', 'corpus', 'perfdata');

/** A change to a file's bytes, at a place taken modulo its length. */
type Mutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; at: number; width: 2 | 4 | 8; value: bigint }
  | { kind: 'cut'; at: number }
  | { kind: 'repeat'; at: number; length: number };

/** Values a size, offset or count field goes wrong with: none, tiny, unaligned, at and past each width's end. */
const EDGE_VALUES = [0n, 1n, 7n, 8n, 0x7fn, 0xffn, 0xfff8n, 0xffffn, 0x10000n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 63n) - 1n, (1n << 64n) - 1n];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('word' as const),
    // Fields lie on their width: most of the time, so do these.
    at: fc.nat(),
    width: fc.constantFrom(2 as const, 4 as const, 8 as const),
    value: fc.oneof(fc.constantFrom(...EDGE_VALUES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 512 }) }),
);

function mutate(seed: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(seed);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    if (m.kind === 'byte') bytes[at] = m.value;
    else if (m.kind === 'word') {
      const start = Math.max(0, Math.min(at - (at % m.width), bytes.length - m.width));
      for (let i = 0; i < Math.min(m.width, bytes.length); i++) bytes[start + i] = Number((m.value >> BigInt(8 * i)) & 0xffn);
    } else if (m.kind === 'cut') bytes = bytes.subarray(0, at);
    else {
      // A stretch said twice: records repeated, or cut in two by their own copy.
      const piece = bytes.subarray(at, at + m.length);
      const grown = new Uint8Array(bytes.length + piece.length);
      grown.set(bytes.subarray(0, at + piece.length));
      grown.set(piece, at + piece.length);
      grown.set(bytes.subarray(at + piece.length), at + 2 * piece.length);
      bytes = grown;
    }
  }
  return bytes;
}

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

interface Seed {
  name: string;
  bytes: Uint8Array;
}

function corpus(): Seed[] {
  return fs
    .readdirSync(CORPUS)
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(fs.readFileSync(path.join(CORPUS, name))) }));
}

export interface FuzzOptions {
  /** How many inputs each property tries, or for how long all of them do: the first given. */
  runs?: number;
  seconds?: number;
  /** fast-check's seed and path of a failure it reported, to run that input again. */
  seed?: number;
  path?: string;
  /** Where each input is written to be read: the one a hang leaves behind. */
  work: string;
}

/** Runs every property; throws fast-check's report of the first that fails, with where its input was kept. */
export function fuzzReader(options: FuzzOptions): { runs: number } {
  fs.mkdirSync(options.work, { recursive: true });
  const caseFile = path.join(options.work, 'case.data');
  const seeds = corpus();
  const regressions = seeds.filter((s) => !s.name.startsWith('seed-'));
  const perfSeeds = seeds.filter((s) => s.name.startsWith('seed-'));
  // Every kept input first, as it is: the regressions found before.
  for (const s of seeds) {
    fs.writeFileSync(caseFile, s.bytes);
    try {
      readAsProductDoes(caseFile);
    } catch (e) {
      throw new Error(`${s.name} of ${CORPUS}: ${(e as Error).message}`, { cause: e });
    }
  }
  const params: fc.Parameters<unknown> = {
    numRuns: options.runs ?? 1_000_000_000,
    ...(options.runs === undefined && options.seconds !== undefined ? { interruptAfterTimeLimit: (options.seconds * 1000) / 2, markInterruptAsFailure: false } : {}),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
  };
  let runs = 0;
  const check = <T>(name: string, arb: fc.Arbitrary<T>, bytesOf: (input: T) => Uint8Array, property: (file: string, input: T) => void): void => {
    const result = fc.check(
      fc.property(arb, (input) => {
        runs++;
        fs.writeFileSync(caseFile, bytesOf(input));
        property(caseFile, input);
      }),
      params,
    );
    if (result.failed) {
      const kept = path.join(options.work, `failed-${name}.data`);
      if (result.counterexample) fs.writeFileSync(kept, bytesOf((result.counterexample as [T])[0]));
      throw new Error(
        `${name}: ${fc.defaultReportMessage(result)}\n` +
          `Its input is ${kept}: keep it as test/fuzz/corpus/perfdata/regress-<what>.data with the fix; run it again with --seed ${result.seed} --path "${result.counterexample ? result.counterexamplePath : ''}".`,
      );
    }
  };

  check(
    'hostile',
    fc.record({ seed: fc.constantFrom(...perfSeeds, ...regressions), mutations: fc.array(mutationArb, { minLength: 1, maxLength: 8 }) }),
    ({ seed, mutations }) => mutate(seed.bytes, mutations),
    (file) => readAsProductDoes(file),
  );

  // A file cut anywhere in its records (a capture killed, a copy cut short)
  // reads every record that ends by the cut, and no other; compressed, the
  // records come a frame at a time, so only none that were not there.
  const full = new Map(
    perfSeeds.map((s) => {
      const file = path.join(options.work, s.name);
      fs.writeFileSync(file, s.bytes);
      const opened = openPerfData(file);
      return [s.name, { keys: recordKeys(file), start: opened.records[0].start, compressed: /compressed/.test(s.name) }];
    }),
  );
  check(
    'truncated',
    fc.record({ seed: fc.constantFrom(...perfSeeds), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
    ({ seed, fraction }) => {
      const { start } = full.get(seed.name)!;
      return seed.bytes.subarray(0, start + Math.floor(fraction * (seed.bytes.length - start)));
    },
    (file, { seed }) => {
      const whole = full.get(seed.name)!;
      const cut = fs.statSync(file).size;
      const kept = recordKeys(file);
      const all = new Set(whole.keys);
      const invented = kept.filter((k) => !all.has(k));
      if (invented.length) throw new Error(`cut at byte ${cut}, ${seed.name} read records it does not have: ${invented.join(' ')}`);
      if (whole.compressed) return;
      const wanted = whole.keys.filter((k) => {
        const [offset, , size] = k.split('/').map(Number);
        return whole.start + offset + size <= cut;
      });
      if (kept.length !== wanted.length) throw new Error(`cut at byte ${cut}, ${seed.name} read ${kept.length} records, not the ${wanted.length} that end by then`);
    },
  );
  return { runs };
}

function main(argv: string[]): void {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at < 0 ? undefined : argv[at + 1];
  };
  const number = (flag: string) => (value(flag) === undefined ? undefined : Number(value(flag)));
  const work = value('--work') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'perfdata-fuzz-'));
  const started = Date.now();
  const { runs } = fuzzReader({ runs: number('--runs'), seconds: number('--seconds'), seed: number('--seed'), path: value('--path'), work });
  console.log(`perfdata reader: ${runs} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s, none failed (work directory ${work})`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
