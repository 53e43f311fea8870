/**
 * The ONNX protobuf schema (onnx-proto, compiled by pbjs for protobufjs 6, ONNX v1.10.2), made faithful.
 *
 * Import `onnx` from here, never from 'onnx-proto' directly: this module patches the generated codec once so that
 *
 * 1. **Encoding matches the reference (C++ protobuf) writer byte for byte.** onnx.proto is proto2, where repeated
 *    scalars are *not* packed unless the field says `[packed = true]`. onnx-proto was generated as if proto3 and
 *    packs all of them. The four unpacked fields (TensorProto.dims, SparseTensorProto.dims, AttributeProto.floats,
 *    AttributeProto.ints) are re-encoded unpacked here; float_data/int32_data/int64_data/double_data/uint64_data
 *    are `[packed = true]` in onnx.proto and stay packed. Field order (by number) and presence (a decoded field is an
 *    own property, so an explicitly written default like `domain: ""` is written again) already match.
 * 2. **Fields newer than ONNX 1.10 survive.** protobufjs 6 drops unknown fields while decoding (e.g.
 *    NodeProto.metadata_props from ONNX 1.16, which the PyTorch dynamo exporter writes). We record them per message
 *    and write them back after the known fields, where the C++ writer puts them too (every field added since 1.10
 *    has a higher number than the known ones in its message).
 * 3. **Pathological input fails fast.** Field number 0 and group wire types (ONNX never uses groups) are rejected,
 *    and message nesting is capped at MAX_MESSAGE_DEPTH so crafted input cannot exhaust the stack.
 *
 * The codec's own length checks (every length-delimited field is checked against the buffer end before it is read)
 * keep huge declared lengths from allocating or hanging.
 */
import { onnx } from './onnx-proto.cjs';

export { onnx };

export type Writer = ReturnType<typeof onnx.ModelProto.encode>;
type Reader = Exclude<Parameters<typeof onnx.ModelProto.decode>[0], Uint8Array>;

/** Deepest message nesting we decode; real models with nested subgraphs stay far below it (3 levels per subgraph). */
export const MAX_MESSAGE_DEPTH = 192;

export class WireFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    /** 'truncated': the bytes end before a message or field does. */
    readonly kind: 'truncated' | 'invalid' = 'invalid',
  ) {
    super(message);
    this.name = 'WireFormatError';
  }
}

type EncodeFn = (message: object, writer?: Writer) => Writer;
type DecodeFn = (reader: Reader | Uint8Array, length?: number) => object;
interface MessageType {
  encode: EncodeFn;
  decode: DecodeFn;
}

/** One unknown field, parsed so it can be written back with the public Writer API. */
type Long64 = Parameters<Writer['uint64']>[0];
type Unknown =
  | { tag: number; wt: 0; value: Long64 }
  | { tag: number; wt: 1; value: Long64 }
  | { tag: number; wt: 2; value: Uint8Array }
  | { tag: number; wt: 5; value: number };

const unknownFields = new WeakMap<object, Unknown[]>();

/** Unknown (newer-than-schema) fields recorded on a decoded message, by field number. */
export function unknownFieldNumbers(message: object): number[] {
  return (unknownFields.get(message) ?? []).map((u) => u.tag >>> 3);
}

function readVarint32(buf: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) throw new WireFormatError('a varint is cut off', pos, 'truncated');
    const b = buf[pos++] ?? 0;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
  }
  throw new WireFormatError('varint longer than 5 bytes', pos);
}

/** A 64-bit varint as the low/high words protobufjs' Writer accepts in place of a Long. */
function readVarint64(buf: Uint8Array, pos: number): Long64 {
  let low = 0;
  let high = 0;
  for (let i = 0; i < 10; i++) {
    const b = (buf[pos + i] ?? 0) & 0x7f;
    if (i < 4) low |= b << (7 * i);
    else if (i === 4) {
      low |= b << 28;
      high |= b >>> 4;
    } else high |= b << (7 * i - 32);
    if ((buf[pos + i] ?? 0) < 0x80) break;
  }
  return { low: low >>> 0, high: high >>> 0, unsigned: true };
}

