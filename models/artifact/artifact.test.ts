// writeArtifact + verifyArtifact on real files in temp directories.
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManifestInput, VerifyProblem } from '../../shared/artifact.js';
import { parseManifest, serializeManifest, serializeSignature } from './manifest.js';
import { loadOrCreateSigningKey, trustedKeyOf, type SigningKey } from './signing.js';
import { verifyArtifact } from './verify.js';
import { writeArtifact, type ArtifactInputFile } from './write.js';
import { rejectionOf } from '../../test/fixtures/errors.js';

function manifestInput(over: Partial<ManifestInput> = {}): ManifestInput {
  return {
    name: 'yolo-v8n',
    version: '1.2.0',
    target: 'jetson-orin-nano',
    precision: 'int8',
    mode: 'latency',
    createdAt: '2025-01-01T12:00:00.000Z',
    source: { fileName: 'yolo-v8n.onnx', sha256: 'a'.repeat(64), bytes: 12_345 },
    quantization: { scheme: 'qdq', perChannel: true, excluded: ['/head/Concat'] },
    calibration: { samples: 64, method: 'minmax', ranges: 212 },
    tools: { edgeConsole: '0.1.0', onnxruntime: '1.30.0' },
    build: { id: 'b-1', durationMs: 4200, host: 'ci' },
    ...over,
  };
}

/** A model, its external data and a report in a subfolder. */
function sourceFiles(dir: string): ArtifactInputFile[] {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'model.onnx'), randomBytes(64 * 1024));
  writeFileSync(join(src, 'model.onnx.data'), randomBytes(200 * 1024 + 7));
  writeFileSync(join(src, 'report.json'), '{"nodes": 230}\n');
  return [
    { from: join(src, 'model.onnx'), path: 'model.onnx', role: 'model' },
    { from: join(src, 'model.onnx.data'), path: 'model.onnx.data', role: 'external-data' },
    { from: join(src, 'report.json'), path: 'reports/build.json', role: 'report' },
  ];
}

let keyA: SigningKey;
let keyB: SigningKey;
let keysRoot: string;
let dir: string;

