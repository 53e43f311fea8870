// packArtifact / unpackArtifact / verifyArchive on real files, including hand-made malicious tars.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { list as tarList, type ReadEntry } from 'tar';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ManifestInput } from '../../shared/artifact.js';
import { packArtifact, unpackArtifact, verifyArchive } from './archive.js';
import { loadOrCreateSigningKey, trustedKeyOf, type SigningKey } from './signing.js';
import { verifyArtifact } from './verify.js';
import { writeArtifact } from './write.js';
import { rejectionOf } from '../../test/fixtures/errors.js';

const manifestInput: ManifestInput = {
  name: 'yolo-v8n',
  version: '1.2.0',
  target: 'rpi5',
  precision: 'fp16',
  createdAt: '2025-01-01T12:00:00.000Z',
  source: { fileName: 'yolo-v8n.onnx', sha256: 'a'.repeat(64), bytes: 12_345 },
  quantization: null,
  calibration: null,
  tools: { edgeConsole: '0.1.0' },
  build: { id: 'b-1' },
};

let keyA: SigningKey;
let keyB: SigningKey;
let keysRoot: string;
let dir: string;
let artifact: string;
let model: Buffer;

beforeAll(async () => {
  keysRoot = mkdtempSync(join(tmpdir(), 'archive-test-keys-'));
  keyA = await loadOrCreateSigningKey(join(keysRoot, 'a'));
  keyB = await loadOrCreateSigningKey(join(keysRoot, 'b'));
  return () => rmSync(keysRoot, { recursive: true, force: true });
});
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'archive-'));
  mkdirSync(join(dir, 'src'));
  // A recognisable pattern, so a test can find the model's bytes inside the tar.
  model = Buffer.concat([Buffer.from('MODEL-START'), randomBytes(300 * 1024)]);
  writeFileSync(join(dir, 'src', 'model.onnx'), model);
  writeFileSync(join(dir, 'src', 'engine.plan'), randomBytes(1234));
  artifact = (
    await writeArtifact({
      outDir: join(dir, 'artifact'),
      files: [
        { from: join(dir, 'src', 'model.onnx'), path: 'model.onnx', role: 'model' },
        { from: join(dir, 'src', 'engine.plan'), path: 'compiled/engine.plan', role: 'engine' },
      ],
      manifest: manifestInput,
      key: keyA,
    })
  ).dir;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const trustA = () => [trustedKeyOf(keyA)];

async function entriesOf(file: string): Promise<{ path: string; type: string }[]> {
  const out: { path: string; type: string }[] = [];
  await tarList({ file, onReadEntry: (e: ReadEntry) => void out.push({ path: e.path, type: e.type }) });
  return out;
}

// ---------------------------------------------------------------- hand-made tars

interface RawEntry {
  name: string;
  data?: Buffer | string;
  /** ustar typeflag: '0' file, '1' hard link, '2' symlink, '3' char device, '5' directory, '6' fifo. */
  type?: string;
  linkname?: string;
}

