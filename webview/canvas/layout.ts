// Where the timeline's parts sit on the canvas: the time axis along the top,
// the lanes' names in a gutter on the left, one row per lane below the axis
// in the model's lane order, and the time a record is drawn at.

import { RecordType } from '../../core/records';
import { Lane, Timeline, searchTime } from '../../core/timeline';
import { Viewport } from '../viewport';

export const AXIS_HEIGHT = 36;
export const ROW_HEIGHT = 26;
export const GUTTER_WIDTH = 190;

export class RowLayout {
  /** The canvas' size in CSS pixels. */
  width = 0;
  height = 0;
  /** The lanes, in row order. */
  rows: Lane[] = [];
  /** Row of each lane, by lane id (-1: none). */
  private rowOfLane = new Int32Array(0);
  private rowsTopology = -1;
  private rowsTimeline: Timeline | undefined;

  constructor(private readonly view: Viewport) {}

  /** Takes the model's lane order again only when the timeline or its topology changed. */
  update(tl: Timeline | undefined): void {
    if (!tl) {
      this.rows = [];
      this.rowOfLane = new Int32Array(0);
      return;
    }
    if (this.rowsTimeline === tl && this.rowsTopology === tl.topology) return;
    this.rows = tl.laneOrder();
    const rowOfLane = new Int32Array(tl.lanes.length).fill(-1);
    this.rows.forEach((lane, row) => (rowOfLane[lane.id] = row));
    this.rowOfLane = rowOfLane;
    this.rowsTopology = tl.topology;
    this.rowsTimeline = tl;
  }

  visibleRows(): number {
    return Math.max(1, Math.floor((this.height - AXIS_HEIGHT) / ROW_HEIGHT));
  }

  rowCenter(row: number): number {
    return AXIS_HEIGHT + (row - this.view.firstRow) * ROW_HEIGHT + ROW_HEIGHT / 2 + 3;
  }

  rowOf(lane: Lane): number | undefined {
    const row = lane.id < this.rowOfLane.length ? this.rowOfLane[lane.id] : -1;
    return row < 0 ? undefined : row;
  }
}

/** The lane record `i` is drawn in: the global one for LOST, FINISHED_INIT and records of no known process. */
export function laneOfRecord(tl: Timeline, i: number): Lane {
  const index = tl.records;
  if (index.type[i] === RecordType.LOST || index.type[i] === RecordType.FINISHED_INIT || index.pid[i] < 0) return tl.global;
  const process = tl.processAt(index.pid[i], index.time[i]);
  if (!process) return tl.global;
  return process.lane.tid === index.tid[i] ? process.lane : (process.threads.find((l) => l.tid === index.tid[i]) ?? process.lane);
}

/** perf's synthesized records carry time 0: they are drawn at the capture start. */
export function displayTime(tl: Timeline | undefined, t: number): number {
  const start = tl?.startTime;
  return start !== undefined && t < start ? start : t;
}

/** First position in `list` (record indices by time) whose display time is >= t (or > t when `after`). */
export function searchDisplayTime(tl: Timeline, list: readonly number[], t: number, after = false): number {
  const start = tl.startTime;
  if (t < start || (t === start && !after)) return 0;
  return searchTime(list, tl.records.time, t, after);
}
