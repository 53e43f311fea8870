import { statfs } from 'node:fs/promises';
import { exists, listDir, readNumber, readText, under } from './fsread.js';
import { readIdentity } from './identity.js';
import { TegrastatsReader, hottestTempC, totalPowerW } from './tegrastats.js';
import {
  classifyTempC,
  clipReason,
  missing,
  ok,
  type HardwareIdentity,
  type Reading,
  type SensorReadings,
  type SensorSource,
} from './types.js';

export { readIdentity } from './identity.js';

/** One temperature sensor, valid or with the reason it is not. */
export interface TempSensor {
  /** Where it came from, e.g. `thermal_zone1 (CV0-therm)`, `hwmon2 coretemp: Core 0`, `apex_0`. */
  source: string;
  tempC: number | null;
  reason?: string;
}

function tempSensor(source: string, tempC: number): TempSensor {
  const c = classifyTempC(tempC);
  return c.value === null ? { source, tempC: null, reason: c.reason } : { source, tempC: c.value };
}

// ---------------------------------------------------------------------------------------------
// Temperatures

export async function readThermalZones(root: string): Promise<TempSensor[]> {
  const zones = (await listDir(root, '/sys/class/thermal')).filter((d) => /^thermal_zone\d+$/.test(d));
  return Promise.all(
    zones.map(async (zone) => {
      const base = `/sys/class/thermal/${zone}`;
      const [milli, type] = await Promise.all([
        readNumber(root, `${base}/temp`),
        readText(root, `${base}/type`),
      ]);
      const source = type ? `${zone} (${type})` : zone;
      if (milli === null) return { source, tempC: null, reason: 'temp unreadable' };
      return tempSensor(source, milli / 1000);
    }),
  );
}

export interface HwmonReadings {
  temps: TempSensor[];
  /** Power rails in watts with their labels. */
  powers: { source: string; watts: number }[];
}

export async function readHwmon(root: string): Promise<HwmonReadings> {
  const devices = (await listDir(root, '/sys/class/hwmon')).filter((d) => /^hwmon\d+$/.test(d));
  const perDevice = await Promise.all(
    devices.map(async (dev): Promise<HwmonReadings> => {
      const base = `/sys/class/hwmon/${dev}`;
      const [name, files] = await Promise.all([readText(root, `${base}/name`), listDir(root, base)]);
      const prefix = name ? `${dev} ${name}` : dev;
      const temps = await Promise.all(
        files
          .filter((f) => /^temp\d+_input$/.test(f))
          .map(async (f): Promise<TempSensor> => {
            const id = f.replace('_input', '');
            const [milli, label] = await Promise.all([
              readNumber(root, `${base}/${f}`),
              readText(root, `${base}/${id}_label`),
            ]);
            const source = `${prefix}: ${label ?? id}`;
            return milli === null
              ? { source, tempC: null, reason: 'unreadable' }
              : tempSensor(source, milli / 1000);
          }),
      );
      const powerFiles = files.filter((f) => /^power\d+_(input|average)$/.test(f));
      // Prefer _input (instantaneous) over _average for the same channel.
      const byChannel = new Map<string, string>();
      for (const f of powerFiles) {
        const ch = f.replace(/_(input|average)$/, '');
        if (!byChannel.has(ch) || f.endsWith('_input')) byChannel.set(ch, f);
      }
      const powers = (
        await Promise.all(
          [...byChannel.entries()].map(async ([ch, f]) => {
            const [micro, label] = await Promise.all([
              readNumber(root, `${base}/${f}`),
              readText(root, `${base}/${ch}_label`),
            ]);
            // hwmon power is in microwatts.
            return micro === null || micro < 0
              ? null
              : { source: `${prefix}: ${label ?? ch}`, watts: micro / 1e6 };
          }),
        )
      ).filter((p): p is { source: string; watts: number } => p !== null);
      return { temps, powers };
    }),
  );
  return {
    temps: perDevice.flatMap((d) => d.temps),
    powers: perDevice.flatMap((d) => d.powers),
  };
}

/** A dead Coral Edge TPU has been seen reporting exactly this forever. */
const APEX_STUCK_C = -87.9;

export async function readApex(root: string): Promise<TempSensor[]> {
  const devs = (await listDir(root, '/sys/class/apex')).filter((d) => /^apex_\d+$/.test(d));
  return Promise.all(
    devs.map(async (dev): Promise<TempSensor> => {
      const milli = await readNumber(root, `/sys/class/apex/${dev}/temp`);
      const source = `${dev} (Edge TPU)`;
      if (milli === null) return { source, tempC: null, reason: 'temp unreadable' };
      const c = milli / 1000;
      if (Math.abs(c - APEX_STUCK_C) < 0.05) {
        return {
          source,
          tempC: null,
          reason: 'Edge TPU stuck at -87.9 °C (known failure: reseat or replace the TPU)',
        };
      }
      return tempSensor(source, c);
    }),
  );
}

