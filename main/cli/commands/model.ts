/**
 * `edgectl model inspect`, `edgectl build` and `edgectl artifact verify|pack`: the ML engineer's commands, for
 * terminals and CI pipelines. Builds print progress to stderr (a bar on a terminal, one line per stage
 * otherwise), Ctrl-C cancels cleanly (no partial artifact), and the result is recorded in the fleet log.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { lowAgreementAdvice } from '../../../shared/advice.js';
import { actionableFirst, keptFloatCounts, speedPassText } from '../../../shared/report-text.js';
import { AppError } from '../../../shared/errors.js';
import { TARGET_IDS } from '../../../shared/targets.js';
import { defaultDataDir, fleetDbPath, keysDir } from '../../core/paths.js';
import { openFleetLog } from '../../fleetlog/client.js';
import {
  buildModel,
  failedRecord,
  type BuildReport,
  type BuildRequest,
} from '../../../models/build/build.js';
import { readModel } from '../../../models/onnx/io.js';
import { inspectModel } from '../../../models/onnx/inspect.js';
import { fillShapesFromOrt } from '../../../models/onnx/ort.js';
import { verifyArtifact } from '../../../models/artifact/verify.js';
import { packArtifact, verifyArchive } from '../../../models/artifact/archive.js';
import { loadOrCreateSigningKey, trustedKeyOf } from '../../../models/artifact/signing.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../../../models/quantize/calibrate.js';
import { FLOAT_WEIGHT_STORAGE, type FloatWeightStorage } from '../../../models/quantize/qdq.js';
import { PRESET_NAMES, type PresetName } from '../../../models/data/preprocess.js';
import { parseIntOption, runAction } from '../errors.js';

function choice<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v))
      throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}, got "${v}".`);
    return v as T;
  };
}

function parseBudget(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 1))
    throw new InvalidArgumentError(`--accuracy-budget must be a number in (0, 1], got "${v}".`);
  return n;
}

const collect = (v: string, prev: string[] = []): string[] => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function progressPrinter(): (p: { stage: string; fraction: number; message: string }) => void {
  const tty = process.stderr.isTTY;
  let lastStage = '';
  return (p) => {
    if (tty) {
      const width = 30;
      const filled = Math.round(p.fraction * width);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(p.fraction * 100).toFixed(0).padStart(3)}% ${p.message.slice(0, 60).padEnd(60)}`,
      );
      if (p.stage === 'done') process.stderr.write('\n');
    } else if (p.stage !== lastStage) {
      process.stderr.write(`${(p.fraction * 100).toFixed(0).padStart(3)}% ${p.message}\n`);
    }
    lastStage = p.stage;
  };
}

export function formatBuildReport(r: BuildReport, dir: string): string {
  const lines = [
    `Built ${r.name} ${r.version} for ${r.target} (${r.precision}${r.mode ? ` ${r.mode}` : ''}) in ${(r.durationMs / 1000).toFixed(1)} s`,
    `  artifact     ${dir}`,
    `  size         ${mb(r.source.fileBytes)} → ${mb(r.output.fileBytes)} (×${r.sizeRatio.toFixed(3)})`,
    `  nodes        ${r.source.nodes} → ${r.output.nodes} (cleanup: ${r.cleanup.foldedConstants} constants folded, ${r.cleanup.fusedBatchNorms} BatchNorms and ${r.cleanup.fused.foldedIntoConvOutput + r.cleanup.fused.foldedIntoConvInput} Mul/Add fused into Conv, ${r.cleanup.fused.hardSwish} HardSwish${r.cleanup.affineToBatchNorm ? `, ${r.cleanup.affineToBatchNorm} scalar Mul/Add → BatchNormalization` : ''}; opset ${r.cleanup.opset.from} → ${r.cleanup.opset.to})`,
  ];
  if (r.quantization) {
    const q = r.quantization;
    const counts = keptFloatCounts(q.keptFloat);
    lines.push(
      `  quantized    ${q.quantized.length} nodes (${q.mode}); kept float: ${q.keptFloat.length}${counts.length ? ` (${counts.map((c) => `${c.count} ${c.label}`).join(', ')})` : ''}`,
    );
    for (const k of actionableFirst(q.keptFloat).slice(0, 8))
      lines.push(`               - ${k.node} (${k.opType}): ${k.reason}`);
    if (q.keptFloat.length > 8)
      lines.push(`               … and ${q.keptFloat.length - 8} more (see build-report.json)`);
    if (q.calibration)
      lines.push(
        `  calibration  ${q.calibration.method}, ${q.calibration.samples} samples, ${q.calibration.tensors} tensors, ${(q.calibration.totalMs / 1000).toFixed(1)} s`,
      );
    if (q.floatWeights && q.floatWeights.tensors > 0)
      lines.push(
        `  float layers weights stored as ${q.floatWeights.storage} (${q.floatWeights.tensors} tensors)`,
      );
    if (q.speed) lines.push(`  speed pass   ${speedPassText(q.speed)}`);
    const worst = [...q.layers].sort((a, b) => a.sqnrDb - b.sqnrDb).slice(0, 3);
    if (worst.length)
      lines.push(`  lowest SQNR  ${worst.map((l) => `${l.node} ${l.sqnrDb.toFixed(1)} dB`).join(', ')}`);
  }
  if (r.fp16)
    lines.push(
      `  fp16         ${r.fp16.convertedNodes} nodes converted, ${r.fp16.keptFloat32.length} kept float32, ${r.fp16.clamped.length} tensors clamped`,
    );
  lines.push(
    'skipped' in r.check
      ? `  check        skipped: ${r.check.skipped}`
      : `  check        output cosine ${r.check.cosine.toFixed(5)} (min ${r.check.minCosine.toFixed(5)}), SQNR ${r.check.sqnrDb.toFixed(1)} dB on ${r.check.samples} samples`,
  );
  if (r.tflite) {
    if ('error' in r.tflite) lines.push(`  tflite       not exported: ${r.tflite.error}`);
    else {
      const t = r.tflite;
      const ops = Object.entries(t.operators)
        .sort((a, b) => b[1] - a[1])
        .map(([op, n]) => `${op} ${n}`)
        .join(', ');
      const io = (xs: typeof t.inputs): string => xs.map((x) => `${x.name} ${x.shape.join('×')}`).join(', ');
      const outs = t.outputs.filter((x) => x.role !== 'frontier');
      lines.push(
        `  tflite       ${t.file}, ${(t.bytes / 1e6).toFixed(2)} MB, full integer: ${ops}`,
        `               input ${io(t.inputs)} (${t.inputs.some((x) => x.layout === 'NHWC') ? 'NHWC' : 'as ONNX'})${outs.length > 0 ? `, output ${io(outs)}` : ''}`,
      );
      if (t.split)
        lines.push(
          `               split at ${t.split.at.node} (${t.split.at.opType}): the rest (${t.split.nodes} nodes) is ${t.split.file}, for onnxruntime on the device's CPU; it reads ${t.split.inputs.join(', ')}`,
        );
      lines.push(
        'skipped' in t.check
          ? `               TFLite check skipped: ${t.check.skipped}`
          : `               in TensorFlow Lite${t.split ? ` + ${t.split.file} in onnxruntime` : ''}: output cosine ${t.check.cosine.toFixed(5)} (min ${t.check.minCosine.toFixed(5)}) vs the source on ${t.check.samples} samples`,
      );
    }
  }
  const advice = lowAgreementAdvice(r);
  if (advice) lines.push(`  LOW AGREEMENT ${advice}`);
  lines.push(`  target       ${r.compat.ok ? 'OK' : 'PROBLEMS'}: ${r.compat.verdict}`);
  for (const i of r.compat.issues.filter((x) => x.severity !== 'info').slice(0, 6))
    lines.push(`               - [${i.severity}] ${i.message}`);
  lines.push(`  compile      ${r.compile.status}: ${r.compile.message}`);
  return lines.join('\n');
}

export function registerModelCommands(program: Command): void {
  const model = program.command('model').description('Inspect ONNX models');
  model
    .command('inspect')
    .description('Summarize an ONNX model: inputs/outputs, opset, operators, parameters, external data')
    .argument('<model>', '.onnx file')
    .option('--json', 'print JSON')
    .option('--nodes', 'also list every node (name, op type, inputs, outputs)')
    .action(
      runAction(async (file: string, opts: { json?: boolean; nodes?: boolean }) => {
        const m = await readModel(file);
        const summary = await fillShapesFromOrt(inspectModel(m), m);
        if (opts.json) {
          process.stdout.write(
            JSON.stringify(
              opts.nodes ? summary : { ...summary, graph: { name: summary.graph.name, nodes: [] } },
              null,
              2,
            ) + '\n',
          );
          return;
        }
        const shape = (s: readonly (string | number)[] | null): string => (s ? `[${s.join(', ')}]` : '[?]');
        const out = [
          `${path.basename(file)}: ONNX IR ${summary.irVersion}, opset ${summary.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}`,
          `  producer    ${summary.producer.name || '—'} ${summary.producer.version || ''}`.trimEnd(),
          `  parameters  ${summary.parameters.count.toLocaleString('en-US')} (${mb(summary.parameters.bytes)})`,
          ...summary.inputs.map((i) => `  input       ${i.name}: ${i.elemType} ${shape(i.shape)}`),
          ...summary.outputs.map((o) => `  output      ${o.name}: ${o.elemType} ${shape(o.shape)}`),
          `  operators   ${summary.nodeCount} nodes: ${summary.operators.map((o) => `${o.op} ${o.count}`).join(', ')}`,
        ];
        if (summary.externalData.length)
          out.push(
            `  external    ${summary.externalData.map((e) => `${e.location} (${mb(e.bytes)})`).join(', ')}`,
          );
        // An unnamed node is listed under the name builds give it (--exclude takes it).
        if (opts.nodes)
          summary.graph.nodes.forEach((n, i) =>
            out.push(
              `  ${n.name || `${n.opType}_${i}`}  ${n.opType}  (${n.inputs.join(', ')}) → (${n.outputs.join(', ')})`,
            ),
          );
        process.stdout.write(out.join('\n') + '\n');
      }),
    );

  program
    .command('build')
    .description('Build a signed model artifact for a target and precision')
    .requiredOption('--model <file>', 'source .onnx model')
    .requiredOption(
      '--target <profile>',
      `target profile: ${TARGET_IDS.join(', ')}`,
      choice('--target', TARGET_IDS),
    )
    .requiredOption(
      '--precision <p>',
      'fp32, fp16 or int8',
      choice('--precision', ['fp32', 'fp16', 'int8'] as const),
    )
    .requiredOption('--out <dir>', 'artifact directory to create')
    .option('--name <name>', 'artifact name (default: the model file name)')
    .option('--version <semver>', 'artifact version', '0.1.0')
    .option(
      '--mode <mode>',
      'int8: static or dynamic',
      choice('--mode', ['static', 'dynamic'] as const),
      'static',
    )
    .option(
      '--calibration <data>',
      'folder of images or .npy samples, one .npy [N,...], or gen:ocr-lines:<n> / gen:ocr-pages:<n>',
    )
    .option(
      '--calibrate <method>',
      'minmax, percentile or entropy',
      choice('--calibrate', CALIBRATION_METHODS),
      'minmax',
    )
    .option(
      '--preset <name>',
      `image preprocessing: ${PRESET_NAMES.join(', ')}`,
      choice('--preset', PRESET_NAMES),
    )
    .option('--samples <n>', 'calibration samples to use', parseIntOption('--samples', 1, 100_000), 64)
    .option('--exclude <names>', 'node names or op types kept in float (repeat or comma-separate)', collect)
    .option(
      '--accuracy-budget <cosine>',
      'accuracy-aware int8: keep sensitive layers float until output cosine ≥ this',
      parseBudget,
    )
    .option(
      '--sensitivity <how>',
      'accuracy budget search: channel (calibration statistics, fast) or layer (each layer measured alone, slower)',
      choice('--sensitivity', ['channel', 'layer'] as const),
    )
    .option(
      '--float-weights <storage>',
      'int8 on CPU: storage of the weights of layers kept float: auto (default: int8 if --accuracy-budget still holds, else float16), float16, int8 or float32; onnxruntime restores them at load, so speed is the same',
      choice('--float-weights', ['auto', ...FLOAT_WEIGHT_STORAGE] as const),
    )
    .option(
      '--no-speed-pass',
      'static int8 for this computer’s CPU type: skip measuring int8 against float here (by default onnxruntime’s profiles order the accuracy search by what each layer saves, and groups of int8 nodes that run slower than float are kept float)',
    )
    .option('--overwrite', 'replace an existing artifact at --out')
    .option('--threads <n>', 'onnxruntime threads', parseIntOption('--threads', 1, 256))
    .option('--data-dir <dir>', 'console data directory (signing key, fleet log)', defaultDataDir())
    .option('--json', 'print the build report as JSON on stdout')
    .action(
      runAction(
        async (opts: {
          model: string;
          target: string;
          precision: 'fp32' | 'fp16' | 'int8';
          out: string;
          name?: string;
          version: string;
          mode: 'static' | 'dynamic';
          calibration?: string;
          calibrate: CalibrationMethod;
          preset?: PresetName;
          samples: number;
          exclude?: string[];
          accuracyBudget?: number;
          overwrite?: boolean;
          floatWeights?: FloatWeightStorage | 'auto';
          sensitivity?: 'channel' | 'layer';
          speedPass?: boolean;
          threads?: number;
          dataDir: string;
          json?: boolean;
        }) => {
          if (!existsSync(opts.model))
            throw new AppError('NOT_FOUND', `no model at ${opts.model}`, {
              hint: 'Pass the path of an .onnx file.',
            });
          const controller = new AbortController();
          const onSigint = (): void => {
            process.stderr.write('\nCancelling the build…\n');
            controller.abort();
          };
          process.once('SIGINT', onSigint);
          const req: BuildRequest = {
            id: crypto.randomUUID(),
            modelPath: opts.model,
            version: opts.version,
            target: opts.target,
            precision: opts.precision,
            outDir: opts.out,
            keysDir: keysDir(opts.dataDir),
            samples: opts.samples,
            calibrate: opts.calibrate,
            signal: controller.signal,
            onProgress: progressPrinter(),
            ...(opts.precision === 'int8' ? { mode: opts.mode } : {}),
            ...(opts.name ? { name: opts.name } : {}),
            ...(opts.calibration ? { calibration: opts.calibration } : {}),
            ...(opts.preset ? { preset: opts.preset } : {}),
            ...(opts.exclude ? { exclude: opts.exclude } : {}),
            ...(opts.accuracyBudget !== undefined ? { accuracyBudget: opts.accuracyBudget } : {}),
            ...(opts.overwrite ? { overwrite: true } : {}),
            ...(opts.floatWeights ? { floatWeights: opts.floatWeights } : {}),
            ...(opts.sensitivity ? { sensitivity: opts.sensitivity } : {}),
            ...(opts.speedPass === false ? { speedPass: false } : {}),
            ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
          };
          const started = Date.now();
          mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
          const store = await openFleetLog({ dbPath: fleetDbPath(opts.dataDir), inProcess: true });
          try {
            const name = opts.name ?? path.basename(opts.model).replace(/\.onnx$/i, '');
            const prior = (await store.listBuilds({ name, limit: 1000 })).find(
              (b) =>
                b.status === 'succeeded' &&
                b.version === opts.version &&
                b.target === opts.target &&
                b.precision === opts.precision,
            );
            if (prior) {
              throw new AppError(
                'CONFLICT',
                `${name} ${opts.version} for ${opts.target} (${opts.precision}) was already built (${prior.artifactDir ?? ''})`,
                { hint: 'Versions are immutable: bump --version (e.g. 0.1.1).' },
              );
            }
            try {
              const res = await buildModel(req);
              await store.recordBuild(res.record);
              process.stdout.write(
                opts.json
                  ? JSON.stringify(res.report, null, 2) + '\n'
                  : formatBuildReport(res.report, res.artifactDir) + '\n',
              );
            } catch (err) {
              await store
                .recordBuild(failedRecord(req, req.id ?? crypto.randomUUID(), started, err))
                .catch(() => undefined);
              throw err;
            }
          } finally {
            process.off('SIGINT', onSigint);
            await store.close();
          }
        },
      ),
    );

  program
    .command('builds')
    .description('List the builds recorded in the fleet log, newest first')
    .option('--name <name>', 'only builds of this artifact name')
    .option('--limit <n>', 'at most this many', parseIntOption('--limit', 1, 1000), 50)
    .option('--data-dir <dir>', 'console data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action(
      runAction(async (opts: { name?: string; limit: number; dataDir: string; json?: boolean }) => {
        if (!existsSync(fleetDbPath(opts.dataDir)))
          throw new AppError('NOT_FOUND', `no fleet log at ${fleetDbPath(opts.dataDir)}`, {
            hint: 'Run a build or start the console first, or pass --data-dir.',
          });
        const store = await openFleetLog({ dbPath: fleetDbPath(opts.dataDir), inProcess: true });
        try {
          const rows = await store.listBuilds({
            limit: opts.limit,
            ...(opts.name ? { name: opts.name } : {}),
          });
          if (opts.json) {
            process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
            return;
          }
          const lines = rows.map((b) =>
            [
              new Date(b.createdAt).toISOString().slice(0, 19).replace('T', ' '),
              b.status.padEnd(9),
              `${b.name} ${b.version}`.padEnd(40),
              b.target.padEnd(16),
              b.precision.padEnd(5),
              b.status === 'succeeded'
                ? `size ×${JSON.stringify(b.summary.sizeRatio ?? '?')} agreement ${JSON.stringify(b.summary.agreement ?? null)}`
                : (b.error ?? '').slice(0, 60),
            ].join('  '),
          );
          process.stdout.write((lines.length ? lines.join('\n') : 'No builds recorded yet.') + '\n');
        } finally {
          await store.close();
        }
      }),
    );

  const artifact = program.command('artifact').description('Verify and package model artifacts');
  artifact
    .command('verify')
    .description("Check an artifact's signature and every file's sha256 (exit 1 if it fails)")
    .argument('<path>', 'artifact directory or .tar archive')
    .option('--data-dir <dir>', 'console data directory whose signing key is trusted', defaultDataDir())
    .option('--embedded-key', 'trust the key named in the manifest (checks integrity, not who signed it)')
    .option('--json', 'print the result as JSON')
    .action(
      runAction(async (p: string, opts: { dataDir: string; embeddedKey?: boolean; json?: boolean }) => {
        const trusted = opts.embeddedKey
          ? ('embedded' as const)
          : [trustedKeyOf(await loadOrCreateSigningKey(keysDir(opts.dataDir)))];
        const res = p.endsWith('.tar')
          ? await verifyArchive(p, { trusted })
          : await verifyArtifact(p, { trusted });
        if (opts.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
        else if (res.ok)
          process.stdout.write(
            `OK: ${p} — ${res.manifest?.name ?? ''} ${res.manifest?.version ?? ''} (${res.manifest?.target ?? ''}, ${res.manifest?.precision ?? ''}), signed by ${res.keyId ?? '?'}, ${res.manifest?.files.length ?? 0} files intact\n`,
          );
        else {
          process.stdout.write(`FAILED: ${p}\n`);
          for (const pr of res.problems)
            process.stdout.write(`  - ${pr.code}${pr.path ? ` ${pr.path}` : ''}: ${pr.message}\n`);
        }
        if (!res.ok) process.exitCode = 1;
      }),
    );
  artifact
    .command('pack')
    .description('Pack an artifact directory into a single .tar file (manifest first)')
    .argument('<dir>', 'artifact directory')
    .argument('<archive>', 'output .tar')
    .action(
      runAction(async (dir: string, archive: string) => {
        const r = await packArtifact(dir, archive);
        process.stdout.write(`Packed ${dir} → ${archive} (${mb(r.bytes)})\n`);
      }),
    );
}
