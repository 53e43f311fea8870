/**
 * Compact weight storage for models onnxruntime has already optimized.
 *
 * An INT8 build stores the weights of the layers it keeps float compactly: int8 per output channel restored by
 * Cast + Mul, or float16 restored by Cast (see QdqOptions.floatWeights). onnxruntime folds those constants into
 * float32 initializers when it loads the model, and a model it saves after optimizing (`optimizedModelFilePath`)
 * keeps the folded float32 tensors: for the PP-OCRv4 detector that file was 4.3 MB next to a 1.3 MB model.onnx.
 *
 * `recompactWeights` gives such a file its compact storage back. It folds every compact pattern of the reference
 * model the way onnxruntime does (Cast of int8/float16 is exact; the Mul is one float32 rounding per element, which
 * Math.fround reproduces bit for bit, as the product of an 8-bit integer and a float32 fits a double exactly), then
 * replaces each float32 initializer of the optimized model whose bytes equal one of them with the same compact
 * tensors and Cast (+ Mul) nodes. The values onnxruntime computes at load are therefore bit-identical to the
 * optimized file's; a tensor that matches nothing (onnxruntime re-laid it out, or fused it with something) stays.
 * The optimized file must then be loaded with graph optimizations at 'basic' or above, which fold the Casts again.
 */
import { createHash } from 'node:crypto';
import { onnx } from '../onnx/schema.js';
import { DataType, isExternal, tensorByteSize, tensorDims } from '../onnx/tensors.js';
import { float16BitsToNumber } from './fp16.js';
import { isDefaultDomain, readFloats, uniqueName, usedNames } from './graph.js';

export interface CompactStorageResult {
  model: onnx.ModelProto;
  /** Initializers of the optimized model now stored compactly, by storage. */
  tensors: { name: string; storage: 'int8' | 'float16' }[];
  bytesBefore: number;
  bytesAfter: number;
}

/** A compact pattern of the reference model: its stored tensors, and the float32 values it folds to. */
interface Pattern {
  storage: 'int8' | 'float16';
  stored: onnx.ITensorProto;
  /** int8 only: the float32 scale tensor of the Mul. */
  scale?: onnx.ITensorProto;
  /** Names the compact tensors got in the optimized model, once emitted (shared by every match). */
  emitted?: { stored: string; scale?: string };
}

const FLOAT: number = DataType.FLOAT;
const FLOAT16: number = DataType.FLOAT16;
const INT8: number = DataType.INT8;

function castTo(node: onnx.INodeProto): number | undefined {
  const a = node.attribute?.find((x) => x.name === 'to');
  return a?.i === undefined || a.i === null ? undefined : Number(a.i);
}

function digest(values: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    .digest('hex');
}

/** Raw little-endian bytes of a non-external tensor's data, or undefined when it has none there. */
function rawOf(t: onnx.ITensorProto): Uint8Array | undefined {
  return !isExternal(t) && t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
}

/** q · s in float32, s broadcast numpy-style against q's dims (s's rank ≤ q's); undefined if s does not fit. */
function foldMul(q: Int8Array, qDims: number[], s: Float64Array, sDims: number[]): Float32Array | undefined {
  if (sDims.length > qDims.length) return undefined;
  const pad = qDims.length - sDims.length;
  const full = [...new Array<number>(pad).fill(1), ...sDims];
  if (full.some((d, i) => d !== 1 && d !== qDims[i])) return undefined;
  // Stride of each q axis in s (0 where s broadcasts).
  const sStrides = new Array<number>(full.length).fill(0);
  for (let i = full.length - 1, st = 1; i >= 0; i--) {
    sStrides[i] = full[i] === 1 ? 0 : st;
    st *= full[i]!;
  }
  const out = new Float32Array(q.length);
  const coord = new Array<number>(qDims.length).fill(0);
  let sIndex = 0;
  for (let i = 0; i < q.length; i++) {
    out[i] = Math.fround(q[i]! * s[sIndex]!);
    // Advance the coordinate (last axis fastest) and s's index with it.
    for (let ax = qDims.length - 1; ax >= 0; ax--) {
      coord[ax]!++;
      sIndex += sStrides[ax]!;
      if (coord[ax]! < qDims[ax]!) break;
      sIndex -= sStrides[ax]! * qDims[ax]!;
      coord[ax] = 0;
    }
  }
  return out;
}

