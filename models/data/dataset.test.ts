import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../shared/errors.js';
import {
  openSampleSource,
  writeOcrSampleSet,
  type ModelInputInfo,
  type Sample,
  type SampleSource,
} from './dataset.js';
import { encodeNpy, writeNpy } from './npy.js';
import * as render from './ocr-render.js';

// Count renders, to see that generated sources render one sample per step rather than up front.
vi.mock('./ocr-render.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('./ocr-render.js')>();
  return { ...orig, renderTextLine: vi.fn(orig.renderTextLine), renderTextPage: vi.fn(orig.renderTextPage) };
});

const REC: ModelInputInfo[] = [{ name: 'x', elemType: 'float32', shape: ['N', 3, 48, 'W'] }];
const DET: ModelInputInfo[] = [{ name: 'x', elemType: 'float32', shape: ['N', 3, 'H', 'W'] }];
const DET_OUT = [{ shape: ['N', 1, 'H', 'W'] }];
const VEC: ModelInputInfo[] = [{ name: 'input', elemType: 'float32', shape: ['batch', 4, 3] }];
const TWO: ModelInputInfo[] = [
  { name: 'ids', elemType: 'int64', shape: [1, 'seq'] },
  { name: 'mask/0', elemType: 'bool', shape: [1, 'seq'] },
];

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'dataset-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function all(source: SampleSource, signal?: AbortSignal): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of source.samples(signal)) out.push(s);
  return out;
}