function header(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('14747165414\0', 136);
  h.write('        ', 148);
  h.write(e.type ?? '0', 156);
  if (e.linkname !== undefined) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function makeTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    parts.push(header(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The artifact's real entries (valid manifest + signature), then the extra ones. */
function artifactEntries(): RawEntry[] {
  return [
    { name: 'manifest.json', data: readFileSync(join(artifact, 'manifest.json')) },
    { name: 'manifest.sig', data: readFileSync(join(artifact, 'manifest.sig')) },
    { name: 'model.onnx', data: model },
    { name: 'compiled/engine.plan', data: readFileSync(join(artifact, 'compiled', 'engine.plan')) },
  ];
}

describe('packArtifact / unpackArtifact / verifyArchive', () => {
  it('round trip: one .tar, manifest.json first, file entries only; it verifies and unpacks to the same bytes', async () => {
    const tarPath = join(dir, 'yolo-v8n-1.2.0.tar');
    const packed = await packArtifact(artifact, tarPath);
    expect(packed.archivePath).toBe(tarPath);
    expect(packed.manifest.version).toBe('1.2.0');
    expect(readdirSync(dir).sort()).toEqual(['artifact', 'src', 'yolo-v8n-1.2.0.tar']);
    expect(await entriesOf(tarPath)).toEqual([
      { path: 'manifest.json', type: 'File' },
      { path: 'manifest.sig', type: 'File' },
      { path: 'compiled/engine.plan', type: 'File' },
      { path: 'model.onnx', type: 'File' },
    ]);

    // Deterministic: packing the same artifact again gives the same bytes.
    const again = await packArtifact(artifact, join(dir, 'again.tar'));
    expect(readFileSync(again.archivePath).equals(readFileSync(tarPath))).toBe(true);
    expect((await rejectionOf(packArtifact(artifact, tarPath))).code).toBe('CONFLICT');

    expect(await verifyArchive(tarPath, { trusted: trustA() })).toMatchObject({
      ok: true,
      trusted: true,
      keyId: keyA.keyId,
      problems: [],
    });
    expect(await verifyArchive(tarPath, { trusted: 'embedded' })).toMatchObject({ ok: true, trusted: false });

    const dest = join(dir, 'device', 'yolo-v8n');
    const un = await unpackArtifact(tarPath, dest, { trusted: trustA() });
    expect(un.dir).toBe(dest);
    expect(un.result).toMatchObject({ ok: true, trusted: true });
    expect(readFileSync(join(dest, 'model.onnx')).equals(model)).toBe(true);
    expect(readdirSync(join(dir, 'device'))).toEqual(['yolo-v8n']);
    expect((await verifyArtifact(dest, { trusted: trustA() })).ok).toBe(true);

    const exists = await rejectionOf(unpackArtifact(tarPath, dest, { trusted: trustA() }));
    expect(exists.code).toBe('CONFLICT');
    const replaced = await unpackArtifact(tarPath, dest, { trusted: trustA(), overwrite: true });
    expect(replaced.result.ok).toBe(true);
    expect(readdirSync(join(dir, 'device'))).toEqual(['yolo-v8n']);

    // A gzipped tar (made by hand) is read as well.
    const gz = join(dir, 'yolo.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(tarPath)));
    expect((await verifyArchive(gz, { trusted: trustA() })).ok).toBe(true);
  });

  it('a broken artifact is not packed', async () => {
    writeFileSync(join(artifact, 'stray.txt'), 'x');
    const err = await rejectionOf(packArtifact(artifact, join(dir, 'a.tar')));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toContain('stray.txt');
    expect(existsSync(join(dir, 'a.tar'))).toBe(false);
  });

  it('a tampered archive fails verification and unpacks to nothing', async () => {
    const tarPath = join(dir, 'a.tar');
    await packArtifact(artifact, tarPath);
    const bytes = readFileSync(tarPath);
    const at = bytes.indexOf('MODEL-START');
    expect(at).toBeGreaterThan(0);
    bytes[at + 5000] = (bytes[at + 5000] ?? 0) ^ 1;
    writeFileSync(tarPath, bytes);

    const r = await verifyArchive(tarPath, { trusted: trustA() });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ code: 'hash-mismatch', path: 'model.onnx' })]);
    const dest = join(dir, 'dest');
    const err = await rejectionOf(unpackArtifact(tarPath, dest, { trusted: trustA() }));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toContain('model.onnx');
    expect(readdirSync(dir).sort()).toEqual(['a.tar', 'artifact', 'src']); // no dest, no dest.partial-*
  });

  it('an archive signed by an untrusted key is refused (FORBIDDEN)', async () => {
    const tarPath = join(dir, 'a.tar');
    await packArtifact(artifact, tarPath);
    const r = await verifyArchive(tarPath, { trusted: [trustedKeyOf(keyB)] });
    expect(r.problems.map((p) => p.code)).toEqual(['untrusted-key']);
    const err = await rejectionOf(
      unpackArtifact(tarPath, join(dir, 'dest'), { trusted: [trustedKeyOf(keyB)] }),
    );
    expect(err.code).toBe('FORBIDDEN');
    expect(existsSync(join(dir, 'dest'))).toBe(false);
  });

  const malicious: [string, RawEntry[], string][] = [
    ['../evil', [{ name: '../evil', data: 'pwned' }], 'path-escape'],
    ['nested ..', [{ name: 'compiled/../../evil', data: 'pwned' }], 'path-escape'],
    ['absolute path', [{ name: '/tmp/evil', data: 'pwned' }], 'path-escape'],
    ['symlink', [{ name: 'link.onnx', type: '2', linkname: '/etc/passwd' }], 'symlink'],
    [
      'symlink then write through it',
      [
        { name: 'd', type: '2', linkname: '..' },
        { name: 'd/evil', data: 'x' },
      ],
      'symlink',
    ],
    ['hard link', [{ name: 'hard', type: '1', linkname: 'model.onnx' }], 'symlink'],
    ['character device', [{ name: 'tty', type: '3' }], 'archive-invalid'],
    ['fifo', [{ name: 'pipe', type: '6' }], 'archive-invalid'],
    ['duplicate entry', [{ name: 'model.onnx', data: 'replaced' }], 'archive-invalid'],
    ['backslash', [{ name: '..\\evil', data: 'x' }], 'path-escape'],
  ];
  for (const [what, extra, code] of malicious) {
    it(`rejects a tar with a ${what} entry (${code}) and writes nothing`, async () => {
      const tarPath = join(dir, 'evil.tar');
      writeFileSync(tarPath, makeTar([...artifactEntries(), ...extra]));
      const r = await verifyArchive(tarPath, { trusted: trustA() });
      expect(r.ok).toBe(false);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]?.code).toBe(code);

      const work = join(dir, 'work');
      mkdirSync(work);
      const err = await rejectionOf(unpackArtifact(tarPath, join(work, 'dest'), { trusted: trustA() }));
      expect(err.code).toBe('BAD_INPUT');
      expect(err.message).toMatch(/rejected/);
      expect(readdirSync(work)).toEqual([]); // neither dest nor dest.partial-*
      expect(existsSync(join(dir, 'evil'))).toBe(false);
      expect(existsSync(join(work, 'evil'))).toBe(false);
      expect(existsSync('/tmp/evil')).toBe(false);
    });
  }

  it('a tar laid out by hand (./ prefixes, directory entries) is accepted', async () => {
    const tarPath = join(dir, 'hand.tar');
    const [m, s, mo, en] = artifactEntries();
    writeFileSync(
      tarPath,
      makeTar([
        { name: './', type: '5' },
        { ...(m as RawEntry), name: './manifest.json' },
        s as RawEntry,
        { name: 'compiled/', type: '5' },
        en as RawEntry,
        mo as RawEntry,
      ]),
    );
    expect((await verifyArchive(tarPath, { trusted: trustA() })).problems).toEqual([]);
    const un = await unpackArtifact(tarPath, join(dir, 'dest'), { trusted: trustA() });
    expect(un.result.ok).toBe(true);
  });

  it('an extra or missing entry is reported against the manifest', async () => {
    const tarPath = join(dir, 'x.tar');
    const entries = artifactEntries();
    writeFileSync(tarPath, makeTar([...entries.slice(0, 3), { name: 'extra.bin', data: 'x' }]));
    const r = await verifyArchive(tarPath, { trusted: trustA() });
    expect(r.problems.map((p) => [p.code, p.path])).toEqual([
      ['missing-file', 'compiled/engine.plan'],
      ['extra-file', 'extra.bin'],
    ]);
    writeFileSync(tarPath, makeTar(entries.slice(2)));
    expect((await verifyArchive(tarPath, { trusted: trustA() })).problems.map((p) => p.code)).toEqual([
      'manifest-invalid',
      'signature',
      // Without a manifest, nothing is listed.
      'extra-file',
      'extra-file',
    ]);
  });

  it('enforces size and entry-count limits', async () => {
    const tarPath = join(dir, 'a.tar');
    await packArtifact(artifact, tarPath);
    for (const limits of [{ maxTotalBytes: 100_000 }, { maxFileBytes: 100_000 }, { maxEntries: 3 }]) {
      const r = await verifyArchive(tarPath, { trusted: trustA(), limits });
      expect(
        r.problems.map((p) => p.code),
        JSON.stringify(limits),
      ).toEqual(['archive-invalid']);
      const err = await rejectionOf(
        unpackArtifact(tarPath, join(dir, 'dest'), { trusted: trustA(), limits }),
      );
      expect(err.code).toBe('BAD_INPUT');
      expect(existsSync(join(dir, 'dest'))).toBe(false);
    }
  });

  it('cancelled packing and unpacking leave nothing behind', async () => {
    const tarPath = join(dir, 'a.tar');
    expect((await rejectionOf(packArtifact(artifact, tarPath, { signal: AbortSignal.abort() }))).code).toBe(
      'CANCELLED',
    );
    expect(readdirSync(dir).sort()).toEqual(['artifact', 'src']);
    await packArtifact(artifact, tarPath);
    const err = await rejectionOf(
      unpackArtifact(tarPath, join(dir, 'dest'), { trusted: trustA(), signal: AbortSignal.abort() }),
    );
    expect(err.code).toBe('CANCELLED');
    expect(readdirSync(dir).sort()).toEqual(['a.tar', 'artifact', 'src']);
  });

  it('not a tar, a truncated tar, a missing file', async () => {
    const junk = join(dir, 'junk.tar');
    writeFileSync(junk, randomBytes(4096));
    expect((await verifyArchive(junk, { trusted: trustA() })).problems.map((p) => p.code)).toEqual([
      'archive-invalid',
    ]);
    expect((await rejectionOf(unpackArtifact(junk, join(dir, 'dest'), { trusted: trustA() }))).code).toBe(
      'BAD_INPUT',
    );

    const tarPath = join(dir, 'a.tar');
    await packArtifact(artifact, tarPath);
    const full = readFileSync(tarPath);
    const cut = join(dir, 'cut.tar');
    writeFileSync(cut, full.subarray(0, full.indexOf('MODEL-START') + 1000));
    const r = await verifyArchive(cut, { trusted: trustA() });
    expect(r.ok).toBe(false);
    expect((await rejectionOf(unpackArtifact(cut, join(dir, 'dest'), { trusted: trustA() }))).code).toBe(
      'BAD_INPUT',
    );
    expect(existsSync(join(dir, 'dest'))).toBe(false);

    expect((await rejectionOf(verifyArchive(join(dir, 'nope.tar'), { trusted: trustA() }))).code).toBe(
      'NOT_FOUND',
    );
    expect(
      (await rejectionOf(unpackArtifact(join(dir, 'nope.tar'), join(dir, 'd'), { trusted: trustA() }))).code,
    ).toBe('NOT_FOUND');
  });
});
