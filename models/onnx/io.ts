/**
 * Reading and writing ONNX models on the real ONNX protobuf schema (see schema.ts).
 *
 * **The 2 GiB limit.** A protobuf message cannot exceed 2 GiB (2^31 - 1 bytes): the reference implementation sizes
 * messages with int32 and refuses larger ones, so no ONNX tool can read a bigger .onnx file. Models with more weight
 * than that keep their tensors outside the protobuf: a TensorProto with `data_location: EXTERNAL` carries only
 * `external_data` entries (`location` relative to the model's folder, `offset`, `length`), and the bytes live in side
 * files. Here such tensors stay on disk until asked for (loadExternalTensor), each loaded into its own buffer
 * (never one buffer for all weights, which Node could not allocate past 4 GiB anyway), and writeModel streams them
 * tensor by tensor into the side file it writes, so neither reading nor writing needs the whole model in one buffer.
 */
import { mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { onnx, unknownFieldNumbers, WireFormatError, type Writer } from './schema.js';
import {
  dataTypeBits,
  dataTypeName,
  externalDataEntries,
  forEachTensor,
  int64,
  isExternal,
  tensorByteSize,
  type TensorSite,
} from './tensors.js';

/** The largest protobuf message (and so .onnx file) the reference implementation reads or writes. */
export const PROTOBUF_MAX_BYTES = 2 ** 31 - 1;
/** IR versions above this are not ONNX (11 is current in 2025; leave room for a few more). */
const MAX_PLAUSIBLE_IR_VERSION = 64;
const COPY_CHUNK_BYTES = 64 * 1024 * 1024;

export interface ExternalTensorRef {
  tensor: onnx.ITensorProto;
  name: string;
  /** Where in the model the tensor sits, e.g. `graph.initializer[3]`. */
  where: string;
  /** `location` as written in the model (relative to the model's folder). */
  location: string;
  /** Absolute path of the side file; undefined when the model was decoded from bytes without a path. */
  file: string | undefined;
  offset: number;
  /** Bytes; undefined until verified when the model leaves it out (meaning: to the end of the file). */
  length: number | undefined;
}

export interface OnnxModel {
  readonly proto: onnx.ModelProto;
  /** Absolute path it was read from, if any; external data resolves against its folder. */
  readonly path: string | undefined;
  /** Size of the encoded .onnx (without external data). */
  readonly byteLength: number;
  readonly external: readonly ExternalTensorRef[];
  /** External tensors loaded so far, one buffer per tensor. */
  readonly externalBuffers: Map<onnx.ITensorProto, Uint8Array>;
}

export interface DecodeOptions {
  /** The file the bytes came from: named in errors, and the folder external data is resolved against. */
  path?: string;
}

function malformed(file: string, what: string, hint: string, cause?: unknown): AppError {
  return new AppError(
    'MODEL_MALFORMED',
    `${file}: ${what}`,
    cause === undefined ? { hint } : { hint, cause },
  );
}

const EXPORT_HINT =
  'Check that this is the .onnx file you meant; export or download it again (torch.onnx.export, tf2onnx, paddle2onnx) and compare its size or sha256 with the source.';

/** Recognizes common files that are not ONNX, so the error can say what the file is. */
export function sniffFormat(b: Uint8Array): string | undefined {
  const at = (off: number, s: string): boolean => [...s].every((c, i) => b[off + i] === c.charCodeAt(0));
  if (at(0, '\x89PNG')) return 'a PNG image';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'a JPEG image';
  if (at(0, 'GIF8')) return 'a GIF image';
  if (at(0, 'RIFF') && at(8, 'WEBP')) return 'a WebP image';
  if (at(0, 'PK\x03\x04'))
    return 'a ZIP archive (PyTorch .pt/.pth, Keras .keras and NumPy .npz files are ZIP archives)';
  if (b[0] === 0x1f && b[1] === 0x8b) return 'a gzip-compressed file (decompress it first)';
  if (at(4, 'TFL3')) return 'a TensorFlow Lite model';
  if (at(4, 'ORTM')) return 'an onnxruntime ORT-format model (keep the .onnx it was converted from)';
  if (at(0, 'GGUF')) return 'a GGUF model';
  if (at(0, '\x89HDF')) return 'an HDF5 file (Keras .h5)';
  if (b[0] === 0x80 && b[1] !== undefined && b[1] >= 2 && b[1] <= 5)
    return 'a Python pickle (a PyTorch checkpoint?)';
  if (at(0, '\x7fELF')) return 'an ELF executable';
  if (at(0, '%PDF')) return 'a PDF document';
  if (b.length > 9 && b[8] === 0x7b && b[9] === 0x22) {
    const headerLen = (b[0] ?? 0) + (b[1] ?? 0) * 256 + (b[2] ?? 0) * 65536 + (b[3] ?? 0) * 16777216;
    if (headerLen > 0 && headerLen + 8 <= b.length && b[4] === 0 && b[5] === 0) return 'a safetensors file';
  }
  const head = b.subarray(0, 1024);
  if (head.length > 0 && head.every((c) => c === 9 || c === 10 || c === 13 || c >= 32)) {
    const text = Buffer.from(head).toString('utf8');
    if (/^\s*(ir_version|producer_name|graph)\s*[:{]/.test(text)) {
      return 'ONNX in protobuf text format (convert it to binary: onnx.save(onnx.parser / text_format.Parse(...)))';
    }
    const firstLine = (text.split(/\r?\n/)[0] ?? '').slice(0, 60);
    return `a text file (starting ${JSON.stringify(firstLine)})`;
  }
  return undefined;
}

function describeDecodeError(err: unknown, size: number): string {
  if (err instanceof WireFormatError && err.kind === 'truncated') {
    return `ends in the middle of a field (at byte ${err.offset} ${err.message}, the file has ${size}): it is truncated or not an ONNX model`;
  }
  if (err instanceof WireFormatError) {
    return `is not a valid ONNX protobuf: ${err.message}${err.offset >= 0 ? ` at byte ${err.offset}` : ''}`;
  }
  const msg = err instanceof Error ? err.message : String(err);
  const range = /index out of range: (\d+) \+ (\d+) > (\d+)/.exec(msg);
  if (range) {
    return `ends in the middle of a field (byte ${range[1]} needs ${range[2]} more, the file has ${size}): it is truncated or not an ONNX model`;
  }
  if (/call stack/i.test(msg)) return 'is not a valid ONNX protobuf: messages nested too deeply';
  const wire = /invalid wire type (\d+) at offset (\d+)/.exec(msg);
  if (wire) return `is not a valid ONNX protobuf: invalid wire type ${wire[1]} at byte ${wire[2]}`;
  return `is not a valid ONNX protobuf (${msg})`;
}

/** True for locations that would leave the model's folder: absolute paths, drive letters, `..` segments. */
function escapesFolder(location: string): boolean {
  if (location.includes('\0')) return true;
  if (path.posix.isAbsolute(location) || path.win32.isAbsolute(location) || /^[a-zA-Z]:/.test(location))
    return true;
  return location.split(/[\\/]+/).some((seg) => seg === '..');
}

const DECIMAL = /^\d{1,16}$/;

function collectExternal(proto: onnx.ModelProto, file: string, dir: string | undefined): ExternalTensorRef[] {
  const refs: ExternalTensorRef[] = [];
  forEachTensor(proto, (site: TensorSite) => {
    const t = site.tensor;
    if (!isExternal(t)) return;
    const name = t.name || site.where;
    const entries = externalDataEntries(t);
    const location = entries.get('location');
    const what = `tensor '${name}' (${site.where})`;
    const hint =
      'External data entries must be location (a file in the model folder), offset and length (decimal bytes); re-save the model with onnx.save_model(..., save_as_external_data=True).';
    if (!location)
      throw malformed(file, `${what} is stored externally but has no external_data location`, hint);
    if (escapesFolder(location)) {
      throw malformed(
        file,
        `${what} points at external data ${JSON.stringify(location)}, outside the model's folder`,
        'External data must sit in the model folder or below it (no absolute paths, no ".."); move the data file next to the model and fix the location.',
      );
    }
    const offsetText = entries.get('offset') ?? '0';
    const lengthText = entries.get('length');
    if (!DECIMAL.test(offsetText) || (lengthText !== undefined && !DECIMAL.test(lengthText))) {
      throw malformed(
        file,
        `${what} has external_data offset ${JSON.stringify(offsetText)} / length ${JSON.stringify(lengthText ?? '')}, which are not byte counts`,
        hint,
      );
    }
    const length = lengthText === undefined ? undefined : Number(lengthText);
    const expected = tensorByteSize(t);
    if (length !== undefined && dataTypeBits(t.dataType) > 0 && length !== expected) {
      throw malformed(
        file,
        `${what} declares ${dataTypeName(t.dataType)} data of ${expected} bytes but its external_data length is ${length}`,
        hint,
      );
    }
    refs.push({
      tensor: t,
      name,
      where: site.where,
      location,
      file: dir === undefined ? undefined : path.join(dir, location),
      offset: Number(offsetText),
      length,
    });
  });
  return refs;
}

function validate(proto: onnx.ModelProto, file: string): void {
  const irVersion = int64(proto.irVersion);
  const unknown = unknownFieldNumbers(proto);
  if (!proto.graph) {
    if (unknown.length > 0 && irVersion === 0) {
      throw malformed(
        file,
        `is not an ONNX model (no graph, no ir_version; it holds protobuf fields ${unknown.slice(0, 5).join(', ')}, which ModelProto does not have)`,
        EXPORT_HINT,
      );
    }
    throw malformed(file, 'has no graph (ModelProto.graph is missing)', EXPORT_HINT);
  }
  if (irVersion <= 0) {
    throw malformed(
      file,
      'has ir_version 0 (missing): every ONNX model declares the IR version it was written for',
      'Re-export the model, or set ir_version (onnx.helper.make_model sets it for you).',
    );
  }
  if (irVersion > MAX_PLAUSIBLE_IR_VERSION) {
    throw malformed(file, `has ir_version ${irVersion}, which is not an ONNX IR version`, EXPORT_HINT);
  }
  if (irVersion >= 3 && (proto.opsetImport ?? []).length === 0) {
    throw malformed(
      file,
      `declares no opset_import (ir_version ${irVersion} requires one)`,
      'Re-export the model with an explicit opset (e.g. torch.onnx.export(..., opset_version=17)).',
    );
  }
  forEachTensor(proto, ({ tensor, where }) => {
    const raw = tensor.rawData;
    if (!raw || isExternal(tensor) || dataTypeBits(tensor.dataType) === 0) return;
    const expected = tensorByteSize(tensor);
    if (raw.length !== expected) {
      throw malformed(
        file,
        `tensor '${tensor.name || where}' (${where}) declares ${dataTypeName(tensor.dataType)}[${(tensor.dims ?? []).map(int64).join(',')}] = ${expected} bytes but raw_data holds ${raw.length}`,
        EXPORT_HINT,
      );
    }
  });
}

/** Decodes and checks a model. Pure (no file access): external data is located but not opened. */
export function decodeModel(bytes: Uint8Array, opts: DecodeOptions = {}): OnnxModel {
  const file = opts.path ?? '(model bytes)';
  if (bytes.length === 0) {
    throw malformed(
      file,
      'is empty (0 bytes)',
      'The file was not written completely; export or copy it again.',
    );
  }
  if (bytes.length > PROTOBUF_MAX_BYTES) {
    throw malformed(
      file,
      `is ${bytes.length} bytes, over the 2 GiB limit of a protobuf message`,
      'Save the weights as external data (onnx.save_model(m, path, save_as_external_data=True)) so the .onnx stays small.',
    );
  }
  const foreign = sniffFormat(bytes);
  if (foreign) throw malformed(file, `is not an ONNX model: it looks like ${foreign}`, EXPORT_HINT);
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw malformed(file, describeDecodeError(err, bytes.length), EXPORT_HINT, err);
  }
  validate(proto, file);
  const abs = opts.path === undefined ? undefined : path.resolve(opts.path);
  const external = collectExternal(proto, file, abs === undefined ? undefined : path.dirname(abs));
  return { proto, path: abs, byteLength: bytes.length, external, externalBuffers: new Map() };
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

export interface ReadOptions {
  /** Load every external tensor now (one buffer per tensor) instead of on request. */
  loadExternalData?: boolean;
}

/** Reads, decodes and checks a model file, and checks that its external data exists. */
export async function readModel(file: string, opts: ReadOptions = {}): Promise<OnnxModel> {
  let size: number;
  try {
    const st = await stat(file);
    if (st.isDirectory())
      throw new AppError('BAD_INPUT', `${file} is a folder, not an .onnx file.`, {
        hint: 'Pick the .onnx file inside it.',
      });
    size = st.size;
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (isErrno(err, 'ENOENT'))
      throw new AppError('NOT_FOUND', `No model file at ${file}.`, { hint: 'Check the path.', cause: err });
    throw new AppError('ENVIRONMENT', `Cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (size > PROTOBUF_MAX_BYTES) {
    throw malformed(
      file,
      `is ${size} bytes, over the 2 GiB limit of a protobuf message`,
      'Save the weights as external data (onnx.save_model(m, path, save_as_external_data=True)) so the .onnx stays small.',
    );
  }
  const model = decodeModel(await readFile(file), { path: file });
  await verifyExternalData(model);
  if (opts.loadExternalData) await loadExternalData(model);
  return model;
}

/**
 * Checks that every external tensor's file exists inside the model folder (symlinks resolved) and holds its byte
 * range; fills in lengths the model left open.
 */
export async function verifyExternalData(model: OnnxModel): Promise<void> {
  if (model.external.length === 0) return;
  const file = model.path ?? '(model bytes)';
  if (model.path === undefined) {
    throw malformed(
      file,
      `has ${model.external.length} tensors in external data but no path to find them from`,
      'Read the model with readModel(path), or decodeModel(bytes, { path }).',
    );
  }
  const dir = await realpath(path.dirname(model.path));
  const sizes = new Map<string, number>();
  for (const ref of model.external) {
    const target = ref.file!;
    let size = sizes.get(target);
    if (size === undefined) {
      let real: string;
      try {
        real = await realpath(target);
        size = (await stat(real)).size;
      } catch (err) {
        throw malformed(
          file,
          `external data file ${JSON.stringify(ref.location)} for tensor '${ref.name}' is missing`,
          `Copy ${ref.location} into ${path.dirname(model.path)} along with the model: ONNX resolves external data relative to the model's folder.`,
          err,
        );
      }
      if (real !== dir && !real.startsWith(dir + path.sep)) {
        throw malformed(
          file,
          `external data ${JSON.stringify(ref.location)} for tensor '${ref.name}' resolves to ${real}, outside the model's folder`,
          'Replace the symbolic link with the data file itself.',
        );
      }
      sizes.set(target, size);
    }
    const length = ref.length ?? size - ref.offset;
    if (ref.offset + length > size || length < 0) {
      throw malformed(
        file,
        `tensor '${ref.name}' needs bytes ${ref.offset}..${ref.offset + length} of ${ref.location}, which has ${size}`,
        `${ref.location} is truncated or belongs to another version of the model; copy it again.`,
      );
    }
    const expected = tensorByteSize(ref.tensor);
    if (ref.length === undefined && dataTypeBits(ref.tensor.dataType) > 0 && length !== expected) {
      throw malformed(
        file,
        `tensor '${ref.name}' needs ${expected} bytes but ${ref.location} holds ${length} from offset ${ref.offset}`,
        `${ref.location} does not match the model; copy it again.`,
      );
    }
    ref.length = length;
  }
}

