// What a capture costs the extension host's thread and memory: the
// `event-loop utilization:` rows (the storm captured at full speed in this
// process, as the host runs it, with no timeline and with one following
// the file) and the 60 s live capture's memory growth of the host and of
// the language server following the same file.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

import { Recording } from '../node/recording';
import { openPerfData } from '../node/perfdata/reader';
import { TimelineFollower } from '../node/timelineFeed';
import { type HostMessage } from '../protocol/webview';
import { LanguageServer } from '../test/kernel/lsp';
import { INFO, type Result } from './results';
import { stormCommand } from './storm';
import { progress, WORK } from './tools';

const ELU_BAR = 0.05;
const STORM_ITERATIONS = 400_000;
const SOAK_SECONDS = 60;

/** A stand-in for a webview: it stores every batch a turn after it arrives and says so, as webview/main.ts does. */
function acknowledgingSink(follower: () => TimelineFollower | undefined): { post(message: HostMessage): void } {
  return {
    post(message) {
      if (message.type !== 'records') return;
      const end = message.offset + message.bytes.byteLength;
      setImmediate(() => follower()?.stored(end));
    },
  };
}

/** Captures `command` into `file` in this process; with `timeline`, a follower reads the file as it grows. */
async function capture(command: string[], file: string, timeline: boolean, during?: () => void): Promise<{ elu: number; records: number; lost: number; seconds: number }> {
  const recording = new Recording({ command, regionTracepoints: false }, file);
  let follower: TimelineFollower | undefined;
  if (timeline)
    recording.on('written', (end) => {
      if (follower) follower.grew(end);
      else follower = new TimelineFollower(openPerfData(file), acknowledgingSink(() => follower), { title: 'storm', warnings: [], live: { end } });
    });
  const ticker = during ? setInterval(during, 1000) : undefined;
  const start = performance.eventLoopUtilization();
  const began = process.hrtime.bigint();
  const result = await recording.run();
  const elu = performance.eventLoopUtilization(start).utilization;
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  if (ticker) clearInterval(ticker);
  follower?.complete();
  if (follower) await follower.done;
  if (result.stop.error) throw result.stop.error;
  return { elu, records: result.stop.stats.records, lost: result.stop.stats.lost, seconds };
}

export async function measureHostLoad(): Promise<Result[]> {
  const file = path.join(WORK, 'host-load.data');
  const results: Result[] = [];
  for (const timeline of [false, true]) {
    progress(`the storm captured in this process, ${timeline ? 'a timeline following the file' : 'no timeline'}`);
    const r = await capture(stormCommand(STORM_ITERATIONS), file, timeline);
    const note = `${r.records} records in ${r.seconds.toFixed(1)} s (${(r.records / r.seconds / 1000).toFixed(0)}k/s), ${r.lost} lost; peer column: the bar`;
    results.push(
      timeline
        ? { name: 'event-loop utilization: capturing the storm, timeline shown', ours: r.elu, peer: ELU_BAR, unit: 'fraction', ratio: r.elu / ELU_BAR, bar: INFO, met: true, note: `${note}; the timeline's host side: reading, filtering and posting the file's sideband to an acknowledging sink` }
        : { name: 'event-loop utilization: capturing the storm, no timeline', ours: r.elu, peer: ELU_BAR, unit: 'fraction', ratio: r.elu / ELU_BAR, bar: `<= ${ELU_BAR}`, met: r.elu <= ELU_BAR, note },
    );
  }

  // 60 s of storms, one after another, with a timeline and the language server following the file.
  progress(`${SOAK_SECONDS} s of the storm, a timeline and the language server following the file`);
  const soak = path.join(WORK, 'soak.data');
  const storms = Math.round(SOAK_SECONDS / 2);
  // A storm of 100k iterations every 2 s: the file stays some hundreds of MB.
  const command = ['/bin/sh', '-c', `for i in $(seq ${storms}); do ${stormCommand(100_000).join(' ')}; sleep 1; done`];
  const rssBefore = process.memoryUsage().rss;
  let server: LanguageServer | undefined;
  let serverFirst: number | undefined;
  let serverLast: { rssBytes: number; indexBytes: number } | undefined;
  let peakHost = rssBefore;
  const sample = (): void => {
    peakHost = Math.max(peakHost, process.memoryUsage().rss);
    if (!server && fs.existsSync(soak)) void LanguageServer.start({ capture: soak }).then((s) => (server = s));
    void server?.captureStats().then((s) => {
      if (!s) return;
      serverFirst ??= s.rssBytes;
      serverLast = s;
    });
  };
  const r = await capture(command, soak, true, sample);
  const final = await server?.captureStats();
  if (final) serverLast = final;
  await server?.stop();
  const fileBytes = fs.statSync(soak).size;
  const hostGrowth = peakHost - rssBefore;
  const serverGrowth = serverLast && serverFirst !== undefined ? serverLast.rssBytes - serverFirst : NaN;
  const indexBytes = serverLast?.indexBytes ?? NaN;
  fs.rmSync(soak, { force: true });
  fs.rmSync(file, { force: true });
  results.push(
    { name: 'live capture of the storm for 60 s: host RSS growth', ours: hostGrowth / 1e6, peer: (1.5 * fileBytes) / 1e6, unit: 'MB', ratio: hostGrowth / (1.5 * fileBytes), bar: '<= 1.5x the file', met: hostGrowth <= 1.5 * fileBytes, note: `file ${(fileBytes / 1e6).toFixed(0)} MB, ${r.records} records; peer column: 1.5x the file` },
    { name: 'live capture of the storm for 60 s: language server RSS growth', ours: serverGrowth / 1e6, peer: (2 * indexBytes) / 1e6, unit: 'MB', ratio: serverGrowth / (2 * indexBytes), bar: '<= 2x its index', met: serverGrowth <= 2 * indexBytes, note: `index ${(indexBytes / 1e6).toFixed(0)} MB; peer column: 2x the index` },
  );
  return results;
}
