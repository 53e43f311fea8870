/**
 * Calibration and evaluation samples for a model, from what a user has at hand: a folder of images (with a
 * preprocessing preset, and labels when a labels.jsonl/labels.tsv sits beside them), a folder of .npy files (one per
 * sample, or one sub-folder per sample with `<input>.npy` for multi-input models), one .npy with a leading sample
 * dimension, or generated OCR lines/pages (`gen:ocr-lines:<n>[:seed]`, `gen:ocr-pages:<n>[:seed]`).
 *
 * Sources stream: the count is known up front, samples are read (or rendered) one per step of the iteration, and
 * nothing is kept after it is yielded, so memory does not grow with the number of samples. Each sample is checked
 * against the model's inputs, with errors naming the sample, the input, and what was expected and found.
 */
import { createCanvas, loadImage, type Image } from '@napi-rs/canvas';
import { mkdir, open, readdir, readFile, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { openNpy, type NpyDtype, type NpyFile } from './npy.js';
import { ocrFonts, renderTextLine, renderTextPage, type RenderedImage } from './ocr-render.js';
import {
  guessPreset,
  PREPROCESS_PRESETS,
  PRESET_NAMES,
  type Preprocess,
  type PresetName,
} from './preprocess.js';

export interface ModelInputInfo {
  name: string;
  /** 'float32', 'int64', ... as inspect/onnxruntime spell them; 'unknown' accepts any type. */
  elemType: string;
  /** Fixed sizes as numbers; symbolic names, '?', null or -1 for dynamic dims; null when even the rank is unknown
   * (so inspect's and ortIo's ValueSummary can be passed as is). */
  shape: (number | string | null)[] | null;
}

export type FeedType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

export interface Feed {
  type: FeedType;
  dims: number[];
  data: ArrayBufferView;
}

export interface Sample {
  id: string;
  feeds: Record<string, Feed>;
  label?: { text?: string };
}

export interface SampleSource {
  description: string;
  count: number;
  samples(signal?: AbortSignal): AsyncIterable<Sample>;
}

export interface OpenSampleSourceOptions {
  /** How images become tensors; guessed from the model's inputs (and outputs, when given) if left out. */
  preset?: PresetName;
  /** At most this many samples. */
  limit?: number;
  /** The model's outputs, which let the preset guess tell PP-OCR det from cls (both take [?, 3, ?, ?]). */
  outputs?: readonly Pick<ModelInputInfo, 'shape'>[];
}

const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;
const LABEL_FILES = ['labels.jsonl', 'labels.tsv'] as const;
const MAX_GENERATED = 1_000_000;

const NPY_FEED: Record<NpyDtype, FeedType | undefined> = {
  float32: 'float32',
  float16: 'float16',
  float64: undefined,
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

function cancelled(): AppError {
  return new AppError('CANCELLED', 'Reading samples was cancelled.');
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled();
}

const fmtDims = (dims: readonly (number | string | null)[] | null): string =>
  dims === null
    ? '(any shape)'
    : `[${dims.map((d) => (typeof d === 'number' ? (d >= 0 ? d : '?') : (d ?? '?'))).join(', ')}]`;

const fixed = (d: number | string | null | undefined): d is number => typeof d === 'number' && d > 0;

/**
 * Throws BAD_INPUT unless a feed fits the input: same rank, the model's fixed dims, every dim > 0, same element type
 * (when the model says which).
 */
export function validateFeed(sample: string, input: ModelInputInfo, feed: Pick<Feed, 'type' | 'dims'>): void {
  const expected = `${fmtDims(input.shape)} ${input.elemType}`;
  const found = `[${feed.dims.join(', ')}] ${feed.type}`;
  const fail = (why: string, hint: string): never => {
    throw new AppError(
      'BAD_INPUT',
      `${sample}: input '${input.name}' expects ${expected}, found ${found}: ${why}.`,
      { hint },
    );
  };
  if (input.elemType !== 'unknown' && input.elemType !== feed.type) {
    fail(
      `the element type is ${feed.type}, the model takes ${input.elemType}`,
      input.elemType === 'float32' && feed.type !== 'float32'
        ? 'Save the array as float32 (numpy: array.astype(numpy.float32)).'
        : `Save the array as ${input.elemType}.`,
    );
  }
  const badDim = feed.dims.findIndex((d) => !(Number.isInteger(d) && d > 0));
  if (badDim >= 0)
    fail(`dim ${badDim} is ${feed.dims[badDim]}`, 'Every dimension of a sample must be at least 1.');
  if (input.shape === null) return;
  if (feed.dims.length !== input.shape.length) {
    fail(
      `rank ${feed.dims.length}, the model takes rank ${input.shape.length}`,
      'One sample per file, with or without a leading batch dimension of 1.',
    );
  }
  input.shape.forEach((d, i) => {
    if (fixed(d) && feed.dims[i] !== d) {
      fail(
        `dim ${i} is ${feed.dims[i]}, the model fixes it at ${d}`,
        'Match the model’s input shape (see `edgectl model inspect`).',
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

async function statOrNull(p: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AppError(
      'BAD_INPUT',
      `${p}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
      {
        cause: err,
      },
    );
  }
}

const byName = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

function applyLimit(total: number, limit: number | undefined): number {
  if (limit === undefined) return total;
  if (!(Number.isInteger(limit) && limit >= 0)) {
    throw new AppError('BAD_INPUT', `The sample limit must be a whole number ≥ 0, got ${limit}.`);
  }
  return Math.min(total, limit);
}

function choosePreset(inputs: ModelInputInfo[], opts: OpenSampleSourceOptions): Preprocess {
  const name = opts.preset ?? guessPreset(inputs, opts.outputs);
  if (name === undefined) {
    throw new AppError(
      'BAD_INPUT',
      `Cannot tell how to turn images into the model's input '${inputs[0]?.name}' ${fmtDims(inputs[0]?.shape ?? null)}.`,
      { hint: `Pass --preset (one of ${PRESET_NAMES.join(', ')}).` },
    );
  }
  const preset = PREPROCESS_PRESETS[name];
  const why = preset.incompatibility(inputs[0]?.shape ?? null);
  if (why !== undefined) {
    throw new AppError('BAD_INPUT', `Preset ${name} cannot feed input '${inputs[0]?.name}': it ${why}.`, {
      hint: `Pick another --preset (${PRESET_NAMES.join(', ')}), or provide .npy samples.`,
    });
  }
  return preset;
}

/** The one image input of a model, or BAD_INPUT: images feed single-input float32 models only. */
function imageInput(inputs: ModelInputInfo[], what: string): ModelInputInfo {
  if (inputs.length !== 1) {
    throw new AppError(
      'BAD_INPUT',
      `${what} can feed a model with one input; this one has ${inputs.length} (${inputs.map((i) => i.name).join(', ')}).`,
      { hint: 'Give a folder with one sub-folder per sample holding <inputName>.npy for each input.' },
    );
  }
  const input = inputs[0]!;
  if (input.elemType !== 'float32' && input.elemType !== 'unknown') {
    throw new AppError(
      'BAD_INPUT',
      `${what} become float32 tensors, but input '${input.name}' takes ${input.elemType}.`,
      { hint: 'Provide .npy samples of the right type instead.' },
    );
  }
  return input;
}

function imageFeed(
  sample: string,
  input: ModelInputInfo,
  preset: Preprocess,
  image: RenderedImage | Image,
): Feed {
  let out;
  try {
    out = preset.apply(image, input.shape);
  } catch (err) {
    if (err instanceof AppError)
      throw new AppError(err.code, `${sample}: ${err.message}`, { hint: err.hint, cause: err });
    throw err;
  }
  const feed: Feed = { type: 'float32', dims: out.dims, data: out.data };
  validateFeed(sample, input, feed);
  return feed;
}

// ---------------------------------------------------------------------------------------------------------------
// Labels

async function readLabels(dir: string): Promise<{ file: string; labels: Map<string, string> } | undefined> {
  for (const name of LABEL_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new AppError('BAD_INPUT', `${file}: cannot read it.`, { cause: err });
    }
    const labels = new Map<string, string>();
    const lines = text.split('\n');
    lines.forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '') return;
      let fileName: unknown;
      let label: unknown;
      if (name === 'labels.jsonl') {
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          fileName = obj.file;
          label = obj.text;
        } catch {
          fileName = undefined;
        }
        if (typeof fileName !== 'string' || typeof label !== 'string') {
          throw new AppError(
            'BAD_INPUT',
            `${file}:${i + 1}: expected a JSON object like {"file": "a.png", "text": "..."}, found ${JSON.stringify(line.slice(0, 80))}.`,
            { hint: 'One JSON object per line, with string "file" and "text" fields.' },
          );
        }
      } else {
        const tab = line.indexOf('\t');
        if (tab < 0) {
          throw new AppError('BAD_INPUT', `${file}:${i + 1}: expected "<file>\\t<text>", found no tab.`, {
            hint: 'One image per line: its file name, a tab, and its text (PaddleOCR rec_gt format).',
          });
        }
        fileName = line.slice(0, tab);
        label = line.slice(tab + 1);
        if (i === 0 && fileName === 'file' && label === 'text') return; // a header row
      }
      labels.set(path.basename(fileName as string), label as string);
    });
    return { file, labels };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Sources

function imageDirSource(
  dir: string,
  files: string[],
  inputs: ModelInputInfo[],
  opts: OpenSampleSourceOptions,
  labels: { file: string; labels: Map<string, string> } | undefined,
): SampleSource {
  const input = imageInput(inputs, 'Images');
  const preset = choosePreset(inputs, opts);
  const count = applyLimit(files.length, opts.limit);
  return {
    description: `${count} image${count === 1 ? '' : 's'} from ${dir} (preset ${preset.name}${labels ? `, labels from ${path.basename(labels.file)}` : ''})`,
    count,
    async *samples(signal?: AbortSignal) {
      for (let i = 0; i < count; i++) {
        checkAbort(signal);
        const name = files[i]!;
        const file = path.join(dir, name);
        let image: Image;
        try {
          image = await loadImage(await readFile(file));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new AppError(
            code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT',
            `${file}: cannot decode the image (${code ?? (err instanceof Error ? err.message : String(err))}).`,
            {
              hint: 'It may be corrupt or not really a PNG/JPEG/WebP; remove it or re-export it.',
              cause: err,
            },
          );
        }
        checkAbort(signal);
        const text = labels?.labels.get(name);
        const sample: Sample = { id: name, feeds: { [input.name]: imageFeed(file, input, preset, image) } };
        if (text !== undefined) sample.label = { text };
        yield sample;
      }
    },
  };
}

/** A sample's dims from a file's: as is when the ranks match, with a leading 1 when the file leaves out the batch. */
function withBatch(dims: number[], input: ModelInputInfo): number[] {
  return input.shape !== null && dims.length === input.shape.length - 1 ? [1, ...dims] : dims;
}

async function npyFeed(file: string, input: ModelInputInfo): Promise<Feed> {
  const npy = await openNpy(file);
  try {
    return {
      ...(await npyHeaderFeed(file, input, npy, npy.header.shape)),
      data: await npy.read(0, npy.header.count),
    };
  } finally {
    await npy.close();
  }
}

/** Type and dims of a sample taken from a .npy (whole file or one slice), validated; the caller reads the data. */
async function npyHeaderFeed(
  sample: string,
  input: ModelInputInfo,
  npy: NpyFile,
  shape: number[],
): Promise<Omit<Feed, 'data'>> {
  const type = NPY_FEED[npy.header.dtype];
  if (type === undefined) {
    throw new AppError(
      'BAD_INPUT',
      `${sample}: input '${input.name}' takes ${input.elemType}, the file holds ${npy.header.dtype} (${npy.header.descr}).`,
      {
        hint: `Save it as ${input.elemType === 'unknown' ? 'float32' : input.elemType} (numpy: array.astype(...)).`,
      },
    );
  }
  const feed = { type, dims: withBatch(shape, input) };
  validateFeed(sample, input, feed);
  return feed;
}

function npyDirSource(
  dir: string,
  files: string[],
  inputs: ModelInputInfo[],
  opts: OpenSampleSourceOptions,
): SampleSource {
  if (inputs.length !== 1) {
    throw new AppError(
      'BAD_INPUT',
      `${dir} holds .npy files directly, which feeds a one-input model; this one has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}).`,
      { hint: 'Put each sample in its own sub-folder with one <inputName>.npy per input.' },
    );
  }
  const input = inputs[0]!;
  const count = applyLimit(files.length, opts.limit);
  return {
    description: `${count} .npy sample${count === 1 ? '' : 's'} from ${dir}`,
    count,
    async *samples(signal?: AbortSignal) {
      for (let i = 0; i < count; i++) {
        checkAbort(signal);
        const name = files[i]!;
        const feed = await npyFeed(path.join(dir, name), input);
        checkAbort(signal);
        yield { id: name, feeds: { [input.name]: feed } };
      }
    },
  };
}

/** Candidate file names for an input's .npy: the name itself, and with characters unsafe in file names replaced. */
function inputFileNames(name: string): string[] {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return safe === name ? [`${name}.npy`] : [`${name}.npy`, `${safe}.npy`];
}

function sampleDirsSource(
  dir: string,
  subdirs: string[],
  inputs: ModelInputInfo[],
  opts: OpenSampleSourceOptions,
): SampleSource {
  const count = applyLimit(subdirs.length, opts.limit);
  return {
    description: `${count} sample folder${count === 1 ? '' : 's'} of .npy inputs from ${dir}`,
    count,
    async *samples(signal?: AbortSignal) {
      for (let i = 0; i < count; i++) {
        checkAbort(signal);
        const name = subdirs[i]!;
        const sampleDir = path.join(dir, name);
        const feeds: Record<string, Feed> = {};
        for (const input of inputs) {
          const candidates = inputFileNames(input.name);
          let file: string | undefined;
          for (const c of candidates) {
            if (await statOrNull(path.join(sampleDir, c))) {
              file = path.join(sampleDir, c);
              break;
            }
          }
          if (file === undefined) {
            throw new AppError(
              'BAD_INPUT',
              `${sampleDir}: no ${candidates.join(' or ')} for input '${input.name}' ${fmtDims(input.shape)} ${input.elemType}.`,
              {
                hint: `Each sample folder needs one .npy per model input: ${inputs.map((x) => `${x.name}.npy`).join(', ')}.`,
              },
            );
          }
          feeds[input.name] = await npyFeed(file, input);
          checkAbort(signal);
        }
        yield { id: name, feeds };
      }
    },
  };
}

async function stackedNpySource(
  file: string,
  inputs: ModelInputInfo[],
  opts: OpenSampleSourceOptions,
): Promise<SampleSource> {
  if (inputs.length !== 1) {
    throw new AppError(
      'BAD_INPUT',
      `${file}: one .npy can feed a one-input model; this one has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}).`,
      { hint: 'Give a folder with one sub-folder per sample holding <inputName>.npy for each input.' },
    );
  }
  const input = inputs[0]!;
  const npy = await openNpy(file);
  const header = npy.header;
  try {
    if (header.shape.length === 0) {
      throw new AppError('BAD_INPUT', `${file}: a 0-d array holds no samples.`, {
        hint: 'Stack the samples along a leading dimension: shape [N, ...input shape].',
      });
    }
    // Check the per-sample shape and type now, so a wrong file fails before any work starts.
    await npyHeaderFeed(
      `${file} (each of its ${header.shape[0]} samples)`,
      input,
      npy,
      header.shape.slice(1),
    );
  } finally {
    await npy.close();
  }
  const total = header.shape[0]!;
  const count = applyLimit(total, opts.limit);
  return {
    description: `${count} of ${total} samples stacked in ${file}`,
    count,
    async *samples(signal?: AbortSignal) {
      checkAbort(signal);
      const f = await openNpy(file);
      try {
        const feed = await npyHeaderFeed(file, input, f, f.header.shape.slice(1));
        for (let i = 0; i < count; i++) {
          checkAbort(signal);
          const data = await f.readSlice(i);
          checkAbort(signal);
          yield {
            id: `${path.basename(file)}[${i}]`,
            feeds: { [input.name]: { ...feed, dims: [...feed.dims], data } },
          };
        }
      } finally {
        await f.close();
      }
    },
  };
}

export interface GeneratedSpec {
  kind: 'lines' | 'pages';
  count: number;
  seed: number;
}

/** Parses `gen:ocr-lines:<n>[:seed]` / `gen:ocr-pages:<n>[:seed]`; undefined when the spec is not a gen: spec. */
export function parseGeneratedSpec(spec: string): GeneratedSpec | undefined {
  if (!spec.startsWith('gen:')) return undefined;
  const m = /^gen:ocr-(lines|pages):(\d+)(?::(\d+))?$/.exec(spec);
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1 && count <= MAX_GENERATED)) {
    throw new AppError('BAD_INPUT', `Unknown generated sample spec '${spec}'.`, {
      hint: `Use gen:ocr-lines:<n>[:seed] or gen:ocr-pages:<n>[:seed], with 1 ≤ n ≤ ${MAX_GENERATED}.`,
    });
  }
  return { kind: m[1] as 'lines' | 'pages', count, seed: m[3] === undefined ? 0 : Number(m[3]) };
}

function generatedSource(
  gen: GeneratedSpec,
  inputs: ModelInputInfo[],
  opts: OpenSampleSourceOptions,
): SampleSource {
  const what = gen.kind === 'lines' ? 'Generated OCR lines' : 'Generated OCR pages';
  const input = imageInput(inputs, what);
  // Lines feed the recognizer (or the direction classifier, when the model looks like one), pages the detector.
  const guessed = guessPreset(inputs, opts.outputs);
  const preset = choosePreset(inputs, {
    ...opts,
    preset:
      opts.preset ??
      (gen.kind === 'pages' ? 'ppocr-det' : guessed === 'ppocr-cls' ? 'ppocr-cls' : 'ppocr-rec'),
  });
  const count = applyLimit(gen.count, opts.limit);
  ocrFonts(); // missing fonts (devDependencies) fail here, not at the first sample
  return {
    description: `${count} generated OCR ${gen.kind} (seed ${gen.seed}, preset ${preset.name})`,
    count,
    async *samples(signal?: AbortSignal) {
      for (let i = 0; i < count; i++) {
        checkAbort(signal);
        const id = `gen:ocr-${gen.kind}:${gen.seed}:${i}`;
        if (gen.kind === 'lines') {
          const line = renderTextLine(gen.seed, i);
          yield {
            id,
            feeds: { [input.name]: imageFeed(id, input, preset, line.image) },
            label: { text: line.text },
          };
        } else {
          const page = renderTextPage(gen.seed, i);
          yield {
            id,
            feeds: { [input.name]: imageFeed(id, input, preset, page.image) },
            label: { text: page.boxes.map((b) => b.text).join('\n') },
          };
        }
      }
    },
  };
}

/**
 * Opens a sample source for a model with these inputs. `spec` is a folder of images, a folder of .npy files or of
 * per-sample sub-folders, one .npy of [N, ...] samples, or `gen:ocr-lines:<n>[:seed]` / `gen:ocr-pages:<n>[:seed]`.
 */
export async function openSampleSource(
  spec: string,
  inputs: ModelInputInfo[],
  opts: OpenSampleSourceOptions = {},
): Promise<SampleSource> {
  if (inputs.length === 0) throw new AppError('BAD_INPUT', 'The model has no inputs to feed.');
  if (opts.preset !== undefined && !PRESET_NAMES.includes(opts.preset)) {
    throw new AppError('BAD_INPUT', `Unknown preprocessing preset '${String(opts.preset)}'.`, {
      hint: `Known presets: ${PRESET_NAMES.join(', ')}.`,
    });
  }
  const gen = parseGeneratedSpec(spec);
  if (gen) return generatedSource(gen, inputs, opts);

  const st = await statOrNull(spec);
  if (!st) {
    throw new AppError('NOT_FOUND', `${spec}: no such file or folder.`, {
      hint: 'Give a folder of images or .npy files, a .npy file, or gen:ocr-lines:<n> / gen:ocr-pages:<n>.',
    });
  }
  if (st.isFile()) {
    if (!spec.toLowerCase().endsWith('.npy')) {
      throw new AppError('BAD_INPUT', `${spec}: a single sample file must be a .npy of [N, ...] samples.`, {
        hint: 'For images, give the folder they are in.',
      });
    }
    return stackedNpySource(spec, inputs, opts);
  }
  if (!st.isDirectory()) throw new AppError('BAD_INPUT', `${spec}: not a file or folder.`);

  const entries = (await readdir(spec, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'));
  const images = entries
    .filter((e) => e.isFile() && IMAGE_EXT.test(e.name))
    .map((e) => e.name)
    .sort(byName);
  const npys = entries
    .filter((e) => e.isFile() && /\.npy$/i.test(e.name))
    .map((e) => e.name)
    .sort(byName);
  const dirs = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort(byName);
  if (images.length > 0 && npys.length > 0) {
    throw new AppError(
      'BAD_INPUT',
      `${spec} holds both images (${images.length}) and .npy files (${npys.length}); it is unclear which are the samples.`,
      { hint: 'Keep images and .npy samples in separate folders.' },
    );
  }
  if (images.length > 0) return imageDirSource(spec, images, inputs, opts, await readLabels(spec));
  if (npys.length > 0) return npyDirSource(spec, npys, inputs, opts);
  if (dirs.length > 0) return sampleDirsSource(spec, dirs, inputs, opts);
  throw new AppError('BAD_INPUT', `${spec} holds no images (png, jpg, webp), .npy files or sample folders.`, {
    hint: 'Point at the folder that holds the samples themselves.',
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Writing generated sets

async function encodePng(image: RenderedImage): Promise<Buffer> {
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  const data = ctx.createImageData(image.width, image.height);
  data.data.set(image.data);
  ctx.putImageData(data, 0, 0);
  return canvas.encode('png');
}

/**
 * Writes generated OCR samples as PNGs plus labels.jsonl ({"file", "text"}; pages also carry their "boxes"), a
 * folder users can pick for calibration. Refuses (CONFLICT) to write into a folder that is not empty.
 */
export async function writeOcrSampleSet(
  dir: string,
  opts: { kind: 'lines' | 'pages'; count: number; seed: number; signal?: AbortSignal },
): Promise<{ dir: string; count: number; labels: string }> {
  if (!(Number.isInteger(opts.count) && opts.count >= 1 && opts.count <= MAX_GENERATED)) {
    throw new AppError(
      'BAD_INPUT',
      `The sample count must be a whole number from 1 to ${MAX_GENERATED}, got ${opts.count}.`,
    );
  }
  if (!Number.isInteger(opts.seed))
    throw new AppError('BAD_INPUT', `The seed must be a whole number, got ${opts.seed}.`);
  const st = await statOrNull(dir);
  if (st && !st.isDirectory()) {
    throw new AppError('CONFLICT', `${dir} exists and is not a folder.`, {
      hint: 'Choose a new or empty folder.',
    });
  }
  if (st && (await readdir(dir)).length > 0) {
    throw new AppError('CONFLICT', `${dir} is not empty; generated samples go into a new or empty folder.`, {
      hint: 'Choose another folder, or empty this one first.',
    });
  }
  await mkdir(dir, { recursive: true });
  const labelsPath = path.join(dir, 'labels.jsonl');
  let labels: FileHandle | undefined;
  try {
    labels = await open(labelsPath, 'wx');
    const digits = Math.max(5, String(opts.count - 1).length);
    for (let i = 0; i < opts.count; i++) {
      checkAbort(opts.signal);
      const file = `${opts.kind === 'lines' ? 'line' : 'page'}-${String(i).padStart(digits, '0')}.png`;
      let record: Record<string, unknown>;
      let image: RenderedImage;
      if (opts.kind === 'lines') {
        const line = renderTextLine(opts.seed, i);
        image = line.image;
        record = { file, text: line.text };
      } else {
        const page = renderTextPage(opts.seed, i);
        image = page.image;
        record = { file, text: page.boxes.map((b) => b.text).join('\n'), boxes: page.boxes };
      }
      await writeFile(path.join(dir, file), await encodePng(image));
      await labels.write(`${JSON.stringify(record)}\n`);
    }
  } finally {
    await labels?.close();
  }
  return { dir, count: opts.count, labels: labelsPath };
}