async function readRange(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(
        buf,
        done,
        Math.min(length - done, COPY_CHUNK_BYTES),
        offset + done,
      );
      if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${offset + done}`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

function refFor(model: OnnxModel, tensor: onnx.ITensorProto): ExternalTensorRef {
  const ref = model.external.find((r) => r.tensor === tensor);
  if (!ref)
    throw new AppError('BAD_INPUT', `Tensor '${tensor.name ?? ''}' is not stored externally in this model.`);
  return ref;
}

/** The bytes of one external tensor, read on first request and kept in model.externalBuffers. */
export async function loadExternalTensor(model: OnnxModel, tensor: onnx.ITensorProto): Promise<Uint8Array> {
  const cached = model.externalBuffers.get(tensor);
  if (cached) return cached;
  const ref = refFor(model, tensor);
  if (ref.length === undefined) await verifyExternalData(model);
  try {
    const buf = await readRange(ref.file!, ref.offset, ref.length ?? 0);
    model.externalBuffers.set(tensor, buf);
    return buf;
  } catch (err) {
    throw malformed(
      model.path ?? '(model bytes)',
      `cannot read tensor '${ref.name}' from ${ref.location}: ${(err as Error).message}`,
      'Copy the external data file again.',
      err,
    );
  }
}

export async function loadExternalData(model: OnnxModel): Promise<void> {
  for (const ref of model.external) await loadExternalTensor(model, ref.tensor);
}

/** A tensor's raw little-endian bytes: raw_data or its external bytes; undefined when it uses typed fields. */
export async function tensorRawBytes(
  model: OnnxModel,
  tensor: onnx.ITensorProto,
): Promise<Uint8Array | undefined> {
  if (isExternal(tensor)) return loadExternalTensor(model, tensor);
  return tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
}

function protoOf(model: OnnxModel | onnx.IModelProto): onnx.IModelProto {
  return 'proto' in model && 'external' in model ? model.proto : model;
}

function finishWithin2GiB(writer: Writer, file: string): Uint8Array {
  if (writer.len > PROTOBUF_MAX_BYTES) {
    throw malformed(
      file,
      `encodes to ${writer.len} bytes, over the 2 GiB limit of a protobuf message`,
      'Write it with writeModel(model, path, { externalData: {} }) so the weights go to a side file.',
    );
  }
  return writer.finish();
}

/**
 * Encodes a model. A decoded model nothing has changed encodes to exactly the bytes it was read from (when those
 * came from the reference writer, as every exporter's output does). External tensors stay references.
 */
export function encodeModel(model: OnnxModel | onnx.IModelProto): Uint8Array {
  const label = 'path' in model && typeof model.path === 'string' ? model.path : '(model)';
  return finishWithin2GiB(onnx.ModelProto.encode(protoOf(model)), label);
}

export interface WriteOptions {
  /**
   * Store tensors of at least `sizeThreshold` bytes (default 1024) in one side file, `location` (default
   * `<model file name>.data`) next to the model. Without this, tensors that were external stay external: in place
   * when writing into the folder they came from, otherwise copied into `<model file name>.data`.
   */
  externalData?: {
    location?: string;
    sizeThreshold?: number;
    /** Also move tensors held in node attributes (Constant values). Off by default, as in onnx.save_model. */
    includeAttributes?: boolean;
  };
}

export interface WriteResult {
  path: string;
  bytes: number;
  externalData?: { location: string; bytes: number; tensors: number };
}

/** Offsets of large tensors are aligned so runtimes can memory-map them (64 KiB is Windows' mapping granularity). */
function alignFor(bytes: number): number {
  return bytes >= 1024 * 1024 ? 65536 : 64;
}

/** Writes the model (and its external data) atomically: temporary files renamed into place once complete. */
export async function writeModel(
  model: OnnxModel | onnx.IModelProto,
  outPath: string,
  opts: WriteOptions = {},
): Promise<WriteResult> {
  const proto = protoOf(model);
  const source = 'proto' in model && 'external' in model ? model : undefined;
  const out = path.resolve(outPath);
  const outDir = path.dirname(out);
  const sameFolder = source?.path !== undefined && path.dirname(source.path) === outDir;
  const threshold = opts.externalData ? (opts.externalData.sizeThreshold ?? 1024) : Infinity;
  const location = opts.externalData?.location ?? `${path.basename(out)}.data`;
  if (escapesFolder(location)) {
    throw new AppError(
      'BAD_INPUT',
      `External data location ${JSON.stringify(location)} is outside the model's folder.`,
      { hint: 'Use a plain file name such as model.onnx.data.' },
    );
  }

  // Which tensors go to the side file, and where their bytes come from.
  const moves: {
    tensor: onnx.ITensorProto;
    bytes: () => Promise<Uint8Array> | Uint8Array;
    copy?: ExternalTensorRef;
  }[] = [];
  const movable = (kind: TensorSite['kind']): boolean =>
    kind === 'initializer' || (opts.externalData?.includeAttributes ?? false);
  forEachTensor(proto, ({ tensor, kind }) => {
    if (isExternal(tensor)) {
      if (!opts.externalData && sameFolder) return;
      const loaded = source?.externalBuffers.get(tensor);
      const ref = source?.external.find((r) => r.tensor === tensor);
      if (loaded) moves.push({ tensor, bytes: () => loaded });
      else if (ref?.file !== undefined && source)
        moves.push({ tensor, bytes: () => loadExternalTensor(source, tensor), copy: ref });
      else
        throw new AppError(
          'BAD_INPUT',
          `Tensor '${tensor.name ?? ''}' is external but its data cannot be found.`,
          { hint: 'Read the model with readModel(path) so its external data can be located.' },
        );
    } else if (movable(kind) && tensor.rawData && tensor.rawData.length >= threshold) {
      const raw = tensor.rawData;
      moves.push({ tensor, bytes: () => raw });
    }
  });

  await mkdir(outDir, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmpModel = `${out}.tmp-${tag}`;
  const dataPath = path.join(outDir, location);
  const tmpData = `${dataPath}.tmp-${tag}`;
  const placed: { tensor: onnx.ITensorProto; offset: number; length: number }[] = [];
  try {
    let dataBytes = 0;
    if (moves.length > 0) {
      await mkdir(path.dirname(dataPath), { recursive: true });
      const fh = await open(tmpData, 'w');
      try {
        for (const m of moves) {
          const length = m.copy?.length ?? (await m.bytes()).length;
          const align = alignFor(length);
          const offset = Math.ceil(dataBytes / align) * align;
          if (m.copy && !source?.externalBuffers.has(m.tensor)) {
            // Stream straight from the source side file: a tensor never needs to be in memory whole.
            const src = await open(m.copy.file!, 'r');
            try {
              for (let done = 0; done < length;) {
                const n = Math.min(COPY_CHUNK_BYTES, length - done);
                const chunk = Buffer.allocUnsafe(n);
                const { bytesRead } = await src.read(chunk, 0, n, m.copy.offset + done);
                if (bytesRead === 0) throw new Error(`${m.copy.location} ended early`);
                await fh.write(chunk, 0, bytesRead, offset + done);
                done += bytesRead;
              }
            } finally {
              await src.close();
            }
          } else {
            const bytes = await m.bytes();
            await fh.write(bytes, 0, bytes.length, offset);
          }
          placed.push({ tensor: m.tensor, offset, length });
          dataBytes = offset + length;
        }
      } finally {
        await fh.close();
      }
    }

    // Point the moved tensors at the side file just long enough to encode, then put them back as they were.
    const restore = placed.map(({ tensor, offset, length }) =>
      swapFields(tensor as Record<string, unknown>, {
        rawData: null,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location.split(path.sep).join('/') },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(length) },
        ],
      }),
    );
    let bytes: Uint8Array;
    try {
      bytes = finishWithin2GiB(onnx.ModelProto.encode(proto), out);
    } finally {
      for (const r of restore) r();
    }
    const fh = await open(tmpModel, 'w');
    try {
      await fh.writeFile(bytes);
    } finally {
      await fh.close();
    }
    if (placed.length > 0) await rename(tmpData, dataPath);
    await rename(tmpModel, out);
    return placed.length > 0
      ? {
          path: out,
          bytes: bytes.length,
          externalData: { location, bytes: dataBytes, tensors: placed.length },
        }
      : { path: out, bytes: bytes.length };
  } catch (err) {
    await rm(tmpModel, { force: true });
    await rm(tmpData, { force: true });
    throw err;
  }
}

/** Sets fields on a message and returns a function that restores them exactly (own-property presence included). */
function swapFields(target: Record<string, unknown>, values: Record<string, unknown>): () => void {
  const saved = Object.keys(values).map((k) => [k, Object.getOwnPropertyDescriptor(target, k)] as const);
  Object.assign(target, values);
  return () => {
    for (const [k, d] of saved) {
      if (d) Object.defineProperty(target, k, d);
      else delete target[k];
    }
  };
}
