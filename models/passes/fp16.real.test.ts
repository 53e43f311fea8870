import path from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, readModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { onnx } from '../onnx/schema.js';
import { DataType } from '../onnx/tensors.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { cleanupGraph } from './cleanup.js';
import { convertToFloat16, inferOutputTypes } from './fp16.js';

const FONT = path.join(
  import.meta.dirname,
  '..',
  '..',
  'node_modules',
  'dejavu-fonts-ttf',
  'ttf',
  'DejaVuSans.ttf',
);
const FAMILY = 'DejaVu Sans (fp16 test)';

beforeAll(() => {
  expect(GlobalFonts.registerFromPath(FONT, FAMILY)).toBeTruthy();
});

interface Image {
  lines: readonly string[];
  px: number;
  /** Upside down, as the direction classifier is there to catch. */
  rotated?: boolean;
}

/** Black text on white, as PP-OCR sees a scanned line: one text line per entry, RGBA pixels. */
function renderText(image: Image, width: number, height: number): Uint8ClampedArray {
  const { lines, px } = image;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  if (image.rotated) {
    ctx.translate(width, height);
    ctx.rotate(Math.PI);
  }
  ctx.fillStyle = '#000000';
  ctx.font = `${px}px "${FAMILY}"`;
  ctx.textBaseline = 'middle';
  lines.forEach((line, i) => ctx.fillText(line, 8, ((i + 0.5) * height) / lines.length));
  return ctx.getImageData(0, 0, width, height).data;
}

/** NCHW float32 from RGBA pixels: (x/255 − mean) / std per channel. */
function normalize(
  rgba: Uint8ClampedArray,
  width: number,
  height: number,
  mean: readonly number[],
  std: readonly number[],
): ort.Tensor {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < plane; i++) out[c * plane + i] = (rgba[i * 4 + c]! / 255 - mean[c]!) / std[c]!;
  return new ort.Tensor('float32', out, [1, 3, height, width]);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** The model's (only) output for each input. */
async function runAll(m: onnx.IModelProto, xs: readonly ort.Tensor[]): Promise<ort.Tensor[]> {
  const session = await createSession(encodeModel(m));
  try {
    const outs: ort.Tensor[] = [];
    for (const x of xs)
      outs.push((await session.run({ [session.inputNames[0]!]: x }))[session.outputNames[0]!]!);
    return outs;
  } finally {
    await session.release();
  }
}

/**
 * The float16 model with every float16 op run as float32 kernels between explicit Casts: activations are rounded to
 * float16 after every op, as on float16 hardware. onnxruntime's CPU provider has few float16 kernels; for the others
 * it computes whole stretches of the graph in float32 and drops the Casts in between, so the float16 model alone
 * measures little more than the float16 weights there. Explicit Casts it keeps.
 */
function withFloat16Activations(m: onnx.IModelProto): onnx.IModelProto {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish());
  const graph = copy.graph!;
  const types = new Map<string, number>();
  for (const v of graph.input!) types.set(v.name!, v.type!.tensorType!.elemType!);
  for (const t of graph.initializer!) types.set(t.name!, t.dataType!);
  const cast = (from: string, to: string, type: number): onnx.INodeProto => ({
    name: `${to}__emulate`,
    opType: 'Cast',
    input: [from],
    output: [to],
    attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: type }],
  });
  const widened = new Map<string, string>();
  const nodes: onnx.INodeProto[] = [];
  for (const n of graph.node!) {
    const outTypes = inferOutputTypes(
      n,
      n.input!.map((i) => types.get(i)),
    );
    n.output!.forEach((o, k) => outTypes[k] && types.set(o, outTypes[k]));
    if (n.opType === 'Cast' || !n.input!.some((i) => types.get(i) === DataType.FLOAT16)) {
      nodes.push(n);
      continue;
    }
    n.input = n.input!.map((i) => {
      if (types.get(i) !== DataType.FLOAT16) return i;
      let wide = widened.get(i);
      if (!wide) {
        widened.set(i, (wide = `${i}__f32`));
        nodes.push(cast(i, wide, DataType.FLOAT));
      }
      return wide;
    });
    const narrow: onnx.INodeProto[] = [];
    n.output = n.output!.map((o) => {
      if (types.get(o) !== DataType.FLOAT16) return o;
      narrow.push(cast(`${o}__f32out`, o, DataType.FLOAT16));
      return `${o}__f32out`;
    });
    nodes.push(n, ...narrow);
  }
  graph.node = nodes;
  return copy;
}

/** Index of the largest value in each row of `width` values. */
function argmaxRows(data: Float32Array, width: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / width; r++) {
    let best = 0;
    for (let k = 1; k < width; k++) if (data[r * width + k]! > data[r * width + best]!) best = k;
    out.push(best);
  }
  return out;
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

const CASES: {
  name: keyof typeof REAL_MODELS;
  width: number;
  height: number;
  norm: typeof IMAGENET;
  images: Image[];
}[] = [
  {
    name: 'det',
    width: 320,
    height: 96,
    norm: IMAGENET,
    images: [{ lines: ['Edge Console 2025', 'fp16 on the edge: OK'], px: 26 }],
  },
  { name: 'rec', width: 320, height: 48, norm: HALF, images: [{ lines: ['Edge Console 2025'], px: 30 }] },
  {
    name: 'cls',
    width: 192,
    height: 48,
    norm: HALF,
    images: [
      { lines: ['Edge Console'], px: 20 },
      { lines: ['Edge Console'], px: 20, rotated: true },
    ],
  },
];

