import { createCanvas, loadImage } from '@napi-rs/canvas';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { ortIo } from '../onnx/ort.js';
import { REAL_MODELS } from '../onnx/testing.js';
import {
  guessPreset,
  PREPROCESS_PRESETS,
  preprocessCls,
  preprocessDet,
  preprocessImagenet,
  preprocessRaw01,
  preprocessRec,
  presetByName,
  type RgbaImage,
} from './preprocess.js';

function solid(width: number, height: number, rgba: [number, number, number, number]): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return { width, height, data };
}

/** Value at channel c, row y, column x of an NCHW tensor. */
function at(t: { dims: number[]; data: Float32Array }, c: number, y: number, x: number): number {
  const [, , h = 0, w = 0] = t.dims;
  return t.data[c * h * w + y * w + x]!;
}

describe('PP-OCR preprocessing', () => {
  it('det: long side limited to 960, sides rounded (half to even, like Python) to multiples of 32', () => {
    const dims = (w: number, h: number, limit?: number) =>
      preprocessDet(solid(w, h, [255, 255, 255, 255]), undefined, { limitSideLen: limit }).dims;
    expect(dims(1000, 500)).toEqual([1, 3, 480, 960]);
    expect(dims(100, 50)).toEqual([1, 3, 64, 96]);
    expect(dims(16, 80)).toEqual([1, 3, 64, 32]); // 80/32 = 2.5 → 2; 16/32 = 0.5 → 0 → at least 32
    expect(dims(100, 112)).toEqual([1, 3, 128, 96]); // 3.5 → 4
    expect(dims(2000, 3000, 640)).toEqual([1, 3, 640, 416]);
    // A model with a fixed input size gets exactly that size.
    expect(preprocessDet(solid(50, 70, [0, 0, 0, 255]), [1, 3, 320, 256]).dims).toEqual([1, 3, 320, 256]);
    const t = preprocessDet(solid(100, 50, [255, 0, 128, 255]));
    expect(t.ratio).toEqual({ x: 96 / 100, y: 64 / 50 });
  });

  it('det: x/255, ImageNet mean/std, planes in BGR order as PaddleOCR feeds cv2 images', () => {
    const t = preprocessDet(solid(100, 50, [255, 0, 128, 255]));
    expect(at(t, 0, 10, 10)).toBeCloseTo((128 / 255 - 0.485) / 0.229, 2); // B
    expect(at(t, 1, 10, 10)).toBeCloseTo((0 - 0.456) / 0.224, 2); // G
    expect(at(t, 2, 10, 10)).toBeCloseTo((1 - 0.406) / 0.225, 2); // R
  });

  it('rec: height 48, width ceil(48·w/h) up to 320, (x/255-0.5)/0.5, right-padded with 0', () => {
    const t = preprocessRec(solid(100, 50, [255, 255, 0, 255]));
    expect(t.dims).toEqual([1, 3, 48, 320]);
    expect(t.resized).toEqual({ width: 96, height: 48 });
    expect(at(t, 0, 20, 95)).toBeCloseTo(-1, 2); // B = 0
    expect(at(t, 2, 20, 0)).toBeCloseTo(1, 2); // R = 255
    expect(at(t, 2, 20, 96)).toBe(0); // padding
    expect(at(t, 0, 47, 319)).toBe(0);
    expect(preprocessRec(solid(1000, 50, [0, 0, 0, 255])).resized).toEqual({ width: 320, height: 48 });
    expect(preprocessRec(solid(7, 100, [0, 0, 0, 255])).resized).toEqual({ width: 4, height: 48 }); // ceil(3.36)
  });

  it('cls: the same rule at 48×192', () => {
    const t = preprocessCls(solid(300, 50, [10, 20, 30, 255]));
    expect(t.dims).toEqual([1, 3, 48, 192]);
    expect(t.resized.width).toBe(192);
    expect(at(t, 0, 0, 0)).toBeCloseTo((30 / 255 - 0.5) / 0.5, 2);
  });

  it('takes decoded Images as well as RGBA pixels; transparency is composited over white', async () => {
    const canvas = createCanvas(64, 32);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = 'rgb(200, 100, 50)';
    ctx.fillRect(0, 0, 32, 32); // right half stays transparent
    const image = await loadImage(canvas.toBuffer('image/png'));
    const t = preprocessRec(image);
    expect(t.resized.width).toBe(96);
    expect(at(t, 2, 24, 10)).toBeCloseTo((200 / 255 - 0.5) / 0.5, 1);
    expect(at(t, 0, 24, 90)).toBeCloseTo(1, 1); // white
  });
});

