import { useState } from 'react';
import type { ModelInfo, ValueInfo } from '../../../shared/contract.js';
import { formatBytes, formatCount, formatShape, Kpi } from './BuildShared.js';

function IoTable({ title, values }: { title: string; values: ValueInfo[] }) {
  return (
    <table className="data-table io-table">
      <thead>
        <tr>
          <th>{title}</th>
          <th>Type</th>
          <th>Shape</th>
        </tr>
      </thead>
      <tbody>
        {values.map((v) => (
          <tr key={v.name}>
            <td className="mono truncate" title={v.name}>
              {v.name}
            </td>
            <td className="mono">{v.elemType}</td>
            <td className="mono" data-testid={`${title.toLowerCase()}-shape`}>
              {formatShape(v.shape)}
              {v.source === 'onnxruntime' && (
                <span className="muted" title="The model leaves this open; onnxruntime filled it in.">
                  {' '}
                  (ort)
                </span>
              )}
            </td>
          </tr>
        ))}
        {values.length === 0 && (
          <tr>
            <td colSpan={3} className="muted">
              none
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

/** What the uploaded model is: interface, opsets, operators, parameters, external data, producer, graph head. */
export function BuildModelSummary({ info }: { info: ModelInfo }) {
  const [showGraph, setShowGraph] = useState(false);
  const mainOpset = info.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  const otherOpsets = info.opsets.filter((o) => o !== mainOpset);
  const external = info.externalData.reduce((a, e) => a + e.bytes, 0);
  return (
    <div className="model-summary" data-testid="model-summary">
      <div className="kpis">
        <Kpi label="Opset" value={mainOpset ? mainOpset.version : '—'} testId="model-opset" />
        <Kpi label="Nodes" value={formatCount(info.nodeCount)} />
        <Kpi label="Operators" value={info.operators.length} sub="distinct" />
        <Kpi
          label="Parameters"
          value={formatCount(info.parameters.count)}
          sub={formatBytes(info.parameters.bytes)}
        />
        <Kpi label="File" value={formatBytes(info.fileBytes)} sub={`IR v${info.irVersion}`} />
        <Kpi
          label="External data"
          value={info.externalData.length === 0 ? 'none' : formatBytes(external)}
          sub={info.externalData.length > 0 ? `${info.externalData.length} files` : undefined}
        />
      </div>
      <dl className="fields model-fields">
        <div className="field">
          <dt>Producer</dt>
          <dd>
            {info.producer.name || 'unknown'} {info.producer.version}
          </dd>
        </div>
        <div className="field">
          <dt>Opsets</dt>
          <dd className="mono">
            {info.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ') || '—'}
            {otherOpsets.length > 0 && <span className="muted"> (custom domains)</span>}
          </dd>
        </div>
        {info.suggested.preset && (
          <div className="field">
            <dt>Looks like</dt>
            <dd>
              <code>{info.suggested.preset}</code> preprocessing
            </dd>
          </div>
        )}
        {info.docString && (
          <div className="field">
            <dt>Description</dt>
            <dd className="truncate" title={info.docString}>
              {info.docString}
            </dd>
          </div>
        )}
      </dl>
      <div className="io-grid">
        <IoTable title="Inputs" values={info.inputs} />
        <IoTable title="Outputs" values={info.outputs} />
      </div>
      <div className="op-chips" aria-label="Operators">
        {info.operators.map((o) => (
          <span key={o.op} className="op-chip">
            {o.op} <span className="op-count">{o.count}</span>
          </span>
        ))}
      </div>
      {info.externalData.length > 0 && (
        <table className="data-table">
          <thead>
            <tr>
              <th>External data file</th>
              <th className="right">Tensors</th>
              <th className="right">Bytes</th>
            </tr>
          </thead>
          <tbody>
            {info.externalData.map((e) => (
              <tr key={e.location}>
                <td className="mono">{e.location}</td>
                <td className="right num">{e.tensors}</td>
                <td className="right num">{formatBytes(e.bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div>
        <button type="button" className="link-btn" onClick={() => setShowGraph((s) => !s)}>
          {showGraph ? 'Hide' : 'Show'} graph ({info.graph.nodes.length}
          {info.graph.total > info.graph.nodes.length ? ` of ${info.graph.total}` : ''} nodes)
        </button>
        {showGraph && (
          <div className="graph-list">
            <table className="data-table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Node</th>
                  <th>Op</th>
                  <th>Inputs → outputs</th>
                </tr>
              </thead>
              <tbody>
                {info.graph.nodes.map((n, i) => (
                  <tr key={`${i}-${n.name}`}>
                    <td className="num muted">{i}</td>
                    <td className="mono truncate" title={n.name}>
                      {n.name || '—'}
                    </td>
                    <td className="mono">
                      {n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::` : ''}
                      {n.opType}
                    </td>
                    <td
                      className="mono truncate"
                      title={Object.entries(n.attributes)
                        .map(([k, v]) => `${k}=${v}`)
                        .join('\n')}
                    >
                      {n.inputs.join(', ')} → {n.outputs.join(', ')}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </div>
  );
}
