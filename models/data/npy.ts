/**
 * NumPy .npy files (format versions 1, 2 and 3), read and written without NumPy: the calibration and evaluation
 * inputs users bring from their Python pipelines. Streaming-friendly: `openNpy` reads the header only and then
 * any range of elements (or one slice along the leading dimension) by file offset, so a [N, ...] file of any size
 * can feed samples one at a time.
 *
 * Supported: little- or big-endian float32/float16/float64/int64/int32/int8/uint8/bool, C order. float16 data is
 * kept as raw IEEE half bits in a Uint16Array (what onnxruntime takes for float16 tensors).
 */
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import { AppError } from '../../shared/errors.js';

export type NpyDtype = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

export type NpyData =
  Float32Array | Uint16Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** C-order elements; bool as 0/1 bytes, float16 as raw half-precision bits. */
  data: NpyData;
}

export interface NpyHeader {
  version: { major: number; minor: number };
  /** The descr string as written in the file, e.g. '<f4'. */
  descr: string;
  dtype: NpyDtype;
  /** Byte order of the data in the file. */
  littleEndian: boolean;
  itemSize: number;
  shape: number[];
  /** Number of elements (product of the shape; 1 for a 0-d array). */
  count: number;
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes of data the header promises: count × itemSize. */
  dataBytes: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DTYPES: Record<string, { dtype: NpyDtype; size: number }> = {
  f4: { dtype: 'float32', size: 4 },
  f2: { dtype: 'float16', size: 2 },
  f8: { dtype: 'float64', size: 8 },
  i8: { dtype: 'int64', size: 8 },
  i4: { dtype: 'int32', size: 4 },
  i1: { dtype: 'int8', size: 1 },
  u1: { dtype: 'uint8', size: 1 },
  b1: { dtype: 'bool', size: 1 },
};

const DESCR: Record<NpyDtype, string> = {
  float32: '<f4',
  float16: '<f2',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
};

const SUPPORTED = 'float32 (<f4), float16 (<f2), float64 (<f8), int64 (<i8), int32 (<i4), int8, uint8, bool';
const HOST_LE = os.endianness() === 'LE';

function bad(label: string, problem: string, hint: string): AppError {
  return new AppError('BAD_INPUT', `${label}: ${problem}`, { hint });
}

const NOT_NPY_HINT =
  'Write it with numpy.save(path, array); a .npz archive or a raw .bin dump is not a .npy file.';

/** The typed array for a dtype, over `count` elements of a fresh buffer (or of `bytes`, which must be aligned). */
function typedArray(dtype: NpyDtype, buffer: ArrayBuffer, byteOffset: number, count: number): NpyData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, count);
    case 'float16':
      return new Uint16Array(buffer, byteOffset, count);
    case 'float64':
      return new Float64Array(buffer, byteOffset, count);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, count);
    case 'int32':
      return new Int32Array(buffer, byteOffset, count);
    case 'int8':
      return new Int8Array(buffer, byteOffset, count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, count);
  }
}

/** The element size in bytes of a dtype. */
export function npyItemSize(dtype: NpyDtype): number {
  return DTYPES[DESCR[dtype].slice(1)]!.size;
}

