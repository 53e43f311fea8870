import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { classifyTempC, type Reading } from './types.js';

/**
 * Parser for NVIDIA `tegrastats` lines. The format drifts between boards and JetPack releases
 * (Nano/JP4 uses `POM_5V_IN 3028/3028`, Orin/JP5+ uses `VDD_IN 5342mW/5342mW` and a date prefix,
 * frequencies appear as `0%`, `0%@76`, `0%@[305,305]`), so this is a tolerant token scanner: each
 * known shape is picked out, anything unrecognised is skipped, and it never throws.
 */

export interface TegrastatsCpuCore {
  loadPct: number;
  freqMHz: number | null;
}

export interface TegrastatsEngine {
  /** Load in percent when the token had one (`GR3D_FREQ 12%`), null for frequency-only (`APE 174`). */
  loadPct: number | null;
  /** Zero, one or several frequencies (Orin prints one per GPC: `0%@[305,305]`). */
  freqMHz: number[];
  off: boolean;
}

export interface TegrastatsRail {
  currentMW: number;
  averageMW: number;
}

export interface TegrastatsReading {
  /** Prefix printed by newer JetPack releases, verbatim (`11-23-2026 10:00:01`). */
  timestamp: string | null;
  ram: { usedMB: number; totalMB: number } | null;
  swap: { usedMB: number; totalMB: number; cachedMB: number | null } | null;
  /** One entry per core; null for a core that is `off`. Empty when the line had no CPU block. */
  cpus: (TegrastatsCpuCore | null)[];
  engines: Record<string, TegrastatsEngine>;
  /** Valid temperatures by sensor name as printed (`CPU`, `tj`, `GPU`). */
  tempsC: Record<string, number>;
  /** Sensors that printed a value we do not believe (-256 °C, placeholders), with the reason. */
  unavailableTemps: Record<string, string>;
  rails: Record<string, TegrastatsRail>;
}

/**
 * PMIC on Nano/TX2/Xavier prints a fixed 100 °C or 50 °C: it is a placeholder, not a measurement,
 * and would otherwise win "hottest sensor" on every board.
 */
const PLACEHOLDER_TEMP_SENSORS = new Set(['pmic']);