beforeAll(async () => {
  keysRoot = mkdtempSync(join(tmpdir(), 'artifact-test-keys-'));
  keyA = await loadOrCreateSigningKey(join(keysRoot, 'a'));
  keyB = await loadOrCreateSigningKey(join(keysRoot, 'b'));
  return () => rmSync(keysRoot, { recursive: true, force: true });
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'artifact-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function writeDefault(over: { outDir?: string; files?: ArtifactInputFile[] } = {}) {
  return writeArtifact({
    outDir: over.outDir ?? join(dir, 'out', 'yolo-v8n-1.2.0'),
    files: over.files ?? sourceFiles(dir),
    manifest: manifestInput(),
    key: keyA,
  });
}

const trustA = () => [trustedKeyOf(keyA)];
const codes = (problems: VerifyProblem[]) => problems.map((p) => p.code);

/** Re-signs manifest.json's current bytes (as a console with that key would). */
function resign(
  out: string,
  key: SigningKey,
  bytes: Uint8Array = readFileSync(join(out, 'manifest.json')),
): void {
  writeFileSync(join(out, 'manifest.json'), bytes);
  writeFileSync(
    join(out, 'manifest.sig'),
    serializeSignature({ alg: 'ed25519', keyId: key.keyId, signature: key.sign(bytes).toString('base64') }),
  );
}

describe('writeArtifact + verifyArtifact', () => {
  it('round trip: the written artifact verifies against the trusted key', async () => {
    const files = sourceFiles(dir);
    const progress: number[] = [];
    const w = await writeArtifact({
      outDir: join(dir, 'out', 'a'),
      files,
      manifest: manifestInput(),
      key: keyA,
      onProgress: (p) => progress.push(p.bytesDone),
    });
    const out = w.dir;
    expect(readdirSync(out).sort()).toEqual([
      'manifest.json',
      'manifest.sig',
      'model.onnx',
      'model.onnx.data',
      'reports',
    ]);
    expect(readdirSync(join(dir, 'out'))).toEqual(['a']); // no .partial-* left
    expect(progress.at(-1)).toBe(64 * 1024 + 200 * 1024 + 7 + 15);

    const bytes = readFileSync(join(out, 'manifest.json'));
    expect(w.manifestSha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(bytes.toString('utf8').endsWith('}\n')).toBe(true);
    expect(bytes.toString('utf8')).toMatch(
      /^\{\n {2}"schema": "edge-console.artifact\/v1",\n {2}"name": "yolo-v8n",/,
    );
    // Canonical: serialising the parsed manifest gives the same bytes, whatever the key order of the input.
    const parsed = parseManifest(bytes);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(serializeManifest(parsed.value).equals(bytes)).toBe(true);
    const shuffled = Object.fromEntries(Object.entries(parsed.value).reverse()) as typeof parsed.value;
    expect(serializeManifest(shuffled).equals(bytes)).toBe(true);

    const m = w.manifest;
    expect(m).toEqual(parsed.value);
    expect(m).toMatchObject({ name: 'yolo-v8n', version: '1.2.0', precision: 'int8', signer: trustA()[0] });
    expect(m.files.map((f) => [f.path, f.role, f.bytes])).toEqual([
      ['model.onnx', 'model', 64 * 1024],
      ['model.onnx.data', 'external-data', 200 * 1024 + 7],
      ['reports/build.json', 'report', 15],
    ]);
    const modelSha = createHash('sha256')
      .update(readFileSync(files[0]?.from ?? ''))
      .digest('hex');
    expect(m.files[0]?.sha256).toBe(modelSha);

    const r = await verifyArtifact(out, { trusted: trustA() });
    expect(r).toMatchObject({ ok: true, trusted: true, keyId: keyA.keyId, problems: [] });
    expect(r.manifest).toEqual(m);
    // 'embedded': intact and self-consistent, but nobody vouched for the key.
    expect(await verifyArtifact(out, { trusted: 'embedded' })).toMatchObject({
      ok: true,
      trusted: false,
      problems: [],
    });
    // Nobody trusted at all.
    const none = await verifyArtifact(out, { trusted: [] });
    expect(none.ok).toBe(false);
    expect(codes(none.problems)).toEqual(['untrusted-key']);
  });

  it('a changed model byte is a hash-mismatch; a truncated file a size-mismatch; a deleted one missing-file', async () => {
    const { dir: out } = await writeDefault();
    const model = join(out, 'model.onnx');
    const b = readFileSync(model);
    b[1000] = (b[1000] ?? 0) ^ 0xff;
    writeFileSync(model, b);
    let r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'hash-mismatch', path: 'model.onnx' })]);

    writeFileSync(join(out, 'model.onnx.data'), 'short');
    rmSync(join(out, 'reports', 'build.json'));
    r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.problems.map((p) => [p.code, p.path])).toEqual([
      ['hash-mismatch', 'model.onnx'],
      ['size-mismatch', 'model.onnx.data'],
      ['missing-file', 'reports/build.json'],
    ]);
    // The signature itself is still fine.
    expect(r.keyId).toBe(keyA.keyId);
  });

  it('an edited manifest (version bumped by hand) is a signature problem', async () => {
    const { dir: out } = await writeDefault();
    const path = join(out, 'manifest.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"version": "1.2.0"', '"version": "1.3.0"'));
    for (const trusted of [trustA(), 'embedded'] as const) {
      const r = await verifyArtifact(out, { trusted });
      expect(r.ok).toBe(false);
      expect(r.trusted).toBe(false);
      expect(codes(r.problems)).toEqual(['signature']);
      expect(r.manifest?.version).toBe('1.3.0'); // parsed, but not to be believed
    }
  });

  it("another key's signature is untrusted-key (and a signature problem when both keys are trusted)", async () => {
    const { dir: out } = await writeDefault();
    resign(out, keyB);
    let r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.ok).toBe(false);
    expect(r.keyId).toBe(keyB.keyId);
    expect(r.problems.map((p) => p.code).sort()).toEqual(['signature', 'untrusted-key']);
    expect(r.problems.find((p) => p.code === 'untrusted-key')?.message).toContain(keyB.keyId);
    // Trusting B too: B's signature is valid, but the manifest names A as signer.
    r = await verifyArtifact(out, { trusted: [trustedKeyOf(keyA), trustedKeyOf(keyB)] });
    expect(codes(r.problems)).toEqual(['signature']);
    // 'embedded' checks against the manifest's own signer: A, while manifest.sig says B.
    r = await verifyArtifact(out, { trusted: 'embedded' });
    expect(codes(r.problems)).toEqual(['signature']);
    // A trust store entry whose keyId does not belong to its key is ignored.
    resign(out, keyA);
    r = await verifyArtifact(out, {
      trusted: [{ keyId: keyA.keyId, publicKey: trustedKeyOf(keyB).publicKey }],
    });
    expect(codes(r.problems)).toEqual(['untrusted-key']);
  });

  it('files that are not listed are extra-file; a missing manifest.sig is a signature problem', async () => {
    const { dir: out } = await writeDefault();
    writeFileSync(join(out, 'notes.txt'), 'hi');
    mkdirSync(join(out, 'reports', 'deep'));
    writeFileSync(join(out, 'reports', 'deep', 'x.bin'), 'x');
    mkdirSync(join(out, 'empty')); // an empty directory holds nothing: not reported
    let r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.problems.map((p) => [p.code, p.path])).toEqual([
      ['extra-file', 'notes.txt'],
      ['extra-file', 'reports/deep/x.bin'],
    ]);
    rmSync(join(out, 'manifest.sig'));
    r = await verifyArtifact(out, { trusted: trustA() });
    expect(codes(r.problems)).toEqual(['signature', 'extra-file', 'extra-file']);
    expect(r.keyId).toBeNull();
  });

  it('a listed file replaced by a symlink (even to identical bytes) is a symlink problem', async () => {
    const { dir: out } = await writeDefault();
    const copy = join(dir, 'outside-model.onnx');
    writeFileSync(copy, readFileSync(join(out, 'model.onnx')));
    rmSync(join(out, 'model.onnx'));
    symlinkSync(copy, join(out, 'model.onnx'));
    const r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.problems.map((p) => [p.code, p.path])).toEqual([['symlink', 'model.onnx']]);
    // An unlisted link is reported too, even one pointing inside the artifact.
    rmSync(join(out, 'model.onnx'));
    writeFileSync(join(out, 'model.onnx'), readFileSync(copy));
    symlinkSync('model.onnx', join(out, 'alias.onnx'));
    expect((await verifyArtifact(out, { trusted: trustA() })).problems.map((p) => [p.code, p.path])).toEqual([
      ['symlink', 'alias.onnx'],
    ]);
  });

  it('a linked directory leading outside the artifact is a path-escape', async () => {
    const { dir: out } = await writeDefault();
    const elsewhere = join(dir, 'elsewhere');
    renameSync(join(out, 'reports'), elsewhere);
    symlinkSync(elsewhere, join(out, 'reports'));
    const r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.problems.map((p) => [p.code, p.path])).toEqual([
      ['path-escape', 'reports/build.json'],
      ['symlink', 'reports'],
    ]);
  });

  it('a (validly signed) manifest listing ../x is a path-escape, and the file outside is never read', async () => {
    const { dir: out, manifest } = await writeDefault();
    writeFileSync(join(dirname(out), 'x'), 'outside');
    const bad = {
      ...manifest,
      files: [...manifest.files, { path: '../x', sha256: 'b'.repeat(64), bytes: 7, role: 'other' as const }],
    };
    resign(out, keyA, serializeManifest(bad));
    const r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.trusted).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'path-escape', path: '../x' })]);
    for (const p of ['/etc/passwd', 'a\\b', 'a//b', './model.onnx']) {
      resign(
        out,
        keyA,
        serializeManifest({
          ...manifest,
          files: [{ path: p, sha256: 'b'.repeat(64), bytes: 1, role: 'other' }],
        }),
      );
      const rr = await verifyArtifact(out, { trusted: trustA() });
      expect(rr.problems[0], p).toMatchObject({ code: 'path-escape', path: p });
    }
  });

  it('a manifest that is not valid is manifest-invalid (and a missing directory is NOT_FOUND)', async () => {
    const { dir: out } = await writeDefault();
    writeFileSync(join(out, 'manifest.json'), '{"schema": "edge-console.artifact/v1", "name": 1}');
    let r = await verifyArtifact(out, { trusted: trustA() });
    expect(codes(r.problems)).toContain('manifest-invalid');
    expect(codes(r.problems)).toContain('signature'); // checked against the trusted key anyway
    expect(r.manifest).toBeUndefined();
    writeFileSync(join(out, 'manifest.json'), 'not json');
    r = await verifyArtifact(out, { trusted: 'embedded' });
    expect(codes(r.problems)).toContain('manifest-invalid');
    rmSync(join(out, 'manifest.json'));
    r = await verifyArtifact(out, { trusted: trustA() });
    expect(r.problems[0]).toMatchObject({ code: 'manifest-invalid', message: 'manifest.json is missing' });

    const err = await rejectionOf(verifyArtifact(join(dir, 'nope'), { trusted: trustA() }));
    expect(err.code).toBe('NOT_FOUND');
  });

  it('validates its inputs: manifest fields (BAD_INPUT), paths (BAD_INPUT), sources (NOT_FOUND)', async () => {
    const files = sourceFiles(dir);
    const outDir = join(dir, 'out', 'x');
    const input = (over: Partial<ManifestInput>) => ({
      outDir,
      files,
      manifest: manifestInput(over),
      key: keyA,
    });
    for (const version of ['1.0', 'v1.2.0', '01.2.3', 'latest']) {
      const err = await rejectionOf(writeArtifact(input({ version })));
      expect(err.code, version).toBe('BAD_INPUT');
      expect(err.message).toMatch(/version/);
    }
    expect((await rejectionOf(writeArtifact(input({ name: '../up' })))).code).toBe('BAD_INPUT');
    expect((await rejectionOf(writeArtifact(input({ precision: 'int4' as 'int8' })))).code).toBe('BAD_INPUT');
    await writeArtifact(input({ version: '2.0.0-rc.1+build.5' })).then((w) =>
      rmSync(w.dir, { recursive: true }),
    );

    const from = files[0]?.from ?? '';
    const badPaths: string[][] = [
      ['../x'],
      ['/abs/model.onnx'],
      ['sub\\model.onnx'],
      ['a//b'],
      ['a/./b'],
      ['manifest.json'],
      ['Manifest.SIG'],
      ['m.onnx', 'm.onnx'],
      ['Model.onnx', 'model.onnx'],
      ['a', 'a/b'],
    ];
    for (const paths of badPaths) {
      const err = await rejectionOf(
        writeArtifact({
          outDir,
          files: paths.map((path) => ({ from, path, role: 'model' })),
          manifest: manifestInput(),
          key: keyA,
        }),
      );
      expect(err.code, paths.join(',')).toBe('BAD_INPUT');
    }
    expect(
      (await rejectionOf(writeArtifact({ outDir, files: [], manifest: manifestInput(), key: keyA }))).code,
    ).toBe('BAD_INPUT');
    const missing = await rejectionOf(
      writeArtifact({
        outDir,
        files: [{ from: join(dir, 'nope.onnx'), path: 'model.onnx', role: 'model' }],
        manifest: manifestInput(),
        key: keyA,
      }),
    );
    expect(missing.code).toBe('NOT_FOUND');
    expect(existsSync(outDir)).toBe(false);
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });

  it('an existing outDir is a CONFLICT unless overwrite; overwrite never replaces a non-artifact directory', async () => {
    const files = sourceFiles(dir);
    const outDir = join(dir, 'out', 'a');
    const first = await writeArtifact({ outDir, files, manifest: manifestInput(), key: keyA });
    const err = await rejectionOf(writeArtifact({ outDir, files, manifest: manifestInput(), key: keyA }));
    expect(err.code).toBe('CONFLICT');
    expect(err.hint).toBeDefined();

    const second = await writeArtifact({
      outDir,
      files: files.slice(0, 1),
      manifest: manifestInput({ build: { id: 'b-2' } }),
      key: keyA,
      overwrite: true,
    });
    expect(second.manifestSha256).not.toBe(first.manifestSha256);
    expect(readdirSync(outDir).sort()).toEqual(['manifest.json', 'manifest.sig', 'model.onnx']);
    expect(readdirSync(join(dir, 'out'))).toEqual(['a']); // neither .partial-* nor .old-* left
    expect((await verifyArtifact(outDir, { trusted: trustA() })).ok).toBe(true);

    const precious = join(dir, 'out', 'precious');
    mkdirSync(precious);
    writeFileSync(join(precious, 'thesis.txt'), 'do not delete');
    const refused = await rejectionOf(
      writeArtifact({ outDir: precious, files, manifest: manifestInput(), key: keyA, overwrite: true }),
    );
    expect(refused.code).toBe('CONFLICT');
    expect(readFileSync(join(precious, 'thesis.txt'), 'utf8')).toBe('do not delete');
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['a', 'precious']);
  });

  it('aborting mid-write (50 MB model) leaves neither the artifact nor a .partial-* directory', async () => {
    const big = join(dir, 'big.onnx');
    writeFileSync(big, Buffer.alloc(50 * 1024 * 1024, 7));
    const outDir = join(dir, 'out', 'big');
    const ac = new AbortController();
    let seen = 0;
    const err = await rejectionOf(
      writeArtifact({
        outDir,
        files: [{ from: big, path: 'model.onnx', role: 'model' }],
        manifest: manifestInput(),
        key: keyA,
        signal: ac.signal,
        onProgress: (p) => {
          seen = p.bytesDone;
          if (p.bytesDone >= 8 * 1024 * 1024) ac.abort();
        },
      }),
    );
    expect(err.code).toBe('CANCELLED');
    expect(seen).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    expect(seen).toBeLessThan(50 * 1024 * 1024);
    expect(existsSync(outDir)).toBe(false);
    expect(readdirSync(join(dir, 'out'))).toEqual([]);

    // Already aborted: nothing is even started.
    const pre = await rejectionOf(
      writeArtifact({
        outDir,
        files: [{ from: big, path: 'model.onnx', role: 'model' }],
        manifest: manifestInput(),
        key: keyA,
        signal: AbortSignal.abort(),
      }),
    );
    expect(pre.code).toBe('CANCELLED');
    expect(readdirSync(join(dir, 'out'))).toEqual([]);
  });
});
