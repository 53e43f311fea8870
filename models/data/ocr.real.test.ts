/**
 * The generated OCR samples against the real FP32 PP-OCR models: the recognizer must read the rendered lines (they
 * are what the quantization benchmark scores recognition on) and the detector must find the rendered text.
 */
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ortIo, createSession } from '../onnx/ort.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { decodeRecOutput, loadRecDictionary, normalizeRecText } from './ctc.js';
import { openSampleSource, type Feed } from './dataset.js';
import { renderTextLines, renderTextPage } from './ocr-render.js';
import { preprocessCls, preprocessDet, type RgbaImage } from './preprocess.js';

const tensor = (f: Feed): ort.Tensor => new ort.Tensor(f.type, f.data as Float32Array, f.dims);

describe('rendered lines through the PP-OCRv4 rec model', () => {
  let rec: ort.InferenceSession;
  beforeAll(async () => {
    rec = await createSession(REAL_MODELS.rec);
  });
  afterAll(async () => {
    await rec.release();
  });

  it('reads at least 85% of 40 generated lines exactly (Chinese and Latin both present)', async () => {
    const io = await ortIo(REAL_MODELS.rec);
    const dict = loadRecDictionary();
    const source = await openSampleSource('gen:ocr-lines:40:1', io.inputs);
    expect(source.count).toBe(40);
    let exact = 0;
    let normalized = 0;
    let han = 0;
    let latin = 0;
    const misses: string[] = [];
    for await (const sample of source.samples()) {
      const want = sample.label!.text!;
      const out = await rec.run({ x: tensor(sample.feeds.x!) });
      const probs = out[rec.outputNames[0]!]!;
      const [got] = decodeRecOutput(probs.data as Float32Array, probs.dims, dict);
      if (got!.text === want) exact++;
      else misses.push(`${JSON.stringify(want)} → ${JSON.stringify(got!.text)}`);
      if (normalizeRecText(got!.text) === normalizeRecText(want)) normalized++;
      if (/\p{Script=Han}/u.test(want)) han++;
      if (/[A-Za-z]/.test(want)) latin++;
    }
    console.log(
      `rec on 40 generated lines: ${exact} exact, ${normalized} after whitespace normalization`,
      misses,
    );
    expect(han).toBeGreaterThanOrEqual(10);
    expect(latin).toBeGreaterThanOrEqual(10);
    expect(exact / 40).toBeGreaterThanOrEqual(0.85);
  });
});

describe('rendered pages through the PP-OCRv4 det model', () => {
  it('the probability map is high inside the ground-truth boxes and low on the background', async () => {
    const det = await createSession(REAL_MODELS.det);
    try {
      for (const index of [0, 1]) {
        const page = renderTextPage(7, index);
        const x = preprocessDet(page.image);
        const out = await det.run({ x: new ort.Tensor('float32', x.data, x.dims) });
        const map = out[det.outputNames[0]!]!;
        const [, , H = 0, W = 0] = map.dims;
        const p = map.data as Float32Array;
        const near = new Uint8Array(H * W);
        let hits = 0;
        for (const b of page.boxes) {
          // DB shrinks text regions, so look at the box's core: its middle band, away from the ends.
          const x0 = Math.round((b.x + b.h * 0.3) * x.ratio.x);
          const x1 = Math.round((b.x + b.w - b.h * 0.3) * x.ratio.x);
          const y0 = Math.round((b.y + b.h * 0.3) * x.ratio.y);
          const y1 = Math.round((b.y + b.h * 0.7) * x.ratio.y);
          let sum = 0;
          let n = 0;
          for (let yy = y0; yy < y1; yy++)
            for (let xx = x0; xx < x1; xx++) {
              sum += p[yy * W + xx]!;
              n++;
            }
          if (n > 0 && sum / n > 0.5) hits++;
          const m = 6; // the map's halo around text
          for (let yy = Math.max(0, b.y - m); yy < Math.min(H, b.y + b.h + m); yy++)
            for (let xx = Math.max(0, b.x - m); xx < Math.min(W, b.x + b.w + m); xx++) near[yy * W + xx] = 1;
        }
        let bgHigh = 0;
        let bg = 0;
        for (let i = 0; i < H * W; i++) {
          if (near[i]) continue;
          bg++;
          if (p[i]! > 0.3) bgHigh++;
        }
        expect(hits / page.boxes.length).toBeGreaterThanOrEqual(0.8);
        expect(bgHigh / bg).toBeLessThan(0.01);
      }
    } finally {
      await det.release();
    }
  });
});

describe('rendered lines through the PP-OCR direction classifier', () => {
  it('says upright lines are 0° and upside-down ones 180°', async () => {
    const cls = await createSession(REAL_MODELS.cls);
    const rotate = (img: RgbaImage): RgbaImage => {
      const data = new Uint8ClampedArray(img.data.length);
      const n = img.width * img.height;
      for (let i = 0; i < n; i++) data.set(img.data.subarray(i * 4, i * 4 + 4), (n - 1 - i) * 4);
      return { width: img.width, height: img.height, data };
    };
    try {
      let right = 0;
      let total = 0;
      for (const line of renderTextLines({ count: 12, seed: 4 })) {
        for (const [img, want] of [
          [line.image, 0],
          [rotate(line.image), 1],
        ] as const) {
          const t = preprocessCls(img);
          const out = await cls.run({ x: new ort.Tensor('float32', t.data, t.dims) });
          const probs = out[cls.outputNames[0]!]!.data as Float32Array;
          if ((probs[1]! > probs[0]! ? 1 : 0) === want) right++;
          total++;
        }
      }
      expect(right / total).toBeGreaterThanOrEqual(0.8);
    } finally {
      await cls.release();
    }
  });
});
