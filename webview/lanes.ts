// What each lane shows under the current filter: the model's own lists when
// everything passes, else per-lane filtered copies, made when a lane is first
// drawn and extended as it grows, never rebuilt per frame.

import { IndexFlag, RecordIndex, RecordType } from '../core/records';
import { Lane } from '../core/timeline';

/**
 * Record kinds the filter tells apart; MMAP and MMAP2 are one kind, the
 * samples of the mapping syscalls (the only samples the index keeps) are
 * UNMAP, and unlisted types are "other".
 */
export const KINDS = ['FORK', 'EXIT', 'COMM', 'MMAP', 'UNMAP', 'NAMESPACES', 'LOST', 'other'] as const;
export type Kind = (typeof KINDS)[number];

export function kindOf(type: number): Kind {
  switch (type) {
    case RecordType.FORK:
      return 'FORK';
    case RecordType.EXIT:
      return 'EXIT';
    case RecordType.COMM:
      return 'COMM';
    case RecordType.MMAP:
    case RecordType.MMAP2:
      return 'MMAP';
    case RecordType.SAMPLE:
      return 'UNMAP';
    case RecordType.NAMESPACES:
      return 'NAMESPACES';
    case RecordType.LOST:
      return 'LOST';
    default:
      return 'other';
  }
}

export interface Filter {
  statusOnly: boolean;
  real: boolean;
  hiddenKinds: ReadonlySet<Kind>;
}

export const SHOW_ALL: Filter = { statusOnly: true, real: true, hiddenKinds: new Set() };

/** A lane's records as shown: time-sorted indices and the running count of status-only ones. */
export interface ShownRecords {
  records: readonly number[];
  statusBefore: readonly number[];
}

interface Filtered {
  /** How many of the model lane's records have been looked at. */
  taken: number;
  records: number[];
  statusBefore: number[];
}

export class FilteredLanes {
  private filter: Filter = SHOW_ALL;
  private passes = true;
  private readonly lanes = new Map<number, Filtered>();
  private readonly typeShown = new Uint8Array(256).fill(1);

  setFilter(filter: Filter): void {
    this.filter = filter;
    this.passes = filter.statusOnly && filter.real && filter.hiddenKinds.size === 0;
    for (let t = 0; t < 256; t++) this.typeShown[t] = filter.hiddenKinds.has(kindOf(t)) ? 0 : 1;
    this.lanes.clear();
  }

  get current(): Filter {
    return this.filter;
  }

  shows(index: RecordIndex, i: number): boolean {
    const status = (index.flags[i] & IndexFlag.IS_STATUS) !== 0;
    return this.typeShown[index.type[i]] === 1 && (status ? this.filter.statusOnly : this.filter.real);
  }

  of(lane: Lane, index: RecordIndex): ShownRecords {
    if (this.passes) return lane;
    let filtered = this.lanes.get(lane.id);
    if (!filtered) {
      filtered = { taken: 0, records: [], statusBefore: [0] };
      this.lanes.set(lane.id, filtered);
    }
    const all = lane.records;
    for (let k = filtered.taken; k < all.length; k++) {
      const i = all[k];
      if (!this.shows(index, i)) continue;
      filtered.records.push(i);
      filtered.statusBefore.push(filtered.statusBefore[filtered.statusBefore.length - 1] + (index.flags[i] & IndexFlag.IS_STATUS ? 1 : 0));
    }
    filtered.taken = all.length;
    return filtered;
  }
}
