import { describe, expect, it } from 'vitest';
import { row } from './deviceRowFixture.js';
import { countByStatus, fromList, hottestDevice, matchesSearch, mergeUpdates } from './fleetRows.js';

describe('fleet rows', () => {
  it('indexes a list and collapses duplicate ids', () => {
    const s = fromList([row('a'), row('b'), row('a', { name: 'again' })], 10);
    expect(s.rows.map((r) => r.id)).toEqual(['a', 'b']);
    expect(s.rows[0]?.name).toBe('again');
    expect(s.indexById.get('b')).toBe(1);
  });

  it('replaces changed rows in place and keeps unchanged identities', () => {
    const a = row('a');
    const b = row('b');
    const c = row('c');
    const s = fromList([a, b, c], 10);
    const b2 = row('b', { status: 'degraded', tempC: 90 });
    const next = mergeUpdates(s, [b2], 11);
    expect(next).not.toBe(s);
    expect(next.rows).toEqual([a, b2, c]);
    expect(next.rows[0]).toBe(a);
    expect(next.rows[2]).toBe(c);
    expect(next.indexById).toBe(s.indexById);
    expect(next.asOfTs).toBe(11);
    // the input is untouched
    expect(s.rows[1]).toBe(b);
  });

  it('appends new devices at the end', () => {
    const s = fromList([row('a')], 10);
    const next = mergeUpdates(s, [row('z'), row('a', { tempC: 60 })], 12);
    expect(next.rows.map((r) => r.id)).toEqual(['a', 'z']);
    expect(next.indexById.get('z')).toBe(1);
    expect(s.indexById.has('z')).toBe(false);
  });

  it('applies repeated ids in one update in order', () => {
    const s = fromList([], 0);
    const next = mergeUpdates(s, [row('n', { tempC: 1 }), row('n', { tempC: 2 })], 1);
    expect(next.rows).toHaveLength(1);
    expect(next.rows[0]?.tempC).toBe(2);
  });

  it('returns the same state for empty or stale updates', () => {
    const s = fromList([row('a')], 10);
    expect(mergeUpdates(s, [], 20)).toBe(s);
    expect(mergeUpdates(s, [row('a', { tempC: 99 })], 5)).toBe(s);
  });

  it('counts statuses and finds the hottest reporting device', () => {
    const rows = [
      row('a', { tempC: 70 }),
      row('b', { status: 'unreachable', tempC: 99 }),
      row('c', { status: 'degraded', tempC: 88 }),
      row('d', { status: 'unknown', tempC: null }),
    ];
    expect(countByStatus(rows)).toEqual({ healthy: 1, degraded: 1, unreachable: 1, unknown: 1 });
    expect(hottestDevice(rows)?.id).toBe('c');
    expect(hottestDevice([])).toBeNull();
  });

  it('searches by every term across identity fields', () => {
    const r = row('cam-17', {
      name: 'Dock camera',
      hardwareModel: 'Raspberry Pi 5',
      modelVersion: 'yolo-2.1',
    });
    expect(matchesSearch(r, '')).toBe(true);
    expect(matchesSearch(r, 'DOCK')).toBe(true);
    expect(matchesSearch(r, 'pi 5 yolo')).toBe(true);
    expect(matchesSearch(r, 'cam-17')).toBe(true);
    expect(matchesSearch(r, 'orin')).toBe(false);
  });
});
