// A record told in words: the tooltip's lines and what screen readers hear
// on selection. Strings from the traced program (comm, filenames) end up in
// textContent or fillText only.

import { decodeRecord } from '../core/records';
import { Timeline } from '../core/timeline';
import { formatDuration } from './viewport';

/** A time as an offset from the capture start, to the nanosecond; perf's synthesized records (time 0) predate it. */
export function relativeTime(time: number, origin: number): string {
  if (time === 0) return 'time 0 (synthesized by perf)';
  const offset = time - origin;
  // To the nanosecond, without the zeros that adds: "+4.5 ms", "+600 µs", "+4.500123 ms".
  const text = formatDuration(Math.abs(offset)).replace(/(\.\d*?)0+ /, '$1 ').replace('. ', ' ');
  return offset < 0 ? `−${text}` : `+${text}`;
}

export function recordLines(timeline: Timeline, i: number, origin: number): string[] {
  const d = decodeRecord(timeline.records, i);
  const f = d.fields;
  const lines = [`${d.type}  ${relativeTime(d.time, origin)}`];
  lines.push(d.pid < 0 ? 'no process' : `pid ${d.pid}  tid ${d.tid}${d.cpu >= 0 ? `  cpu ${d.cpu}` : ''}`);
  if (typeof f.comm === 'string') lines.push(`comm ${f.comm}${f.exec ? ' (exec)' : ''}`);
  if (d.type === 'FORK' || d.type === 'EXIT') lines.push(`parent pid ${f.ppid}  tid ${f.ptid}${f.exec ? '  (FORK_EXEC)' : ''}`);
  if (typeof f.filename === 'string') {
    lines.push(f.filename);
    lines.push(`${f.addr}–${f.end}  pgoff ${f.pgoff}${typeof f.buildId === 'string' ? `  build-id ${f.buildId}` : ''}`);
  }
  if (Array.isArray(f.namespaces)) lines.push(`${f.namespaces.length} namespaces: ${f.namespaces.map((n) => n.ino).join(' ')}`);
  if (typeof f.lost === 'number') lines.push(`${f.lost} records lost`);
  const source = d.statusOnly ? `status-only, from ${d.provenance === 'proc' ? '/proc' : 'the kernel ioctl'}` : d.provenance === 'synthesized' ? "perf's synthesized status" : 'real record';
  lines.push(source + (d.stale.length ? `  — possibly stale: ${d.stale.join(', ')}` : ''));
  return lines;
}
