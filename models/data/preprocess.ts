/**
 * Image → input tensor recipes. The PP-OCR ones follow PaddleOCR's inference code exactly (tools/infer/predict_*.py
 * and ppocr/data/imaug): the same sizes, rounding, normalization, padding and channel order (PaddleOCR feeds the BGR
 * images cv2.imread gives it, and its models were trained that way, so the ppocr-* presets emit BGR planes even
 * though the normalization constants are the RGB ImageNet ones). Resizing is bilinear (canvas drawImage at 'low'
 * quality = Skia bilinear without mipmaps, like cv2.INTER_LINEAR).
 */
import { createCanvas, ImageData, type Image, type SKRSContext2D } from '@napi-rs/canvas';
import { AppError } from '../../shared/errors.js';
import type { ModelInputInfo } from './dataset.js';

export type PresetName = 'ppocr-det' | 'ppocr-rec' | 'ppocr-cls' | 'imagenet' | 'raw01';

export const PRESET_NAMES: readonly PresetName[] = [
  'ppocr-det',
  'ppocr-rec',
  'ppocr-cls',
  'imagenet',
  'raw01',
];

/** 8-bit RGBA pixels, row-major (what canvas getImageData returns). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** Anything a preset can take: decoded pixels or a decoded canvas Image (loadImage). */
export type ImageInput = RgbaImage | Image;

export type ShapeLike = readonly (number | string | null)[];

export interface Preprocessed {
  /** Tensor dims, batch 1 (e.g. [1, 3, 48, 320]). */
  dims: number[];
  data: Float32Array;
  /** The size the image was resized to inside the tensor (before padding or cropping). */
  resized: { width: number; height: number };
  /** resized / original, per axis (PaddleOCR's ratio_w, ratio_h), to map outputs back to the image. */
  ratio: { x: number; y: number };
}

export interface Preprocess {
  name: PresetName;
  description: string;
  /** Why this preset cannot feed an input of this shape, or undefined when it can. */
  incompatibility(shape: ShapeLike | null | undefined): string | undefined;
  /** One image → one batch-1 float32 tensor for an input of `shape` (fixed dims in it are honoured). */
  apply(image: ImageInput, shape?: ShapeLike | null): Preprocessed;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

type Quality = 'low' | 'medium' | 'high';

function isRgba(image: ImageInput): image is RgbaImage {
  return (
    (image as RgbaImage).data instanceof Uint8ClampedArray || (image as RgbaImage).data instanceof Uint8Array
  );
}

function sizeOf(image: ImageInput): { width: number; height: number } {
  const { width, height } = image;
  if (!(width > 0 && height > 0)) {
    throw new AppError('BAD_INPUT', `The image is empty (${width}×${height}).`, {
      hint: 'Check the file decodes in an image viewer.',
    });
  }
  return { width, height };
}

/** Something drawImage takes: the Image itself, or a canvas holding the RGBA pixels. */
function drawable(image: ImageInput): Parameters<SKRSContext2D['drawImage']>[0] {
  if (!isRgba(image)) return image;
  const { width, height } = sizeOf(image);
  if (image.data.length !== width * height * 4) {
    throw new AppError(
      'BAD_INPUT',
      `RGBA image ${width}×${height} needs ${width * height * 4} bytes, got ${image.data.length}.`,
    );
  }
  const canvas = createCanvas(width, height);
  const data =
    image.data instanceof Uint8ClampedArray
      ? image.data
      : new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length);
  canvas.getContext('2d').putImageData(new ImageData(data, width, height), 0, 0);
  return canvas;
}

/**
 * Draws the image scaled to (dw × dh) at (dx, dy) on a white cw × ch canvas and returns its RGBA pixels.
 * Transparent pixels come out as if over white.
 */
function render(
  image: ImageInput,
  cw: number,
  ch: number,
  dx: number,
  dy: number,
  dw: number,
  dh: number,
  quality: Quality,
): Uint8ClampedArray {
  const src = drawable(image);
  const canvas = createCanvas(cw, ch);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, cw, ch);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = quality;
  ctx.drawImage(src, dx, dy, dw, dh);
  return ctx.getImageData(0, 0, cw, ch).data;
}

