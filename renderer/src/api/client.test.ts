import { describe, expect, it } from 'vitest';
import { row as fixtureRow } from '../lib/deviceRowFixture.js';
import { parseResult } from './client.js';

const row = (i: number) => fixtureRow(`d-${i}`);
const list = (devices: unknown[]) => ({
  ok: true,
  value: { devices, counts: { healthy: devices.length }, asOfTs: 1 },
});

describe('client response parsing', () => {
  it('accepts a large, well-formed fleet list', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => row(i));
    expect(parseResult('fleet.list', list(rows)).devices).toHaveLength(5000);
  });
  it('rejects a row with an unknown status anywhere in the list', () => {
    const rows: unknown[] = Array.from({ length: 5000 }, (_, i) => row(i));
    rows[4321] = { ...row(4321), status: 'on fire' };
    expect(() => parseResult('fleet.list', list(rows))).toThrow(/row 4321/);
  });
  it('rejects schema drift in the checked sample', () => {
    const rows: unknown[] = Array.from({ length: 500 }, (_, i) => row(i));
    rows[3] = { ...row(3), limits: undefined };
    expect(() => parseResult('fleet.list', list(rows))).toThrow();
  });
  it('turns an error envelope into an AppError with the hint', () => {
    expect(() =>
      parseResult('fleet.get', {
        ok: false,
        error: { code: 'NOT_FOUND', message: 'No device "x".', hint: 'See the list.' },
      }),
    ).toThrow('No device "x".');
  });
  it('refuses a malformed envelope', () => {
    expect(() => parseResult('fleet.get', { nonsense: true })).toThrow(/Malformed response/);
  });
});