function readFixed32(buf: Uint8Array, pos: number): number {
  return (
    ((buf[pos] ?? 0) |
      ((buf[pos + 1] ?? 0) << 8) |
      ((buf[pos + 2] ?? 0) << 16) |
      ((buf[pos + 3] ?? 0) << 24)) >>>
    0
  );
}

function skipVarint(buf: Uint8Array, pos: number, end: number): number {
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireFormatError('a varint is cut off', pos, 'truncated');
    if ((buf[pos++] ?? 0) < 0x80) return pos;
  }
  throw new WireFormatError('varint longer than 10 bytes', pos);
}

/**
 * Walks the top-level fields of one message in buf[start, end) and returns those whose numbers the schema does
 * not know. Nested messages are not entered here: their own decode does that.
 */
function scanUnknown(buf: Uint8Array, start: number, end: number, known: Set<number>): Unknown[] | undefined {
  let out: Unknown[] | undefined;
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = readVarint32(buf, pos, end);
    pos = afterTag;
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new WireFormatError('field number 0', fieldStart);
    let valueEnd: number;
    let payloadStart = pos;
    switch (wt) {
      case 0:
        valueEnd = skipVarint(buf, pos, end);
        break;
      case 1:
        valueEnd = pos + 8;
        break;
      case 2: {
        const [len, afterLen] = readVarint32(buf, pos, end);
        payloadStart = afterLen;
        valueEnd = afterLen + len;
        break;
      }
      case 5:
        valueEnd = pos + 4;
        break;
      default:
        throw new WireFormatError(`wire type ${wt} (field ${field}), which ONNX never uses`, fieldStart);
    }
    if (valueEnd > end)
      throw new WireFormatError(`field ${field} runs past the end of its message`, fieldStart, 'truncated');
    if (!known.has(field)) {
      // Parsed (not kept raw) so it can be written back through the codec's public Writer API.
      let u: Unknown;
      if (wt === 0) u = { tag, wt: 0, value: readVarint64(buf, pos) };
      else if (wt === 1) {
        const value = { low: readFixed32(buf, pos), high: readFixed32(buf, pos + 4), unsigned: true };
        u = { tag, wt: 1, value: value as unknown as Long64 };
      } else if (wt === 2) u = { tag, wt: 2, value: buf.slice(payloadStart, valueEnd) };
      else u = { tag, wt: 5, value: readFixed32(buf, pos) };
      (out ??= []).push(u);
    }
    pos = valueEnd;
  }
  return out;
}

function writeUnknown(writer: Writer, u: Unknown): void {
  writer.uint32(u.tag);
  if (u.wt === 0) writer.uint64(u.value);
  else if (u.wt === 1) writer.fixed64(u.value);
  else if (u.wt === 2) writer.bytes(u.value);
  else writer.fixed32(u.value);
}

/** Field numbers a generated message type knows, read from its generated encoder (`/* id N, wireType W *\/`). */
function knownFields(type: MessageType): Set<number> {
  const ids = new Set<number>();
  for (const m of type.encode.toString().matchAll(/id (\d+), wireType/g)) ids.add(Number(m[1]));
  return ids;
}

function pick(message: object, keys: readonly string[], keep: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message)) if (keys.includes(k) === keep) out[k] = v;
  return out;
}

type Int64 = Parameters<Writer['int64']>[0];

function writeUnpackedInt64(
  writer: Writer,
  field: number,
  values: readonly Int64[] | null | undefined,
): void {
  if (!values) return;
  for (const v of values) writer.uint32(field << 3).int64(v);
}

function writeUnpackedFloat(
  writer: Writer,
  field: number,
  values: readonly number[] | null | undefined,
): void {
  if (!values) return;
  for (const v of values) writer.uint32((field << 3) | 5).float(v);
}