/** Hottest valid sensor, or one sentence saying why there is none. */
export function hottest(sensors: TempSensor[]): Reading<number> {
  const valid = sensors.filter((s) => s.tempC !== null).map((s) => s.tempC as number);
  if (valid.length > 0) return ok(Math.max(...valid));
  if (sensors.length === 0) return missing('no thermal zones, hwmon or Edge TPU temperature sensors found');
  const why = sensors.map((s) => `${s.source}: ${s.reason ?? 'invalid'}`).join('; ');
  return missing(clipReason(`all ${sensors.length} temperature sensors unavailable: ${why}`));
}

// ---------------------------------------------------------------------------------------------
// CPU, memory, disk, uptime

interface CpuTimes {
  busy: number;
  total: number;
}

export function parseProcStat(text: string): CpuTimes | null {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; guest time is already inside user.
  const fields = f.slice(0, 8);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return null;
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU utilisation needs two readings of /proc/stat; this keeps the previous one. */
export class CpuUsage {
  private prev: CpuTimes | null = null;
  async read(root: string): Promise<Reading<number>> {
    const text = await readText(root, '/proc/stat');
    if (text === null) return missing('/proc/stat not readable');
    const now = parseProcStat(text);
    if (now === null) return missing('/proc/stat has no aggregate cpu line');
    const prev = this.prev;
    this.prev = now;
    if (prev === null) return missing('warming up: CPU utilisation needs two readings');
    const dTotal = now.total - prev.total;
    if (dTotal <= 0) return missing('no CPU time elapsed between readings');
    const pct = ((now.busy - prev.busy) / dTotal) * 100;
    return ok(Math.min(100, Math.max(0, pct)));
  }
}

export function parseMeminfo(text: string): Reading<number> {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m?.[1] !== undefined) kb.set(m[1], Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (!total) return missing('/proc/meminfo has no MemTotal');
  // MemAvailable is the kernel's own estimate (3.14+); older kernels need the classic sum.
  const available =
    kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  return ok(Math.min(100, Math.max(0, ((total - available) / total) * 100)));
}

export async function readMemPct(root: string): Promise<Reading<number>> {
  const text = await readText(root, '/proc/meminfo');
  return text === null ? missing('/proc/meminfo not readable') : parseMeminfo(text);
}

export async function readDiskFreeBytes(path: string): Promise<Reading<number>> {
  try {
    const s = await statfs(path);
    return ok(Math.floor(Number(s.bavail) * Number(s.bsize)));
  } catch (err) {
    return missing(`statfs ${path} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function readUptimeS(root: string): Promise<Reading<number>> {
  const text = await readText(root, '/proc/uptime');
  const n = text === null ? NaN : Number(text.split(/\s+/)[0]);
  return Number.isFinite(n) && n >= 0 ? ok(n) : missing('/proc/uptime not readable');
}

// ---------------------------------------------------------------------------------------------
// Throttling

/** Raspberry Pi firmware flags: arm frequency capped (1), currently throttled (2), soft temp limit (3). */
const RPI_THROTTLE_NOW_MASK = 0b1110;

async function findRpiGetThrottled(root: string): Promise<string | null> {
  for (const soc of (await listDir(root, '/sys/devices/platform')).filter((d) => d.startsWith('soc'))) {
    for (const fw of (await listDir(root, `/sys/devices/platform/${soc}`)).filter((d) =>
      d.endsWith(':firmware'),
    )) {
      const p = `/sys/devices/platform/${soc}/${fw}/get_throttled`;
      if (await exists(root, p)) return p;
    }
  }
  return null;
}

/**
 * Throttling is a state on the Pi (firmware flags) but only a counter on x86 (thermal_throttle
 * counts since boot), so for counters we report "throttled" when the count moved since last read.
 */
export class ThrottleDetector {
  private prevCount: number | null = null;
  private rpiPath: string | null | undefined = undefined;

  async read(root: string): Promise<Reading<boolean>> {
    if (this.rpiPath === undefined) this.rpiPath = await findRpiGetThrottled(root);
    if (this.rpiPath !== null) {
      const text = await readText(root, this.rpiPath);
      const flags = text === null ? NaN : parseInt(text.replace(/^0x/i, ''), 16);
      if (Number.isFinite(flags)) return ok((flags & RPI_THROTTLE_NOW_MASK) !== 0);
    }
    const cpus = (await listDir(root, '/sys/devices/system/cpu')).filter((d) => /^cpu\d+$/.test(d));
    const counts = await Promise.all(
      cpus.flatMap((cpu) =>
        ['core_throttle_count', 'package_throttle_count'].map((f) =>
          readNumber(root, `/sys/devices/system/cpu/${cpu}/thermal_throttle/${f}`),
        ),
      ),
    );
    const present = counts.filter((c): c is number => c !== null);
    if (present.length === 0) return missing('no throttling indicator exposed on this board');
    const total = present.reduce((a, b) => a + b, 0);
    const prev = this.prevCount;
    this.prevCount = total;
    if (prev === null) return missing('warming up: throttling is detected from counter changes');
    return ok(total > prev);
  }
}

// ---------------------------------------------------------------------------------------------
// Power

/**
 * The largest rail is the best single number: on boards with a board-input rail it is the total,
 * and summing sub-rails together with that input would double count.
 */
export function boardPowerW(powers: { source: string; watts: number }[]): Reading<number> {
  if (powers.length === 0) return missing('no power sensor exposed (hwmon power*_input)');
  return ok(Math.max(...powers.map((p) => p.watts)));
}

// ---------------------------------------------------------------------------------------------
// The sensor source the agent uses on a real device.

export interface LinuxSensorOptions {
  /** Root of the filesystem to read sysfs/procfs from; tests point it at a fake tree. */
  root?: string;
  /** Path whose filesystem free space is reported (default: root). */
  diskPath?: string;
  /** Path of tegrastats, `false` to never run it, undefined to auto-detect under root. */
  tegrastats?: string | false;
  /** Sampling interval; tegrastats runs at the same pace. */
  intervalMs?: number;
  clock?: () => number;
}

const TEGRASTATS_CANDIDATES = ['/usr/bin/tegrastats', '/usr/sbin/tegrastats'];

export async function findTegrastats(root: string): Promise<string | null> {
  for (const p of TEGRASTATS_CANDIDATES) if (await exists(root, p)) return under(root, p);
  return null;
}

export class LinuxSensors implements SensorSource {
  private readonly root: string;
  private readonly diskPath: string;
  private readonly intervalMs: number;
  private readonly cpu = new CpuUsage();
  private readonly throttle = new ThrottleDetector();
  private tegrastats: TegrastatsReader | null = null;
  private tegrastatsChecked = false;

  constructor(private readonly opts: LinuxSensorOptions = {}) {
    this.root = opts.root ?? '/';
    this.diskPath = opts.diskPath ?? this.root;
    this.intervalMs = opts.intervalMs ?? 10_000;
  }

  private async ensureTegrastats(): Promise<void> {
    if (this.tegrastatsChecked) return;
    this.tegrastatsChecked = true;
    if (this.opts.tegrastats === false) return;
    const cmd = this.opts.tegrastats ?? (await findTegrastats(this.root));
    if (cmd === null) return;
    const readerOpts = this.opts.clock
      ? { command: cmd, intervalMs: this.intervalMs, clock: this.opts.clock }
      : { command: cmd, intervalMs: this.intervalMs };
    this.tegrastats = new TegrastatsReader(readerOpts);
    this.tegrastats.start();
  }

  async read(): Promise<SensorReadings> {
    await this.ensureTegrastats();
    const root = this.root;
    const [zones, hwmon, apex, cpuPct, memPct, diskFree, uptime, throttled] = await Promise.all([
      readThermalZones(root),
      readHwmon(root),
      readApex(root),
      this.cpu.read(root),
      readMemPct(root),
      readDiskFreeBytes(this.diskPath),
      readUptimeS(root),
      this.throttle.read(root),
    ]);

    let temp = hottest([...zones, ...hwmon.temps, ...apex]);
    let power = boardPowerW(hwmon.powers);
    if (this.tegrastats) {
      // tegrastats sees rails and zones that sysfs hides from non-root users; use it to fill gaps.
      const ts = this.tegrastats.latest(this.intervalMs * 3);
      if (ts.value !== null) {
        const tsTemp = hottestTempC(ts.value);
        if (tsTemp.value !== null && (temp.value === null || tsTemp.value > temp.value)) temp = tsTemp;
        const tsPower = totalPowerW(ts.value);
        if (power.value === null && tsPower.value !== null) power = tsPower;
      } else if (power.value === null) {
        power = missing(`${power.reason ?? 'no power sensor'}; ${ts.reason}`);
      }
    }

    const unavailable: Record<string, string> = {};
    const take = <T>(key: string, r: Reading<T>): T | null => {
      if (r.value === null) unavailable[key] = clipReason(r.reason ?? 'unavailable');
      return r.value;
    };
    return {
      tempC: take('tempC', temp),
      cpuPct: take('cpuPct', cpuPct),
      memPct: take('memPct', memPct),
      diskFreeBytes: take('diskFreeBytes', diskFree),
      uptimeS: take('uptimeS', uptime),
      throttled: take('throttled', throttled),
      powerW: take('powerW', power),
      unavailable,
    };
  }

  identity(): Promise<HardwareIdentity> {
    return readIdentity(this.root);
  }

  async close(): Promise<void> {
    const t = this.tegrastats;
    this.tegrastats = null;
    if (t) await t.close();
  }
}

export function createLinuxSensors(opts: LinuxSensorOptions = {}): SensorSource {
  return new LinuxSensors(opts);
}
