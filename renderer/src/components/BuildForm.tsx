import type { FormEvent } from 'react';
import type { Precision } from '../../../shared/artifact.js';
import type {
  CalibrationMethod,
  CallInput,
  GeneratedCalibrationKind,
  ModelInfo,
  PresetName,
} from '../../../shared/contract.js';
import type { TargetProfile } from '../../../shared/targets.js';
import { formatBytes } from './BuildShared.js';

export type CalibrationKind = 'none' | 'generated' | 'upload' | 'path';

/** Everything the form holds. Strings where the user types, so a half-typed value is never lost. */
export interface BuildFormState {
  target: string;
  precision: Precision;
  mode: 'static' | 'dynamic';
  calibrationKind: CalibrationKind;
  generated: GeneratedCalibrationKind;
  calibrationFiles: File[];
  calibrationPath: string;
  calibrate: CalibrationMethod;
  preset: PresetName | '';
  samples: string;
  exclude: string;
  accuracyBudget: string;
  sensitivity: 'channel' | 'layer';
  floatWeights: FloatWeightsChoice;
  speedPass: boolean;
  name: string;
  version: string;
}

export const DEFAULT_FORM: BuildFormState = {
  target: 'cpu-x86_64',
  precision: 'int8',
  mode: 'static',
  calibrationKind: 'generated',
  generated: 'ocr-lines',
  calibrationFiles: [],
  calibrationPath: '',
  calibrate: 'minmax',
  preset: '',
  samples: '64',
  exclude: '',
  accuracyBudget: '',
  sensitivity: 'channel',
  floatWeights: 'auto',
  speedPass: true,
  name: '',
  version: '0.1.0',
};

type FloatWeightsChoice = 'auto' | 'float16' | 'int8' | 'float32';
const FLOAT_WEIGHTS: { id: FloatWeightsChoice; label: string }[] = [
  { id: 'auto', label: 'Auto: int8 if the budget holds, else float16' },
  { id: 'float16', label: 'Float16 (half the bytes)' },
  { id: 'int8', label: 'Int8 (smallest)' },
  { id: 'float32', label: 'Float32 (as the source)' },
];

const PRECISIONS: Precision[] = ['fp32', 'fp16', 'int8'];
const PRESETS: PresetName[] = ['ppocr-det', 'ppocr-rec', 'ppocr-cls', 'imagenet', 'raw01'];
const METHODS: { id: CalibrationMethod; label: string }[] = [
  { id: 'minmax', label: 'Min/max' },
  { id: 'percentile', label: 'Percentile (99.99)' },
  { id: 'entropy', label: 'Entropy (KL)' },
];

export function needsCalibration(f: Pick<BuildFormState, 'precision' | 'mode'>): boolean {
  return f.precision === 'int8' && f.mode === 'static';
}

/** Form defaults that fit a freshly inspected model. */
export function formForModel(f: BuildFormState, info: ModelInfo): BuildFormState {
  const suggested = info.suggested.calibration;
  return {
    ...f,
    generated: suggested ?? f.generated,
    calibrationKind:
      f.calibrationKind === 'generated' && !suggested
        ? needsCalibration(f)
          ? 'upload'
          : 'none'
        : f.calibrationKind,
  };
}

/**
 * The builds.start input for this form (calibrationUploadId: the upload holding the picked calibration files).
 * Values are passed as typed; the contract validates them (locally first, then in the core).
 */
export function startInput(
  f: BuildFormState,
  model: { uploadId: string; file: string },
  calibrationUploadId: string | null,
): CallInput<'builds.start'> {
  const samples = f.samples.trim() === '' ? undefined : Number(f.samples);
  const exclude = f.exclude
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
  const budget = f.accuracyBudget.trim() === '' ? undefined : Number(f.accuracyBudget);
  let calibration: CallInput<'builds.start'>['calibration'];
  if (f.calibrationKind === 'generated') {
    calibration = { kind: 'generated', spec: `gen:${f.generated}:${f.samples.trim() || '64'}` };
  } else if (f.calibrationKind === 'upload' && calibrationUploadId) {
    calibration = { kind: 'upload', uploadId: calibrationUploadId };
  } else if (f.calibrationKind === 'path' && f.calibrationPath.trim()) {
    calibration = { kind: 'path', path: f.calibrationPath.trim() };
  }
  const int8 = f.precision === 'int8';
  // Full-integer targets (the Edge TPU) keep nothing float: no accuracy budget.
  const fullInteger = f.target.startsWith('coral-');
  return {
    uploadId: model.uploadId,
    file: model.file,
    version: f.version.trim(),
    target: f.target,
    precision: f.precision,
    ...(f.name.trim() ? { name: f.name.trim() } : {}),
    ...(int8 ? { mode: f.mode } : {}),
    ...(calibration ? { calibration } : {}),
    ...(int8 && f.mode === 'static' ? { calibrate: f.calibrate } : {}),
    ...(f.preset ? { preset: f.preset } : {}),
    ...(samples !== undefined ? { samples } : {}),
    ...(int8 && exclude.length > 0 ? { exclude } : {}),
    ...(int8 && f.mode === 'static' && budget !== undefined && !fullInteger
      ? { accuracyBudget: budget }
      : {}),
    ...(int8 && f.mode === 'static' && budget !== undefined && !fullInteger && f.sensitivity === 'layer'
      ? { sensitivity: 'layer' as const }
      : {}),
    ...(int8 && f.mode === 'static' && f.target.startsWith('cpu-') && f.floatWeights !== 'auto'
      ? { floatWeights: f.floatWeights }
      : {}),
    ...(int8 && f.mode === 'static' && f.target.startsWith('cpu-') && !f.speedPass
      ? { speedPass: false }
      : {}),
  };
}

