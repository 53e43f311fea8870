// One-file form of an artifact, for copying to a device: a plain (uncompressed) POSIX tar.
//
// Why .tar and not .tar.gz: the bulk of an artifact is float weights / compiled engines, which gzip shrinks
// by a few percent at best, while inflating costs CPU on small edge boards and deflating a GB-sized model
// costs the console tens of seconds. The integrity check is the signed manifest's sha256s, not gzip's CRC.
// (unpack/verify accept a gzipped tar too: node-tar detects it by its magic bytes.)
//
// Layout: manifest.json first, then manifest.sig, then the listed files sorted by path; file entries only
// (no directory, link or device entries), portable headers (no uid/gid/user names), mtime = the manifest's
// createdAt, so packing the same artifact twice gives the same bytes. A reader can check the signature
// before the first model byte arrives.
//
// Unpacking never trusts the archive: each header is checked before anything is written (relative POSIX
// path without '..', regular file or directory only - links, devices and FIFOs are rejected - no duplicate
// names, size limits), files are created exclusively in a fresh temporary directory next to the
// destination, the result is verified (signature against the caller's trusted keys, every hash, no extra
// files) and only then renamed into place.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { create as tarCreate, Parser, type ReadEntry } from 'tar';
import {
  MANIFEST_FILE,
  SIGNATURE_FILE,
  artifactPathProblem,
  type Manifest,
  type SignatureFile,
  type TrustStore,
  type VerifyProblem,
  type VerifyResult,
} from '../../shared/artifact.js';
import { AppError } from '../../shared/errors.js';
import { checkManifestPaths, parseManifest, parseSignatureFile, type Parsed } from './manifest.js';
import { syncDir } from './signing.js';
import { checkSignature, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, verifyArtifact } from './verify.js';
import { makeTempSibling, publishDirectory } from './write.js';

export interface ArchiveLimits {
  /** Entries of any kind (directories included). */
  maxEntries: number;
  /** Largest single file. */
  maxFileBytes: number;
  /** Sum of all file sizes (also bounds what a gzipped archive may inflate to). */
  maxTotalBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 10_000,
  maxFileBytes: 64 * 1024 ** 3,
  maxTotalBytes: 64 * 1024 ** 3,
};

export interface PackOptions {
  /** Checked before packing (default 'embedded': integrity only). */
  trusted?: TrustStore | 'embedded';
  /** Replace an existing archive file (default: CONFLICT). */
  overwrite?: boolean;
  signal?: AbortSignal;
}

export interface PackedArtifact {
  archivePath: string;
  /** Size of the archive file. */
  bytes: number;
  manifest: Manifest;
}

export interface UnpackOptions {
  trusted: TrustStore | 'embedded';
  /** Replace an existing artifact at destDir (default: CONFLICT). */
  overwrite?: boolean;
  signal?: AbortSignal;
  limits?: Partial<ArchiveLimits>;
}

export interface VerifyArchiveOptions {
  trusted: TrustStore | 'embedded';
  signal?: AbortSignal;
  limits?: Partial<ArchiveLimits>;
}

/** An archive entry that may not be unpacked (the problem says why). */
class ArchiveRejected extends Error {
  constructor(readonly problem: VerifyProblem) {
    super(problem.message);
    this.name = 'ArchiveRejected';
  }
}

function cancelled(what: string): AppError {
  return new AppError('CANCELLED', `${what} cancelled`);
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? '';
}

