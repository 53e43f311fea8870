import { useRef, useState, type DragEvent } from 'react';
import type { ModelInfo, UploadResult } from '../../../shared/contract.js';
import { useApi } from '../api/context.js';
import { ErrorNotice } from './ErrorNotice.js';
import { formatBytes } from './BuildShared.js';

export interface PickedModel {
  upload: UploadResult;
  /** The .onnx inside the upload (external data files may sit next to it). */
  file: string;
  info: ModelInfo;
}

/**
 * Drop zone / file picker for the source model: uploads the .onnx (and any external-data files dropped with it)
 * into one upload folder, then asks the console to inspect it. Errors (not an ONNX file, upload refused) show
 * with their hint; the previously picked model stays until a new one is good.
 */
export function BuildModelPicker({
  picked,
  onPicked,
  disabled = false,
}: {
  picked: PickedModel | null;
  onPicked: (m: PickedModel) => void;
  disabled?: boolean;
}) {
  const api = useApi();
  const inputRef = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState<{ what: string; sent: number; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);

  const take = async (list: FileList | File[] | null) => {
    const files = list ? Array.from(list) : [];
    if (files.length === 0 || busy) return;
    setError(null);
    // The model first (the .onnx, else the only file), then its external data into the same folder.
    const model = files.find((f) => /\.onnx$/i.test(f.name)) ?? files[0]!;
    const rest = files.filter((f) => f !== model);
    const total = files.reduce((a, f) => a + f.size, 0);
    let done = 0;
    try {
      let upload: UploadResult | null = null;
      for (const f of [model, ...rest]) {
        setBusy({ what: `Uploading ${f.name}`, sent: done, total });
        const res = await api.upload(f, {
          name: f.name,
          ...(upload ? { uploadId: upload.uploadId } : {}),
          onProgress: (sent) => setBusy({ what: `Uploading ${f.name}`, sent: done + sent, total }),
        });
        done += f.size;
        upload ??= res;
      }
      if (!upload) return;
      setBusy({ what: `Inspecting ${upload.name}`, sent: total, total });
      const info = await api.call('models.inspect', { uploadId: upload.uploadId, file: upload.name });
      onPicked({ upload, file: upload.name, info });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
      if (inputRef.current) inputRef.current.value = '';
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (!disabled) void take(e.dataTransfer.files);
  };

  const pct = busy && busy.total > 0 ? Math.min(100, (busy.sent / busy.total) * 100) : 0;
  return (
    <div className="build-picker">
      <div
        className={`drop-zone${over ? ' over' : ''}${picked ? ' has-model' : ''}${disabled ? ' disabled' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          if (!disabled) setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="model-drop-zone"
      >
        <input
          ref={inputRef}
          type="file"
          accept=".onnx,.data,.bin,.weights"
          multiple
          className="visually-hidden"
          id="model-file-input"
          data-testid="model-file-input"
          disabled={disabled || busy !== null}
          onChange={(e) => void take(e.target.files)}
        />
        {busy ? (
          <div className="drop-busy">
            <div className="drop-busy-label">
              <span className="spinner" aria-hidden="true" /> {busy.what}
              <span className="muted num">
                {formatBytes(busy.sent)} / {formatBytes(busy.total)}
              </span>
            </div>
            <div className="progress" role="progressbar" aria-valuenow={Math.round(pct)}>
              <div className="progress-fill" style={{ width: `${pct}%` }} />
            </div>
          </div>
        ) : picked ? (
          <div className="drop-picked">
            <div className="drop-picked-name" data-testid="model-file-name">
              {picked.file}
            </div>
            <div className="muted">
              {formatBytes(picked.upload.bytes)} · sha256 <code>{picked.upload.sha256.slice(0, 12)}…</code>
            </div>
            <label htmlFor="model-file-input" className="btn drop-change">
              Choose another model…
            </label>
          </div>
        ) : (
          <div className="drop-empty">
            <div className="drop-title">Drop an .onnx model here</div>
            <div className="muted">
              or{' '}
              <label htmlFor="model-file-input" className="link-btn">
                choose a file
              </label>
              . Drop external-data files together with the model.
            </div>
          </div>
        )}
      </div>
      {error !== null && <ErrorNotice error={error} title="Could not open that model" compact />}
    </div>
  );
}