/**
 * RGBA pixels (w × h) → planar float32 into `out` (at channel stride `plane`, row stride `rowStride`):
 * value = (x/255 - mean[c]) / std[c], channels in `order`.
 */
function toPlanes(
  rgba: Uint8ClampedArray,
  w: number,
  h: number,
  out: Float32Array,
  plane: number,
  rowStride: number,
  mean: readonly number[],
  std: readonly number[],
  order: 'RGB' | 'BGR',
): void {
  const src = order === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const s = src[c]!;
    // Precompute the 256 possible values: one multiply-free lookup per pixel.
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - mean[c]!) / std[c]!;
    const base = c * plane;
    for (let y = 0; y < h; y++) {
      const row = base + y * rowStride;
      let p = y * w * 4 + s;
      for (let x = 0; x < w; x++, p += 4) out[row + x] = lut[rgba[p]!]!;
    }
  }
}

function fixedDim(shape: ShapeLike | null | undefined, i: number): number | undefined {
  const d = shape?.[i];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

function describeShape(shape: ShapeLike | null | undefined): string {
  return shape ? `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '(unknown)';
}

/** Why an input is not a [N, 3, H, W] image input (the PP-OCR and ImageNet layouts), or undefined when it is. */
function nchw3(shape: ShapeLike | null | undefined): string | undefined {
  if (!shape) return undefined;
  if (shape.length !== 4)
    return `expects a rank-4 [N, 3, H, W] input, the model's is ${describeShape(shape)}`;
  const c = fixedDim(shape, 1);
  if (c !== undefined && c !== 3)
    return `expects 3 channels at dim 1, the model's input is ${describeShape(shape)}`;
  const n = fixedDim(shape, 0);
  if (n !== undefined && n !== 1) return `feeds one image per sample, the model's batch is fixed at ${n}`;
  return undefined;
}

/** Python's round(): half to even (PaddleOCR's det resize uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface DetOptions {
  /** Longest side limit (PaddleOCR det_limit_side_len, limit_type 'max'). Default 960. */
  limitSideLen?: number;
}

/** PaddleOCR DetResizeForTest (type 0, limit_type 'max') + NormalizeImage (ImageNet) + ToCHW, BGR planes. */
export function preprocessDet(
  image: ImageInput,
  shape?: ShapeLike | null,
  opts: DetOptions = {},
): Preprocessed {
  const { width: w, height: h } = sizeOf(image);
  let rh: number;
  let rw: number;
  const fh = fixedDim(shape, 2);
  const fw = fixedDim(shape, 3);
  if (fh !== undefined && fw !== undefined) {
    // A model with a fixed input size: PaddleOCR's resize type 1 (straight to image_shape).
    rh = fh;
    rw = fw;
  } else {
    const limit = opts.limitSideLen ?? 960;
    const ratio = Math.max(h, w) > limit ? limit / Math.max(h, w) : 1;
    rh = Math.max(roundHalfEven(Math.trunc(h * ratio) / 32) * 32, 32);
    rw = Math.max(roundHalfEven(Math.trunc(w * ratio) / 32) * 32, 32);
  }
  const rgba = render(image, rw, rh, 0, 0, rw, rh, 'low');
  const data = new Float32Array(3 * rh * rw);
  toPlanes(rgba, rw, rh, data, rh * rw, rw, IMAGENET_MEAN, IMAGENET_STD, 'BGR');
  return { dims: [1, 3, rh, rw], data, resized: { width: rw, height: rh }, ratio: { x: rw / w, y: rh / h } };
}

/**
 * PaddleOCR resize_norm_img (rec and cls): height H, width min(W, ceil(H·w/h)), (x/255 - 0.5)/0.5, right-padded
 * with 0 to W. BGR planes.
 */
export function preprocessRecLike(image: ImageInput, height: number, maxWidth: number): Preprocessed {
  const { width: w, height: h } = sizeOf(image);
  const rw = Math.min(maxWidth, Math.ceil((height * w) / h));
  const rgba = render(image, rw, height, 0, 0, rw, height, 'low');
  const data = new Float32Array(3 * height * maxWidth); // zeros = the padding
  toPlanes(rgba, rw, height, data, height * maxWidth, maxWidth, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], 'BGR');
  return {
    dims: [1, 3, height, maxWidth],
    data,
    resized: { width: rw, height },
    ratio: { x: rw / w, y: height / h },
  };
}