/** The compact patterns of `reference` (top-level graph), keyed by the digest of the float32 values they fold to. */
function compactPatterns(reference: onnx.IModelProto): Map<string, Pattern & { dims: number[] }> {
  const graph = reference.graph;
  const out = new Map<string, Pattern & { dims: number[] }>();
  if (!graph) return out;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const readers = new Map<string, onnx.INodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  for (const cast of graph.node ?? []) {
    if (cast.opType !== 'Cast' || !isDefaultDomain(cast.domain) || castTo(cast) !== FLOAT) continue;
    const stored = inits.get(cast.input?.[0] ?? '');
    const raw = stored && rawOf(stored);
    if (!stored || !raw) continue;
    const dims = tensorDims(stored);
    if (stored.dataType === FLOAT16) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const values = new Float32Array(raw.byteLength / 2);
      for (let i = 0; i < values.length; i++) values[i] = float16BitsToNumber(view.getUint16(i * 2, true));
      out.set(digest(values), { storage: 'float16', stored, dims });
      continue;
    }
    if (stored.dataType !== INT8) continue;
    const q = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    for (const mul of readers.get(cast.output?.[0] ?? '') ?? []) {
      if (mul.opType !== 'Mul' || !isDefaultDomain(mul.domain) || mul.input?.[0] !== cast.output?.[0])
        continue;
      const scale = inits.get(mul.input?.[1] ?? '');
      const s = scale?.dataType === FLOAT ? readFloats(scale) : undefined;
      const folded = scale && s ? foldMul(q, dims, s, tensorDims(scale)) : undefined;
      if (folded && scale) out.set(digest(folded), { storage: 'int8', stored, scale, dims });
    }
  }
  return out;
}

function sameDims(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function castNode(name: string, input: string, output: string): onnx.INodeProto {
  return {
    name,
    opType: 'Cast',
    input: [input],
    output: [output],
    attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
  };
}

/**
 * Stores the float32 initializers of `optimized` that are folded compact weights of `reference` in that compact form
 * again (see the file comment). `optimized` is rewritten in place and returned; `reference` is not changed.
 */
export function recompactWeights(
  optimized: onnx.ModelProto,
  reference: onnx.IModelProto,
): CompactStorageResult {
  const graph = optimized.graph;
  const tensors: CompactStorageResult['tensors'] = [];
  if (!graph) return { model: optimized, tensors, bytesBefore: 0, bytesAfter: 0 };
  const bytesOf = (): number => (graph.initializer ?? []).reduce((sum, t) => sum + tensorByteSize(t), 0);
  const bytesBefore = bytesOf();
  const patterns = compactPatterns(reference);
  if (patterns.size === 0) return { model: optimized, tensors, bytesBefore, bytesAfter: bytesBefore };

  const graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const taken = usedNames(optimized);
  const added: onnx.ITensorProto[] = [];
  const restore: onnx.INodeProto[] = [];
  const replaced = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    if (t.dataType !== FLOAT || graphInputs.has(name) || isExternal(t)) continue;
    const values = readFloats(t);
    if (!values || values.length === 0) continue;
    const p = patterns.get(digest(Float32Array.from(values)));
    if (!p || !sameDims(p.dims, tensorDims(t))) continue;
    if (!p.emitted) {
      const storedName = uniqueName(p.stored.name || `${name}_${p.storage}`, taken);
      added.push(onnx.TensorProto.create({ ...p.stored, name: storedName }));
      p.emitted = { stored: storedName };
      if (p.scale) {
        p.emitted.scale = uniqueName(p.scale.name || `${name}_scale`, taken);
        added.push(onnx.TensorProto.create({ ...p.scale, name: p.emitted.scale }));
      }
    }
    if (p.emitted.scale !== undefined) {
      const cast = uniqueName(`${name}_${p.storage}_as_float`, taken);
      restore.push(castNode(uniqueName(`${name}_Cast`, taken), p.emitted.stored, cast), {
        name: uniqueName(`${name}_Mul`, taken),
        opType: 'Mul',
        input: [cast, p.emitted.scale],
        output: [name],
      });
    } else {
      restore.push(castNode(uniqueName(`${name}_Cast`, taken), p.emitted.stored, name));
    }
    replaced.add(name);
    tensors.push({ name, storage: p.storage });
  }
  if (replaced.size === 0) return { model: optimized, tensors, bytesBefore, bytesAfter: bytesBefore };
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name ?? '')), ...added];
  // Their inputs are initializers, so the restoring nodes go first; onnxruntime folds them when it loads the file.
  graph.node = [...restore, ...(graph.node ?? [])];
  return { model: optimized, tensors, bytesBefore, bytesAfter: bytesOf() };
}
