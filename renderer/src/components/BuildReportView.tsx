import { useMemo, useState } from 'react';
import { lowAgreementAdvice } from '../../../shared/advice.js';
import { actionableFirst, keptFloatCounts, speedPassText } from '../../../shared/report-text.js';
import type { BuildRecord, VerifyResult } from '../../../shared/artifact.js';
import type { BuildReport } from '../../../shared/contract.js';
import type { CompatIssue, Severity, TargetProfile } from '../../../shared/targets.js';
import { useApi } from '../api/context.js';
import { formatDateTime, formatMs } from '../lib/format.js';
import { ErrorNotice } from './ErrorNotice.js';
import { ErrorIcon, InfoIcon, WarningIcon } from './Icons.js';
import {
  BuildStatusBadge,
  cosineLevel,
  formatBytes,
  formatCosine,
  formatCount,
  formatDb,
  formatRatio,
  Kpi,
  sqnrLevel,
  Verdict,
} from './BuildShared.js';

const SEVERITIES: Severity[] = ['error', 'warning', 'info'];
const LAYER_ROWS = 40;

function SevIcon({ severity }: { severity: Severity }) {
  return (
    <span className={`sev sev-${severity}`}>
      {severity === 'error' ? <ErrorIcon /> : severity === 'warning' ? <WarningIcon /> : <InfoIcon />}
    </span>
  );
}

function change(a: number, b: number): string {
  if (a === 0) return b === 0 ? '0' : '+∞';
  const pct = ((b - a) / a) * 100;
  return `${pct > 0 ? '+' : ''}${pct.toFixed(Math.abs(pct) < 10 ? 1 : 0)} %`;
}