/** PP-OCRv4 rec: 3×48×320 (or the model's fixed H/W). */
export function preprocessRec(image: ImageInput, shape?: ShapeLike | null): Preprocessed {
  return preprocessRecLike(image, fixedDim(shape, 2) ?? 48, fixedDim(shape, 3) ?? 320);
}

/** PP-OCR text direction classifier: 3×48×192 (or the model's fixed H/W). */
export function preprocessCls(image: ImageInput, shape?: ShapeLike | null): Preprocessed {
  return preprocessRecLike(image, fixedDim(shape, 2) ?? 48, fixedDim(shape, 3) ?? 192);
}

type Layout = { kind: 'NCHW' | 'NHWC'; channels: 1 | 3; h?: number; w?: number };

/** NCHW or NHWC with 1 or 3 channels, read off a rank-4 shape; NCHW×3 when the shape says nothing. */
function layoutOf(shape: ShapeLike | null | undefined): Layout | string {
  if (!shape) return { kind: 'NCHW', channels: 3 };
  if (shape.length !== 4) return `expects a rank-4 image input, the model's is ${describeShape(shape)}`;
  const n = fixedDim(shape, 0);
  if (n !== undefined && n !== 1) return `feeds one image per sample, the model's batch is fixed at ${n}`;
  const d1 = fixedDim(shape, 1);
  const d3 = fixedDim(shape, 3);
  if (d1 === 1 || d1 === 3) return { kind: 'NCHW', channels: d1, h: fixedDim(shape, 2), w: d3 };
  if (d3 === 1 || d3 === 3)
    return { kind: 'NHWC', channels: d3, h: fixedDim(shape, 1), w: fixedDim(shape, 2) };
  if (d1 === undefined) return { kind: 'NCHW', channels: 3, h: fixedDim(shape, 2), w: d3 };
  return `cannot tell the channel dimension of ${describeShape(shape)} (expects 1 or 3 channels, NCHW or NHWC)`;
}

function pack(
  rgba: Uint8ClampedArray,
  w: number,
  h: number,
  layout: Layout,
  mean: readonly number[],
  std: readonly number[],
): { dims: number[]; data: Float32Array } {
  const n = w * h;
  const data = new Float32Array(layout.channels * n);
  if (layout.channels === 1) {
    // ITU-R BT.601 luma, like PIL's convert('L').
    for (let i = 0, p = 0; i < n; i++, p += 4) {
      const y = (rgba[p]! * 299 + rgba[p + 1]! * 587 + rgba[p + 2]! * 114) / 1000;
      data[i] = (y / 255 - mean[0]!) / std[0]!;
    }
    return { dims: layout.kind === 'NCHW' ? [1, 1, h, w] : [1, h, w, 1], data };
  }
  if (layout.kind === 'NCHW') {
    toPlanes(rgba, w, h, data, n, w, mean, std, 'RGB');
    return { dims: [1, 3, h, w], data };
  }
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = (rgba[p + c]! / 255 - mean[c]!) / std[c]!;
  }
  return { dims: [1, h, w, 3], data };
}

/** ImageNet eval: scale so the crop is 87.5% of the short side (256 → 224), center crop, mean/std, RGB. */
export function preprocessImagenet(image: ImageInput, shape?: ShapeLike | null): Preprocessed {
  const layout = layoutOf(shape);
  if (typeof layout === 'string') throw new AppError('BAD_INPUT', `imagenet preprocessing ${layout}.`);
  const { width: w, height: h } = sizeOf(image);
  const ch = layout.h ?? 224;
  const cw = layout.w ?? 224;
  const scale = Math.max(ch / h, cw / w) / 0.875;
  const rw = Math.round(w * scale);
  const rh = Math.round(h * scale);
  const rgba = render(image, cw, ch, -(rw - cw) / 2, -(rh - ch) / 2, rw, rh, 'medium');
  const { dims, data } = pack(rgba, cw, ch, layout, IMAGENET_MEAN, IMAGENET_STD);
  return { dims, data, resized: { width: rw, height: rh }, ratio: { x: rw / w, y: rh / h } };
}

