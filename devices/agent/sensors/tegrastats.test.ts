import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  TegrastatsReader,
  hottestTempC,
  meanCpuPct,
  parseTegrastatsLine,
  totalPowerW,
} from './tegrastats.js';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/recorded/tegrastats');
function lines(file: string): string[] {
  return readFileSync(join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
}
function line(file: string, index: number): string {
  const l = lines(file)[index];
  if (l === undefined) throw new Error(`${file} has no line ${index}`);
  return l;
}

describe('parseTegrastatsLine on recorded boards', () => {
  it('parses every recorded line with RAM, CPU, a temperature and power', () => {
    for (const file of [
      'jetson-nano-jp4.txt',
      'jetson-xavier-nx-jp4.txt',
      'jetson-agx-xavier-jp4.txt',
      'jetson-agx-orin-jp5.txt',
      'jetson-orin-nano-jp6.txt',
    ]) {
      const all = lines(file);
      expect(all.length, file).toBeGreaterThanOrEqual(2);
      for (const l of all) {
        const r = parseTegrastatsLine(l);
        expect(r.ram, `${file}: ${l}`).not.toBeNull();
        expect(r.cpus.length, file).toBeGreaterThan(0);
        expect(hottestTempC(r).value, file).not.toBeNull();
        expect(totalPowerW(r).value, file).not.toBeNull();
      }
    }
  });

  it('Nano (JetPack 4): off cores, IRAM, POM rails without mW, PMIC placeholder ignored', () => {
    const r = parseTegrastatsLine(line('jetson-nano-jp4.txt', 0));
    expect(r.timestamp).toBeNull();
    expect(r.ram).toEqual({ usedMB: 2448, totalMB: 3964 });
    expect(r.swap).toEqual({ usedMB: 0, totalMB: 1982, cachedMB: 0 });
    expect(r.cpus).toEqual([{ loadPct: 12, freqMHz: 1479 }, null, null, { loadPct: 3, freqMHz: 1479 }]);
    expect(r.engines.GR3D_FREQ).toEqual({ loadPct: 0, freqMHz: [], off: false });
    expect(r.tempsC).toEqual({ PLL: 28.5, CPU: 31, GPU: 29.5, AO: 37.5, thermal: 30.25 });
    expect(r.unavailableTemps.PMIC).toMatch(/placeholder/);
    expect(r.rails.POM_5V_IN).toEqual({ currentMW: 3028, averageMW: 3028 });
    expect(hottestTempC(r).value).toBe(37.5);
    expect(totalPowerW(r).value).toBeCloseTo(3.028);
    expect(meanCpuPct(r).value).toBe(7.5);

    const r2 = parseTegrastatsLine(line('jetson-nano-jp4.txt', 1));
    expect(r2.engines.EMC_FREQ).toEqual({ loadPct: 0, freqMHz: [1600], off: false });
    expect(r2.engines.GR3D_FREQ).toEqual({ loadPct: 0, freqMHz: [76], off: false });
    expect(r2.engines.APE).toEqual({ loadPct: null, freqMHz: [25], off: false });
  });

  it('Xavier NX: VDD_IN without mW, engines off', () => {
    const r = parseTegrastatsLine(line('jetson-xavier-nx-jp4.txt', 1));
    expect(r.cpus).toHaveLength(6);
    expect(r.engines.NVENC).toEqual({ loadPct: null, freqMHz: [], off: true });
    expect(r.engines.GR3D_FREQ?.loadPct).toBe(76);
    expect(totalPowerW(r).value).toBeCloseTo(9.12);
    expect(hottestTempC(r).value).toBe(44);
  });

  it('AGX Xavier: CPU block and CPU power rail do not collide; power is the sum of rails', () => {
    const r = parseTegrastatsLine(line('jetson-agx-xavier-jp4.txt', 1));
    expect(r.cpus).toHaveLength(8);
    expect(r.cpus.filter((c) => c === null)).toHaveLength(4);
    expect(r.rails.CPU).toEqual({ currentMW: 2744, averageMW: 2286 });
    expect(r.rails.GPU).toEqual({ currentMW: 9138, averageMW: 6412 });
    expect(r.tempsC.Tdiode).toBe(49.75);
    expect(totalPowerW(r).value).toBeCloseTo((9138 + 2744 + 3353 + 0 + 1525 + 3418) / 1000);
  });

  it('AGX Orin (JetPack 5): -256 °C zones are unavailable, GPC frequency lists, mW rails, date prefix', () => {
    const r = parseTegrastatsLine(line('jetson-agx-orin-jp5.txt', 1));
    expect(r.timestamp).toBe('04-11-2025 10:36:27');
    expect(r.ram).toEqual({ usedMB: 4321, totalMB: 62801 });
    expect(r.engines.GR3D_FREQ).toEqual({ loadPct: 0, freqMHz: [0, 0], off: false });
    expect(r.engines.VIC_FREQ).toEqual({ loadPct: null, freqMHz: [729], off: false });
    expect(r.tempsC.CV0).toBeUndefined();
    expect(r.unavailableTemps.CV0).toBe('sensor powered down (-256 °C)');
    expect(r.unavailableTemps.GPU).toMatch(/powered down/);
    expect(r.tempsC.tj).toBe(44.343);
    expect(hottestTempC(r).value).toBe(44.562);
    expect(r.rails.VDD_GPU_SOC).toEqual({ currentMW: 2340, averageMW: 2340 });
    // NC rails are unconnected and excluded from the sum.
    expect(totalPowerW(r).value).toBeCloseTo((2340 + 390 + 4025 + 301) / 1000);

    const first = parseTegrastatsLine(line('jetson-agx-orin-jp5.txt', 0));
    expect(first.timestamp).toBeNull();
    expect(first.engines.GR3D_FREQ?.freqMHz).toEqual([305, 305]);
  });

  it('Orin Nano (JetPack 6): lowercase sensor names, single-GPC list, VDD_IN in mW', () => {
    const r = parseTegrastatsLine(line('jetson-orin-nano-jp6.txt', 1));
    expect(r.timestamp).toBe('11-23-2026 10:00:02');
    expect(r.engines.GR3D_FREQ).toEqual({ loadPct: 88, freqMHz: [1020], off: false });
    expect(r.engines.VIC).toEqual({ loadPct: 12, freqMHz: [115], off: false });
    expect(r.engines.OFA?.off).toBe(true);
    expect(r.tempsC.gpu).toBe(60.937);
    expect(totalPowerW(r).value).toBeCloseTo(12.873);
    const idle = parseTegrastatsLine(line('jetson-orin-nano-jp6.txt', 2));
    expect(idle.unavailableTemps.gpu).toMatch(/-256/);
    expect(idle.cpus.slice(4)).toEqual([null, null]);
  });
});

describe('parseTegrastatsLine on garbage', () => {
  it('never throws and returns what parsed', () => {
    const inputs = [
      '',
      '   ',
      'garbage',
      'RAM',
      'RAM x/yMB CPU [',
      'CPU [abc,12%@,off] GR3D_FREQ',
      'RAM 100/200MB VDD_IN',
      'tj@C foo@-999C bar@1e9C',
      '\u0000\u0001 @@@ %%% // []',
      'VDD_IN 12/34 trailing',
    ];
    for (const s of inputs) expect(() => parseTegrastatsLine(s)).not.toThrow();
    expect(parseTegrastatsLine('RAM 100/200MB VDD_IN').ram).toEqual({ usedMB: 100, totalMB: 200 });
    expect(parseTegrastatsLine('CPU [abc,12%@,off,5%]').cpus).toEqual([null, { loadPct: 5, freqMHz: null }]);
    const weird = parseTegrastatsLine('foo@-999C bar@200C baz@41C');
    expect(weird.tempsC).toEqual({ baz: 41 });
    expect(weird.unavailableTemps.foo).toMatch(/impossible/);
    expect(weird.unavailableTemps.bar).toMatch(/impossible/);
    expect(parseTegrastatsLine('VDD_IN 12/34 trailing').rails.VDD_IN).toEqual({
      currentMW: 12,
      averageMW: 34,
    });
    expect(parseTegrastatsLine(undefined as unknown as string).ram).toBeNull();
  });

  it('reports why summaries are missing', () => {
    const r = parseTegrastatsLine('RAM 1/2MB CV0@-256C');
    expect(hottestTempC(r)).toEqual({
      value: null,
      reason: expect.stringMatching(/CV0: sensor powered down/) as string,
    });
    expect(totalPowerW(r).reason).toMatch(/no power rails/);
    expect(meanCpuPct(r).reason).toMatch(/no online CPU/);
  });
});

describe('TegrastatsReader', () => {
  let dir: string | null = null;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  it('streams lines from the child, keeps the latest and kills it on close', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tegrastats-'));
    const script = join(dir, 'tegrastats');
    const [a, b] = lines('jetson-orin-nano-jp6.txt');
    // A stand-in for the real binary: prints two lines, then keeps running like tegrastats does.
    writeFileSync(
      script,
      `#!/bin/sh\necho "$@" > "${dir}/args"\necho '${a ?? ''}'\necho '${b ?? ''}'\nwhile true; do sleep 0.05; done\n`,
    );
    chmodSync(script, 0o755);
    const reader = new TegrastatsReader({ command: script, intervalMs: 500 });
    expect(reader.latest(10_000).reason).toMatch(/waiting/);
    reader.start();
    await expect
      .poll(() => reader.latest(10_000).value?.timestamp, { timeout: 5000 })
      .toBe('11-23-2026 10:00:02');
    expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toBe('--interval 500');
    await reader.close();
    expect(reader.latest(10_000).value).not.toBeNull();
  });

  it('reports a missing binary as a reason instead of throwing', async () => {
    const reader = new TegrastatsReader({ command: '/nonexistent/tegrastats', intervalMs: 1000 });
    reader.start();
    await expect.poll(() => reader.latest(1000).reason ?? '', { timeout: 5000 }).toMatch(/could not start/);
    await reader.close();
  });
});