async function assertArchiveExists(archivePath: string): Promise<void> {
  try {
    const st = await stat(archivePath);
    if (st.isFile()) return;
  } catch (err) {
    if (errCode(err) !== 'ENOENT' && errCode(err) !== 'ENOTDIR') {
      throw new AppError('ENVIRONMENT', `cannot read ${archivePath}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  throw new AppError('NOT_FOUND', `artifact archive ${archivePath} does not exist or is not a file`, {
    hint: 'check the path of the .tar',
  });
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

function summarize(problems: VerifyProblem[]): string {
  const shown = problems.slice(0, 5).map((p) => p.message);
  return shown.join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
}

// ---------------------------------------------------------------- pack

/**
 * Packs the artifact in dir into a single .tar at archivePath (written to a temporary file, then renamed).
 * The artifact is verified first; a broken one is refused (BAD_INPUT). CONFLICT if archivePath exists.
 */
export async function packArtifact(
  dir: string,
  archivePath: string,
  opts: PackOptions = {},
): Promise<PackedArtifact> {
  const { signal } = opts;
  const out = resolve(archivePath);
  const check = await verifyArtifact(dir, {
    trusted: opts.trusted ?? 'embedded',
    ...(signal === undefined ? {} : { signal }),
  });
  if (!check.ok || check.manifest === undefined) {
    throw new AppError('BAD_INPUT', `artifact ${dir} does not verify: ${summarize(check.problems)}`, {
      hint: 'rebuild the artifact; a modified artifact cannot be packed',
    });
  }
  const manifest = check.manifest;
  if (!opts.overwrite && (await pathExists(out))) {
    throw new AppError('CONFLICT', `${out} already exists`, {
      hint: 'choose another archive name, or pack again with overwrite',
    });
  }
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.partial-${randomBytes(6).toString('hex')}`;
  const entries = [MANIFEST_FILE, SIGNATURE_FILE, ...manifest.files.map((f) => f.path).sort()];
  try {
    const pack = tarCreate(
      { cwd: dir, portable: true, noDirRecurse: true, mtime: new Date(manifest.createdAt), strict: true },
      entries,
    );
    await pipeline(
      pack,
      createWriteStream(tmp, { flags: 'wx', mode: 0o644 }),
      signal === undefined ? {} : { signal },
    );
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (signal?.aborted) throw cancelled('packing');
    if (!opts.overwrite && (await pathExists(out))) {
      throw new AppError('CONFLICT', `${out} already exists`, { hint: 'choose another archive name' });
    }
    await rename(tmp, out);
    await syncDir(dirname(out));
  } catch (err) {
    await rm(tmp, { force: true });
    if (signal?.aborted || (err instanceof Error && err.name === 'AbortError')) throw cancelled('packing');
    if (err instanceof AppError) throw err;
    throw new AppError('ENVIRONMENT', `cannot write ${out}: ${(err as Error).message}`, {
      hint: 'check free disk space and that the directory is writable',
      cause: err,
    });
  }
  return { archivePath: out, bytes: (await stat(out)).size, manifest };
}

// ---------------------------------------------------------------- reading archives

interface EntryInfo {
  /** Normalised relative path (no leading ./, no trailing /). */
  path: string;
  kind: 'file' | 'dir';
  size: number;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Streams the archive through node-tar's parser (strict: a corrupt header, bad checksum or truncated body
 * is an error), checking every header before its body is handed to onFile. onFile must consume the entry.
 * Rejects with ArchiveRejected for an entry that is not allowed, AppError CANCELLED, or the parser's error.
 */
function scanArchive(
  archivePath: string,
  limits: ArchiveLimits,
  signal: AbortSignal | undefined,
  onFile: (info: EntryInfo, entry: ReadEntry) => Promise<void>,
  onDir: (info: EntryInfo) => Promise<void>,
): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    const src = createReadStream(archivePath);
    const parser = new Parser({ strict: true });
    const pending: Promise<void>[] = [];
    const seen = new Map<string, string>();
    let entries = 0;
    let total = 0;
    let done = false;
    const onAbort = (): void => fail(cancelled('reading the archive'));
    const finish = (): void => {
      done = true;
      signal?.removeEventListener('abort', onAbort);
    };
    function fail(err: unknown): void {
      if (done) return;
      finish();
      src.destroy();
      try {
        parser.abort(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // abort() reports through 'error', which lands here again (ignored: done).
      }
      reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (signal?.aborted) {
      fail(cancelled('reading the archive'));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    const reject1 = (code: VerifyProblem['code'], message: string, path?: string): never => {
      throw new ArchiveRejected(path === undefined ? { code, message } : { code, path, message });
    };

    const classify = (entry: ReadEntry): EntryInfo | null => {
      let p = entry.path;
      while (p.startsWith('./')) p = p.slice(2);
      const isDir = entry.type === 'Directory';
      if (isDir) p = p.replace(/\/+$/, '');
      if (isDir && (p === '' || p === '.')) return null; // the archive's own root
      const shown = JSON.stringify(entry.path);
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
        reject1(
          'symlink',
          `archive entry ${shown} is a ${entry.type === 'Link' ? 'hard' : 'symbolic'} link (to ${JSON.stringify(entry.linkpath ?? '')}): links are not allowed`,
          p,
        );
      }
      if (!isDir && !FILE_TYPES.has(entry.type)) {
        reject1(
          'archive-invalid',
          `archive entry ${shown} is a ${entry.type}: only files and directories are allowed`,
          p,
        );
      }
      const bad = artifactPathProblem(p);
      if (bad !== null) reject1('path-escape', `archive entry ${shown}: ${bad}`, p);
      const key = p.toLowerCase();
      const prev = seen.get(key);
      if (prev !== undefined) {
        reject1(
          'archive-invalid',
          `archive entry ${shown} appears twice${prev === p ? '' : ` (as ${prev})`}`,
          p,
        );
      }
      seen.set(key, p);
      if (++entries > limits.maxEntries) {
        reject1('archive-invalid', `archive has more than ${limits.maxEntries} entries`);
      }
      const size = isDir ? 0 : entry.size;
      if (size > limits.maxFileBytes) {
        reject1(
          'archive-invalid',
          `archive entry ${shown} is ${size} bytes (limit ${limits.maxFileBytes})`,
          p,
        );
      }
      if (p === MANIFEST_FILE && size > MAX_MANIFEST_BYTES) {
        reject1('archive-invalid', `manifest.json is ${size} bytes (limit ${MAX_MANIFEST_BYTES})`, p);
      }
      if (p === SIGNATURE_FILE && size > MAX_SIGNATURE_BYTES) {
        reject1('archive-invalid', `manifest.sig is ${size} bytes (limit ${MAX_SIGNATURE_BYTES})`, p);
      }
      total += size;
      if (total > limits.maxTotalBytes) {
        reject1('archive-invalid', `archive holds more than ${limits.maxTotalBytes} bytes`);
      }
      return { path: p, kind: isDir ? 'dir' : 'file', size };
    };

    parser.on('entry', (entry: ReadEntry) => {
      if (done) {
        entry.resume();
        return;
      }
      let info: EntryInfo | null;
      try {
        info = classify(entry);
      } catch (err) {
        entry.resume();
        fail(err);
        return;
      }
      if (info === null) {
        entry.resume();
        return;
      }
      const work = info.kind === 'dir' ? (entry.resume(), onDir(info)) : onFile(info, entry);
      pending.push(
        work.catch((err: unknown) => {
          entry.resume();
          fail(err);
        }),
      );
    });
    parser.on('ignoredEntry', (entry: ReadEntry) =>
      fail(
        new ArchiveRejected({
          code: 'archive-invalid',
          message: `archive has an oversized ${entry.type} header (${entry.size} bytes)`,
        }),
      ),
    );
    parser.on('error', (err: Error) =>
      fail(
        new ArchiveRejected({
          code: 'archive-invalid',
          message: `not a valid tar archive: ${err.message}`,
        }),
      ),
    );
    parser.on('end', () => {
      void Promise.all(pending).then(() => {
        if (done) return;
        finish();
        resolvePromise();
      });
    });
    src.on('error', (err) => fail(err));
    src.pipe(parser);
  });
}

function readAll(entry: ReadEntry): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => res(Buffer.concat(chunks)));
    entry.on('error', rej);
  });
}