const TIMESTAMP_RE = /^\s*(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+/;
const RAM_RE = /\bRAM (\d+)\/(\d+)MB(?:\s*\(lfb [^)]*\))?/;
const SWAP_RE = /\bSWAP (\d+)\/(\d+)MB(?:\s*\(cached (\d+)MB\))?/;
const IRAM_RE = /\bIRAM \d+\/\d+kB\s*\(lfb [^)]*\)/;
/** `CPU [12%@1479,off]`; TX1-era `cpu [17%,13%]@408` has one shared frequency after the bracket. */
const CPU_RE = /\bCPU \[([^\]]*)\](?:@(\d+))?/i;
const TEMP_TOKEN_RE = /^([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C$/;
const RAIL_VALUE_RE = /^(\d+(?:\.\d+)?)(?:mW)?\/(\d+(?:\.\d+)?)(?:mW)?$/;
const LOAD_VALUE_RE = /^(\d+(?:\.\d+)?)%(?:@(?:(\d+)|\[([\d,\s]*)\]))?$/;
const NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

export function emptyReading(): TegrastatsReading {
  return {
    timestamp: null,
    ram: null,
    swap: null,
    cpus: [],
    engines: {},
    tempsC: {},
    unavailableTemps: {},
    rails: {},
  };
}

export function parseTegrastatsLine(input: string): TegrastatsReading {
  const out = emptyReading();
  if (typeof input !== 'string') return out;
  let line = input.replace(/\r?\n$/, '');

  const ts = TIMESTAMP_RE.exec(line);
  if (ts?.[1] !== undefined) {
    out.timestamp = ts[1];
    line = line.slice(ts[0].length);
  }

  // Structured blocks first, then blank them out so their inner tokens ("CPU", "MB)") do not confuse
  // the name/value scanner below (AGX Xavier has both `CPU [..]` and a `CPU 310/310` power rail).
  const ram = RAM_RE.exec(line);
  if (ram) {
    out.ram = { usedMB: Number(ram[1]), totalMB: Number(ram[2]) };
    line = line.replace(ram[0], ' ');
  }
  const swap = SWAP_RE.exec(line);
  if (swap) {
    out.swap = { usedMB: Number(swap[1]), totalMB: Number(swap[2]), cachedMB: numOrNull(swap[3]) };
    line = line.replace(swap[0], ' ');
  }
  const iram = IRAM_RE.exec(line);
  if (iram) line = line.replace(iram[0], ' ');
  const cpu = CPU_RE.exec(line);
  if (cpu) {
    out.cpus = parseCpuList(cpu[1] ?? '', numOrNull(cpu[2]));
    line = line.replace(cpu[0], ' ');
  }

  const tokens = line.split(/\s+/).filter((t) => t.length > 0);
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] ?? '';
    const temp = TEMP_TOKEN_RE.exec(tok);
    if (temp) {
      recordTemp(out, temp[1] ?? tok, Number(temp[2]));
      continue;
    }
    if (!NAME_RE.test(tok)) continue;
    const next = tokens[i + 1];
    if (next === undefined) break;
    const rail = RAIL_VALUE_RE.exec(next);
    if (rail) {
      out.rails[tok] = { currentMW: Number(rail[1]), averageMW: Number(rail[2]) };
      i++;
      continue;
    }
    const load = LOAD_VALUE_RE.exec(next);
    if (load) {
      const freqs = load[2] !== undefined ? [Number(load[2])] : parseFreqList(load[3]);
      out.engines[tok] = { loadPct: Number(load[1]), freqMHz: freqs, off: false };
      i++;
      continue;
    }
    if (next === 'off') {
      out.engines[tok] = { loadPct: null, freqMHz: [], off: true };
      i++;
      continue;
    }
    if (/^\d+$/.test(next) && /^[A-Z][A-Z0-9_]*$/.test(tok)) {
      // `VIC_FREQ 729`, `APE 174`, `NVENC 1075`: frequency only.
      out.engines[tok] = { loadPct: null, freqMHz: [Number(next)], off: false };
      i++;
    }
  }
  return out;
}

function parseCpuList(body: string, sharedFreq: number | null): (TegrastatsCpuCore | null)[] {
  const cores: (TegrastatsCpuCore | null)[] = [];
  for (const raw of body.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    if (part === 'off') {
      cores.push(null);
      continue;
    }
    const m = /^(\d+(?:\.\d+)?)%(?:@(\d+))?$/.exec(part);
    if (!m) continue;
    cores.push({ loadPct: Number(m[1]), freqMHz: numOrNull(m[2]) ?? sharedFreq });
  }
  return cores;
}

