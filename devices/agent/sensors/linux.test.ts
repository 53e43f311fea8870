import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CpuUsage,
  LinuxSensors,
  ThrottleDetector,
  hottest,
  parseMeminfo,
  readApex,
  readHwmon,
  readIdentity,
  readThermalZones,
} from './linux.js';

let root: string;
function put(path: string, content: string): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
}

const MEMINFO =
  'MemTotal:        7990000 kB\nMemFree:          500000 kB\nMemAvailable:    5992500 kB\nBuffers:  1 kB\n';
const STAT_A = 'cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n';
const STAT_B = 'cpu  160 0 140 900 0 0 0 0 0 0\ncpu0 80 0 70 450 0 0 0 0 0 0\n';

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fake-sysfs-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('temperature readers', () => {
  it('reads thermal zones in millidegrees, -256 is powered down', async () => {
    put('/sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
    put('/sys/class/thermal/thermal_zone0/temp', '45500\n');
    put('/sys/class/thermal/thermal_zone1/type', 'CV0-therm\n');
    put('/sys/class/thermal/thermal_zone1/temp', '-256000\n');
    put('/sys/class/thermal/thermal_zone10/type', 'tj-therm\n');
    put('/sys/class/thermal/thermal_zone10/temp', '47250\n');
    put('/sys/class/thermal/cooling_device0/type', 'fan\n');
    const zones = await readThermalZones(root);
    expect(zones).toEqual([
      { source: 'thermal_zone0 (cpu-thermal)', tempC: 45.5 },
      { source: 'thermal_zone1 (CV0-therm)', tempC: null, reason: 'sensor powered down (-256 °C)' },
      { source: 'thermal_zone10 (tj-therm)', tempC: 47.25 },
    ]);
    expect(hottest(zones).value).toBe(47.25);
  });

  it('reads hwmon temps with labels and power in microwatts', async () => {
    put('/sys/class/hwmon/hwmon0/name', 'coretemp\n');
    put('/sys/class/hwmon/hwmon0/temp1_input', '52000\n');
    put('/sys/class/hwmon/hwmon0/temp1_label', 'Package id 0\n');
    put('/sys/class/hwmon/hwmon0/temp2_input', '49000\n');
    put('/sys/class/hwmon/hwmon1/name', 'rapl\n');
    put('/sys/class/hwmon/hwmon1/power1_input', '12500000\n');
    put('/sys/class/hwmon/hwmon1/power1_label', 'package\n');
    put('/sys/class/hwmon/hwmon1/power2_average', '3000000\n');
    const h = await readHwmon(root);
    expect(h.temps).toEqual([
      { source: 'hwmon0 coretemp: Package id 0', tempC: 52 },
      { source: 'hwmon0 coretemp: temp2', tempC: 49 },
    ]);
    expect(h.powers).toEqual([
      { source: 'hwmon1 rapl: package', watts: 12.5 },
      { source: 'hwmon1 rapl: power2', watts: 3 },
    ]);
  });

  it('reads the Coral Edge TPU and treats the stuck -87.9 °C as unavailable', async () => {
    put('/sys/class/apex/apex_0/temp', '41300\n');
    put('/sys/class/apex/apex_1/temp', '-87900\n');
    const apex = await readApex(root);
    expect(apex[0]).toEqual({ source: 'apex_0 (Edge TPU)', tempC: 41.3 });
    expect(apex[1]?.tempC).toBeNull();
    expect(apex[1]?.reason).toMatch(/stuck at -87.9/);
  });

  it('explains why there is no temperature', () => {
    expect(hottest([]).reason).toBe('no thermal zones, hwmon or Edge TPU temperature sensors found');
    const r = hottest([{ source: 'apex_0 (Edge TPU)', tempC: null, reason: 'stuck' }]);
    expect(r.value).toBeNull();
    expect(r.reason).toMatch(/all 1 temperature sensors unavailable: apex_0 \(Edge TPU\): stuck/);
  });
});

describe('cpu, memory, throttling', () => {
  it('computes CPU utilisation from /proc/stat deltas', async () => {
    put('/proc/stat', STAT_A);
    const cpu = new CpuUsage();
    expect((await cpu.read(root)).reason).toMatch(/warming up/);
    put('/proc/stat', STAT_B);
    // busy 200 -> 300 (+100), total 1000 -> 1200 (+200)
    expect((await cpu.read(root)).value).toBeCloseTo(50);
    expect((await cpu.read(root)).reason).toMatch(/no CPU time elapsed/);
  });

  it('uses MemAvailable, or the classic sum on old kernels', () => {
    expect(parseMeminfo(MEMINFO).value).toBeCloseTo(25);
    expect(
      parseMeminfo('MemTotal: 1000 kB\nMemFree: 200 kB\nBuffers: 100 kB\nCached: 200 kB\n').value,
    ).toBeCloseTo(50);
    expect(parseMeminfo('nonsense').reason).toMatch(/MemTotal/);
  });

  it('detects throttling from x86 counters moving', async () => {
    put('/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count', '3\n');
    put('/sys/devices/system/cpu/cpu0/thermal_throttle/package_throttle_count', '1\n');
    put('/sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count', '0\n');
    const t = new ThrottleDetector();
    expect((await t.read(root)).value).toBeNull();
    expect((await t.read(root)).value).toBe(false);
    put('/sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count', '2\n');
    expect((await t.read(root)).value).toBe(true);
  });

  it('reads Raspberry Pi get_throttled flags', async () => {
    put('/sys/devices/platform/soc/soc:firmware/get_throttled', '0\n');
    const t = new ThrottleDetector();
    expect((await t.read(root)).value).toBe(false);
    put('/sys/devices/platform/soc/soc:firmware/get_throttled', '50004\n');
    expect((await t.read(root)).value).toBe(true);
  });

  it('says when no indicator exists', async () => {
    expect((await new ThrottleDetector().read(root)).reason).toMatch(/no throttling indicator/);
  });
});

describe('LinuxSensors', () => {
  it('assembles a reading with reasons for what is missing', async () => {
    put('/proc/stat', STAT_A);
    put('/proc/meminfo', MEMINFO);
    put('/proc/uptime', '12345.67 40000.00\n');
    put('/sys/class/thermal/thermal_zone0/type', 'GPU-therm\n');
    put('/sys/class/thermal/thermal_zone0/temp', '-256000\n');
    put('/sys/class/apex/apex_0/temp', '-87900\n');
    const s = new LinuxSensors({ root, tegrastats: false });
    const r = await s.read();
    expect(r.tempC).toBeNull();
    expect(r.unavailable.tempC).toMatch(/-256 °C.*-87.9|powered down.*stuck/);
    expect(r.cpuPct).toBeNull();
    expect(r.unavailable.cpuPct).toMatch(/warming up/);
    expect(r.memPct).toBeCloseTo(25);
    expect(r.uptimeS).toBeCloseTo(12345.67);
    expect(r.diskFreeBytes).toBeGreaterThan(0);
    expect(r.powerW).toBeNull();
    expect(r.unavailable.powerW).toMatch(/no power sensor/);
    expect(r.throttled).toBeNull();
    for (const reason of Object.values(r.unavailable)) expect(reason.length).toBeLessThanOrEqual(200);
    put('/proc/stat', STAT_B);
    put('/sys/class/thermal/thermal_zone1/temp', '51000\n');
    const r2 = await s.read();
    expect(r2.cpuPct).toBeCloseTo(50);
    expect(r2.tempC).toBe(51);
    expect(r2.unavailable.tempC).toBeUndefined();
    await s.close();
  });

  it('fills temperature and power from tegrastats on a Jetson', async () => {
    put('/proc/meminfo', MEMINFO);
    put('/sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
    put('/sys/class/thermal/thermal_zone0/temp', '40000\n');
    const line =
      'RAM 2931/7620MB (lfb 9x4MB) SWAP 0/3810MB (cached 0MB) CPU [54%@1510,49%@1510] GR3D_FREQ 88%@[1020] cpu@58.5C gpu@-256C tj@60.937C VDD_IN 12873mW/8890mW VDD_SOC 3034mW/2222mW';
    // Auto-detected under the root, like /usr/bin/tegrastats on a real board.
    put('/usr/bin/tegrastats', `#!/bin/sh\necho '${line}'\nwhile true; do sleep 0.05; done\n`);
    chmodSync(join(root, '/usr/bin/tegrastats'), 0o755);
    const s = new LinuxSensors({ root, intervalMs: 1000 });
    try {
      expect((await s.identity()).accelerator).toBe('jetson');
      await s.read();
      await expect.poll(async () => (await s.read()).powerW, { timeout: 5000 }).toBeCloseTo(12.873);
      const r = await s.read();
      expect(r.tempC).toBeCloseTo(60.937);
    } finally {
      await s.close();
    }
  });

  it('reports everything missing on an empty root without throwing', async () => {
    const s = new LinuxSensors({ root, tegrastats: false, diskPath: join(root, 'nope') });
    const r = await s.read();
    expect(r).toMatchObject({ tempC: null, cpuPct: null, memPct: null, diskFreeBytes: null, uptimeS: null });
    expect(Object.keys(r.unavailable).sort()).toEqual(
      ['cpuPct', 'diskFreeBytes', 'memPct', 'powerW', 'tempC', 'throttled', 'uptimeS'].sort(),
    );
  });
});

describe('readIdentity', () => {
  it('reads a Jetson from the device tree', async () => {
    put('/proc/device-tree/model', 'NVIDIA Jetson Orin Nano Developer Kit\0');
    put('/proc/device-tree/serial-number', '1421623047832\0');
    put('/etc/os-release', 'NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n');
    put('/etc/machine-id', 'a1b2c3d4e5f60718293a4b5c6d7e8f90\n');
    put('/etc/nv_tegra_release', '# R36 (release), REVISION: 3.0\n');
    const id = await readIdentity(root);
    expect(id).toMatchObject({
      hardwareModel: 'NVIDIA Jetson Orin Nano Developer Kit',
      serial: '1421623047832',
      os: 'Ubuntu 22.04.4 LTS',
      machineId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90',
      accelerator: 'jetson',
    });
    expect(id.arch.length).toBeGreaterThan(0);
  });

  it('detects a Coral and falls back to DMI and cpu', async () => {
    put('/proc/device-tree/model', 'Freescale i.MX8MQ Phanbell\0');
    put('/sys/class/apex/apex_0/temp', '40000');
    expect((await readIdentity(root)).accelerator).toBe('coral');
    rmSync(join(root, 'proc'), { recursive: true });
    rmSync(join(root, 'sys'), { recursive: true });
    put('/sys/class/dmi/id/sys_vendor', 'Intel Corporation\n');
    put('/sys/class/dmi/id/product_name', 'NUC11TNHi5\n');
    const id = await readIdentity(root);
    expect(id.hardwareModel).toBe('Intel Corporation NUC11TNHi5');
    expect(id.accelerator).toBe('cpu');
    expect(id.machineId).toBeNull();
    expect(id.serial).toBeNull();
  });
});