describe('other presets', () => {
  it('imagenet: 224 center crop of a 256-scaled image, ImageNet mean/std, RGB', () => {
    const t = preprocessImagenet(solid(300, 200, [255, 0, 128, 255]));
    expect(t.dims).toEqual([1, 3, 224, 224]);
    expect(t.resized).toEqual({ width: 384, height: 256 });
    expect(at(t, 0, 100, 100)).toBeCloseTo((1 - 0.485) / 0.229, 1);
    expect(at(t, 2, 0, 0)).toBeCloseTo((128 / 255 - 0.406) / 0.225, 1);
    expect(preprocessImagenet(solid(300, 200, [0, 0, 0, 255]), [1, 3, 192, 160]).dims).toEqual([
      1, 3, 192, 160,
    ]);
  });

  it("raw01: the model's fixed H×W, x/255, NCHW, NHWC or one gray channel", () => {
    const img = solid(50, 40, [255, 51, 0, 255]);
    const nchw = preprocessRaw01(img, [1, 3, 32, 64]);
    expect(nchw.dims).toEqual([1, 3, 32, 64]);
    expect(at(nchw, 0, 5, 5)).toBeCloseTo(1, 2);
    expect(at(nchw, 1, 5, 5)).toBeCloseTo(0.2, 2);
    const nhwc = preprocessRaw01(img, ['N', 32, 32, 3]);
    expect(nhwc.dims).toEqual([1, 32, 32, 3]);
    expect(Array.from(nhwc.data.subarray(0, 3)).map((v) => Number(v.toFixed(2)))).toEqual([1, 0.2, 0]);
    const gray = preprocessRaw01(img, [1, 1, 28, 28]);
    expect(gray.dims).toEqual([1, 1, 28, 28]);
    expect(gray.data[0]).toBeCloseTo((255 * 0.299 + 51 * 0.587) / 255, 2);
    expect(preprocessRaw01(img, ['N', 3, 'H', 'W']).dims).toEqual([1, 3, 40, 50]);
    expect(() => preprocessRaw01(img, [1, 5, 7, 9])).toThrow(AppError);
  });

  it('presets say which inputs they cannot feed', () => {
    expect(PREPROCESS_PRESETS['ppocr-rec'].incompatibility([1, 3, 48, 320])).toBeUndefined();
    expect(PREPROCESS_PRESETS['ppocr-rec'].incompatibility([1, 1, 48, 320])).toMatch(/3 channels/);
    expect(PREPROCESS_PRESETS['ppocr-det'].incompatibility([1, 3, 640])).toMatch(/rank-4/);
    expect(PREPROCESS_PRESETS['ppocr-det'].incompatibility([8, 3, 640, 640])).toMatch(/batch is fixed at 8/);
    expect(() => presetByName('yolo')).toThrow(/Unknown preprocessing preset 'yolo'/);
  });
});

describe('guessPreset', () => {
  it('recognizes the real PP-OCR models from their inputs (and outputs where the inputs are ambiguous)', async () => {
    const [det, rec, cls] = await Promise.all([
      ortIo(REAL_MODELS.det),
      ortIo(REAL_MODELS.rec),
      ortIo(REAL_MODELS.cls),
    ]);
    expect(guessPreset(rec.inputs)).toBe('ppocr-rec');
    expect(guessPreset(det.inputs, det.outputs)).toBe('ppocr-det');
    expect(guessPreset(cls.inputs, cls.outputs)).toBe('ppocr-cls');
    // [?, 3, ?, ?] alone could be det or cls: no guess.
    expect(guessPreset(det.inputs)).toBeUndefined();
  });

  it('fixed shapes', () => {
    expect(guessPreset([{ shape: [1, 3, 48, 320] }])).toBe('ppocr-rec');
    expect(guessPreset([{ shape: ['N', 3, 48, 'W'] }])).toBe('ppocr-rec');
    expect(guessPreset([{ shape: [1, 3, 48, 192] }])).toBe('ppocr-cls');
    expect(guessPreset([{ shape: [1, 3, 224, 224] }])).toBe('imagenet');
    expect(guessPreset([{ shape: [1, 3, 48, 100] }])).toBeUndefined();
    expect(guessPreset([{ shape: [1, 10] }])).toBeUndefined();
    expect(guessPreset([{ shape: [1, 3, 224, 224] }, { shape: [1] }])).toBeUndefined();
  });
});