function hashEntry(entry: ReadEntry): Promise<{ sha256: string; bytes: number }> {
  return new Promise((res, rej) => {
    const hash = createHash('sha256');
    let bytes = 0;
    entry.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    entry.on('end', () => res({ sha256: hash.digest('hex'), bytes }));
    entry.on('error', rej);
  });
}

function limitsOf(l: Partial<ArchiveLimits> | undefined): ArchiveLimits {
  return { ...DEFAULT_ARCHIVE_LIMITS, ...l };
}

// ---------------------------------------------------------------- verify (streaming, nothing written)

/**
 * Verifies an artifact archive in one streaming pass without writing anything: every header is checked as
 * in unpackArtifact, each file is hashed as it streams by, then the manifest's signature, hashes and sizes
 * are compared and unlisted entries reported. Never throws for a bad archive (problems say what is wrong;
 * an entry that may not be unpacked stops the scan with a single problem); throws NOT_FOUND when the file
 * does not exist, CANCELLED when signal aborts.
 */
export async function verifyArchive(archivePath: string, opts: VerifyArchiveOptions): Promise<VerifyResult> {
  await assertArchiveExists(archivePath);
  let manifestBytes: Buffer | null = null;
  let sigBytes: Buffer | null = null;
  const files = new Map<string, { sha256: string; bytes: number }>();
  try {
    await scanArchive(
      archivePath,
      limitsOf(opts.limits),
      opts.signal,
      async (info, entry) => {
        if (info.path === MANIFEST_FILE) manifestBytes = await readAll(entry);
        else if (info.path === SIGNATURE_FILE) sigBytes = await readAll(entry);
        else files.set(info.path, await hashEntry(entry));
      },
      async () => undefined,
    );
  } catch (err) {
    if (err instanceof ArchiveRejected) {
      return { ok: false, trusted: false, keyId: null, problems: [err.problem] };
    }
    if (err instanceof AppError) throw err;
    throw new AppError('ENVIRONMENT', `cannot read ${archivePath}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return judgeArchive(manifestBytes, sigBytes, files, opts.trusted);
}

function judgeArchive(
  manifestBytes: Buffer | null,
  sigBytes: Buffer | null,
  files: Map<string, { sha256: string; bytes: number }>,
  trusted: TrustStore | 'embedded',
): VerifyResult {
  const problems: VerifyProblem[] = [];
  let manifest: Manifest | null = null;
  if (manifestBytes === null) {
    problems.push({
      code: 'manifest-invalid',
      path: MANIFEST_FILE,
      message: 'the archive has no manifest.json',
    });
  } else {
    const parsed = parseManifest(manifestBytes);
    if (parsed.ok) manifest = parsed.value;
    else problems.push({ code: 'manifest-invalid', path: MANIFEST_FILE, message: parsed.message });
  }
  const sig: Parsed<SignatureFile> | null = sigBytes === null ? null : parseSignatureFile(sigBytes);
  const sigCheck = checkSignature(manifestBytes, sig, manifest, trusted);
  problems.push(...sigCheck.problems);
  const listed = new Set<string>();
  if (manifest !== null) {
    const paths = checkManifestPaths(manifest);
    problems.push(...paths.problems);
    for (const f of manifest.files) {
      listed.add(f.path);
      if (!paths.safe.has(f.path)) continue;
      const got = files.get(f.path);
      if (got === undefined) {
        problems.push({ code: 'missing-file', path: f.path, message: `${f.path} is not in the archive` });
      } else if (got.bytes !== f.bytes) {
        problems.push({
          code: 'size-mismatch',
          path: f.path,
          message: `${f.path} is ${got.bytes} bytes, the manifest says ${f.bytes}`,
        });
      } else if (got.sha256 !== f.sha256) {
        problems.push({
          code: 'hash-mismatch',
          path: f.path,
          message: `${f.path} has sha256 ${got.sha256.slice(0, 16)}…, the manifest says ${f.sha256.slice(0, 16)}…`,
        });
      }
    }
  }
  for (const p of [...files.keys()].sort()) {
    if (!listed.has(p))
      problems.push({ code: 'extra-file', path: p, message: `${p} is not listed in the manifest` });
  }
  return {
    ok: problems.length === 0,
    trusted: sigCheck.trusted && problems.length === 0,
    keyId: sigCheck.keyId,
    ...(manifest === null ? {} : { manifest }),
    problems,
  };
}

// ---------------------------------------------------------------- unpack

/**
 * Unpacks an artifact archive into destDir and verifies it there; destDir appears (atomically) only when the
 * artifact verifies. Throws NOT_FOUND (no archive), CONFLICT (destDir exists, no overwrite), BAD_INPUT (an
 * entry that may not be unpacked - absolute or '..' path, link, device, duplicate, over a size limit - or a
 * corrupt archive, or an artifact that fails verification), FORBIDDEN (signed by an untrusted key or the
 * signature does not match), CANCELLED. Nothing is left behind on failure.
 */
export async function unpackArtifact(
  archivePath: string,
  destDir: string,
  opts: UnpackOptions,
): Promise<{ dir: string; result: VerifyResult }> {
  const { signal } = opts;
  await assertArchiveExists(archivePath);
  const dest = resolve(destDir);
  if (!opts.overwrite && (await pathExists(dest))) {
    throw new AppError('CONFLICT', `${dest} already exists`, {
      hint: 'unpack into a new directory, or pass overwrite to replace the artifact there',
    });
  }
  let tmp: string | null = null;
  try {
    tmp = await makeTempSibling(dest, 'partial');
    const root = tmp;
    await scanArchive(
      archivePath,
      limitsOf(opts.limits),
      signal,
      async (info, entry) => {
        const target = join(root, ...info.path.split('/'));
        try {
          await mkdir(dirname(target), { recursive: true, mode: 0o755 });
          // 'wx': a name can only be created once (duplicates are rejected earlier; this is the backstop).
          const ws = createWriteStream(target, { flags: 'wx', mode: 0o644 });
          entry.pipe(ws);
          await finished(ws);
        } catch (err) {
          if (['EEXIST', 'ENOTDIR', 'EISDIR'].includes(errCode(err))) {
            throw new ArchiveRejected({
              code: 'archive-invalid',
              path: info.path,
              message: `archive entry ${JSON.stringify(info.path)} collides with another entry (a file used as a directory?)`,
            });
          }
          throw err;
        }
        const fh = await open(target, 'r+');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      },
      async (info) => {
        try {
          await mkdir(join(root, ...info.path.split('/')), { recursive: true, mode: 0o755 });
        } catch (err) {
          if (['EEXIST', 'ENOTDIR'].includes(errCode(err))) {
            throw new ArchiveRejected({
              code: 'archive-invalid',
              path: info.path,
              message: `archive directory ${JSON.stringify(info.path)} collides with a file entry`,
            });
          }
          throw err;
        }
      },
    );
    const result = await verifyArtifact(root, {
      trusted: opts.trusted,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!result.ok) {
      const untrusted = result.problems.some((p) => p.code === 'untrusted-key' || p.code === 'signature');
      throw new AppError(
        untrusted ? 'FORBIDDEN' : 'BAD_INPUT',
        `artifact archive ${archivePath} does not verify: ${summarize(result.problems)}`,
        {
          hint: untrusted
            ? 'it was not signed by a trusted console key (or was modified after signing): enrol this device with the console that built it'
            : 'the archive is damaged or was modified: copy it again from the console',
        },
      );
    }
    await publishDirectory(root, dest, opts.overwrite === true);
    tmp = null;
    return { dir: dest, result };
  } catch (err) {
    if (err instanceof ArchiveRejected) {
      throw new AppError('BAD_INPUT', `artifact archive ${archivePath} rejected: ${err.message}`, {
        hint: 'it was not made by Edge Console or has been tampered with; nothing was unpacked',
      });
    }
    if (signal?.aborted) throw cancelled('unpacking');
    if (err instanceof AppError) throw err;
    throw new AppError('ENVIRONMENT', `cannot unpack ${archivePath}: ${(err as Error).message}`, {
      hint: 'check free disk space and that the destination is writable',
      cause: err,
    });
  } finally {
    if (tmp !== null) await rm(tmp, { recursive: true, force: true });
  }
}
