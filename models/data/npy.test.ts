import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import {
  decodeNpy,
  encodeNpy,
  encodeNpyHeader,
  openNpy,
  readNpy,
  writeNpy,
  type NpyArray,
  type NpyDtype,
} from './npy.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'npy-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SAMPLES: Record<NpyDtype, NpyArray['data']> = {
  float32: new Float32Array([0, 1.5, -2.25, 3e-8, 1e30, -0]),
  float16: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555]),
  float64: new Float64Array([Math.PI, -1e-300, 1e300, 0, 42, -7]),
  int64: new BigInt64Array([0n, -1n, 9007199254740993n, -9223372036854775808n, 9223372036854775807n, 5n]),
  int32: new Int32Array([0, -1, 2147483647, -2147483648, 7, 8]),
  int8: new Int8Array([-128, 127, 0, -1, 5, 6]),
  uint8: new Uint8Array([0, 255, 1, 2, 3, 4]),
  bool: new Uint8Array([1, 0, 0, 1, 1, 0]),
};

/** A v2/v3 header by hand (encodeNpyHeader writes v1 unless the header is huge). */
function headerV(major: 2 | 3, dict: string): Uint8Array {
  const pre = 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  const text = dict.padEnd(total - pre - 1, ' ') + '\n';
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(pre + bytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  new DataView(out.buffer).setUint32(8, bytes.length, true);
  out.set(bytes, pre);
  return out;
}

async function expectBadInput(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  const e = err as AppError;
  expect(e.code).toBe('BAD_INPUT');
  for (const part of parts) expect(e.message).toMatch(part);
  expect(e.hint).toBeTruthy();
  return e;
}

describe('npy', () => {
  for (const [dtype, data] of Object.entries(SAMPLES) as [NpyDtype, NpyArray['data']][]) {
    it(`round-trips ${dtype} through a file, whole and slice by slice`, async () => {
      const file = path.join(dir, `${dtype}.npy`);
      const arr: NpyArray = { dtype, shape: [3, 2], data };
      await writeNpy(file, arr);
      const back = await readNpy(file);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([3, 2]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));

      const f = await openNpy(file);
      try {
        expect(f.header.dataOffset % 64).toBe(0);
        const slice = await f.readSlice(2);
        expect(Array.from(slice as ArrayLike<unknown>)).toEqual(
          Array.from(
            (data as ArrayLike<unknown> & { slice(a: number, b: number): ArrayLike<unknown> }).slice(4, 6),
          ),
        );
      } finally {
        await f.close();
      }
      // In memory too.
      expect(Array.from(decodeNpy(encodeNpy(arr)).data as ArrayLike<unknown>)).toEqual(
        Array.from(data as ArrayLike<unknown>),
      );
    });
  }

  it('writes headers numpy reads: v1.0, 64-byte aligned, newline-terminated dict', () => {
    const h = encodeNpyHeader('float32', [1, 3, 48, 320]);
    expect(h.length % 64).toBe(0);
    const text = new TextDecoder('latin1').decode(h.subarray(10));
    expect(text).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(1, 3, 48, 320\), \} *\n$/);
    expect(new TextDecoder('latin1').decode(encodeNpyHeader('uint8', [5]).subarray(10))).toContain(
      "'shape': (5,)",
    );
    expect(
      decodeNpy(encodeNpy({ dtype: 'float64', shape: [], data: new Float64Array([2.5]) })).shape,
    ).toEqual([]);
  });

  it('reads v2.0 and v3.0 headers and big-endian data', () => {
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.5, false);
    new DataView(be.buffer).setFloat32(4, -3, false);
    for (const major of [2, 3] as const) {
      const header = headerV(major, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }");
      const file = new Uint8Array(header.length + 8);
      file.set(header);
      file.set(be, header.length);
      const arr = decodeNpy(file);
      expect(arr.dtype).toBe('float32');
      expect(Array.from(arr.data as Float32Array)).toEqual([1.5, -3]);
    }
  });

  it('rejects Fortran order, unsupported dtypes, truncated and garbage files with BAD_INPUT naming the file', async () => {
    const fortran = path.join(dir, 'fortran.npy');
    const h = headerV(2, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }");
    await writeFile(fortran, Buffer.concat([h, Buffer.alloc(16)]));
    const e = await expectBadInput(readNpy(fortran), 'fortran.npy', /Fortran/);
    expect(e.hint).toMatch(/ascontiguousarray/);

    const complex = path.join(dir, 'complex.npy');
    await writeFile(
      complex,
      Buffer.concat([
        headerV(2, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"),
        Buffer.alloc(8),
      ]),
    );
    await expectBadInput(readNpy(complex), 'complex.npy', "'<c8'");

    const full = encodeNpy({ dtype: 'float32', shape: [4, 4], data: new Float32Array(16) });
    const truncated = path.join(dir, 'truncated.npy');
    await writeFile(truncated, full.subarray(0, full.length - 10));
    await expectBadInput(readNpy(truncated), 'truncated.npy', /truncated/, /\[4, 4\]/, /64 bytes/);
    await expectBadInput(openNpy(truncated), 'truncated.npy', /truncated/);

    const cutHeader = path.join(dir, 'cut-header.npy');
    await writeFile(cutHeader, full.subarray(0, 30));
    await expectBadInput(readNpy(cutHeader), 'cut-header.npy', /truncated/);

    const garbage = path.join(dir, 'garbage.npy');
    await writeFile(garbage, 'PK\x03\x04 this is a zip, not an npy');
    await expectBadInput(readNpy(garbage), 'garbage.npy', /not a \.npy file/);

    const empty = path.join(dir, 'empty.npy');
    await writeFile(empty, '');
    await expectBadInput(readNpy(empty), 'empty.npy');

    const badDict = path.join(dir, 'bad-dict.npy');
    await writeFile(badDict, headerV(2, "{'descr': '<f4', 'shape': (2,), }"));
    await expectBadInput(readNpy(badDict), 'bad-dict.npy', /fortran_order/);

    const missing = await openNpy(path.join(dir, 'missing.npy')).catch((err: unknown) => err);
    expect((missing as AppError).code).toBe('NOT_FOUND');
  });
});
