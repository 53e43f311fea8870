import { describe, expect, it } from 'vitest';
import { loadRecDictionary, unknownCharacters } from './ctc.js';
import {
  generatedCharacters,
  ocrFonts,
  renderTextLines,
  renderTextPage,
  renderTextPages,
} from './ocr-render.js';

const HAN = /\p{Script=Han}/u;
const LATIN = /[A-Za-z]/;

describe('generated OCR samples', () => {
  it('use only characters the rec dictionary has', () => {
    const dict = loadRecDictionary();
    expect(unknownCharacters(generatedCharacters().join(''), dict)).toEqual([]);
    for (const line of renderTextLines({ count: 60, seed: 3 })) {
      expect(unknownCharacters(line.text.replaceAll(' ', ''), dict)).toEqual([]);
    }
  });

  it('lines: deterministic per seed and index, 48 px tall, within the rec input aspect, several scripts and fonts', () => {
    const a = [...renderTextLines({ count: 40, seed: 11 })];
    const b = [...renderTextLines({ count: 5, seed: 11, start: 35 })];
    expect(b.map((l) => l.text)).toEqual(a.slice(35).map((l) => l.text));
    expect(Buffer.from(b[0]!.image.data).equals(Buffer.from(a[35]!.image.data))).toBe(true);
    const other = [...renderTextLines({ count: 40, seed: 12 })];
    expect(other.map((l) => l.text)).not.toEqual(a.map((l) => l.text));

    for (const line of a) {
      expect(line.image.height).toBe(48);
      expect(line.image.data.length).toBe(line.image.width * 48 * 4);
      expect(line.image.width / line.image.height).toBeLessThanOrEqual(320 / 48 + 0.05);
      expect([...line.text].length).toBeGreaterThanOrEqual(4);
      expect(line.text).toBe(line.text.trim());
    }
    expect(new Set(a.map((l) => l.script))).toEqual(new Set(['latin', 'numeric', 'chinese', 'mixed']));
    expect(new Set(a.map((l) => l.font)).size).toBeGreaterThanOrEqual(5);
    expect(a.some((l) => HAN.test(l.text) && LATIN.test(l.text))).toBe(true);
    expect(a.some((l) => /[A-Z]/.test(l.text)) && a.some((l) => /[a-z]/.test(l.text))).toBe(true);
    expect([...renderTextLines({ count: 1, seed: 1, height: 32 })][0]!.image.height).toBe(32);
  });

  it('lines have dark ink on a light background', () => {
    for (const line of renderTextLines({ count: 10, seed: 5 })) {
      const d = line.image.data;
      let dark = 0;
      let light = 0;
      for (let p = 0; p < d.length; p += 4) {
        if (d[p]! < 110) dark++;
        else if (d[p]! > 170) light++;
      }
      const n = d.length / 4;
      expect(dark / n).toBeGreaterThan(0.03);
      expect(light / n).toBeGreaterThan(0.5);
    }
  });

  it('pages: several non-overlapping boxes inside the page, ink inside each box, nothing outside', () => {
    const [page] = [...renderTextPages({ count: 1, seed: 2 })];
    expect(renderTextPage(2, 0).boxes).toEqual(page!.boxes);
    const { image, boxes } = page!;
    expect(image.width).toBe(640);
    expect(image.height).toBe(640);
    expect(boxes.length).toBeGreaterThanOrEqual(5);
    const inBox = new Uint8Array(640 * 640);
    let overlaps = 0;
    for (const b of boxes) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.y).toBeGreaterThanOrEqual(0);
      expect(b.x + b.w).toBeLessThanOrEqual(640);
      expect(b.y + b.h).toBeLessThanOrEqual(640);
      expect(b.text.length).toBeGreaterThan(0);
      let ink = 0;
      for (let y = b.y; y < b.y + b.h; y++)
        for (let x = b.x; x < b.x + b.w; x++) {
          overlaps += inBox[y * 640 + x]!;
          inBox[y * 640 + x] = 1;
          if (image.data[(y * 640 + x) * 4]! < 120) ink++;
        }
      expect(ink / (b.w * b.h)).toBeGreaterThan(0.05);
    }
    expect(overlaps).toBe(0);
    // Ink outside every box (one pixel of slack for antialiasing) would mean a box is too small.
    let stray = 0;
    for (let y = 1; y < 639; y++)
      for (let x = 1; x < 639; x++) {
        if (image.data[(y * 640 + x) * 4]! >= 120) continue;
        let near = false;
        for (let dy = -1; dy <= 1 && !near; dy++)
          for (let dx = -1; dx <= 1 && !near; dx++) near = inBox[(y + dy) * 640 + x + dx] === 1;
        if (!near) stray++;
      }
    expect(stray).toBe(0);
  });

  it('registers its fonts from the installed packages', () => {
    const fonts = ocrFonts();
    expect(Object.keys(fonts)).toEqual(
      expect.arrayContaining(['EC DejaVu Sans', 'EC DejaVu Serif', 'EC DejaVu Sans Mono', 'EC Noto Sans SC']),
    );
    for (const file of Object.values(fonts)) expect(file).toMatch(/node_modules.*\.ttf$/);
  });
});
