// Why an address or a region has no source: a code for each cause, carried
// with the message from the resolver through the server, the client and the
// webview, as the capture path carries its own codes; and the error the
// symbols' readers throw, with the field of the file at fault.

import { RecordError } from './records';

export const SOURCE_ERROR_CODES = [
  /** The request itself is malformed: `field` names the bad part. */
  'bad-request',
  /** The address lies outside the region it was asked in. */
  'outside-region',
  /** The process is not in the capture, or has no mappings there. */
  'no-process',
  /** No mapping of the process holds the address. */
  'not-mapped',
  /** The mapping is not of a file (anonymous, [heap], ...) nor JIT code with a perf map. */
  'not-a-file',
  /** JIT code, and the process wrote no /tmp/perf-PID.map. */
  'no-perf-map',
  /** The file's load segments do not hold the address: the file changed since it was mapped. */
  'no-segment',
  /** The symbols know no function there. */
  'no-function',
  /** The file has no DWARF, or its debug file is missing or stale. */
  'no-debug-info',
  /** A debuginfod server failed, stalled or sent too much, or its fetch was cancelled: the message names the server and the setting. */
  'debuginfod',
  /** The symbolizer in use cannot list compile units, or none has code in the region. */
  'no-listing',
  /** The file is not an ELF file that can be read: `field` names the part at fault. */
  'bad-elf',
  /** The file's build-id is not the one the MMAP2 record carries: another build than the one mapped. */
  'build-id-mismatch',
  /** The process ran in another mount or pid namespace and is gone: its path here may name another file. */
  'other-namespace',
  /** The file system refused (no such file, no permission, ...). */
  'file',
  /** The capture file contradicts itself: `field` names the field of the record at fault. */
  'bad-capture',
  /** The symbolizer failed, or cannot be given this file. */
  'symbolizer',
  /** The language server is not running, or failed to answer. */
  'server',
] as const;
export type SourceErrorCode = (typeof SOURCE_ERROR_CODES)[number];

export class SourceError extends Error {
  constructor(
    readonly code: SourceErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SourceError';
  }
}

/**
 * What went wrong, as an answer carries it: the code of a SourceError, or
 * of the symbols addon's errors (which set `code` and `field` alike); a
 * capture's RecordError as 'bad-capture'; a file system's error as 'file';
 * anything else as the symbolizer's.
 */
export function sourceErrorOf(e: unknown): { code: SourceErrorCode; message: string; field?: string } {
  if (e instanceof RecordError) return { code: 'bad-capture', message: e.message, field: e.field };
  const { code, field, message } = (e ?? {}) as { code?: unknown; field?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(e);
  if ((SOURCE_ERROR_CODES as readonly unknown[]).includes(code))
    return typeof field === 'string' ? { code: code as SourceErrorCode, message: text, field } : { code: code as SourceErrorCode, message: text };
  return { code: typeof code === 'string' && /^E[A-Z]+$/.test(code) ? 'file' : 'symbolizer', message: text };
}
