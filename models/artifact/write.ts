// Writes a signed artifact directory. Everything is built in a temporary sibling, <out>.partial-<random>
// (same file system, so the final rename is atomic), files are hashed while they are copied (one streaming
// pass: models can be GBs), manifest.json + manifest.sig are written last, then the directory is renamed
// into place. A failed or cancelled write removes the temporary directory: no partial artifact is left.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ARTIFACT_SCHEMA,
  MANIFEST_FILE,
  Manifest,
  ManifestInput,
  SIGNATURE_FILE,
  type ArtifactFile,
  type FileRole,
  type ModelLoad,
} from '../../shared/artifact.js';
import { AppError, formatZodError } from '../../shared/errors.js';
import { checkArtifactPaths, serializeManifest, serializeSignature, sha256Hex } from './manifest.js';
import { keyIdOf, syncDir, verifySignature, type SigningKey } from './signing.js';

export interface ArtifactInputFile {
  /** Absolute path of the file to copy in. */
  from: string;
  /** Its relative POSIX path inside the artifact. */
  path: string;
  role: FileRole;
  /** How onnxruntime must load it (recorded in the manifest). */
  load?: ModelLoad;
}

export interface WriteProgress {
  /** The file being copied (artifact path). */
  path: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface WriteArtifactOptions {
  outDir: string;
  files: readonly ArtifactInputFile[];
  /** Everything of the manifest but schema, files and signer (filled in here); createdAt defaults to now. */
  manifest: ManifestInput;
  key: SigningKey;
  /** Replace an existing artifact at outDir (default: CONFLICT). Never replaces a directory that is not an artifact. */
  overwrite?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: WriteProgress) => void;
}

export interface WrittenArtifact {
  dir: string;
  manifest: Manifest;
  /** sha256 of manifest.json's bytes: identifies the artifact (the fleet log's manifest_sha256). */
  manifestSha256: string;
  keyId: string;
  /** Bytes of the listed files. */
  bytes: number;
}

function cancelled(): AppError {
  return new AppError('CANCELLED', 'artifact build cancelled; nothing was written');
}

function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return (
    signal?.aborted === true ||
    (err instanceof Error && err.name === 'AbortError') ||
    (err instanceof AppError && err.code === 'CANCELLED')
  );
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? '';
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

function conflict(outDir: string): AppError {
  return new AppError('CONFLICT', `${outDir} already exists`, {
    hint: 'choose another output directory or bump the version; to replace the artifact, build again with overwrite',
  });
}

/** An existing outDir may be replaced only if it is an artifact (has manifest.json) or an empty directory. */
async function assertReplaceable(outDir: string): Promise<void> {
  const st = await lstat(outDir);
  if (st.isDirectory()) {
    const names = await readdir(outDir);
    if (names.length === 0 || names.includes(MANIFEST_FILE)) return;
  }
  throw new AppError('CONFLICT', `${outDir} exists and is not an artifact: refusing to replace it`, {
    hint: 'choose another output directory, or move that one aside yourself',
  });
}

/**
 * Renames the finished directory tmp to dest. An existing dest is CONFLICT unless overwrite, in which case
 * it is renamed aside, tmp renamed in (the old one is put back if that fails) and the old one deleted.
 */
export async function publishDirectory(tmp: string, dest: string, overwrite: boolean): Promise<void> {
  if (await exists(dest)) {
    if (!overwrite) throw conflict(dest);
    await assertReplaceable(dest);
    const old = `${dest}.old-${randomBytes(6).toString('hex')}`;
    await rename(dest, old);
    try {
      await rename(tmp, dest);
    } catch (err) {
      await rename(old, dest).catch(() => undefined);
      throw err;
    }
    await syncDir(dirname(dest));
    await rm(old, { recursive: true, force: true });
    return;
  }
  try {
    await rename(tmp, dest);
  } catch (err) {
    // Someone created dest meanwhile (rename only replaces an empty directory on POSIX).
    if (['EEXIST', 'ENOTEMPTY', 'EISDIR', 'ENOTDIR'].includes(errCode(err))) throw conflict(dest);
    throw err;
  }
  await syncDir(dirname(dest));
}

