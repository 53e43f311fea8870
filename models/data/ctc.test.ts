import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { ortIo } from '../onnx/ort.js';
import { REAL_MODELS } from '../onnx/testing.js';
import {
  checkRecDictionary,
  ctcGreedyDecode,
  decodeRecOutput,
  loadRecDictionary,
  normalizeRecText,
  PPOCR_V4_REC_CLASSES,
} from './ctc.js';

/** [steps, classes] one-hot-ish probabilities for a sequence of class indices. */
function probsFor(seq: number[], classes: number, p = 0.9): Float32Array {
  const out = new Float32Array(seq.length * classes).fill((1 - p) / (classes - 1));
  seq.forEach((c, t) => (out[t * classes + c] = p));
  return out;
}

describe('rec dictionary and CTC decoding', () => {
  it('ppocr_keys_v1.txt gives blank + 6623 characters + space = the PP-OCRv4 rec model’s 6625 classes', async () => {
    const dict = loadRecDictionary();
    expect(dict.classes.length).toBe(PPOCR_V4_REC_CLASSES);
    expect(dict.classes[0]).toBe('');
    expect(dict.classes[dict.classes.length - 1]).toBe(' ');
    expect(dict.index.get('的')).toBeGreaterThan(0);
    const io = await ortIo(REAL_MODELS.rec);
    const classes = io.outputs[0]!.shape!.at(-1);
    expect(classes).toBe(PPOCR_V4_REC_CLASSES);
    expect(() => checkRecDictionary(dict, classes as number)).not.toThrow();
  });

  it('greedy decoding merges repeats, drops blanks, keeps a repeat split by a blank, averages confidence', () => {
    const dict = loadRecDictionary();
    const n = dict.classes.length;
    const a = dict.index.get('中')!;
    const b = dict.index.get('国')!;
    const sp = n - 1;
    const seq = [0, a, a, 0, b, b, 0, b, sp, 0, 0];
    const r = ctcGreedyDecode(probsFor(seq, n), seq.length, n, dict);
    expect(r.text).toBe('中国国 ');
    expect(r.confidence).toBeCloseTo(0.9, 5);
    expect(ctcGreedyDecode(probsFor([0, 0], n), 2, n, dict)).toEqual({ text: '', confidence: 0 });
    const batch = new Float32Array([...probsFor([a, 0], n), ...probsFor([b, b], n)]);
    expect(decodeRecOutput(batch, [2, 2, n], dict).map((x) => x.text)).toEqual(['中', '国']);
    expect(normalizeRecText('  Hello   world ')).toBe('Hello world');
  });

  it('a dictionary that does not match the model, or a missing one, is a clear error', async () => {
    const dict = loadRecDictionary();
    let err: unknown;
    try {
      ctcGreedyDecode(new Float32Array(97 * 2), 2, 97, dict);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BAD_INPUT');
    expect((err as AppError).message).toMatch(/97 classes.*6625 \(6623 characters \+ CTC blank \+ space\)/);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctc-test-'));
    try {
      const small = path.join(dir, 'digits.txt');
      await writeFile(small, '0\n1\r\n2\n');
      const d = loadRecDictionary(small);
      expect(d.classes).toEqual(['', '0', '1', '2', ' ']);
      expect(loadRecDictionary(small, { useSpaceChar: false }).classes).toEqual(['', '0', '1', '2']);
      expect(() => loadRecDictionary(path.join(dir, 'nope.txt'))).toThrow(/nope\.txt/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