async function failure(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

const f32 = (n: number, start = 0): Float32Array => Float32Array.from({ length: n }, (_, i) => start + i);

describe('image folders', () => {
  it('a written OCR line set reads back with its labels, preprocessed for the rec input', async () => {
    const dir = path.join(root, 'lines');
    const written = await writeOcrSampleSet(dir, { kind: 'lines', count: 6, seed: 9 });
    expect(written.count).toBe(6);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(['labels.jsonl', ...Array.from({ length: 6 }, (_, i) => `line-0000${i}.png`)]);
    const labels = (await readFile(path.join(dir, 'labels.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; text: string });
    expect(labels.map((l) => l.text)).toEqual(
      [...render.renderTextLines({ count: 6, seed: 9 })].map((l) => l.text),
    );

    const source = await openSampleSource(dir, REC); // preset guessed from [N, 3, 48, W]
    expect(source.count).toBe(6);
    expect(source.description).toMatch(/6 images .*ppocr-rec.*labels\.jsonl/);
    const samples = await all(source);
    expect(samples.map((s) => s.id)).toEqual(files.slice(1));
    expect(samples.map((s) => s.label?.text)).toEqual(labels.map((l) => l.text));
    for (const s of samples) {
      expect(s.feeds.x!.type).toBe('float32');
      expect(s.feeds.x!.dims).toEqual([1, 3, 48, 320]);
    }
    expect((await openSampleSource(dir, REC, { limit: 2 })).count).toBe(2);
  });

  it('labels.tsv (PaddleOCR rec_gt format) and numeric file order', async () => {
    const dir = path.join(root, 'tsv');
    await writeOcrSampleSet(path.join(root, 'tsv-src'), { kind: 'lines', count: 2, seed: 1 });
    await mkdir(dir);
    const png = await readFile(path.join(root, 'tsv-src', 'line-00000.png'));
    await writeFile(path.join(dir, 'img10.png'), png);
    await writeFile(path.join(dir, 'img2.png'), png);
    await writeFile(path.join(dir, 'labels.tsv'), 'file\ttext\nimages/img2.png\tsecond\nimg10.png\ttenth\n');
    const samples = await all(await openSampleSource(dir, REC));
    expect(samples.map((s) => [s.id, s.label?.text])).toEqual([
      ['img2.png', 'second'],
      ['img10.png', 'tenth'],
    ]);
  });

  it('a page set feeds the detector; without a preset and an ambiguous input it asks for --preset', async () => {
    const dir = path.join(root, 'pages');
    await writeOcrSampleSet(dir, { kind: 'pages', count: 1, seed: 3 });
    const label = JSON.parse((await readFile(path.join(dir, 'labels.jsonl'), 'utf8')).trim()) as {
      text: string;
      boxes: unknown[];
    };
    expect(label.boxes.length).toBeGreaterThan(3);
    const e = await failure(openSampleSource(dir, DET));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.hint).toMatch(/--preset/);
    const [s] = await all(await openSampleSource(dir, DET, { outputs: DET_OUT }));
    expect(s!.feeds.x!.dims).toEqual([1, 3, 640, 640]);
    expect(s!.label?.text).toBe(label.text);
    const [s2] = await all(await openSampleSource(dir, DET, { preset: 'imagenet' }));
    expect(s2!.feeds.x!.dims).toEqual([1, 3, 224, 224]);
  });

  it('a corrupt image is BAD_INPUT naming the file; files are read one at a time', async () => {
    const dir = path.join(root, 'corrupt');
    await writeOcrSampleSet(dir, { kind: 'lines', count: 3, seed: 2 });
    const source = await openSampleSource(dir, REC);
    const it = source.samples()[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    // Damaged after the source was opened and iteration began: only a lazy reader sees it.
    await writeFile(path.join(dir, 'line-00002.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage'));
    expect((await it.next()).done).toBe(false);
    const e = await failure(it.next());
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toContain(path.join(dir, 'line-00002.png'));
    expect(e.hint).toBeTruthy();
  });

  it('images for a model with two inputs, or a non-float input, are refused up front', async () => {
    const dir = path.join(root, 'lines');
    expect((await failure(openSampleSource(dir, TWO))).message).toMatch(/one input.*ids, mask\/0/);
    const e = await failure(
      openSampleSource(dir, [{ name: 'x', elemType: 'uint8', shape: [1, 3, 48, 320] }]),
    );
    expect(e.message).toMatch(/float32.*uint8/);
    const e2 = await failure(
      openSampleSource(dir, [{ name: 'x', elemType: 'float32', shape: [1, 1, 48, 320] }], {
        preset: 'ppocr-rec',
      }),
    );
    expect(e2.message).toMatch(/ppocr-rec cannot feed input 'x'.*3 channels/);
  });
});

describe('.npy samples', () => {
  it('one .npy per sample, with or without the batch dimension', async () => {
    const dir = path.join(root, 'npy-dir');
    await mkdir(dir);
    await writeNpy(path.join(dir, 'a.npy'), { dtype: 'float32', shape: [4, 3], data: f32(12) });
    await writeNpy(path.join(dir, 'b.npy'), { dtype: 'float32', shape: [1, 4, 3], data: f32(12, 100) });
    const source = await openSampleSource(dir, VEC);
    expect(source.count).toBe(2);
    const [a, b] = await all(source);
    expect(a!.id).toBe('a.npy');
    expect(a!.feeds.input!.dims).toEqual([1, 4, 3]);
    expect(Array.from(b!.feeds.input!.data as Float32Array).slice(0, 2)).toEqual([100, 101]);
  });

  it('a sample of the wrong shape or type is BAD_INPUT naming the file, the input, expected and found', async () => {
    const dir = path.join(root, 'npy-bad');
    await mkdir(dir);
    await writeNpy(path.join(dir, '0.npy'), { dtype: 'float32', shape: [4, 3], data: f32(12) });
    await writeNpy(path.join(dir, '1.npy'), { dtype: 'float32', shape: [1, 5, 3], data: f32(15) });
    const samples = (await openSampleSource(dir, VEC)).samples()[Symbol.asyncIterator]();
    await samples.next();
    const e = await failure(samples.next());
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toContain(path.join(dir, '1.npy'));
    expect(e.message).toContain("input 'input' expects [batch, 4, 3] float32, found [1, 5, 3] float32");
    expect(e.message).toContain('dim 1 is 5, the model fixes it at 4');

    const dir2 = path.join(root, 'npy-f64');
    await mkdir(dir2);
    await writeNpy(path.join(dir2, 'x.npy'), { dtype: 'float64', shape: [4, 3], data: new Float64Array(12) });
    const e2 = await failure(all(await openSampleSource(dir2, VEC)));
    expect(e2.message).toMatch(/x\.npy: input 'input' takes float32, the file holds float64/);
    expect(e2.hint).toMatch(/float32/);

    const dir3 = path.join(root, 'npy-rank');
    await mkdir(dir3);
    await writeNpy(path.join(dir3, 'x.npy'), { dtype: 'float32', shape: [12], data: f32(12) });
    expect((await failure(all(await openSampleSource(dir3, VEC)))).message).toMatch(
      /rank 1, the model takes rank 3/,
    );

    const dir4 = path.join(root, 'npy-trunc');
    await mkdir(dir4);
    const bytes = encodeNpy({ dtype: 'float32', shape: [4, 3], data: f32(12) });
    await writeFile(path.join(dir4, 'cut.npy'), bytes.subarray(0, bytes.length - 4));
    const e4 = await failure(all(await openSampleSource(dir4, VEC)));
    expect(e4.code).toBe('BAD_INPUT');
    expect(e4.message).toMatch(/cut\.npy: truncated/);
  });

  it('multi-input models: one folder per sample with <input>.npy (unsafe names made safe)', async () => {
    const dir = path.join(root, 'multi');
    for (const [i, n] of [
      [0, 5],
      [1, 7],
    ] as const) {
      await mkdir(path.join(dir, `s${i}`), { recursive: true });
      await writeNpy(path.join(dir, `s${i}`, 'ids.npy'), {
        dtype: 'int64',
        shape: [1, n],
        data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k)),
      });
      await writeNpy(path.join(dir, `s${i}`, 'mask_0.npy'), {
        dtype: 'bool',
        shape: [n],
        data: new Uint8Array(n).fill(1),
      });
    }
    const samples = await all(await openSampleSource(dir, TWO));
    expect(samples.map((s) => s.id)).toEqual(['s0', 's1']);
    expect(samples[1]!.feeds.ids).toMatchObject({ type: 'int64', dims: [1, 7] });
    expect(samples[1]!.feeds['mask/0']).toMatchObject({ type: 'bool', dims: [1, 7] });

    await rm(path.join(dir, 's1', 'ids.npy'));
    const e = await failure(all(await openSampleSource(dir, TWO)));
    expect(e.message).toContain(`${path.join(dir, 's1')}: no ids.npy for input 'ids'`);
    // .npy files directly in the folder cannot feed two inputs.
    expect((await failure(openSampleSource(path.join(root, 'npy-dir'), TWO))).hint).toMatch(/sub-folder/);
  });

  it('one .npy of [N, ...] samples is read one slice at a time, by offset', async () => {
    const file = path.join(root, 'stacked.npy');
    await writeNpy(file, { dtype: 'float32', shape: [5, 4, 3], data: f32(60) });
    const source = await openSampleSource(file, VEC, { limit: 4 });
    expect(source.count).toBe(4);
    const it = source.samples()[Symbol.asyncIterator]();
    const first = (await it.next()).value as Sample;
    expect(first.id).toBe('stacked.npy[0]');
    expect(first.feeds.input!.dims).toEqual([1, 4, 3]);
    expect(Array.from(first.feeds.input!.data as Float32Array)).toEqual(Array.from(f32(12)));
    // Overwrite sample 1 on disk after the first read: a reader that loaded everything would not see it.
    await writeNpy(file, { dtype: 'float32', shape: [5, 4, 3], data: f32(60, 1000) });
    const second = (await it.next()).value as Sample;
    expect((second.feeds.input!.data as Float32Array)[0]).toBe(1012);
    await it.return?.();

    await writeNpy(file, { dtype: 'float32', shape: [5, 4, 4], data: f32(80) });
    const e = await failure(openSampleSource(file, VEC));
    expect(e.message).toMatch(
      /stacked\.npy.*input 'input' expects \[batch, 4, 3\] float32, found \[1, 4, 4\]/,
    );
  });

  it('missing paths, empty folders and stray files are clear errors', async () => {
    expect((await failure(openSampleSource(path.join(root, 'nope'), VEC))).code).toBe('NOT_FOUND');
    await mkdir(path.join(root, 'empty'));
    expect((await failure(openSampleSource(path.join(root, 'empty'), VEC))).message).toMatch(
      /holds no images/,
    );
    await writeFile(path.join(root, 'notes.txt'), 'hi');
    expect((await failure(openSampleSource(path.join(root, 'notes.txt'), VEC))).code).toBe('BAD_INPUT');
  });
});

describe('generated sources', () => {
  it('gen:ocr-lines renders one sample per step, with labels; memory stays flat over 500 samples', async () => {
    const renderLine = vi.mocked(render.renderTextLine);
    const firstText = render.renderTextLine(4, 0).text;
    renderLine.mockClear();
    const source = await openSampleSource('gen:ocr-lines:500:4', REC);
    expect(source.count).toBe(500);
    expect(source.description).toMatch(/500 generated OCR lines \(seed 4, preset ppocr-rec\)/);
    expect(renderLine).not.toHaveBeenCalled();
    const mem = (): number => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    let n = 0;
    let base = 0;
    let peak = 0;
    for await (const s of source.samples()) {
      expect(renderLine).toHaveBeenCalledTimes(n + 1); // nothing rendered ahead
      if (n === 0) {
        expect(s.id).toBe('gen:ocr-lines:4:0');
        expect(s.label?.text).toBe(firstText);
        expect(s.feeds.x!.dims).toEqual([1, 3, 48, 320]);
      }
      n++;
      if (n === 50) base = mem();
      if (n > 50) peak = Math.max(peak, mem());
    }
    expect(n).toBe(500);
    // 450 more samples kept alive would be > 80 MB of tensors alone (184 KB each).
    expect(peak - base).toBeLessThan(60 * 2 ** 20);
  });

  it('gen:ocr-pages feeds the detector; bad gen specs are BAD_INPUT', async () => {
    const [page] = await all(await openSampleSource('gen:ocr-pages:1', DET));
    expect(page!.feeds.x!.dims).toEqual([1, 3, 640, 640]);
    expect(page!.label?.text).toBe(
      render
        .renderTextPage(0, 0)
        .boxes.map((b) => b.text)
        .join('\n'),
    );
    for (const spec of ['gen:ocr-lines', 'gen:ocr-lines:0', 'gen:faces:10', 'gen:ocr-lines:5:x']) {
      const e = await failure(openSampleSource(spec, REC));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.hint).toMatch(/gen:ocr-lines:<n>/);
    }
  });

  it('aborting mid-iteration throws CANCELLED', async () => {
    const ac = new AbortController();
    const source = await openSampleSource('gen:ocr-lines:100', REC);
    let seen = 0;
    const e = await failure(
      (async () => {
        for await (const _ of source.samples(ac.signal)) {
          if (++seen === 3) ac.abort();
        }
      })(),
    );
    expect(e.code).toBe('CANCELLED');
    expect(seen).toBe(3);

    const ac2 = new AbortController();
    ac2.abort();
    expect((await failure(all(await openSampleSource(path.join(root, 'lines'), REC), ac2.signal))).code).toBe(
      'CANCELLED',
    );
  });
});

describe('writeOcrSampleSet', () => {
  it('refuses a non-empty folder with CONFLICT', async () => {
    const dir = path.join(root, 'occupied');
    await mkdir(dir);
    await writeFile(path.join(dir, 'keep.txt'), 'mine');
    const e = await failure(writeOcrSampleSet(dir, { kind: 'lines', count: 2, seed: 0 }));
    expect(e.code).toBe('CONFLICT');
    expect(e.message).toContain(dir);
    expect(await readdir(dir)).toEqual(['keep.txt']);
  });
});