describe('convertToFloat16 on the real PP-OCR models', () => {
  for (const c of CASES) {
    it(`${c.name}: loads in onnxruntime, half the weight bytes, outputs as float32 within cosine 0.999`, async () => {
      const source = await readModel(REAL_MODELS[c.name]);
      const { model: clean } = cleanupGraph(source.proto);
      const t0 = performance.now();
      const { model: half, report } = convertToFloat16(clean);
      const ms = performance.now() - t0;

      // Same interface, float16 weights.
      expect(half.graph!.input).toEqual(clean.graph!.input);
      expect(half.graph!.output).toEqual(clean.graph!.output);
      // Float32 initializers left: only Resize's roi/scales and constants of the nodes kept float32.
      const keptNames = new Set(report.keptFloat32.map((k) => k.node));
      const float32Uses = new Set<string>();
      for (const n of half.graph!.node!)
        n.input!.forEach((i, slot) => {
          const resizeParam = n.opType === 'Resize' && (slot === 1 || slot === 2);
          if (!resizeParam && !keptNames.has(n.name ?? '')) float32Uses.add(i);
        });
      const float32Left = half.graph!.initializer!.filter((t) => t.dataType === DataType.FLOAT);
      expect(float32Left.filter((t) => float32Uses.has(t.name ?? '')).map((t) => t.name)).toEqual([]);
      expect(float32Left.reduce((a, t) => a + (t.rawData?.length ?? 0), 0)).toBeLessThan(1024);
      const ratio = report.bytesAfter / report.bytesBefore;
      expect(ratio).toBeGreaterThan(0.49);
      expect(ratio).toBeLessThan(0.51);
      expect(report.clamped.filter((k) => k.count > 0)).toEqual([]); // no weight beyond ±65504
      // Only the LayerNorm variance chains (Pow → ReduceMean → Add → Sqrt, rec's SVTR neck) stay float32.
      const kept = report.keptFloat32.map((k) => k.opType);
      if (c.name === 'rec') {
        expect(kept).toHaveLength(20);
        expect(new Set(kept)).toEqual(new Set(['Pow', 'ReduceMean', 'Add', 'Sqrt']));
      } else expect(kept).toEqual([]);

      const xs = c.images.map((image) =>
        normalize(renderText(image, c.width, c.height), c.width, c.height, c.norm.mean, c.norm.std),
      );
      const wants = await runAll(clean, xs);
      const emulated = withFloat16Activations(half);
      const roundings = emulated.graph!.node!.filter((n) => n.name?.endsWith('__emulate')).length;
      expect(roundings).toBeGreaterThan(report.convertedNodes); // a Cast around (nearly) every float16 op
      const variants = [
        { how: 'onnxruntime CPU', outputs: await runAll(half, xs) },
        { how: 'float16 activations', outputs: await runAll(emulated, xs) },
      ];
      for (const [k, image] of c.images.entries())
        for (const { how, outputs } of variants) {
          const want = wants[k]!;
          const got = outputs[k]!;
          expect(got.type).toBe('float32');
          expect(got.dims).toEqual(want.dims);
          const a = want.data as Float32Array;
          const b = got.data as Float32Array;
          const cos = cosine(b, a);
          let maxAbs = 0;
          for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));

          // What a user of each model would notice.
          let agreement: string;
          if (c.name === 'det') {
            // The text mask PP-OCR's DB post-processing thresholds at 0.3: the text is found, at the same pixels.
            const on = (p: number): boolean => p > 0.3;
            const textPixels = a.filter(on).length;
            expect(textPixels).toBeGreaterThan(a.length * 0.02);
            let same = 0;
            for (let i = 0; i < a.length; i++) if (on(a[i]!) === on(b[i]!)) same++;
            agreement = `mask agreement ${((100 * same) / a.length).toFixed(3)}% (${textPixels} text pixels)`;
            expect(same / a.length).toBeGreaterThan(0.999);
          } else {
            // rec: the class at each of the 40 CTC time steps (the recognized text); cls: upright or upside down.
            const classes = want.dims[want.dims.length - 1]!;
            const wantIds = argmaxRows(a, classes);
            expect(argmaxRows(b, classes)).toEqual(wantIds);
            agreement = `same argmax at all ${wantIds.length} positions`;
            if (c.name === 'rec') expect(wantIds.filter((id) => id !== 0).length).toBeGreaterThan(5); // text found
            if (c.name === 'cls') {
              expect(wantIds).toEqual([image.rotated ? 1 : 0]);
              agreement += ` (p = ${Array.from(a, (p) => p.toFixed(4)).join('/')} → ${Array.from(b, (p) => p.toFixed(4)).join('/')})`;
            }
          }

          console.log(
            `${c.name}${image.rotated ? ' (upside down)' : ''}, ${how}: ${report.bytesBefore} → ${report.bytesAfter} weight bytes ` +
              `(${ratio.toFixed(3)}), ${report.convertedNodes} nodes float16, ${report.keptFloat32.length} kept float32, ` +
              `${report.castsInserted} casts, converted in ${ms.toFixed(0)} ms; output [${want.dims.join('x')}] ` +
              `cosine ${cos.toFixed(7)}, max abs diff ${maxAbs.toExponential(2)}, ${agreement}`,
          );
          expect(cos).toBeGreaterThanOrEqual(0.999);
        }
    });
  }
});
