// perf's TRACING_DATA feature for the syscall tracepoints a capture
// recorded: the tracefs formats perf needs to print a tracepoint sample's
// fields, in the layout of tools/perf/util/trace-event-info.c.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { ByteWriter } from '../../core/perfdata/byteWriter';
import { FileError } from '../fileError';

/** Where tracefs is mounted: its own mount since 4.1, else inside debugfs (as the engine looks). */
const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
/** tracing_data_header's magic, then its version: 0.6 adds the saved cmdlines. */
const MAGIC = new Uint8Array([0x17, 0x08, 0x44, ...new TextEncoder().encode('tracing')]);
const VERSION = '0.6';

const utf8 = new TextEncoder();

function tracefsRoot(): string {
  const root = TRACEFS.find((dir) => fs.existsSync(path.join(dir, 'events', 'header_page')));
  if (!root)
    throw new FileError('ENOENT', TRACEFS[0], `cannot find tracefs (looked in ${TRACEFS.join(' and ')}) for the tracepoints' formats: perf could not print their samples. Fix: mount it with \`mount -t tracefs nodev /sys/kernel/tracing\`.`);
  return root;
}

function readTracefs(root: string, file: string): Uint8Array {
  const at = path.join(root, file);
  try {
    return fs.readFileSync(at);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FileError(code, at, `cannot read ${at} (${code}): perf could not print the tracepoints' samples. Fix: capture as root, or give the capturing user read access to tracefs.`);
  }
}

function fromFormats(formats: ReadonlyMap<string, Uint8Array>, file: string): Uint8Array {
  const text = formats.get(file);
  if (!text) throw new FileError('ENOENT', file, `the capture helper sent no ${file}: perf could not print the tracepoints' samples. Fix: give root (or the helper) read access to tracefs.`);
  return text;
}

/**
 * The TRACING_DATA section for `events`, named as perf names them
 * ("syscalls:sys_enter_munmap"): header_page, header_event, no ftrace
 * events, each system's event formats, and empty kallsyms, printk formats
 * and saved cmdlines, which perf accepts as absent. The files come from
 * tracefs, or from `formats` (by path under tracefs's root, as a capture
 * helper read them for a front end that may not read tracefs).
 */
export function tracingData(events: readonly string[], formats?: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const read = formats ? (file: string) => fromFormats(formats, file) : ((root) => (file: string) => readTracefs(root, file))(tracefsRoot());
  const headers = ['header_page', 'header_event'].map((header) => [header, read(path.join('events', header))] as const);
  // The page ends where header_page's data field does.
  const data = /field: char data;\s*offset:(\d+);\s*size:(\d+);/.exec(new TextDecoder().decode(headers[0][1]));
  const pageSize = data ? Number(data[1]) + Number(data[2]) : 4096;
  // Little-endian, sizeof(long), the page size.
  const out = new ByteWriter().raw(MAGIC).raw(utf8.encode(`${VERSION}\0`)).raw(new Uint8Array([0, 8])).u32(pageSize);
  for (const [header, text] of headers) out.raw(utf8.encode(`${header}\0`)).u64(text.byteLength).raw(text);
  out.u32(0); // ftrace's own events
  const systems = new Map<string, string[]>();
  for (const name of events) {
    const [system, event] = name.split(':');
    systems.set(system, [...(systems.get(system) ?? []), event]);
  }
  out.u32(systems.size);
  for (const [system, names] of systems) {
    out.raw(utf8.encode(`${system}\0`)).u32(names.length);
    for (const event of names) {
      const format = read(path.join('events', system, event, 'format'));
      out.u64(format.byteLength).raw(format);
    }
  }
  return out.u32(0).u32(0).u64(0).result(); // kallsyms, printk formats, saved cmdlines
}