/** Encoders for the messages with proto2 unpacked repeated scalars, built around the generated ones. */
function unpackedEncoders(orig: Map<MessageType, EncodeFn>): Map<MessageType, EncodeFn> {
  const get = (t: MessageType): EncodeFn => {
    const fn = orig.get(t);
    if (!fn) throw new Error('onnx-proto: missing generated encoder');
    return fn;
  };
  const tensor = get(onnx.TensorProto);
  const sparse = get(onnx.SparseTensorProto);
  const attribute = get(onnx.AttributeProto);
  const beforeFloats = ['name', 'f', 'i', 's', 't', 'g'] as const;
  return new Map<MessageType, EncodeFn>([
    [
      onnx.TensorProto,
      (m, w) => {
        const t = m as onnx.ITensorProto;
        writeUnpackedInt64(w!, 1, t.dims); // dims is field 1: first
        return tensor(pick(m, ['dims'], false), w);
      },
    ],
    [
      onnx.SparseTensorProto,
      (m, w) => {
        sparse(pick(m, ['dims'], false), w); // values 1, indices 2, then dims 3: last
        writeUnpackedInt64(w!, 3, (m as onnx.ISparseTensorProto).dims);
        return w!;
      },
    ],
    [
      onnx.AttributeProto,
      (m, w) => {
        const a = m as onnx.IAttributeProto;
        attribute(pick(m, beforeFloats, true), w); // fields 1..6
        writeUnpackedFloat(w!, 7, a.floats);
        writeUnpackedInt64(w!, 8, a.ints);
        return attribute(pick(m, [...beforeFloats, 'floats', 'ints'], false), w); // fields 9..23
      },
    ],
  ]);
}

function messageTypes(): MessageType[] {
  const out: MessageType[] = [];
  const visit = (ns: object): void => {
    for (const v of Object.values(ns)) {
      if (typeof v !== 'function') continue;
      const t = v as unknown as Partial<MessageType>;
      if (typeof t.encode === 'function' && typeof t.decode === 'function') {
        out.push(t as MessageType);
        visit(v as object);
      }
    }
  };
  visit(onnx);
  return out;
}

const PATCHED = Symbol.for('edge-console.onnx-proto.patched');
let depth = 0;

function patch(): void {
  const ns = onnx as unknown as Record<symbol, unknown>;
  if (ns[PATCHED]) return;
  ns[PATCHED] = true;
  const types = messageTypes();
  const origEncode = new Map(types.map((t) => [t, t.encode.bind(t)] as const));
  const origDecode = new Map(types.map((t) => [t, t.decode.bind(t)] as const));
  const known = new Map(types.map((t) => [t, knownFields(t)] as const));
  const special = unpackedEncoders(origEncode);
  // A fresh Writer of the codec's own protobufjs 6 (the app's protobufjs is another major version).
  const emptyEncode = origEncode.get(onnx.OperatorSetIdProto)!;
  const writerOf = (): Writer => emptyEncode({});
  for (const t of types) {
    const baseEncode = special.get(t) ?? origEncode.get(t)!;
    const baseDecode = origDecode.get(t)!;
    const ids = known.get(t)!;
    t.encode = (message, writer) => {
      const w = writer ?? writerOf();
      baseEncode(message, w);
      const unknowns = unknownFields.get(message);
      if (unknowns) for (const u of unknowns) writeUnknown(w, u);
      return w;
    };
    t.decode = (input, length) => {
      if (depth >= MAX_MESSAGE_DEPTH) {
        throw new WireFormatError(`messages nested deeper than ${MAX_MESSAGE_DEPTH} levels`, -1);
      }
      depth++;
      try {
        if (input instanceof Uint8Array) {
          const message = baseDecode(input, length);
          const unknowns = scanUnknown(input, 0, length ?? input.length, ids);
          if (unknowns) unknownFields.set(message, unknowns);
          return message;
        }
        const start = input.pos;
        if (length !== undefined && start + length > input.len) {
          throw new WireFormatError(
            `a message declares ${length} bytes but only ${input.len - start} remain`,
            start,
            'truncated',
          );
        }
        const message = baseDecode(input, length);
        const unknowns = scanUnknown(input.buf, start, input.pos, ids);
        if (unknowns) unknownFields.set(message, unknowns);
        return message;
      } finally {
        depth--;
      }
    };
  }
}

patch();
