import type { DeviceRow, DeviceStatus } from '../../../shared/fleet.js';

export const STATUSES: readonly DeviceStatus[] = ['healthy', 'degraded', 'unreachable', 'unknown'];

/** Worst first: the default sort puts devices that need attention at the top. */
export const STATUS_RANK: Record<DeviceStatus, number> = {
  unreachable: 3,
  degraded: 2,
  unknown: 1,
  healthy: 0,
};

export type StatusCounts = Record<DeviceStatus, number>;

/**
 * The Fleet table's rows plus an id -> position index. Live updates replace rows in place, so the
 * array order (the sort's tie-breaker) never changes under the user, and new devices go at the end.
 */
export interface FleetRows {
  readonly rows: readonly DeviceRow[];
  readonly indexById: ReadonlyMap<string, number>;
  /** asOfTs of the newest snapshot or update merged in. */
  readonly asOfTs: number;
}

export const EMPTY_FLEET: FleetRows = { rows: [], indexById: new Map(), asOfTs: 0 };

export function fromList(devices: readonly DeviceRow[], asOfTs: number): FleetRows {
  const indexById = new Map<string, number>();
  const rows: DeviceRow[] = [];
  for (const d of devices) {
    const at = indexById.get(d.id);
    if (at === undefined) {
      indexById.set(d.id, rows.length);
      rows.push(d);
    } else {
      rows[at] = d;
    }
  }
  return { rows, indexById, asOfTs };
}

/**
 * Merges changed rows by id. Returns the same object when nothing changed, so React can skip the
 * render; unchanged rows keep their identity, so memoised table rows skip theirs too. Updates
 * older than the state (an event that raced the initial list) are ignored.
 */
export function mergeUpdates(state: FleetRows, updates: readonly DeviceRow[], asOfTs: number): FleetRows {
  if (updates.length === 0 || asOfTs < state.asOfTs) return state;
  let rows: DeviceRow[] | null = null;
  let indexById: Map<string, number> | null = null;
  for (const u of updates) {
    const idx = (indexById ?? state.indexById).get(u.id);
    const current = idx === undefined ? undefined : (rows ?? state.rows)[idx];
    if (current === u) continue;
    rows ??= state.rows.slice();
    if (idx === undefined) {
      indexById ??= new Map(state.indexById);
      indexById.set(u.id, rows.length);
      rows.push(u);
    } else {
      rows[idx] = u;
    }
  }
  if (rows === null) return asOfTs === state.asOfTs ? state : { ...state, asOfTs };
  return { rows, indexById: indexById ?? state.indexById, asOfTs };
}

export function countByStatus(rows: readonly DeviceRow[]): StatusCounts {
  const counts: StatusCounts = { healthy: 0, degraded: 0, unreachable: 0, unknown: 0 };
  for (const r of rows) counts[r.status]++;
  return counts;
}

/** The hottest reporting device, ignoring ones whose last reading is stale (unreachable). */
export function hottestDevice(rows: readonly DeviceRow[]): DeviceRow | null {
  let best: DeviceRow | null = null;
  for (const r of rows) {
    if (r.tempC === null || r.status === 'unreachable') continue;
    if (best === null || (best.tempC ?? -Infinity) < r.tempC) best = r;
  }
  return best;
}

/** Case-insensitive match over what an operator types: name, id, hardware, accelerator, model version, OS. */
export function matchesSearch(row: DeviceRow, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === '') return true;
  const terms = q.split(/\s+/);
  const hay =
    `${row.name}\u0000${row.id}\u0000${row.hardwareModel}\u0000${row.accelerator}\u0000${row.modelVersion ?? ''}\u0000${row.os}\u0000${row.arch}\u0000${row.status}`.toLowerCase();
  return terms.every((t) => hay.includes(t));
}
