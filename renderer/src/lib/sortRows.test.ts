import { describe, expect, it } from 'vitest';
import type { DeviceRow } from '../../../shared/fleet.js';
import { sortDevices } from './sortRows.js';

function row(id: string, over: Partial<DeviceRow> = {}): DeviceRow {
  return {
    id,
    name: id,
    hardwareModel: 'x',
    accelerator: 'cpu',
    arch: 'arm64',
    os: 'linux',
    url: null,
    status: 'healthy',
    statusReasons: [],
    lastContactTs: 1,
    lastSampleTs: 1,
    tempC: null,
    cpuPct: null,
    memPct: null,
    powerW: null,
    latencyP50Ms: null,
    latencyP95Ms: null,
    latencyP99Ms: null,
    throughputIps: null,
    throttled: null,
    errorRate: null,
    modelVersion: null,
    limits: { tempLimitC: 85, latencyBudgetMs: 100, errorRateLimit: 0.02 },
    ...over,
  };
}

const ids = (rows: readonly DeviceRow[]) => rows.map((r) => r.id);

describe('sortDevices', () => {
  const rows = [
    row('a', { tempC: 50, status: 'healthy' }),
    row('b', { tempC: null, status: 'unreachable' }),
    row('c', { tempC: 90, status: 'degraded' }),
    row('d', { tempC: 50, status: 'degraded' }),
  ];

  it('keeps the input when there is nothing to sort by', () => {
    expect(sortDevices(rows, [])).toBe(rows);
    expect(sortDevices(rows, [{ id: 'trend', desc: false }])).toBe(rows);
  });

  it('sorts numbers with nulls last in both directions and stable ties', () => {
    expect(ids(sortDevices(rows, [{ id: 'tempC', desc: false }]))).toEqual(['a', 'd', 'c', 'b']);
    expect(ids(sortDevices(rows, [{ id: 'tempC', desc: true }]))).toEqual(['c', 'a', 'd', 'b']);
  });

  it('sorts status by severity, worst first when descending', () => {
    expect(ids(sortDevices(rows, [{ id: 'status', desc: true }]))).toEqual(['b', 'c', 'd', 'a']);
  });

  it('applies secondary sorts', () => {
    expect(
      ids(
        sortDevices(rows, [
          { id: 'status', desc: true },
          { id: 'tempC', desc: false },
        ]),
      ),
    ).toEqual(['b', 'd', 'c', 'a']);
  });

  it('sorts names naturally and case-insensitively', () => {
    const named = [row('1', { name: 'cam-10' }), row('2', { name: 'Cam-9' }), row('3', { name: 'cam-1' })];
    expect(ids(sortDevices(named, [{ id: 'name', desc: false }]))).toEqual(['3', '2', '1']);
  });

  it('does not mutate its input', () => {
    const copy = [...rows];
    sortDevices(rows, [{ id: 'tempC', desc: true }]);
    expect(rows).toEqual(copy);
  });
});