/** A fresh empty sibling directory for building dest: <dest>.<tag>-<random>. */
export async function makeTempSibling(dest: string, tag: string): Promise<string> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.${tag}-${randomBytes(6).toString('hex')}`;
  await mkdir(tmp, { mode: 0o755 });
  return tmp;
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Copies from -> to (which must not exist), hashing on the way. */
async function copyHashed(
  from: string,
  to: string,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  await pipeline(
    createReadStream(from, { highWaterMark: 1 << 20 }),
    tap,
    createWriteStream(to, { flags: 'wx', mode: 0o644 }),
    signal === undefined ? {} : { signal },
  );
  await fsyncFile(to);
  return { sha256: hash.digest('hex'), bytes };
}

async function writeNewFile(path: string, bytes: Uint8Array): Promise<void> {
  await writeFile(path, bytes, { flag: 'wx', mode: 0o644 });
  await fsyncFile(path);
}

/**
 * Builds and signs the artifact at outDir. Errors: BAD_INPUT (manifest fields, file paths), NOT_FOUND (a
 * source file), CONFLICT (outDir exists and overwrite is not set), CANCELLED (signal), ENVIRONMENT (I/O).
 */
export async function writeArtifact(opts: WriteArtifactOptions): Promise<WrittenArtifact> {
  const { signal } = opts;
  if (signal?.aborted) throw cancelled();
  const outDir = resolve(opts.outDir);
  if (basename(outDir) === '' || outDir === dirname(outDir)) {
    throw new AppError('BAD_INPUT', `output directory ${opts.outDir} is a file-system root`);
  }

  const input = ManifestInput.safeParse(opts.manifest);
  if (!input.success) {
    throw new AppError('BAD_INPUT', `artifact manifest: ${formatZodError(input.error)}`, {
      hint: 'name: letters, digits, . _ -; version: a semantic version such as 1.2.0',
    });
  }
  if (opts.files.length === 0) throw new AppError('BAD_INPUT', 'an artifact needs at least one file');
  const paths = checkArtifactPaths(opts.files.map((f) => f.path));
  if (paths.problems.length > 0) {
    throw new AppError(
      'BAD_INPUT',
      `artifact file paths: ${paths.problems.map((p) => p.message).join('; ')}`,
      {
        hint: 'use relative paths with / separators, without .. or duplicates; manifest.json and manifest.sig are reserved',
      },
    );
  }
  if (keyIdOf(opts.key.publicKeyRaw) !== opts.key.keyId) {
    throw new AppError('INTERNAL', `signing key ${opts.key.keyId} does not match its public key`);
  }

  const sources: Stats[] = [];
  for (const f of opts.files) {
    let st: Stats;
    try {
      st = await stat(f.from);
    } catch (err) {
      throw new AppError('NOT_FOUND', `${f.from} (for ${f.path}): ${(err as Error).message}`, { cause: err });
    }
    if (!st.isFile()) throw new AppError('BAD_INPUT', `${f.from} (for ${f.path}) is not a regular file`);
    sources.push(st);
  }
  if (!opts.overwrite && (await exists(outDir))) throw conflict(outDir);

  const bytesTotal = sources.reduce((n, s) => n + s.size, 0);
  let bytesDone = 0;
  let tmp: string | null = null;
  try {
    tmp = await makeTempSibling(outDir, 'partial');
    const files: ArtifactFile[] = [];
    for (const [i, f] of opts.files.entries()) {
      if (signal?.aborted) throw cancelled();
      const dest = join(tmp, ...f.path.split('/'));
      await mkdir(dirname(dest), { recursive: true });
      const copied = await copyHashed(f.from, dest, signal, (n) => {
        bytesDone += n;
        opts.onProgress?.({ path: f.path, bytesDone, bytesTotal });
      });
      const expected = sources[i]?.size;
      if (copied.bytes !== expected) {
        throw new AppError(
          'CONFLICT',
          `${f.from} changed while it was copied (${expected} -> ${copied.bytes} bytes)`,
          {
            hint: 'build again once the file is no longer being written',
          },
        );
      }
      files.push({
        path: f.path,
        sha256: copied.sha256,
        bytes: copied.bytes,
        role: f.role,
        ...(f.load ? { load: f.load } : {}),
      });
    }
    if (signal?.aborted) throw cancelled();

    const manifest: Manifest = {
      schema: ARTIFACT_SCHEMA,
      ...input.data,
      createdAt: input.data.createdAt ?? new Date().toISOString(),
      files,
      signer: { keyId: opts.key.keyId, publicKey: opts.key.publicKeyRaw.toString('base64') },
    };
    const manifestBytes = serializeManifest(manifest);
    const signature = opts.key.sign(manifestBytes);
    if (!verifySignature(opts.key.publicKeyRaw, manifestBytes, signature)) {
      throw new AppError(
        'INTERNAL',
        `signing key ${opts.key.keyId} produced a signature its public key rejects`,
      );
    }
    await writeNewFile(join(tmp, MANIFEST_FILE), manifestBytes);
    await writeNewFile(
      join(tmp, SIGNATURE_FILE),
      serializeSignature({ alg: 'ed25519', keyId: opts.key.keyId, signature: signature.toString('base64') }),
    );
    await syncDir(tmp);
    if (signal?.aborted) throw cancelled();
    await publishDirectory(tmp, outDir, opts.overwrite === true);
    tmp = null;
    return {
      dir: outDir,
      manifest: Manifest.parse(JSON.parse(manifestBytes.toString('utf8'))),
      manifestSha256: sha256Hex(manifestBytes),
      keyId: opts.key.keyId,
      bytes: bytesDone,
    };
  } catch (err) {
    if (isAbort(err, signal)) throw cancelled();
    if (err instanceof AppError) throw err;
    throw new AppError('ENVIRONMENT', `cannot write artifact ${outDir}: ${(err as Error).message}`, {
      hint: 'check free disk space and that the output directory is writable',
      cause: err,
    });
  } finally {
    if (tmp !== null) await rm(tmp, { recursive: true, force: true });
  }
}
