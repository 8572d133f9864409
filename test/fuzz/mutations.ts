// What the fuzzers of the TypeScript readers share: the mutations fast-check
// draws and shrinks to bend a good file into a hostile one, a corpus of
// files, and the run of one property with each input written to a file the
// reader opens, as the product does (test/fuzz/perfdataReader.ts, elfReader.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';

/** A change to a file's bytes, at a place taken modulo its length. */
export type Mutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'word'; at: number; width: 2 | 4 | 8; value: bigint }
  | { kind: 'cut'; at: number }
  | { kind: 'repeat'; at: number; length: number };

/** Values a size, offset or count field goes wrong with: none, tiny, unaligned, at and past each width's end. */
const EDGE_VALUES = [0n, 1n, 7n, 8n, 0x7fn, 0xffn, 0xfff8n, 0xffffn, 0x10000n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 1n << 53n, (1n << 63n) - 1n, (1n << 64n) - 1n];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('word' as const),
    at: fc.nat(),
    width: fc.constantFrom(2 as const, 4 as const, 8 as const),
    value: fc.oneof(fc.constantFrom(...EDGE_VALUES), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 512 }) }),
);

export function mutate(seed: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(seed);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const at = m.at % bytes.length;
    if (m.kind === 'byte') bytes[at] = m.value;
    else if (m.kind === 'word') {
      // Fields lie on their width, so the word does.
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

export interface CorpusFile {
  name: string;
  bytes: Uint8Array;
}

/** The files of a corpus directory, by name: seeds are named seed-*, regression inputs regress-*. */
export function corpus(dir: string): CorpusFile[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(fs.readFileSync(path.join(dir, name))) }));
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

/** The file each input is written to before it is read. */
export const caseFile = (options: FuzzOptions): string => path.join(options.work, 'case.data');

/**
 * Checks `property` of the file that bytesOf(input) makes, for inputs drawn
 * from `arb`, `share` of the time given. Throws fast-check's report of a
 * failure, shrunk, with its input kept as failed-NAME.data and the flags
 * that run it again. Returns how many inputs it tried.
 */
export function checkProperty<T>(
  options: FuzzOptions,
  share: number,
  name: string,
  arb: fc.Arbitrary<T>,
  bytesOf: (input: T) => Uint8Array,
  property: (file: string, input: T) => void,
): number {
  let runs = 0;
  const params: fc.Parameters<[T]> = {
    numRuns: options.runs ?? 1_000_000_000,
    ...(options.runs === undefined && options.seconds !== undefined ? { interruptAfterTimeLimit: options.seconds * 1000 * share, markInterruptAsFailure: false } : {}),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
  };
  const result = fc.check(
    fc.property(arb, (input) => {
      runs++;
      fs.writeFileSync(caseFile(options), bytesOf(input));
      property(caseFile(options), input);
    }),
    params,
  );
  if (result.failed) {
    const kept = path.join(options.work, `failed-${name}.data`);
    if (result.counterexample) fs.writeFileSync(kept, bytesOf(result.counterexample[0]));
    throw new Error(
      `${name}: ${fc.defaultReportMessage(result)}\n` +
        `Its input is ${kept}: commit it to the corpus as regress-<what>.data with the fix. Run it again with --seed ${result.seed} --path "${result.counterexamplePath ?? ''}".`,
    );
  }
  return runs;
}

/** Reads fuzzer flags: [--runs N | --seconds S] [--seed N --path P] [--work DIR]. */
export function parseFuzzArgs(argv: string[], defaultWork: () => string): FuzzOptions {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at < 0 ? undefined : argv[at + 1];
  };
  const number = (flag: string) => (value(flag) === undefined ? undefined : Number(value(flag)));
  return { runs: number('--runs'), seconds: number('--seconds'), seed: number('--seed'), path: value('--path'), work: value('--work') ?? defaultWork() };
}