function precisionList(t: TargetProfile): string {
  return PRECISIONS.filter((p) => t.precisions[p].supported)
    .map((p) => p.toUpperCase())
    .join(' · ');
}

/**
 * The build settings: target profile (with the precisions each supports), precision, INT8 mode, calibration
 * data and method, samples, exclusions, accuracy budget, name and version.
 */
export function BuildForm({
  form,
  onChange,
  onSubmit,
  targets,
  model,
  busy,
  busyLabel = 'Starting…',
}: {
  form: BuildFormState;
  onChange: (f: BuildFormState) => void;
  onSubmit: () => void;
  targets: readonly TargetProfile[];
  model: ModelInfo | null;
  busy: boolean;
  busyLabel?: string;
}) {
  const set = <K extends keyof BuildFormState>(k: K, v: BuildFormState[K]) => onChange({ ...form, [k]: v });
  const target = targets.find((t) => t.id === form.target) ?? null;
  // The Edge TPU: every op int8 (static only, nothing kept float), exported as a TFLite model.
  const fullInteger = target?.int8?.fullInteger === true;
  const pickTarget = (id: string) => {
    const t = targets.find((x) => x.id === id);
    let precision = form.precision;
    if (t && !t.precisions[precision].supported) {
      precision = PRECISIONS.find((p) => t.precisions[p].supported) ?? precision;
    }
    const next = { ...form, target: id, precision };
    // A full-integer target takes static INT8 only, which needs calibration data.
    if (t?.int8?.fullInteger) next.mode = 'static';
    if (needsCalibration(next) && next.calibrationKind === 'none') {
      next.calibrationKind = model?.suggested.calibration ? 'generated' : 'upload';
    }
    onChange(next);
  };
  const pickPrecision = (p: Precision) => {
    const next = { ...form, precision: p };
    if (needsCalibration(next) && next.calibrationKind === 'none') {
      next.calibrationKind = model?.suggested.calibration ? 'generated' : 'upload';
    }
    onChange(next);
  };
  const pickMode = (mode: 'static' | 'dynamic') => {
    const next = { ...form, mode };
    if (needsCalibration(next) && next.calibrationKind === 'none') {
      next.calibrationKind = model?.suggested.calibration ? 'generated' : 'upload';
    }
    onChange(next);
  };
  const calibrationRequired = needsCalibration(form);
  const int8 = form.precision === 'int8';
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit();
  };
  const uploadBytes = form.calibrationFiles.reduce((a, f) => a + f.size, 0);

  return (
    <form className="build-form" onSubmit={submit} aria-label="Build settings">
      <div className="form-grid">
        <label className="form-field span-2">
          <span>Target profile</span>
          <select
            name="target"
            value={form.target}
            onChange={(e) => pickTarget(e.target.value)}
            data-testid="target-select"
          >
            {targets.map((t) => (
              <option key={t.id} value={t.id}>
                {t.label} — {precisionList(t)}
              </option>
            ))}
          </select>
          {target && (
            <span className="form-help">
              {target.runtime.name} {target.runtime.version}
              {target.accelerator ? ` · ${target.accelerator}` : ''} · compiled with {target.compile.name}
            </span>
          )}
        </label>

        <div className="form-field span-2">
          <span>Precision</span>
          <div className="seg" role="radiogroup" aria-label="Precision">
            {PRECISIONS.map((p) => {
              const support = target?.precisions[p];
              const ok = support?.supported ?? true;
              return (
                <button
                  key={p}
                  type="button"
                  role="radio"
                  aria-checked={form.precision === p}
                  className={`seg-btn${form.precision === p ? ' on' : ''}`}
                  disabled={!ok}
                  title={support?.note}
                  onClick={() => pickPrecision(p)}
                  data-precision={p}
                >
                  {p.toUpperCase()}
                </button>
              );
            })}
          </div>
          {target && <span className="form-help">{target.precisions[form.precision].note}</span>}
        </div>

        {int8 && (
          <div className="form-field span-2">
            <span>INT8 mode</span>
            <div className="seg" role="radiogroup" aria-label="INT8 mode">
              {(fullInteger ? (['static'] as const) : (['static', 'dynamic'] as const)).map((m) => (
                <button
                  key={m}
                  type="button"
                  role="radio"
                  aria-checked={form.mode === m}
                  className={`seg-btn${form.mode === m ? ' on' : ''}`}
                  onClick={() => pickMode(m)}
                  data-mode={m}
                >
                  {m === 'static' ? 'Static (calibrated)' : 'Dynamic (weights only)'}
                </button>
              ))}
            </div>
            <span className="form-help">
              {fullInteger
                ? 'Full integer: every op in INT8, exported as a TensorFlow Lite model (model.tflite) for edgetpu_compiler, at the calibration samples’ size.'
                : form.mode === 'static'
                  ? 'Activations and weights in INT8; ranges come from calibration data.'
                  : 'MatMul/Gemm weights in INT8, activations quantized at run time. Suits transformers and RNNs.'}
            </span>
          </div>
        )}

        <fieldset className="form-field span-4 calib-fieldset">
          <legend>{calibrationRequired ? 'Calibration data' : 'Check data (optional)'}</legend>
          <div className="seg" role="radiogroup" aria-label="Calibration data">
            {(
              [
                ...(calibrationRequired ? [] : [['none', 'None']]),
                ['generated', 'Generated OCR'],
                ['upload', 'Upload images'],
                ['path', 'Path on this machine'],
              ] as [CalibrationKind, string][]
            ).map(([k, label]) => (
              <button
                key={k}
                type="button"
                role="radio"
                aria-checked={form.calibrationKind === k}
                className={`seg-btn${form.calibrationKind === k ? ' on' : ''}`}
                onClick={() => set('calibrationKind', k)}
                data-calibration={k}
              >
                {label}
              </button>
            ))}
          </div>
          {form.calibrationKind === 'none' && (
            <span className="form-help">
              Without data the build skips the check of its outputs against the source model.
            </span>
          )}
          {form.calibrationKind === 'generated' && (
            <div className="calib-row">
              <select
                aria-label="Generated data"
                value={form.generated}
                onChange={(e) => set('generated', e.target.value as GeneratedCalibrationKind)}
              >
                <option value="ocr-pages">OCR pages (PP-OCR detection)</option>
                <option value="ocr-lines">OCR text lines (PP-OCR recognition, direction)</option>
              </select>
              <span className="form-help">
                {model && !model.suggested.calibration
                  ? 'This model does not look like a PP-OCR model; generated OCR images may not fit its input.'
                  : 'Rendered text images with the model’s preprocessing; as many as Samples says.'}
              </span>
            </div>
          )}
          {form.calibrationKind === 'upload' && (
            <div className="calib-row">
              <label className="btn" htmlFor="calib-files">
                Choose images…
              </label>
              <input
                id="calib-files"
                type="file"
                multiple
                accept=".png,.jpg,.jpeg,.webp,.npy,.jsonl"
                className="visually-hidden"
                onChange={(e) => set('calibrationFiles', Array.from(e.target.files ?? []))}
                data-testid="calibration-files"
              />
              <span className="form-help">
                {form.calibrationFiles.length > 0
                  ? `${form.calibrationFiles.length} files, ${formatBytes(uploadBytes)}: uploaded when the build starts.`
                  : 'PNG/JPEG/WebP images (or .npy samples) like the model’s real inputs; 64 is a good count.'}
              </span>
            </div>
          )}
          {form.calibrationKind === 'path' && (
            <div className="calib-row">
              <input
                className="text-input grow"
                aria-label="Calibration folder"
                placeholder="/data/calibration/images"
                value={form.calibrationPath}
                onChange={(e) => set('calibrationPath', e.target.value)}
                spellCheck={false}
              />
              <span className="form-help">A folder of images or .npy files, or one .npy of [N, …].</span>
            </div>
          )}
        </fieldset>

        {int8 && form.mode === 'static' && (
          <label className="form-field">
            <span>Calibration method</span>
            <select
              value={form.calibrate}
              onChange={(e) => set('calibrate', e.target.value as CalibrationMethod)}
            >
              {METHODS.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <label className="form-field">
          <span>Samples</span>
          <input
            name="samples"
            type="number"
            min={1}
            max={100000}
            value={form.samples}
            onChange={(e) => set('samples', e.target.value)}
          />
        </label>
        <label className="form-field">
          <span>Preprocessing</span>
          <select value={form.preset} onChange={(e) => set('preset', e.target.value as PresetName | '')}>
            <option value="">Auto{model?.suggested.preset ? ` (${model.suggested.preset})` : ''}</option>
            {PRESETS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        {int8 && form.mode === 'static' && !fullInteger && (
          <label className="form-field">
            <span>Accuracy budget (cosine)</span>
            <input
              name="accuracyBudget"
              type="number"
              step="0.001"
              min={0}
              max={1}
              placeholder="off, e.g. 0.99"
              value={form.accuracyBudget}
              onChange={(e) => set('accuracyBudget', e.target.value)}
            />
          </label>
        )}
        {int8 && form.mode === 'static' && !fullInteger && form.accuracyBudget.trim() !== '' && (
          <label className="form-field span-2">
            <span>Keep float first (accuracy search)</span>
            <select
              name="sensitivity"
              value={form.sensitivity}
              onChange={(e) => set('sensitivity', e.target.value as 'channel' | 'layer')}
              title="channel: activations with the least channel resolution (from calibration, fast); layer: each layer quantized alone and measured (one run per layer, slower)"
            >
              <option value="channel">Least channel resolution (fast)</option>
              <option value="layer">Most sensitive layer (measured)</option>
            </select>
          </label>
        )}
        {int8 && form.mode === 'static' && target?.kind === 'cpu' && (
          <label className="form-field span-2">
            <span>Weights of layers kept float</span>
            <select
              name="floatWeights"
              value={form.floatWeights}
              onChange={(e) => set('floatWeights', e.target.value as FloatWeightsChoice)}
              title="How the artifact stores the weights of the layers that compute in float. onnxruntime restores them to float32 when it loads the model, so speed is the same; int8 rounding costs a little accuracy, which the accuracy budget checks."
            >
              {FLOAT_WEIGHTS.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.label}
                </option>
              ))}
            </select>
          </label>
        )}
        {int8 && form.mode === 'static' && target?.kind === 'cpu' && (
          <label className="form-field span-2">
            <span>Speed pass</span>
            <select
              name="speedPass"
              value={form.speedPass ? 'on' : 'off'}
              onChange={(e) => set('speedPass', e.target.value === 'on')}
              title="Measures int8 against float on this computer (onnxruntime's profiler, one thread): the accuracy search keeps float first the layers that save least in int8, and groups of int8 nodes that run slower than float are kept float if the whole model then measures faster. For targets of this computer's CPU type. Adds 1–3 s to the build of a model like the PP-OCR detector."
            >
              <option value="on">On for this computer's CPU type</option>
              <option value="off">Off (faster build)</option>
            </select>
          </label>
        )}
        {int8 && (
          <label className="form-field span-4">
            <span>Keep in float (node names or op types, comma-separated)</span>
            <input
              name="exclude"
              placeholder="e.g. Softmax, p2o.Conv.52"
              value={form.exclude}
              onChange={(e) => set('exclude', e.target.value)}
              spellCheck={false}
            />
          </label>
        )}
        <label className="form-field span-2">
          <span>Artifact name</span>
          <input
            name="name"
            placeholder={model ? defaultName(model.fileName) : 'from the file name'}
            value={form.name}
            onChange={(e) => set('name', e.target.value)}
            spellCheck={false}
            maxLength={128}
          />
        </label>
        <label className="form-field span-2">
          <span>Version</span>
          <input
            name="version"
            required
            value={form.version}
            onChange={(e) => set('version', e.target.value)}
            spellCheck={false}
          />
        </label>
      </div>
      <div className="build-actions">
        <button
          type="submit"
          className="btn btn-primary"
          disabled={busy || model === null}
          data-testid="build-button"
        >
          {busy ? busyLabel : 'Build'}
        </button>
        {model === null && <span className="muted">Upload a model first.</span>}
      </div>
    </form>
  );
}

/** What the console names the artifact when the name is left empty (same rule as the core). */
export function defaultName(fileName: string): string {
  const base = fileName.replace(/\.onnx$/i, '');
  const name = base
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128)
    .replace(/[-.]+$/, '');
  return name || 'model';
}
