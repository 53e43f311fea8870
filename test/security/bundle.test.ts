import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dist = join(import.meta.dirname, '..', '..', 'dist');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('built bundles', () => {
  it('the renderer bundle contains no native module and no Node built-in', () => {
    const js = filesUnder(join(dist, 'renderer')).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    for (const f of js) {
      const text = readFileSync(f, 'utf8');
      // Module references, not mere mentions (the target profiles name onnxruntime-node in their prose).
      for (const mod of [
        'better-sqlite3',
        'onnxruntime-node',
        'serialport',
        '@serialport/[a-z-]+',
        '@napi-rs/canvas',
      ]) {
        const ref = new RegExp(`(require\\(|from\\s*|import\\(\\s*)["'\`]${mod}["'\`/]`);
        expect(ref.test(text), `${mod} imported in ${f}`).toBe(false);
      }
      for (const banned of [
        'better_sqlite3.node',
        'onnxruntime_binding',
        'skia.linux',
        'require("fs")',
        'require("child_process")',
        '"node:fs"',
        '"node:child_process"',
      ]) {
        expect(text.includes(banned), `${banned} in ${f}`).toBe(false);
      }
      expect(/\beval\(|new Function\(/.test(text), `eval in ${f}`).toBe(false);
    }
  });

  it('the renderer page carries a CSP without unsafe-eval', () => {
    const html = readFileSync(join(dist, 'renderer', 'index.html'), 'utf8');
    const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html)?.[1] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("object-src 'none'");
  });

  it('the preload bundle reaches nothing but electron', () => {
    const text = readFileSync(join(dist, 'preload.cjs'), 'utf8');
    const requires = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    expect(new Set(requires)).toEqual(new Set(['electron']));
  });
});
