// Where an ELF file's DWARF is: in the file, in a build-id tree, or behind
// its .gnu_debuglink. The one lookup of the symbolizer, done here once and
// handed to every backend, so all of them agree on which debug file a module
// uses and the user reads one explanation when there is none.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import type { ElfInfo } from './elf';

export const SYSTEM_DEBUG_DIR = '/usr/lib/debug';

export type DebugInfo =
  | { found: 'itself' | 'build-id' | 'debuglink'; file: string; dir?: string }
  | { found: 'none'; missing: string };

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** CRC-32 of a whole file, read in chunks: debug files run to hundreds of MB. */
function fileCrc32(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let crc = 0;
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) crc = zlib.crc32(chunk.subarray(0, n), crc);
    return crc;
  } finally {
    fs.closeSync(fd);
  }
}

const hex = (crc: number): string => crc.toString(16).padStart(8, '0');

/**
 * The debug file of `file` (whose headers are `info`): the file itself when
 * it has .debug_info; else `<dir>/.build-id/xx/yyyy.debug` for each of the
 * user's directories and /usr/lib/debug; else its debug link beside it, in
 * .debug/ beside it, under /usr/lib/debug, and in each user directory, with
 * the link's CRC-32 checked. When none is found, `missing` says why and what
 * to do, in one sentence.
 */
export function findDebugInfo(file: string, info: ElfInfo, userDirs: readonly string[]): DebugInfo {
  if (info.hasDebugInfo) return { found: 'itself', file };
  const dirs = [...userDirs, SYSTEM_DEBUG_DIR];
  if (info.buildId && info.buildId.length > 2) {
    for (const dir of dirs) {
      const candidate = path.join(dir, '.build-id', info.buildId.slice(0, 2), `${info.buildId.slice(2)}.debug`);
      if (isFile(candidate)) return { found: 'build-id', file: candidate, dir };
    }
  }
  const stale: string[] = [];
  if (info.debuglink) {
    const { name, crc } = info.debuglink;
    for (const dir of linkPlaces(file, userDirs)) {
      const candidate = path.join(dir, name);
      if (candidate === path.resolve(file) || !isFile(candidate)) continue;
      const actual = fileCrc32(candidate);
      if (actual === crc) return { found: 'debuglink', file: candidate, dir };
      stale.push(`${candidate} (CRC-32 ${hex(actual)})`);
    }
  }
  if (stale.length)
    return {
      found: 'none',
      missing: `${file} links to debug file ${info.debuglink!.name} with CRC-32 ${hex(info.debuglink!.crc)}, but the one found is stale, from another build: ${stale.join(', ')}; rebuild or reinstall it together with the program.`,
    };
  const byBuildId = info.buildId
    ? ` (build-id ${info.buildId}): install its debug package (Debian: the -dbgsym package from the debian-debug archive, or \`debuginfod-find debuginfo ${info.buildId}\`), or add a directory holding .build-id/${info.buildId.slice(0, 2)}/${info.buildId.slice(2)}.debug to the setting perfSideband.debugDirectories`
    : ': rebuild it with -g, or add a directory holding its debug file to the setting perfSideband.debugDirectories';
  const link = info.debuglink ? ` (its debug link ${info.debuglink.name} is in none of ${linkPlaces(file, userDirs).join(', ')})` : '';
  return { found: 'none', missing: `${file} has no debug info${link}${byBuildId}.` };
}

/** Where gdb looks for a debug link's file, then the user's directories. */
function linkPlaces(file: string, userDirs: readonly string[]): string[] {
  const own = path.dirname(path.resolve(file));
  return [own, path.join(own, '.debug'), path.join(SYSTEM_DEBUG_DIR, own), ...userDirs];
}
