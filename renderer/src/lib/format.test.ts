import { describe, expect, it } from 'vitest';
import {
  DASH,
  formatAgo,
  formatDateTime,
  formatFraction,
  formatMs,
  formatPercent,
  formatRate,
  formatTemp,
  formatTick,
  formatTimeTick,
  formatWatts,
  levelAgainst,
  pluralize,
} from './format.js';

describe('format', () => {
  it('renders null and non-finite values as a dash', () => {
    for (const f of [formatTemp, formatMs, formatRate, formatFraction, formatPercent, formatWatts]) {
      expect(f(null)).toBe(DASH);
      expect(f(Number.NaN)).toBe(DASH);
    }
  });

  it('formats temperatures and power', () => {
    expect(formatTemp(61.234)).toBe('61.2 °C');
    expect(formatTemp(-4)).toBe('-4.0 °C');
    expect(formatWatts(7.44)).toBe('7.4 W');
    expect(formatWatts(250)).toBe('250 W');
    expect(formatWatts(1500)).toBe('1.50 kW');
  });

  it('scales latency units', () => {
    expect(formatMs(0.25)).toBe('0.25 ms');
    expect(formatMs(4.56)).toBe('4.6 ms');
    expect(formatMs(123.4)).toBe('123 ms');
    expect(formatMs(1234)).toBe('1.23 s');
    expect(formatMs(45_000)).toBe('45.0 s');
    expect(formatMs(120_000)).toBe('2.0 min');
  });

  it('abbreviates throughput', () => {
    expect(formatRate(3.21)).toBe('3.2/s');
    expect(formatRate(512)).toBe('512/s');
    expect(formatRate(1530)).toBe('1.5k/s');
    expect(formatRate(25_000)).toBe('25k/s');
    expect(formatRate(2_500_000)).toBe('2.5M/s');
  });

  it('keeps precision for small error rates', () => {
    expect(formatFraction(0)).toBe('0 %');
    expect(formatFraction(0.00001)).toBe('<0.01 %');
    expect(formatFraction(0.0123)).toBe('1.23 %');
    expect(formatFraction(0.5)).toBe('50.0 %');
    expect(formatPercent(7.25)).toBe('7.3 %');
    expect(formatPercent(73.6)).toBe('74 %');
  });

  it('formats relative time', () => {
    const now = 1_700_000_000_000;
    expect(formatAgo(null, now)).toBe('never');
    expect(formatAgo(now + 3000, now)).toBe('just now');
    expect(formatAgo(now - 2000, now)).toBe('just now');
    expect(formatAgo(now - 42_000, now)).toBe('42 s ago');
    expect(formatAgo(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(formatAgo(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(formatAgo(now - 3 * 86_400_000, now)).toBe('3 d ago');
  });

  it('formats wall-clock time', () => {
    const ts = new Date(2025, 0, 2, 3, 4, 5).getTime();
    expect(formatDateTime(ts)).toBe('2025-01-02 03:04:05');
  });

  it('grades a value against its limit', () => {
    expect(levelAgainst(null, 85)).toBe('none');
    expect(levelAgainst(50, 85)).toBe('ok');
    expect(levelAgainst(80, 85)).toBe('warn');
    expect(levelAgainst(90, 85)).toBe('crit');
    expect(levelAgainst(85, 85)).toBe('warn');
    expect(levelAgainst(5, null)).toBe('ok');
  });

  it('pluralizes with grouping', () => {
    expect(pluralize(1, 'device')).toBe('1 device');
    expect(pluralize(10000, 'device')).toBe('10,000 devices');
  });
});

describe('axis ticks', () => {
  it('drops needless decimals', () => {
    expect(formatTick(80)).toBe('80');
    expect(formatTick(2.5)).toBe('2.5');
    expect(formatTick(0.125)).toBe('0.13');
    expect(formatTick(123.4)).toBe('123');
    expect(formatTick(25_000)).toBe('25k');
    expect(formatTick(2_500_000)).toBe('2.5M');
  });

  it('labels time by span', () => {
    const ts = new Date(2025, 10, 23, 14, 5).getTime();
    expect(formatTimeTick(ts, 3_600_000)).toBe('14:05');
    expect(formatTimeTick(ts, 7 * 86_400_000)).toBe('Nov 23 14:05');
    expect(formatTimeTick(new Date(2025, 10, 23).getTime(), 7 * 86_400_000)).toBe('Nov 23');
    expect(formatTimeTick(ts, 30 * 86_400_000)).toBe('Nov 23');
  });
});
