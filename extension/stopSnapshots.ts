// Which debugger stops take a status snapshot: one per stop of the captured
// debuggee, while perfSideband.snapshotOnStop is on, so that the regions at
// each breakpoint are checked against what the kernel says then.

export class StopSnapshots {
  /** From a stop until the next continue: the other threads that report the same stop take no second snapshot. */
  private stopped = false;

  constructor(
    private readonly enabled: () => boolean,
    private readonly take: () => void,
  ) {}

  /** A stop or a continue of the debuggee, while its capture runs. */
  event(kind: 'stopped' | 'continued'): void {
    if (kind === 'continued') {
      this.stopped = false;
      return;
    }
    if (this.stopped) return;
    this.stopped = true;
    // Read when the stop comes, so turning the setting off takes effect at the next breakpoint.
    if (this.enabled()) this.take();
  }
}