/** Resize to the model's fixed H×W (the image's own size where the model leaves it open), x/255, RGB. */
export function preprocessRaw01(image: ImageInput, shape?: ShapeLike | null): Preprocessed {
  const layout = layoutOf(shape);
  if (typeof layout === 'string') throw new AppError('BAD_INPUT', `raw01 preprocessing ${layout}.`);
  const { width: w, height: h } = sizeOf(image);
  const th = layout.h ?? h;
  const tw = layout.w ?? w;
  const rgba = render(image, tw, th, 0, 0, tw, th, 'medium');
  const { dims, data } = pack(rgba, tw, th, layout, [0, 0, 0], [1, 1, 1]);
  return { dims, data, resized: { width: tw, height: th }, ratio: { x: tw / w, y: th / h } };
}

function layoutProblem(shape: ShapeLike | null | undefined): string | undefined {
  const l = layoutOf(shape);
  return typeof l === 'string' ? l : undefined;
}

export const PREPROCESS_PRESETS: Record<PresetName, Preprocess> = {
  'ppocr-det': {
    name: 'ppocr-det',
    description:
      'PP-OCR text detection: long side ≤ 960, sides rounded to multiples of 32, ImageNet mean/std, BGR, NCHW',
    incompatibility: nchw3,
    apply: (image, shape) => preprocessDet(image, shape),
  },
  'ppocr-rec': {
    name: 'ppocr-rec',
    description:
      'PP-OCR text recognition: height 48, width ≤ 320 keeping aspect, right-padded, (x/255-0.5)/0.5, BGR',
    incompatibility: nchw3,
    apply: preprocessRec,
  },
  'ppocr-cls': {
    name: 'ppocr-cls',
    description: 'PP-OCR text direction classifier: height 48, width ≤ 192 keeping aspect, right-padded, BGR',
    incompatibility: nchw3,
    apply: preprocessCls,
  },
  imagenet: {
    name: 'imagenet',
    description: 'ImageNet classification: resize (256→224 ratio), center crop 224, ImageNet mean/std, RGB',
    incompatibility: layoutProblem,
    apply: preprocessImagenet,
  },
  raw01: {
    name: 'raw01',
    description: "Resize to the model's fixed height×width, x/255, RGB",
    incompatibility: layoutProblem,
    apply: preprocessRaw01,
  },
};

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/** The preset for a name, or BAD_INPUT listing the known ones. */
export function presetByName(name: string): Preprocess {
  if (!isPresetName(name)) {
    throw new AppError('BAD_INPUT', `Unknown preprocessing preset '${name}'.`, {
      hint: `Known presets: ${PRESET_NAMES.join(', ')}.`,
    });
  }
  return PREPROCESS_PRESETS[name];
}

/**
 * The preset a model's inputs (and, when given, outputs) suggest, or undefined when unsure. Only single-image-input
 * models are guessed: [?,3,48,?]/[?,3,48,320] → ppocr-rec, [?,3,48,192] → ppocr-cls, [?,3,224,224] → imagenet,
 * [?,3,?,?] → ppocr-det when the output is a [?,1,?,?] map (or ppocr-cls when it is [?,2]); without outputs a fully
 * dynamic [?,3,?,?] stays unguessed (PP-OCR det and cls both look like that).
 */
export function guessPreset(
  modelInputs: readonly Pick<ModelInputInfo, 'shape'>[],
  modelOutputs?: readonly Pick<ModelInputInfo, 'shape'>[],
): PresetName | undefined {
  if (modelInputs.length !== 1) return undefined;
  const shape = modelInputs[0]!.shape;
  if (!shape || shape.length !== 4 || nchw3(shape) !== undefined) return undefined;
  const h = fixedDim(shape, 2);
  const w = fixedDim(shape, 3);
  if (h === 48) return w === 192 ? 'ppocr-cls' : w === undefined || w === 320 ? 'ppocr-rec' : undefined;
  if (h === 224 && w === 224) return 'imagenet';
  if (h === undefined && w === undefined && modelOutputs?.length === 1) {
    const out = modelOutputs[0]!.shape;
    if (out?.length === 4 && fixedDim(out, 1) === 1) return 'ppocr-det';
    if (out?.length === 2 && fixedDim(out, 1) === 2) return 'ppocr-cls';
  }
  return undefined;
}