function swapInPlace(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** Bytes needed before the header text can be parsed: magic, version and the header length field. */
function preambleSize(major: number): number {
  return major === 1 ? 10 : 12;
}

/**
 * Parses the header at the start of `bytes` (which must hold at least the whole header; 10 bytes are enough to
 * learn how long the header is, see `npyHeaderLength`). `label` names the file in errors.
 */
export function parseNpyHeader(bytes: Uint8Array, label = '(npy data)'): NpyHeader {
  const magicLen = Math.min(bytes.length, MAGIC.length);
  if (bytes.length === 0 || MAGIC.slice(0, magicLen).some((b, i) => bytes[i] !== b)) {
    throw bad(label, 'not a .npy file (it does not start with the \\x93NUMPY magic).', NOT_NPY_HINT);
  }
  if (bytes.length < 10) throw bad(label, 'truncated inside the .npy header.', NOT_NPY_HINT);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) {
    throw bad(
      label,
      `unsupported .npy format version ${major}.${minor} (versions 1.0, 2.0 and 3.0 are supported).`,
      'Re-save it with a current numpy.save.',
    );
  }
  const pre = preambleSize(major);
  if (bytes.length < pre) throw bad(label, 'truncated inside the .npy header.', NOT_NPY_HINT);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = pre + headerLen;
  if (bytes.length < dataOffset) {
    throw bad(
      label,
      `truncated: the header says it is ${headerLen} bytes long but the file ends before that.`,
      NOT_NPY_HINT,
    );
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(pre, dataOffset));
  const field = (name: string): string | undefined => {
    const m = new RegExp(`['"]${name}['"]\\s*:\\s*`).exec(text);
    return m ? text.slice(m.index + m[0].length) : undefined;
  };
  const descrRest = field('descr');
  const orderRest = field('fortran_order');
  const shapeRest = field('shape');
  if (!text.trimStart().startsWith('{') || !descrRest || !orderRest || !shapeRest) {
    throw bad(
      label,
      `malformed .npy header ${JSON.stringify(text.trim().slice(0, 120))}: it needs 'descr', 'fortran_order' and 'shape'.`,
      NOT_NPY_HINT,
    );
  }
  const descrMatch = /^(['"])([^'"]*)\1/.exec(descrRest);
  if (!descrMatch) {
    throw bad(
      label,
      `structured dtype ${descrRest.slice(0, 60).split('}')[0]} is not supported; supported: ${SUPPORTED}.`,
      'Save each field as its own plain array.',
    );
  }
  const descr = descrMatch[2]!;
  const order = descr[0] ?? '';
  const known = DTYPES[descr.slice(1)];
  if (!'<>|='.includes(order) || descr.length !== 3 || !known) {
    throw bad(
      label,
      `unsupported dtype '${descr}'; supported: ${SUPPORTED}.`,
      'Convert it first, e.g. numpy.save(path, array.astype(numpy.float32)).',
    );
  }
  if (/^True\b/.test(orderRest)) {
    throw bad(
      label,
      'the array is stored in Fortran (column-major) order; only C order is supported.',
      'Re-save it as numpy.save(path, numpy.ascontiguousarray(array)).',
    );
  }
  if (!/^False\b/.test(orderRest))
    throw bad(label, "malformed 'fortran_order' in the .npy header.", NOT_NPY_HINT);
  const shapeMatch = /^\(([^)]*)\)/.exec(shapeRest);
  if (!shapeMatch) throw bad(label, "malformed 'shape' in the .npy header.", NOT_NPY_HINT);
  const parts = shapeMatch[1]!
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '');
  const shape = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (shape.some((d) => !Number.isSafeInteger(d))) {
    throw bad(label, `malformed shape (${shapeMatch[1]}) in the .npy header.`, NOT_NPY_HINT);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  return {
    version: { major, minor },
    descr,
    dtype: known.dtype,
    littleEndian: order === '<' || (order === '=' && HOST_LE) || order === '|',
    itemSize: known.size,
    shape,
    count,
    dataOffset,
    dataBytes: count * known.size,
  };
}

/** Builds the header bytes (magic through padding) for an array. Version 1.0 unless the header needs more room. */
export function encodeNpyHeader(dtype: NpyDtype, shape: readonly number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new AppError('BAD_INPUT', `npy: invalid dimension ${d}.`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const major = dict.length + 1 + 10 > 0xffff ? 2 : 1;
  const pre = preambleSize(major);
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const text = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[pre + i] = text.charCodeAt(i);
  return out;
}

function checkArray(arr: NpyArray): void {
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.data.length !== count) {
    throw new AppError(
      'BAD_INPUT',
      `npy: shape [${arr.shape.join(', ')}] has ${count} elements but the data has ${arr.data.length}.`,
    );
  }
  const size = npyItemSize(arr.dtype);
  if (arr.data.BYTES_PER_ELEMENT !== size) {
    throw new AppError('BAD_INPUT', `npy: ${arr.dtype} data must be ${size}-byte elements.`);
  }
}

/** The data bytes in little-endian order (a copy when the host is big-endian). */
function leBytes(arr: NpyArray): Uint8Array {
  const bytes = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  if (HOST_LE) return bytes;
  const copy = bytes.slice();
  swapInPlace(copy, arr.data.BYTES_PER_ELEMENT);
  return copy;
}

/** The whole .npy file for an array, in memory. */
export function encodeNpy(arr: NpyArray): Uint8Array {
  checkArray(arr);
  const header = encodeNpyHeader(arr.dtype, arr.shape);
  const out = new Uint8Array(header.length + arr.data.byteLength);
  out.set(header, 0);
  out.set(leBytes(arr), header.length);
  return out;
}

/** Writes an array as a .npy file. */
export async function writeNpy(path: string, arr: NpyArray): Promise<void> {
  checkArray(arr);
  const header = encodeNpyHeader(arr.dtype, arr.shape);
  await writeFile(path, Buffer.concat([header, leBytes(arr)]));
}

/** Copies `bytes` (file order) into a fresh typed array of host order. */
function toHost(header: NpyHeader, bytes: Uint8Array, count: number): NpyData {
  const buffer = new ArrayBuffer(count * header.itemSize);
  const dst = new Uint8Array(buffer);
  dst.set(bytes.subarray(0, dst.length));
  if (header.littleEndian !== HOST_LE) swapInPlace(dst, header.itemSize);
  return typedArray(header.dtype, buffer, 0, count);
}

function truncated(label: string, header: NpyHeader, have: number): AppError {
  return bad(
    label,
    `truncated: the header says [${header.shape.join(', ')}] ${header.dtype} (${header.dataBytes} bytes of data) but the file has ${Math.max(0, have)}.`,
    'The file was cut short (an interrupted copy or download?); write it again with numpy.save.',
  );
}

/** Decodes a whole .npy file held in memory. */
export function decodeNpy(bytes: Uint8Array, label = '(npy data)'): NpyArray {
  const header = parseNpyHeader(bytes, label);
  const have = bytes.length - header.dataOffset;
  if (have < header.dataBytes) throw truncated(label, header, have);
  return {
    dtype: header.dtype,
    shape: header.shape,
    data: toHost(header, bytes.subarray(header.dataOffset), header.count),
  };
}

async function readFully(fh: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await fh.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** An open .npy file: its header, and reads of any part of its data by offset. Close it when done. */
export interface NpyFile {
  readonly path: string;
  readonly header: NpyHeader;
  /** Elements [start, start + count) in C order. */
  read(start: number, count: number): Promise<NpyData>;
  /** Slice `index` along the leading dimension (shape = header.shape.slice(1)). */
  readSlice(index: number): Promise<NpyData>;
  close(): Promise<void>;
}

/** Opens a .npy file and reads only its header; the data is read on demand. Bad files → BAD_INPUT naming it. */
export async function openNpy(path: string): Promise<NpyFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AppError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT',
      `${path}: cannot open it (${code ?? String(err)}).`,
      { hint: 'Check the path and that the file is readable.', cause: err },
    );
  }
  try {
    const size = (await fh.stat()).size;
    const first = new Uint8Array(Math.min(size, 12));
    await readFully(fh, first, 0);
    // Learn the header length from the preamble, then read the whole header.
    let headerBytes = first;
    if (first.length >= 10 && MAGIC.every((b, i) => first[i] === b)) {
      const major = first[6]!;
      const view = new DataView(first.buffer);
      const len =
        major === 1 ? view.getUint16(8, true) : first.length >= 12 ? view.getUint32(8, true) : Infinity;
      const total = Math.min(size, preambleSize(major) + len);
      headerBytes = new Uint8Array(Number.isFinite(total) ? total : size);
      await readFully(fh, headerBytes, 0);
    }
    const header = parseNpyHeader(headerBytes, path);
    const have = size - header.dataOffset;
    if (have < header.dataBytes) throw truncated(path, header, have);
    const sliceCount = header.shape.slice(1).reduce((a, b) => a * b, 1);
    const read = async (start: number, count: number): Promise<NpyData> => {
      if (start < 0 || count < 0 || start + count > header.count) {
        throw new AppError(
          'BAD_INPUT',
          `${path}: elements [${start}, ${start + count}) are outside its ${header.count} elements.`,
        );
      }
      const bytes = new Uint8Array(count * header.itemSize);
      const got = await readFully(fh, bytes, header.dataOffset + start * header.itemSize);
      if (got < bytes.length) throw truncated(path, header, header.dataBytes - (bytes.length - got));
      return toHost(header, bytes, count);
    };
    return {
      path,
      header,
      read,
      readSlice: (index: number) => {
        if (header.shape.length === 0) return read(0, 1);
        return read(index * sliceCount, sliceCount);
      },
      close: () => fh.close(),
    };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Reads a whole .npy file. */
export async function readNpy(path: string): Promise<NpyArray> {
  const file = await openNpy(path);
  try {
    return {
      dtype: file.header.dtype,
      shape: file.header.shape,
      data: await file.read(0, file.header.count),
    };
  } finally {
    await file.close();
  }
}
