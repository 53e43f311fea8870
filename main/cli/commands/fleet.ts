import { createWriteStream, existsSync } from 'node:fs';
import type { Command } from 'commander';
import { AppError } from '../../../shared/errors.js';
import type { DeviceRow } from '../../../shared/fleet.js';
import { DeviceStatus } from '../../../shared/fleet.js';
import { METRICS } from '../../../shared/telemetry.js';
import { defaultDataDir, fleetDbPath } from '../../core/paths.js';
import { openFleetLog } from '../../fleetlog/client.js';
import type { FleetStore } from '../../fleetlog/types.js';
import { runAction } from '../errors.js';

async function withStore<T>(dataDir: string, fn: (s: FleetStore) => Promise<T>): Promise<T> {
  const db = fleetDbPath(dataDir);
  if (!existsSync(db)) {
    throw new AppError('NOT_FOUND', `No fleet log at ${db}.`, {
      hint: 'Start the console once (`npm start` or `edgectl serve`), or pass --data-dir.',
    });
  }
  const store = await openFleetLog({ dbPath: db, inProcess: true });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const fmt = (v: number | null, digits = 1, unit = '') => (v === null ? '—' : `${v.toFixed(digits)}${unit}`);
const ago = (ts: number | null, now: number) => {
  if (ts === null) return 'never';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};

export function formatTable(rows: DeviceRow[], now = Date.now()): string {
  const header = ['DEVICE', 'STATUS', 'MODEL', 'TEMP', 'P95', 'VERSION', 'LAST CONTACT'];
  const body = rows.map((r) => [
    r.id,
    r.status,
    r.hardwareModel,
    fmt(r.tempC, 1, '°C'),
    fmt(r.latencyP95Ms, 1, 'ms'),
    r.modelVersion ?? '—',
    ago(r.lastContactTs, now),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  return [header, ...body]
    .map((cols) =>
      cols
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const CSV_COLUMNS = [
  'id',
  'name',
  'status',
  'statusReasons',
  'hardwareModel',
  'accelerator',
  'arch',
  'os',
  'url',
  'lastContactTs',
  'lastSampleTs',
  ...METRICS,
  'throttled',
  'errorRate',
  'modelVersion',
] as const;

export function csvEscape(v: string | number | boolean | string[] | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = Array.isArray(v) ? v.join('; ') : String(v);
  // Quote fields with separators, and defuse spreadsheet formulas (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(rows: DeviceRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) lines.push(CSV_COLUMNS.map((c) => csvEscape(r[c])).join(','));
  return lines.join('\n') + '\n';
}

export function registerFleetCommands(program: Command): void {
  const fleet = program.command('fleet').description('read the fleet log: devices, health, export');
  const dataDirOpt = ['--data-dir <dir>', 'fleet log folder', defaultDataDir()] as const;

  fleet
    .command('list')
    .description('list devices with health, temperature, latency, version and last contact')
    .option(...dataDirOpt)
    .option('--status <status>', 'only this status (healthy, degraded, unreachable, unknown)')
    .option('--search <text>', 'substring of id, name, model or version')
    .option('--json', 'print JSON instead of a table')
    .action(
      runAction(async (o: { dataDir: string; status?: string; search?: string; json?: boolean }) => {
        const status = o.status === undefined ? undefined : DeviceStatus.safeParse(o.status);
        if (status && !status.success) {
          throw new AppError(
            'BAD_INPUT',
            `Unknown status "${o.status}". Use one of: ${DeviceStatus.options.join(', ')}.`,
          );
        }
        const rows = await withStore(o.dataDir, (s) =>
          s.listDevices({
            ...(o.search ? { search: o.search } : {}),
            ...(status?.data ? { status: [status.data] } : {}),
          }),
        );
        process.stdout.write(
          o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatTable(rows)}\n${rows.length} devices\n`,
        );
      }),
    );

  fleet
    .command('show <device>')
    .description('one device: identity, latest readings, health reasons and recent events')
    .option(...dataDirOpt)
    .option('--json', 'print JSON')
    .action(
      runAction(async (id: string, o: { dataDir: string; json?: boolean }) => {
        await withStore(o.dataDir, async (s) => {
          const found = await s.getDevice(id);
          if (!found)
            throw new AppError('NOT_FOUND', `No device "${id}" in the fleet log.`, {
              hint: 'See `edgectl fleet list`.',
            });
          const events = await s.events({ deviceId: id, limit: 20 });
          if (o.json) {
            process.stdout.write(
              `${JSON.stringify({ device: found.row, identity: found.identity, events }, null, 2)}\n`,
            );
            return;
          }
          const r = found.row;
          const lines = [
            `${r.id}  ${r.status.toUpperCase()}${r.statusReasons.length ? ` (${r.statusReasons.join('; ')})` : ''}`,
            `  model        ${r.hardwareModel} · ${r.accelerator} · ${r.arch} · ${r.os}`,
            `  agent        ${r.url ?? '—'}`,
            `  version      ${r.modelVersion ?? '—'}`,
            `  temperature  ${fmt(r.tempC, 1, ' °C')} (limit ${r.limits.tempLimitC} °C)${r.throttled ? ' THROTTLED' : ''}`,
            `  latency      P50 ${fmt(r.latencyP50Ms, 1, ' ms')}  P95 ${fmt(r.latencyP95Ms, 1, ' ms')}  P99 ${fmt(r.latencyP99Ms, 1, ' ms')} (budget ${r.limits.latencyBudgetMs} ms)`,
            `  throughput   ${fmt(r.throughputIps, 1, ' inf/s')}  errors ${r.errorRate === null ? '—' : `${(r.errorRate * 100).toFixed(2)}%`}`,
            `  cpu / mem    ${fmt(r.cpuPct, 0, '%')} / ${fmt(r.memPct, 0, '%')}   power ${fmt(r.powerW, 1, ' W')}`,
            `  last contact ${ago(r.lastContactTs, Date.now())}`,
            '',
            'Recent events:',
            ...events.map((e) => `  ${new Date(e.ts).toISOString()}  ${e.severity.padEnd(7)} ${e.message}`),
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        });
      }),
    );

  fleet
    .command('export')
    .description('export every device with its latest state as CSV or JSON')
    .option(...dataDirOpt)
    .option('--format <format>', 'csv or json', 'csv')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(
      runAction(async (o: { dataDir: string; format: string; out?: string }) => {
        if (o.format !== 'csv' && o.format !== 'json') {
          throw new AppError('BAD_INPUT', `Unknown format "${o.format}". Use csv or json.`);
        }
        const rows = await withStore(o.dataDir, (s) => s.listDevices());
        const text = o.format === 'csv' ? toCsv(rows) : `${JSON.stringify(rows, null, 2)}\n`;
        if (!o.out) {
          process.stdout.write(text);
          return;
        }
        await new Promise<void>((resolve, reject) => {
          const ws = createWriteStream(o.out!, { mode: 0o600 });
          ws.on('error', reject);
          ws.end(text, () => resolve());
        });
        process.stderr.write(`Wrote ${rows.length} devices to ${o.out}\n`);
      }),
    );
}
