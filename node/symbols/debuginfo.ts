// Where an ELF file's DWARF is: in the file, in a build-id tree, or behind
// its .gnu_debuglink. The one lookup of the symbolizer, done here once and
// handed to every backend, so all of them agree on which debug file a module
// uses and the user reads one explanation when there is none.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import type { Debuginfod } from './debuginfod';
import type { ElfInfo } from './elf';

export const SYSTEM_DEBUG_DIR = '/usr/lib/debug';

export type DebugInfo =
  | { found: 'itself' | 'build-id' | 'debuginfod' | 'debuglink'; file: string; dir?: string }
  | { found: 'none'; missing: string };

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The largest file taken for a debug file: the largest known (a browser's)
 * are a few GiB. A bigger one is not read for its CRC, which would stall
 * the server for minutes.
 */
const MAX_DEBUG_FILE_BYTES = 16 * 2 ** 30;

/**
 * CRC-32 of a file, read in chunks (debug files run to hundreds of MB) up to
 * the size it had when opened, so a file that grows cannot keep us reading;
 * or its size, when it is larger than any debug file.
 */
function fileCrc32(file: string): { crc: number } | { tooLarge: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size > MAX_DEBUG_FILE_BYTES) return { tooLarge: size };
    const chunk = Buffer.alloc(1 << 20);
    let crc = 0;
    for (let done = 0, n; done < size && (n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - done), done)) > 0; done += n)
      crc = zlib.crc32(chunk.subarray(0, n), crc);
    return { crc };
  } finally {
    fs.closeSync(fd);
  }
}

/** A debug link names a file, looked up in known directories as gdb does: a path in it would reach any file. */
function isPlainFileName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/');
}

const hex = (crc: number): string => crc.toString(16).padStart(8, '0');

/**
 * The debug file of `file` (whose headers are `info`): the file itself when
 * it has .debug_info; else `<dir>/.build-id/xx/yyyy.debug` for each of the
 * user's directories and /usr/lib/debug; else, when debuginfod is on, the
 * one fetched before into its cache; else its debug link beside it, in
 * .debug/ beside it, under /usr/lib/debug, and in each user directory, with
 * the link's CRC-32 checked. When none is found, `missing` says why and what
 * to do, in one sentence.
 */
export function findDebugInfo(file: string, info: ElfInfo, userDirs: readonly string[], debuginfod?: Debuginfod): DebugInfo {
  if (info.hasDebugInfo) return { found: 'itself', file };
  const dirs = [...userDirs, SYSTEM_DEBUG_DIR];
  if (info.buildId && info.buildId.length > 2) {
    for (const dir of dirs) {
      const candidate = path.join(dir, '.build-id', info.buildId.slice(0, 2), `${info.buildId.slice(2)}.debug`);
      if (isFile(candidate)) return { found: 'build-id', file: candidate, dir };
    }
    const fetched = debuginfod?.cached(info.buildId);
    if (fetched) return { found: 'debuginfod', file: fetched, dir: debuginfod!.cacheDir };
  }
  const stale: string[] = [];
  const tooLarge: string[] = [];
  const followed = info.debuglink && isPlainFileName(info.debuglink.name) ? info.debuglink : undefined;
  if (followed) {
    for (const dir of linkPlaces(file, userDirs)) {
      const candidate = path.join(dir, followed.name);
      if (candidate === path.resolve(file) || !isFile(candidate)) continue;
      const read = fileCrc32(candidate);
      if ('tooLarge' in read) tooLarge.push(`${candidate} is ${read.tooLarge} bytes, larger than any debug file (${MAX_DEBUG_FILE_BYTES} at most), so it is not read`);
      else if (read.crc === followed.crc) return { found: 'debuglink', file: candidate, dir };
      else stale.push(`${candidate} (CRC-32 ${hex(read.crc)})`);
    }
  }
  if (followed && (stale.length || tooLarge.length)) {
    const staleSentence = stale.length ? ` the one found is stale, from another build: ${stale.join(', ')};` : '';
    return {
      found: 'none',
      missing: `${file} links to debug file ${followed.name} with CRC-32 ${hex(followed.crc)}, but${staleSentence}${tooLarge.length ? ` ${tooLarge.join('; ')};` : ''} rebuild or reinstall it together with the program.`,
    };
  }
  const byBuildId = info.buildId
    ? ` (build-id ${info.buildId}): install its debug package (Debian: the -dbgsym package from the debian-debug archive, or \`debuginfod-find debuginfo ${info.buildId}\`), or add a directory holding .build-id/${info.buildId.slice(0, 2)}/${info.buildId.slice(2)}.debug to the setting perfSideband.debugDirectories${debuginfod ? '' : ', or name a debuginfod server in the setting perfSideband.debuginfodUrls (sideband resolve --debuginfod URL)'}`
    : ': rebuild it with -g, or add a directory holding its debug file to the setting perfSideband.debugDirectories';
  const link = !info.debuglink
    ? ''
    : followed
      ? ` (its debug link ${followed.name} is in none of ${linkPlaces(file, userDirs).join(', ')})`
      : ` (its debug link ${JSON.stringify(info.debuglink.name)} is not a plain file name, so it is not followed)`;
  return { found: 'none', missing: `${file} has no debug info${link}${byBuildId}.` };
}

/** Where gdb looks for a debug link's file, then the user's directories. */
function linkPlaces(file: string, userDirs: readonly string[]): string[] {
  const own = path.dirname(path.resolve(file));
  return [own, path.join(own, '.debug'), path.join(SYSTEM_DEBUG_DIR, own), ...userDirs];
}
