import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import {
  badModelFiles,
  matmulModel,
  rng,
  tinyConvModel,
  writeHandMadeExternalModel,
} from '../../test/fixtures/models/synthetic.js';
import { decodeModel, encodeModel, loadExternalTensor, readModel, tensorRawBytes, writeModel } from './io.js';
import { onnx, unknownFieldNumbers } from './schema.js';
import { REAL_MODELS } from './testing.js';
import { isExternal } from './tensors.js';

function expectMalformed(fn: () => unknown, pattern: RegExp): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    expect(e.code).toBe('MODEL_MALFORMED');
    expect(e.message).toMatch(pattern);
    expect(e.hint).toBeTruthy();
    return e;
  }
  throw new Error('expected MODEL_MALFORMED');
}

async function expectRejects(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await expect(p).rejects.toSatisfy(
    (err: unknown) => err instanceof AppError && err.code === code && pattern.test(err.message),
  );
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'onnx-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('real models', () => {
  it.each(Object.entries(REAL_MODELS))('%s decodes and re-encodes byte for byte', async (name, file) => {
    const bytes = await readFile(file);
    const t0 = performance.now();
    const model = await readModel(file);
    const t1 = performance.now();
    const again = encodeModel(model);
    const t2 = performance.now();
    expect(model.byteLength).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(again), bytes)).toBe(0);
    console.log(
      `${name}: ${bytes.length} bytes, read+decode ${(t1 - t0).toFixed(1)} ms, encode ${(t2 - t1).toFixed(1)} ms`,
    );
  });

  it('writeModel writes an unchanged model byte for byte', async () => {
    const model = await readModel(REAL_MODELS.cls);
    const out = path.join(dir, 'cls-copy.onnx');
    const res = await writeModel(model, out);
    expect(res.externalData).toBeUndefined();
    expect(Buffer.compare(await readFile(out), await readFile(REAL_MODELS.cls))).toBe(0);
  });

  it('a changed model keeps what was not changed', async () => {
    const model = await readModel(REAL_MODELS.cls);
    model.proto.metadataProps.push(onnx.StringStringEntryProto.create({ key: 'edge.build', value: '1' }));
    const back = decodeModel(encodeModel(model));
    expect(back.proto.metadataProps.map((p) => p.key)).toEqual(['edge.build']);
    expect(back.proto.graph!.node!.length).toBe(model.proto.graph!.node!.length);
    const graphBytes = (m: typeof model): Buffer =>
      Buffer.from(onnx.GraphProto.encode(m.proto.graph!).finish());
    expect(graphBytes(back).equals(graphBytes(model))).toBe(true);
    expect(back.proto.opsetImport).toEqual(model.proto.opsetImport);
  });
});

describe('encoding matches the reference writer', () => {
  it('writes proto2 repeated scalars (dims, ints, floats) unpacked and float_data packed', () => {
    const t = onnx.TensorProto.encode({ dims: [2, 3], dataType: 1, floatData: [1, 2, 3, 4, 5, 6] }).finish();
    // dims: two (tag 0x08, varint) fields; float_data: one packed field (tag 0x22) of 24 bytes.
    expect([...t.subarray(0, 6)]).toEqual([0x08, 2, 0x08, 3, 0x10, 1]);
    expect([...t.subarray(6, 8)]).toEqual([0x22, 24]);
    const a = onnx.AttributeProto.encode({ name: 'k', ints: [3, 3], floats: [0.5] }).finish();
    expect([...a]).toEqual([0x0a, 1, 0x6b, 0x3d, 0, 0, 0, 0x3f, 0x40, 3, 0x40, 3]);
  });

  it('still reads packed dims (as other writers emit) and re-encodes them canonically', () => {
    const packed = Uint8Array.from([0x0a, 2, 2, 3, 0x10, 1]);
    const t = onnx.TensorProto.decode(packed);
    expect(t.dims.map(Number)).toEqual([2, 3]);
    expect([...onnx.TensorProto.encode(t).finish()]).toEqual([0x08, 2, 0x08, 3, 0x10, 1]);
  });

  it('keeps fields newer than the bundled schema (ONNX 1.16 NodeProto.metadata_props, ModelProto field 26)', () => {
    const nodeBytes = onnx.NodeProto.encode({ input: ['x'], output: ['y'], opType: 'Relu' }).finish();
    // metadata_props = field 9: { key "k", value "v" }
    const entry = [0x0a, 1, 0x6b, 0x12, 1, 0x76];
    const withMeta = Uint8Array.from([...nodeBytes, 0x4a, entry.length, ...entry]);
    const node = onnx.NodeProto.decode(withMeta);
    expect(unknownFieldNumbers(node)).toEqual([9]);
    const m = tinyConvModel();
    m.graph!.node!.push(node);
    const modelBytes = Uint8Array.from([...encodeModel(m), 0xd0, 0x01, 7]); // field 26 varint 7
    const decoded = decodeModel(modelBytes);
    expect(unknownFieldNumbers(decoded.proto)).toEqual([26]);
    expect(Buffer.compare(Buffer.from(encodeModel(decoded)), Buffer.from(modelBytes))).toBe(0);
    const last = decoded.proto.graph!.node!.at(-1)!;
    expect(unknownFieldNumbers(last)).toEqual([9]);
  });
});