/** The full-integer TFLite model a Coral build exports: what it holds and how it ran in TensorFlow Lite. */
function TfliteExport({ t }: { t: NonNullable<BuildReport['tflite']> }) {
  if ('error' in t)
    return (
      <div className="report-section" data-testid="tflite-export">
        <h2>TensorFlow Lite model</h2>
        <div className="compat-verdict">
          <Verdict ok={false}>not exported</Verdict>
          <span>{t.error}</span>
        </div>
      </div>
    );
  const ops = Object.entries(t.operators).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const io = (xs: typeof t.inputs) => xs.map((x) => `${x.name} ${x.shape.join('×')}`).join(', ');
  const outputs = t.outputs.filter((x) => x.role !== 'frontier');
  return (
    <div className="report-section" data-testid="tflite-export">
      <h2>TensorFlow Lite model</h2>
      <div className="compat-verdict">
        <Verdict ok={true}>full integer</Verdict>
        <span>
          {t.file}, {formatBytes(t.bytes)}, {ops.reduce((a, [, n]) => a + n, 0)} operators, {t.tensors}{' '}
          tensors
        </span>
      </div>
      <div className="small">
        Input {io(t.inputs)}
        {t.inputs.some((x) => x.layout === 'NHWC') ? ' (NHWC)' : ''}
        {outputs.length > 0 ? <> · output {io(outputs)}</> : null}
      </div>
      {t.split && (
        <div className="small" data-testid="tflite-split">
          <Verdict ok={false}>split</Verdict> Exported up to <code>{t.split.at.node}</code> (
          {t.split.at.opType}
          ), the first node TFLite does not take here. The rest, {t.split.nodes} nodes, ships as{' '}
          <code>{t.split.file}</code> for onnxruntime on the device&apos;s CPU, reading{' '}
          {t.split.inputs.map((x, i) => (
            <span key={x}>
              {i > 0 ? ', ' : ''}
              <code>{x}</code>
            </span>
          ))}{' '}
          from the TFLite model.
        </div>
      )}
      <div className="small" data-testid="tflite-check">
        {'skipped' in t.check ? (
          <span className="muted">TensorFlow Lite check skipped: {t.check.skipped}.</span>
        ) : (
          <>
            In TensorFlow Lite{t.split ? <> + {t.split.file} in onnxruntime</> : null}: cosine{' '}
            <b className={`level-${cosineLevel(t.check.cosine)}`}>{formatCosine(t.check.cosine)}</b> (lowest{' '}
            {formatCosine(t.check.minCosine)}) against the source on {t.check.samples} samples.
          </>
        )}
      </div>
      <table className="data-table compact small">
        <thead>
          <tr>
            <th>TFLite operator</th>
            <th className="num">Count</th>
          </tr>
        </thead>
        <tbody>
          {ops.map(([op, n]) => (
            <tr key={op}>
              <td>{op}</td>
              <td className="num">{n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Source vs built: sizes, nodes, parameters, opset, and operator counts side by side. */
function Comparison({ report }: { report: BuildReport }) {
  const { source: s, output: o } = report;
  const ops = useMemo(() => {
    const names = new Set([...Object.keys(s.opCounts), ...Object.keys(o.opCounts)]);
    return [...names]
      .map((op) => ({ op, src: s.opCounts[op] ?? 0, out: o.opCounts[op] ?? 0 }))
      .sort((a, b) => b.out + b.src - (a.out + a.src) || a.op.localeCompare(b.op));
  }, [s.opCounts, o.opCounts]);
  const rows: [string, string, string, string][] = [
    ['File size', formatBytes(s.fileBytes), formatBytes(o.fileBytes), formatRatio(report.sizeRatio)],
    ['Nodes', formatCount(s.nodes), formatCount(o.nodes), change(s.nodes, o.nodes)],
    ['Parameters', formatCount(s.parameters), formatCount(o.parameters), change(s.parameters, o.parameters)],
    [
      'Parameter bytes',
      formatBytes(s.parameterBytes),
      formatBytes(o.parameterBytes),
      change(s.parameterBytes, o.parameterBytes),
    ],
    ['Opset', String(s.opset), String(o.opset), ''],
  ];
  return (
    <div className="report-section">
      <h2>Source vs built</h2>
      <table className="data-table compare-table" data-testid="compare-table">
        <thead>
          <tr>
            <th />
            <th className="right" title={s.fileName}>
              Source
            </th>
            <th className="right">Built</th>
            <th className="right">Change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([label, a, b, c]) => (
            <tr key={label}>
              <td className="muted">{label}</td>
              <td className="right num">{a}</td>
              <td className="right num strong">{b}</td>
              <td className="right num muted">{c}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="cleanup-line muted">
        Cleanup: {report.cleanup.foldedConstants} constants folded, {report.cleanup.fusedBatchNorms}{' '}
        BatchNorms fused, {report.cleanup.fused.hardSwish} HardSwish fused,{' '}
        {report.cleanup.fused.foldedIntoConvInput + report.cleanup.fused.foldedIntoConvOutput} Mul/Add folded
        into Conv,{' '}
        {report.cleanup.affineToBatchNorm ? (
          <span title="onnxruntime runs BatchNormalization in its blocked NCHWc layout on x86-64; a scalar Mul/Add makes it reorder the data out and back">
            {report.cleanup.affineToBatchNorm} scalar Mul/Add → BatchNormalization,{' '}
          </span>
        ) : null}
        {report.cleanup.removedNodes} nodes removed; opset {report.cleanup.opset.from} →{' '}
        {report.cleanup.opset.to}.
      </div>
      <details className="ops-details">
        <summary>Operators ({ops.length})</summary>
        <table className="data-table">
          <thead>
            <tr>
              <th>Operator</th>
              <th className="right">Source</th>
              <th className="right">Built</th>
            </tr>
          </thead>
          <tbody>
            {ops.map((r) => (
              <tr key={r.op}>
                <td className="mono">{r.op}</td>
                <td className="right num">{r.src || '—'}</td>
                <td className="right num">{r.out || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}

function Quantization({ q }: { q: NonNullable<BuildReport['quantization']> }) {
  const [allLayers, setAllLayers] = useState(false);
  const [keptKind, setKeptKind] = useState<string | null>(null);
  const keptCounts = useMemo(() => keptFloatCounts(q.keptFloat), [q.keptFloat]);
  const kept = useMemo(
    () => actionableFirst(q.keptFloat.filter((k) => keptKind === null || (k.kind ?? 'other') === keptKind)),
    [q.keptFloat, keptKind],
  );
  const layers = useMemo(
    () => [...q.layers].sort((a, b) => (a.sqnrDb ?? Infinity) - (b.sqnrDb ?? Infinity)),
    [q.layers],
  );
  const shown = allLayers ? layers : layers.slice(0, LAYER_ROWS);
  const finite = layers.map((l) => l.sqnrDb).filter((v): v is number => v !== null);
  const maxDb = Math.max(40, ...finite);
  return (
    <div className="report-section">
      <h2>Quantization ({q.mode})</h2>
      <div className="muted small">
        {q.quantized.length} nodes quantized
        {q.calibration &&
          ` · calibration: ${q.calibration.method}, ${q.calibration.samples} samples, ${q.calibration.tensors} tensors, ${formatMs(q.calibration.totalMs)}`}
        {q.agreement &&
          ` · quantized vs FP32 on ${
            q.agreementSamples
              ? `${q.agreementSamples.count} ${q.agreementSamples.heldOut ? 'held-out' : 'calibration'} samples`
              : 'the evaluation samples'
          }: cosine ${formatCosine(q.agreement.cosine)}`}
        {q.floatWeights && q.floatWeights.storage !== 'float32' && q.floatWeights.tensors > 0 && (
          <span data-testid="float-weights">
            {` · weights of float layers stored as ${q.floatWeights.storage} (${q.floatWeights.tensors} tensors)`}
          </span>
        )}
        {q.speed && <span data-testid="speed-pass">{` · speed pass: ${speedPassText(q.speed)}`}</span>}
      </div>
      <div className="report-grid">
        <div className="report-col">
          <h3>Kept in float ({q.keptFloat.length})</h3>
          {keptCounts.length > 1 && (
            <div
              className="chips kept-float-chips"
              role="group"
              aria-label="Filter by why they stayed float"
              data-testid="kept-float-filter"
            >
              <button
                type="button"
                className={`chip${keptKind === null ? ' on' : ''}`}
                onClick={() => setKeptKind(null)}
                aria-pressed={keptKind === null}
              >
                All <span className="chip-count">{q.keptFloat.length}</span>
              </button>
              {keptCounts.map((c) => (
                <button
                  key={c.kind}
                  type="button"
                  className={`chip${keptKind === c.kind ? ' on' : ''}`}
                  onClick={() => setKeptKind(keptKind === c.kind ? null : c.kind)}
                  aria-pressed={keptKind === c.kind}
                  data-kept-kind={c.kind}
                >
                  {c.label} <span className="chip-count">{c.count}</span>
                </button>
              ))}
            </div>
          )}
          {q.keptFloat.length === 0 ? (
            <div className="muted small">Every quantizable node is quantized.</div>
          ) : (
            <table className="data-table" data-testid="kept-float-table">
              <thead>
                <tr>
                  <th>Node</th>
                  <th>Op</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {kept.map((k) => (
                  <tr key={k.node}>
                    <td className="mono truncate" title={k.node}>
                      {k.node}
                    </td>
                    <td className="mono">{k.opType}</td>
                    <td>{k.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div className="report-col">
          <h3>Per-layer SQNR, worst first ({layers.length})</h3>
          {layers.length === 0 ? (
            <div className="muted small">No per-layer measurements (dynamic quantization has none).</div>
          ) : (
            <>
              <table className="data-table sqnr-table" data-testid="sqnr-table">
                <thead>
                  <tr>
                    <th>Node</th>
                    <th>Op</th>
                    <th className="right">SQNR</th>
                    <th className="sqnr-bar-col" />
                  </tr>
                </thead>
                <tbody>
                  {shown.map((l) => (
                    <tr key={`${l.node}|${l.tensor}`}>
                      <td className="mono truncate" title={`${l.node} → ${l.tensor}`}>
                        {l.node}
                      </td>
                      <td className="mono">{l.opType}</td>
                      <td className={`right num level-${sqnrLevel(l.sqnrDb)}`}>{formatDb(l.sqnrDb)}</td>
                      <td className="sqnr-bar-col">
                        <span className="sqnr-bar">
                          <span
                            className={`sqnr-fill fill-${sqnrLevel(l.sqnrDb)}`}
                            style={{
                              width: `${Math.max(0, Math.min(100, ((l.sqnrDb ?? maxDb) / maxDb) * 100))}%`,
                            }}
                          />
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {layers.length > LAYER_ROWS && (
                <button type="button" className="link-btn" onClick={() => setAllLayers((v) => !v)}>
                  {allLayers ? `Show the worst ${LAYER_ROWS}` : `Show all ${layers.length} layers`}
                </button>
              )}
            </>
          )}
        </div>
      </div>
    </div>
  );
}

function Fp16({ f }: { f: NonNullable<BuildReport['fp16']> }) {
  return (
    <div className="report-section">
      <h2>FP16</h2>
      <div className="muted">
        {f.convertedNodes} nodes in FP16, {f.convertedInitializers} tensors converted, {f.castsInserted} casts
        added; weights {formatBytes(f.bytesBefore)} → {formatBytes(f.bytesAfter)}.
      </div>
      {f.keptFloat32.length > 0 && (
        <table className="data-table">
          <thead>
            <tr>
              <th>Kept FP32</th>
              <th>Op</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {f.keptFloat32.map((k) => (
              <tr key={k.node}>
                <td className="mono truncate">{k.node}</td>
                <td className="mono">{k.opType}</td>
                <td>{k.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {f.clamped.length > 0 && (
        <div className="level-warn small">
          {f.clamped.length} tensors hold values FP16 cannot (clamped to ±65504 or flushed to zero):{' '}
          {f.clamped
            .slice(0, 5)
            .map((c) => c.tensor)
            .join(', ')}
          {f.clamped.length > 5 ? '…' : ''}
        </div>
      )}
    </div>
  );
}

function IssueItem({ issue }: { issue: CompatIssue }) {
  return (
    <li className={`issue issue-${issue.severity}`}>
      <SevIcon severity={issue.severity} />
      <div>
        <div>
          {issue.message} <code className="muted">{issue.code}</code>
        </div>
        {issue.hint && <div className="muted small">{issue.hint}</div>}
        {issue.nodes && issue.nodes.count > 0 && (
          <div className="faint small mono truncate" title={issue.nodes.names.join(', ')}>
            {issue.nodes.count} nodes: {issue.nodes.names.slice(0, 4).join(', ')}
            {issue.nodes.count > 4 ? ', …' : ''}
          </div>
        )}
      </div>
    </li>
  );
}

function Compatibility({ c }: { c: BuildReport['compat'] }) {
  const bySeverity = SEVERITIES.map((s) => [s, c.issues.filter((i) => i.severity === s)] as const).filter(
    ([, list]) => list.length > 0,
  );
  return (
    <div className="report-section" data-testid="compat-section">
      <h2>Compatibility: {c.targetLabel}</h2>
      <div className="compat-verdict">
        <Verdict ok={c.ok}>{c.ok ? 'OK' : 'Not compatible'}</Verdict>
        <span data-testid="compat-verdict">{c.verdict}</span>
      </div>
      {bySeverity.map(([sev, list]) => (
        <div key={sev}>
          <h3>
            {sev === 'error' ? 'Errors' : sev === 'warning' ? 'Warnings' : 'Notes'} ({list.length})
          </h3>
          <ul className="issues">
            {list.map((i, n) => (
              <IssueItem key={`${i.code}-${n}`} issue={i} />
            ))}
          </ul>
        </div>
      ))}
      {c.unsupportedOps.length > 0 && (
        <>
          <h3>Unsupported operators ({c.unsupportedOps.length})</h3>
          <table className="data-table">
            <thead>
              <tr>
                <th>Op</th>
                <th className="right">Nodes</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {c.unsupportedOps.map((u) => (
                <tr key={`${u.domain}::${u.opType}`}>
                  <td className="mono">
                    {u.domain && u.domain !== 'ai.onnx' ? `${u.domain}::` : ''}
                    {u.opType}
                  </td>
                  <td className="right num">{u.nodes.count}</td>
                  <td>{u.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {c.partition && (
        <>
          <h3>Edge TPU partition</h3>
          <div className="partition">
            <div className="partition-side tpu">
              <b>{c.partition.tpu.nodes}</b> ops on the Edge TPU · {formatBytes(c.partition.tpu.weightBytes)}
            </div>
            <div className="partition-side cpu">
              <b>{c.partition.cpu.nodes}</b> ops on the CPU · {formatBytes(c.partition.cpu.weightBytes)}
            </div>
          </div>
          <div className="muted small">
            {c.partition.splitAt
              ? `Split at ${c.partition.splitAt.name} (${c.partition.splitAt.opType}): ${c.partition.splitAt.reason}`
              : 'The whole graph maps to the Edge TPU.'}{' '}
            {c.partition.note}
          </div>
        </>
      )}
      <h3>Memory</h3>
      <div className="small">
        Weights {formatBytes(c.memory.deployedWeightBytes)} deployed ({formatBytes(c.memory.modelWeightBytes)}{' '}
        in the model)
        {c.memory.limitBytes !== null && (
          <>
            {' '}
            of {formatBytes(c.memory.limitBytes)} {c.memory.limitKind.replace('-', ' ')}:{' '}
            <Verdict ok={c.memory.fits}>{c.memory.fits ? 'fits' : 'does not fit'}</Verdict>
          </>
        )}
        <div className="muted">{c.memory.note}</div>
      </div>
      {c.dynamicInputs.length > 0 && (
        <div className="muted small">
          Dynamic inputs: {c.dynamicInputs.map((d) => `${d.name} [${(d.shape ?? []).join(', ')}]`).join('; ')}
        </div>
      )}
    </div>
  );
}

function Verify({ id }: { id: string }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<VerifyResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const verify = async () => {
    setBusy(true);
    setError(null);
    try {
      setResult(await api.call('builds.verify', { id }));
    } catch (err) {
      setResult(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="verify">
      <button
        type="button"
        className="btn"
        onClick={() => void verify()}
        disabled={busy}
        data-testid="verify-button"
      >
        {busy ? 'Verifying…' : 'Verify signature'}
      </button>
      {result && (
        <div className={`verify-result ${result.ok ? 'ok' : 'bad'}`} data-testid="verify-result">
          <Verdict ok={result.ok}>{result.ok ? 'OK' : 'FAILED'}</Verdict>{' '}
          {result.ok ? (
            <span>
              Signature valid{result.trusted ? ' (this console’s key' : ' (untrusted key'} {result.keyId}),
              all {result.manifest?.files.length ?? 0} files intact.
            </span>
          ) : (
            <ul className="issues">
              {result.problems.map((p, i) => (
                <li key={i} className="issue issue-error">
                  <SevIcon severity="error" />
                  <div>
                    <code>{p.code}</code> {p.path && <span className="mono">{p.path}: </span>}
                    {p.message}
                  </div>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {error !== null && <ErrorNotice error={error} title="Could not verify" compact />}
    </div>
  );
}

/**
 * One build's report: headline numbers, source vs built, quantization (kept-float reasons, per-layer SQNR),
 * compatibility with the target, compile step, output check, and the signed artifact.
 */
export function BuildReportView({
  record,
  report,
  reportProblem,
  targets,
}: {
  record: BuildRecord;
  report: BuildReport | null;
  reportProblem: string | null;
  targets: readonly TargetProfile[];
}) {
  const targetLabel = targets.find((t) => t.id === record.target)?.label ?? record.target;
  const check = report?.check;
  const agreement = check && !('skipped' in check) ? check : null;
  return (
    <section className="panel build-report" data-testid="build-report" data-build-id={record.id}>
      <header className="report-head">
        <div className="report-title">
          <h1 className="report-name">
            {record.name} <span className="muted">{record.version}</span>
          </h1>
          <BuildStatusBadge status={record.status} />
        </div>
        <div className="report-meta muted">
          {targetLabel} · {record.precision.toUpperCase()}
          {record.mode ? ` ${record.mode}` : ''} · from {record.sourceName ?? '?'} ·{' '}
          {formatDateTime(record.createdAt)} · {formatMs(record.durationMs)}
        </div>
      </header>

      {record.status !== 'succeeded' && (
        <div className={`record-error ${record.status}`} role="status">
          <b>{record.status === 'cancelled' ? 'Cancelled' : 'Failed'}:</b> {record.error}
        </div>
      )}
      {reportProblem && <div className="record-error failed">{reportProblem}</div>}

      {report && (
        <>
          <div className="kpis report-kpis">
            <Kpi
              label="Size"
              value={formatRatio(report.sizeRatio)}
              sub={`${formatBytes(report.source.fileBytes)} → ${formatBytes(report.output.fileBytes)}`}
              testId="kpi-size"
            />
            <Kpi
              label="Nodes"
              value={`${formatCount(report.source.nodes)} → ${formatCount(report.output.nodes)}`}
            />
            <Kpi
              label="Quantized nodes"
              value={report.output.quantizedNodes}
              sub={`${report.quantization?.keptFloat.length ?? 0} kept float`}
              testId="kpi-quantized"
            />
            <Kpi
              label="Agreement"
              value={agreement ? formatCosine(agreement.cosine) : 'skipped'}
              sub={
                agreement
                  ? `cosine · min ${formatCosine(agreement.minCosine)} · ${formatDb(agreement.sqnrDb)}`
                  : 'no check data'
              }
              level={agreement ? cosineLevel(agreement.cosine) : undefined}
              testId="kpi-agreement"
            />
            <Kpi
              label="Compatibility"
              value={report.compat.ok ? 'OK' : 'Issues'}
              sub={`${report.compat.issues.length} notes · ${report.compat.unsupportedOps.length} unsupported ops`}
              level={report.compat.ok ? undefined : 'crit'}
              testId="kpi-compat"
            />
            <Kpi
              label="Compile"
              value={report.compile.status}
              sub={`${report.compile.tool}${report.compile.toolVersion ? ` ${report.compile.toolVersion}` : ''}`}
              level={
                report.compile.status === 'failed'
                  ? 'crit'
                  : report.compile.status === 'skipped'
                    ? 'warn'
                    : undefined
              }
            />
          </div>

          <div className="report-grid">
            <div className="report-col">
              <Comparison report={report} />
              {report.fp16 && <Fp16 f={report.fp16} />}
            </div>
            <div className="report-col">
              <Compatibility c={report.compat} />
              {report.tflite && <TfliteExport t={report.tflite} />}
              <div className="report-section">
                <h2>Compile step</h2>
                <div className="compat-verdict">
                  <Verdict
                    ok={
                      report.compile.status === 'compiled'
                        ? true
                        : report.compile.status === 'failed'
                          ? false
                          : null
                    }
                  >
                    {report.compile.status}
                  </Verdict>
                  <span data-testid="compile-message">{report.compile.message}</span>
                </div>
              </div>
              {lowAgreementAdvice(report) && (
                <div className="report-section" data-testid="low-agreement">
                  <div className="compat-verdict">
                    <Verdict ok={false}>low agreement</Verdict>
                    <span>{lowAgreementAdvice(report)}</span>
                  </div>
                </div>
              )}
              <div className="report-section">
                <h2>Output check against the source</h2>
                {agreement ? (
                  <div className="small" data-testid="check-result">
                    Cosine{' '}
                    <b className={`level-${cosineLevel(agreement.cosine)}`}>
                      {formatCosine(agreement.cosine)}
                    </b>{' '}
                    (lowest {formatCosine(agreement.minCosine)}), SQNR {formatDb(agreement.sqnrDb)} on{' '}
                    {agreement.samples} samples, onnxruntime with all graph optimizations.
                  </div>
                ) : (
                  <div className="muted small" data-testid="check-result">
                    Skipped: {check && 'skipped' in check ? check.skipped : 'no report'}.
                  </div>
                )}
              </div>
              <div className="report-section">
                <h2>Stages</h2>
                <div className="stages small">
                  {report.stages.map((s) => (
                    <span key={s.stage} className="stage">
                      {s.stage} <span className="muted num">{formatMs(s.ms)}</span>
                    </span>
                  ))}
                </div>
              </div>
            </div>
          </div>
          {report.quantization && <Quantization q={report.quantization} />}
        </>
      )}

      {record.artifactDir && (
        <div className="report-section artifact-section">
          <h2>Artifact</h2>
          <div className="artifact-path">
            <code data-testid="artifact-path">{record.artifactDir}</code>
          </div>
          <div className="muted small">
            manifest sha256 <code>{record.manifestSha256?.slice(0, 16)}…</code> · signed by key{' '}
            <code>{record.keyId}</code>
          </div>
          <Verify key={record.id} id={record.id} />
        </div>
      )}
    </section>
  );
}