function parseFreqList(body: string | undefined): number[] {
  if (body === undefined) return [];
  return body
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

function recordTemp(out: TegrastatsReading, name: string, value: number): void {
  if (PLACEHOLDER_TEMP_SENSORS.has(name.toLowerCase())) {
    out.unavailableTemps[name] = `placeholder value ${value} °C (${name} is not a real sensor on Jetson)`;
    return;
  }
  const c = classifyTempC(value);
  if (c.value === null) out.unavailableTemps[name] = c.reason;
  else out.tempsC[name] = c.value;
}

function numOrNull(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

// ---------------------------------------------------------------------------------------------
// Summaries the agent wants from a reading.

/** Hottest believable sensor. */
export function hottestTempC(r: TegrastatsReading): Reading<number> {
  const vals = Object.values(r.tempsC);
  if (vals.length > 0) return { value: Math.max(...vals) };
  const bad = Object.entries(r.unavailableTemps);
  if (bad.length === 0) return { value: null, reason: 'tegrastats printed no temperatures' };
  return {
    value: null,
    reason: `no valid tegrastats temperature: ${bad.map(([k, v]) => `${k}: ${v}`).join('; ')}`,
  };
}

/** Rails that measure the whole module input, newest naming first. */
const INPUT_RAILS = ['VDD_IN', 'POM_5V_IN'];

/**
 * Board power in watts. Boards with an input rail report the total directly; AGX Xavier and AGX
 * Orin only print sub-rails, whose sum is the best total we have (it is what jtop shows too).
 */
export function totalPowerW(r: TegrastatsReading): Reading<number> {
  for (const name of INPUT_RAILS) {
    const rail = r.rails[name];
    if (rail) return { value: rail.currentMW / 1000 };
  }
  const rails = Object.entries(r.rails).filter(([name]) => name !== 'NC');
  if (rails.length === 0) return { value: null, reason: 'tegrastats printed no power rails (run as root?)' };
  return { value: rails.reduce((s, [, v]) => s + v.currentMW, 0) / 1000 };
}

/** Mean load over online cores, the way `top` would report the whole CPU. */
export function meanCpuPct(r: TegrastatsReading): Reading<number> {
  const online = r.cpus.filter((c): c is TegrastatsCpuCore => c !== null);
  if (online.length === 0) return { value: null, reason: 'tegrastats printed no online CPU cores' };
  return { value: online.reduce((s, c) => s + c.loadPct, 0) / online.length };
}

// ---------------------------------------------------------------------------------------------
// Streaming reader.

export interface TegrastatsReaderOptions {
  /** Path of the tegrastats binary (tests pass a fake script). */
  command: string;
  intervalMs: number;
  clock?: () => number;
  /** Extra args before `--interval`, e.g. for a wrapper script. */
  args?: string[];
}

/**
 * Runs `tegrastats --interval N` for the life of the agent and keeps the latest parsed line.
 * Callers read `latest()` synchronously, so a slow or dead tegrastats never delays a sample; it
 * just makes the reading stale, which `latest(maxAgeMs)` reports as a reason.
 */
export class TegrastatsReader {
  private child: ChildProcess | null = null;
  private last: { reading: TegrastatsReading; atMs: number } | null = null;
  private failure: string | null = null;
  private closed = false;
  private readonly clock: () => number;

  constructor(private readonly opts: TegrastatsReaderOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  start(): void {
    if (this.child || this.closed) return;
    const interval = Math.max(100, Math.round(this.opts.intervalMs));
    const child = spawn(this.opts.command, [...(this.opts.args ?? []), '--interval', String(interval)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.on('error', (err) => {
      this.failure = `tegrastats could not start: ${err.message}`;
      this.child = null;
    });
    child.on('exit', (code, signal) => {
      if (!this.closed) this.failure = `tegrastats exited (${signal ?? `code ${code ?? '?'}`})`;
      this.child = null;
    });
    // Drain stderr so a chatty child cannot block on a full pipe.
    child.stderr?.resume();
    if (child.stdout) {
      const rl = createInterface({ input: child.stdout });
      rl.on('line', (line) => {
        const reading = parseTegrastatsLine(line);
        if (reading.ram !== null || reading.cpus.length > 0 || Object.keys(reading.rails).length > 0) {
          this.last = { reading, atMs: this.clock() };
          this.failure = null;
        }
      });
    }
  }

  /** Latest reading no older than maxAgeMs, or the reason there is none. */
  latest(maxAgeMs: number): Reading<TegrastatsReading> {
    if (this.last && this.clock() - this.last.atMs <= maxAgeMs) return { value: this.last.reading };
    if (this.failure) return { value: null, reason: this.failure };
    if (this.last)
      return { value: null, reason: `tegrastats silent for ${this.clock() - this.last.atMs} ms` };
    return { value: null, reason: 'waiting for the first tegrastats line' };
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 2000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