describe('the 2 GiB protobuf limit', () => {
  it('encodeModel refuses to build a message over 2 GiB and says to use external data', () => {
    const m = matmulModel();
    // Zero-filled and never touched before the size check, so this costs address space, not memory.
    const huge = { name: 'huge', dataType: 2, dims: [2 ** 31], rawData: new Uint8Array(2 ** 31) };
    m.graph!.initializer!.push(huge);
    const t0 = performance.now();
    expectMalformed(() => encodeModel(m), /encodes to \d+ bytes, over the 2 GiB limit/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('bad input', () => {
  let bad: Record<string, Uint8Array>;
  beforeAll(async () => {
    bad = badModelFiles(await readFile(REAL_MODELS.cls));
  });
  const cases: [string, RegExp][] = [
    ['empty', /is empty/],
    ['png', /not an ONNX model: it looks like a PNG image/],
    ['text', /looks like a text file \(starting "hello, this is not a model"\)/],
    ['textproto', /protobuf text format/],
    ['zip', /ZIP archive/],
    ['random', /not a valid ONNX protobuf|truncated|not an ONNX model/],
    ['zeros', /field number 0/],
    ['truncated', /ends in the middle of a field.*truncated/],
    ['noGraph', /has no graph/],
    ['irVersion0', /ir_version 0/],
    ['noOpset', /no opset_import/],
    ['hugeLength', /declares 4294967295 bytes but only 3 remain/],
    ['hugeRawData', /ends in the middle of a field/],
    ['rawDataSizeMismatch', /tensor 'W' .*declares float32\[4,3,3,3\] = 432 bytes but raw_data holds 428/],
    ['deeplyNested', /nested deeper than/],
  ];
  it.each(cases)('%s is MODEL_MALFORMED naming the file and the problem', (name, pattern) => {
    const e = expectMalformed(() => decodeModel(bad[name]!, { path: `/models/${name}.onnx` }), pattern);
    expect(e.message.startsWith(`/models/${name}.onnx: `)).toBe(true);
  });

  it('every cut of a real model and random bytes fail cleanly and quickly', async () => {
    const real = await readFile(REAL_MODELS.cls);
    const r = rng(7);
    const t0 = performance.now();
    for (let i = 0; i < 60; i++) {
      const cut = i < 10 ? real.length - 1 - i : Math.floor(r() * real.length);
      expectMalformed(() => decodeModel(real.subarray(0, cut)), /./);
    }
    for (let i = 0; i < 300; i++) {
      const junk = Uint8Array.from({ length: 1 + Math.floor(r() * 2000) }, () => Math.floor(r() * 256));
      expectMalformed(() => decodeModel(junk), /./);
    }
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('readModel: missing file is NOT_FOUND, a folder is BAD_INPUT, a bad file is MODEL_MALFORMED', async () => {
    await expectRejects(readModel(path.join(dir, 'nope.onnx')), 'NOT_FOUND', /nope\.onnx/);
    await expectRejects(readModel(dir), 'BAD_INPUT', /is a folder/);
    const png = path.join(dir, 'picture.onnx');
    await writeFile(png, bad.png!);
    await expectRejects(
      readModel(png),
      'MODEL_MALFORMED',
      /picture\.onnx: is not an ONNX model: it looks like a PNG image/,
    );
  });
});

describe('external data', () => {
  it('reads a hand-made external-data model lazily and the bytes match', async () => {
    const file = await writeHandMadeExternalModel(path.join(dir, 'ext1'));
    const model = await readModel(file);
    expect(model.external.map((r) => [r.name, r.location, r.offset, r.length])).toEqual([
      ['W', 'weights.bin', 128, 8192],
      ['b', 'weights.bin', 0, 128],
    ]);
    expect(model.externalBuffers.size).toBe(0);
    const want = matmulModel().graph!.initializer!;
    const W = model.proto.graph!.initializer![0]!;
    expect(Buffer.from(await loadExternalTensor(model, W))).toEqual(Buffer.from(want[0]!.rawData!));
    expect(model.externalBuffers.size).toBe(1);
    const b = model.proto.graph!.initializer![1]!;
    expect(Buffer.from((await tensorRawBytes(model, b))!)).toEqual(Buffer.from(want[1]!.rawData!));
  });

  it('refuses locations that leave the model folder', async () => {
    for (const location of [
      '../weights.bin',
      '/etc/passwd',
      'sub/../../x.bin',
      'C:\\weights.bin',
      '..\\weights.bin',
    ]) {
      const file = await writeHandMadeExternalModel(
        path.join(dir, `esc-${Math.random().toString(36).slice(2)}`),
        { location },
      );
      await expectRejects(readModel(file), 'MODEL_MALFORMED', /outside the model's folder/);
    }
  });

  it('refuses a symbolic link that points out of the folder', async () => {
    const inner = path.join(dir, 'link', 'm');
    const file = await writeHandMadeExternalModel(inner, { location: 'linked.bin' });
    await writeFile(path.join(inner, '..', 'outside.bin'), await readFile(path.join(inner, 'weights.bin')));
    await symlink(path.join(inner, '..', 'outside.bin'), path.join(inner, 'linked.bin'));
    await expectRejects(readModel(file), 'MODEL_MALFORMED', /resolves to .* outside the model's folder/);
  });

  it('names a missing data file, a short data file and a bad length', async () => {
    const missing = await writeHandMadeExternalModel(path.join(dir, 'missing'), { location: 'gone.bin' });
    await expectRejects(
      readModel(missing),
      'MODEL_MALFORMED',
      /external data file "gone\.bin" for tensor 'W' is missing/,
    );
    const short = await writeHandMadeExternalModel(path.join(dir, 'short'));
    await writeFile(path.join(dir, 'short', 'weights.bin'), new Uint8Array(1000));
    await expectRejects(
      readModel(short),
      'MODEL_MALFORMED',
      /tensor 'W' needs bytes 128\.\.8320 of weights\.bin, which has 1000/,
    );
    const badLength = await writeHandMadeExternalModel(path.join(dir, 'badlen'), {
      length: (n) => String(n + 4),
    });
    await expectRejects(
      readModel(badLength),
      'MODEL_MALFORMED',
      /declares float32 data of 8192 bytes but its external_data length is 8196/,
    );
    const notNumber = await writeHandMadeExternalModel(path.join(dir, 'nan'), { length: () => '-1' });
    await expectRejects(readModel(notNumber), 'MODEL_MALFORMED', /not byte counts/);
  });

  it('writeModel moves weights out, reads them back, and copies external data to a new folder', async () => {
    const out = path.join(dir, 'w1', 'mm.onnx');
    const res = await writeModel(matmulModel(), out, { externalData: { sizeThreshold: 100 } });
    // W (8192 bytes) at 0, b (128 bytes) at 8192: both offsets 64-byte aligned.
    expect(res.externalData).toEqual({ location: 'mm.onnx.data', bytes: 8192 + 128, tensors: 2 });
    const back = await readModel(out, { loadExternalData: true });
    expect(back.external.map((r) => r.name)).toEqual(['W', 'b']);
    expect(back.externalBuffers.size).toBe(2);
    const want = matmulModel().graph!.initializer![0]!.rawData!;
    expect(Buffer.from(back.externalBuffers.get(back.proto.graph!.initializer![0]!)!)).toEqual(
      Buffer.from(want),
    );
    // Unloaded external tensors are streamed into the new folder's side file.
    const lazy = await readModel(out);
    const copy = await writeModel(lazy, path.join(dir, 'w2', 'copy.onnx'));
    expect(copy.externalData?.tensors).toBe(2);
    const back2 = await readModel(copy.path, { loadExternalData: true });
    expect(Buffer.from(back2.externalBuffers.get(back2.proto.graph!.initializer![0]!)!)).toEqual(
      Buffer.from(want),
    );
    // The in-memory model was not changed by writing.
    expect(lazy.proto.graph!.initializer!.every((t) => isExternal(t))).toBe(true);
    expect(lazy.proto.graph!.initializer![0]!.externalData![0]!.value).toBe('mm.onnx.data');
  });
});
