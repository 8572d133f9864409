// A capture whose file system fills: it stops with one error naming the
// cause and the fix, and its file holds every record written up to there,
// whole, and reads without error.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';

import { indexPerfDataFile, openPerfDataFile } from '../../node/perfdata/reader';
import { Recording } from '../../node/recording';
import { RecordType } from '../../core/records';
import { sideband, tempDir } from './harness';

// Small enough that a forking target fills it in well under a second of records.
const mount = tempDir('full');
before(() => execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'sideband-full', mount]));
after(() => {
  execFileSync('umount', [mount]);
  fs.rmSync(mount, { recursive: true, force: true });
});

// Forks until killed: more records than the file system holds, however fast the core writes.
const FORKER = ['/bin/sh', '-c', 'while :; do /bin/true; done'];

/** The record types of the data section, walked by their sizes; throws unless the walk ends exactly at its end. */
function wholeRecordTypes(file: string): number[] {
  const { dataStart, dataEnd } = openPerfDataFile(file);
  const bytes = fs.readFileSync(file).subarray(dataStart, dataEnd);
  const types: number[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    const size = bytes.readUInt16LE(at + 6);
    if (size < 8 || at + size > bytes.byteLength) throw new Error(`a record at data offset ${at} claims ${size} bytes, past the data's end`);
    types.push(bytes.readUInt32LE(at));
    at += size;
  }
  return types;
}

/** What a reader makes of the file: its warnings, and its forks. */
function readBack(file: string): { warnings: string[]; forks: number } {
  const { index, warnings } = indexPerfDataFile(file);
  return { warnings, forks: index.type.filter((t) => t === RecordType.FORK).length };
}

test('the CLI capture onto a full file system stops with one error, "no space left on" the file and the fix, and the file reads to its last record', async (t) => {
  const output = path.join(mount, 'cli.data');
  const capture = sideband(['capture', '-o', output, '--', ...FORKER]);
  t.after(() => fs.rmSync(output, { force: true }));
  const code = await capture.exited;
  assert.equal(code, 1, capture.output);
  const errors = capture.lines.filter((line) => /\berror:/.test(line));
  assert.equal(errors.length, 1, `one error: ${capture.output}`);
  assert.match(errors[0], new RegExp(`no space left on ${output} \\(pwrite\\).*Fix: free space, or capture to another file system`));
  const types = wholeRecordTypes(output);
  assert.ok(types.filter((t) => t === RecordType.FORK).length > 10, 'the forks written before the disk filled are there');
  const { warnings, forks } = readBack(output);
  assert.equal(forks, types.filter((t) => t === RecordType.FORK).length, 'the reader reads every fork in the file');
  assert.ok(warnings.every((w) => !/corrupt|invalid|malformed/i.test(w)), `no error reading it: ${warnings.join('; ')}`);
});

test('a Recording onto a full file system stops with the one error ENOSPC, its file holds every record it told of, whole', async (t) => {
  const output = path.join(mount, 'recording.data');
  const recording = new Recording({ command: FORKER }, output);
  t.after(() => fs.rmSync(output, { force: true }));
  let told = 0;
  recording.on('written', (end) => (told = end));
  const result = await recording.run();
  assert.equal(result.stop.error?.code, 'ENOSPC', String(result.stop.error));
  assert.match(result.stop.error.message, new RegExp(`^no space left on ${output} \\(pwrite\\): .*Fix: `));
  assert.equal(result.writeError, undefined, 'the file system being full is said once, by the capture');
  const types = wholeRecordTypes(output);
  const file = openPerfDataFile(output);
  assert.ok(told > file.dataStart, 'the host was told of records written');
  assert.ok(file.dataEnd >= told, `every record the host was told of is in the file (told ${told}, file ends ${file.dataEnd})`);
  assert.ok(types.filter((t) => t === RecordType.FORK).length > 10);
  assert.equal(readBack(output).forks, types.filter((t) => t === RecordType.FORK).length);
});
