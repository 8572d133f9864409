// The timeline's JIT code in the webview: the jitdumps its processes mapped
// (core/jitdumpMaps.ts finds them), whose bytes the host reads, as the
// webview has no files; each dump is parsed here and its code placed in the
// timeline. While a capture runs its dumps grow: each batch of records asks
// again for what a dump gained, one question per dump at a time.

import { JitdumpError, parseJitdump } from '../core/jitdump';
import { JitdumpFinder, damageOf, unplaceable, type MappedJitdump } from '../core/jitdumpMaps';
import { type EventAttr } from '../core/records';
import { type Timeline } from '../core/timeline';
import { type Requests } from '../protocol/webview';

interface Dump {
  mapped: MappedJitdump;
  /** What the host sent of it so far, in one buffer (a dump is megabytes, not gigabytes). */
  bytes: Uint8Array;
  asking: boolean;
  /** Read to its end once the stream ended, or refused: asked no more. */
  done: boolean;
}

export class TimelineJitdumps {
  private readonly finder = new JitdumpFinder();
  private readonly dumps: Dump[] = [];
  private ended = false;

  /** `changed` is told when JIT code was placed, or of a problem, in a sentence with its fix. */
  constructor(
    private readonly timeline: Timeline,
    private readonly attrs: readonly EventAttr[],
    private readonly requests: Requests,
    private readonly changed: (problem?: string) => void,
  ) {}

  /** After the timeline took records: asks for the dumps they mapped, and for what the others gained. */
  update(): void {
    for (const mapped of this.finder.newIn(this.timeline)) this.dumps.push({ mapped, bytes: new Uint8Array(0), asking: false, done: false });
    for (const dump of this.dumps) if (!dump.asking && !dump.done) void this.ask(dump);
  }

  /** The stream ended: one last question each, and damage in what a dump holds is then told. */
  end(): void {
    this.ended = true;
    this.update();
  }

  private async ask(dump: Dump): Promise<void> {
    dump.asking = true;
    try {
      await this.take(dump, this.ended);
    } finally {
      dump.asking = false;
    }
    // The stream ended while the question was out: the dump may have grown since its answer.
    if (!dump.done && this.ended) void this.ask(dump);
  }

  /** Asks for what `dump` gained and places its code; `last`, when the stream had ended before the question. */
  private async take(dump: Dump, last: boolean): Promise<void> {
    const { mapped } = dump;
    const reply = await this.requests.readJitdump(mapped.pid, mapped.filename, dump.bytes.byteLength, mapped.mountNamespace);
    if (reply.problem !== undefined) {
      dump.done = true;
      this.changed(reply.problem);
      return;
    }
    dump.done = last;
    if (reply.bytes.byteLength === 0 && !last) return;
    const grown = new Uint8Array(dump.bytes.byteLength + reply.bytes.byteLength);
    grown.set(dump.bytes);
    grown.set(new Uint8Array(reply.bytes), dump.bytes.byteLength);
    dump.bytes = grown;
    // A dump still being written may end inside a record, or before its header is whole: only the end says that is damage.
    let parsed;
    try {
      parsed = parseJitdump(dump.bytes, reply.path);
    } catch (e) {
      if (!(e instanceof JitdumpError)) throw e;
      if (last) this.changed(e.message);
      return;
    }
    const refused = unplaceable(parsed, this.attrs, reply.path);
    if (refused) {
      dump.done = true;
      this.changed(refused);
      return;
    }
    this.timeline.setJitCode(mapped.pid, mapped.time, reply.path, parsed.events);
    this.changed(last ? damageOf(parsed, mapped, this.timeline) : undefined);
  }
}
