// Verifies an artifact directory: the signature over manifest.json's exact bytes (against trusted keys), then
// every listed file (regular file, inside the directory, size + sha256), and that nothing else is there.
// The device agent uses this too: keep it free of Electron and SQLite (node:crypto/fs + shared/ only).
import { createHash } from 'node:crypto';
import { constants, type Dirent, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import {
  MANIFEST_FILE,
  SIGNATURE_FILE,
  type Manifest,
  type SignatureFile,
  type TrustStore,
  type VerifyProblem,
  type VerifyResult,
} from '../../shared/artifact.js';
import { AppError } from '../../shared/errors.js';
import { checkManifestPaths, parseManifest, parseSignatureFile, type Parsed } from './manifest.js';
import { keyIdOf, verifySignature } from './signing.js';

/** manifest.json larger than this is not read (a real one is a few KiB). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
export const MAX_SIGNATURE_BYTES = 64 * 1024;
/** At most this many extra-file / symlink problems are listed one by one (then one summary problem). */
const MAX_LISTED_EXTRAS = 100;

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

export interface VerifyOptions {
  /**
   * Keys whose signatures are trusted, or 'embedded' to check the signature with the manifest's own signer
   * key: that proves the artifact is intact and self-consistent, not who made it (result.trusted = false).
   */
  trusted: TrustStore | 'embedded';
  signal?: AbortSignal;
  /** Called as listed files are hashed. */
  onProgress?: (p: { path: string; bytesDone: number; bytesTotal: number }) => void;
}

export interface SignatureCheck {
  keyId: string | null;
  trusted: boolean;
  problems: VerifyProblem[];
}

/**
 * Checks manifest.sig against manifest.json's exact bytes. sig: null when manifest.sig is absent (or could
 * not be read: pass the problem yourself). manifest: the parsed manifest when it is valid (needed for
 * 'embedded'; with a TrustStore the signature is checked even when the manifest is not valid).
 */
export function checkSignature(
  manifestBytes: Uint8Array | null,
  sig: Parsed<SignatureFile> | null,
  manifest: Manifest | null,
  trusted: TrustStore | 'embedded',
): SignatureCheck {
  const problems: VerifyProblem[] = [];
  if (sig === null) {
    problems.push({
      code: 'signature',
      path: SIGNATURE_FILE,
      message: 'manifest.sig is missing: the artifact is unsigned',
    });
    return { keyId: null, trusted: false, problems };
  }
  if (!sig.ok) {
    problems.push({ code: 'signature', path: SIGNATURE_FILE, message: sig.message });
    return { keyId: null, trusted: false, problems };
  }
  const s = sig.value;
  if (manifest !== null && manifest.signer.keyId !== s.keyId) {
    problems.push({
      code: 'signature',
      path: SIGNATURE_FILE,
      message: `manifest.json names signer ${manifest.signer.keyId} but manifest.sig was made with key ${s.keyId}`,
    });
  }
  if (manifestBytes === null) return { keyId: s.keyId, trusted: false, problems };
  const signature = Buffer.from(s.signature, 'base64');

  let publicKeyRaw: Buffer;
  let isTrusted = false;
  if (trusted === 'embedded') {
    if (manifest === null) {
      problems.push({
        code: 'signature',
        path: SIGNATURE_FILE,
        message: 'signature not checked: manifest.json is not valid, so its signer key is unknown',
      });
      return { keyId: s.keyId, trusted: false, problems };
    }
    publicKeyRaw = Buffer.from(manifest.signer.publicKey, 'base64');
    if (keyIdOf(publicKeyRaw) !== manifest.signer.keyId) {
      problems.push({
        code: 'signature',
        path: MANIFEST_FILE,
        message: `manifest.json's signer keyId ${manifest.signer.keyId} does not match its public key (${keyIdOf(publicKeyRaw)})`,
      });
      return { keyId: s.keyId, trusted: false, problems };
    }
    if (manifest.signer.keyId !== s.keyId) return { keyId: s.keyId, trusted: false, problems };
  } else {
    const entry = trusted.find((t) => {
      if (t.keyId !== s.keyId) return false;
      // An entry whose keyId does not belong to its key is ignored rather than believed.
      return keyIdOf(Buffer.from(t.publicKey, 'base64')) === t.keyId;
    });
    if (entry === undefined) {
      problems.push({
        code: 'untrusted-key',
        path: SIGNATURE_FILE,
        message: `signed with key ${s.keyId}, which is not trusted${
          trusted.length === 0
            ? ' (no trusted keys given)'
            : ` (trusted: ${trusted.map((t) => t.keyId).join(', ')})`
        }`,
      });
      return { keyId: s.keyId, trusted: false, problems };
    }
    publicKeyRaw = Buffer.from(entry.publicKey, 'base64');
    isTrusted = true;
  }
  if (!verifySignature(publicKeyRaw, manifestBytes, signature)) {
    problems.push({
      code: 'signature',
      path: MANIFEST_FILE,
      message: `signature of key ${s.keyId} does not match manifest.json: it was modified after signing (or manifest.sig belongs to another manifest)`,
    });
    return { keyId: s.keyId, trusted: false, problems };
  }
  return { keyId: s.keyId, trusted: isTrusted && problems.length === 0, problems };
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? '';
}

type ReadSmall =
  { kind: 'missing' } | { kind: 'problem'; problem: VerifyProblem } | { kind: 'ok'; bytes: Buffer };

/** Reads manifest.json / manifest.sig: a regular file (not a link), at most maxBytes. Never throws. */
async function readSmallFile(root: string, name: string, maxBytes: number): Promise<ReadSmall> {
  const path = join(root, name);
  const code = name === MANIFEST_FILE ? 'manifest-invalid' : 'signature';
  const problem = (message: string, c: VerifyProblem['code'] = code): ReadSmall => ({
    kind: 'problem',
    problem: { code: c, path: name, message },
  });
  try {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return problem(`${name} is a symbolic link`, 'symlink');
    if (!st.isFile()) return problem(`${name} is not a regular file`);
    if (st.size > maxBytes) return problem(`${name} is ${st.size} bytes (limit ${maxBytes})`);
    const fh = await open(path, constants.O_RDONLY | O_NOFOLLOW);
    try {
      const bytes = await fh.readFile();
      if (bytes.length > maxBytes) return problem(`${name} grew past ${maxBytes} bytes`);
      return { kind: 'ok', bytes };
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { kind: 'missing' };
    if (errCode(err) === 'ELOOP') return problem(`${name} is a symbolic link`, 'symlink');
    return problem(`${name} cannot be read: ${(err as Error).message}`);
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AppError('CANCELLED', 'artifact verification cancelled');
}

/** True when `inner` (a real path) is `root` or inside it. */
export function isInside(root: string, inner: string): boolean {
  const rel = relative(root, inner);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Verifies the artifact in dir. Never throws for a bad artifact: everything wrong is in result.problems
 * (ok = no problems). Throws NOT_FOUND when dir does not exist, CANCELLED when signal aborts.
 */
export async function verifyArtifact(dir: string, opts: VerifyOptions): Promise<VerifyResult> {
  let rootStat: Stats;
  try {
    rootStat = await stat(dir);
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') {
      throw new AppError('NOT_FOUND', `artifact directory ${dir} does not exist`, {
        hint: 'check the path; an artifact is a directory holding manifest.json and manifest.sig',
      });
    }
    throw new AppError('ENVIRONMENT', `cannot read artifact directory ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!rootStat.isDirectory()) {
    throw new AppError('NOT_FOUND', `${dir} is not a directory`, {
      hint: 'an artifact is a directory holding manifest.json and manifest.sig (for a .tar use verifyArchive)',
    });
  }
  const root = await realpath(dir);
  const problems: VerifyProblem[] = [];

  // manifest.json and manifest.sig
  let manifestBytes: Buffer | null = null;
  let manifest: Manifest | null = null;
  const mf = await readSmallFile(root, MANIFEST_FILE, MAX_MANIFEST_BYTES);
  if (mf.kind === 'missing') {
    problems.push({ code: 'manifest-invalid', path: MANIFEST_FILE, message: 'manifest.json is missing' });
  } else if (mf.kind === 'problem') {
    problems.push(mf.problem);
  } else {
    manifestBytes = mf.bytes;
    const parsed = parseManifest(mf.bytes);
    if (parsed.ok) manifest = parsed.value;
    else problems.push({ code: 'manifest-invalid', path: MANIFEST_FILE, message: parsed.message });
  }
  let sig: Parsed<SignatureFile> | null = null;
  const sf = await readSmallFile(root, SIGNATURE_FILE, MAX_SIGNATURE_BYTES);
  if (sf.kind === 'ok') sig = parseSignatureFile(sf.bytes);
  else if (sf.kind === 'problem') sig = { ok: false, message: sf.problem.message };
  const sigCheck = checkSignature(manifestBytes, sig, manifest, opts.trusted);
  if (sf.kind === 'problem' && sf.problem.code === 'symlink') problems.push(sf.problem);
  else problems.push(...sigCheck.problems);

  // Listed files.
  const listed = new Set<string>();
  if (manifest !== null) {
    const paths = checkManifestPaths(manifest);
    problems.push(...paths.problems);
    const files = manifest.files.filter((f) => paths.safe.has(f.path));
    const bytesTotal = files.reduce((n, f) => n + f.bytes, 0);
    let bytesDone = 0;
    for (const f of files) {
      throwIfAborted(opts.signal);
      listed.add(f.path);
      let p: VerifyProblem | null;
      try {
        p = await checkFile(root, f, opts, (n) => {
          bytesDone += n;
          opts.onProgress?.({ path: f.path, bytesDone, bytesTotal });
        });
      } catch (err) {
        if (err instanceof AppError) throw err; // CANCELLED
        // Vanished or became unreadable between the checks: still a problem with the artifact, not a crash.
        p = {
          code: 'missing-file',
          path: f.path,
          message: `${f.path} cannot be read: ${(err as Error).message}`,
        };
      }
      if (p !== null) problems.push(p);
    }
    // Unsafe listed paths are never looked at, but an unlisted file is only "extra" if it is not listed at all.
    for (const f of manifest.files) listed.add(f.path);
  }

  // Anything else in the directory.
  problems.push(...(await findExtras(root, listed, opts.signal)));

  return {
    ok: problems.length === 0,
    trusted: sigCheck.trusted && problems.length === 0,
    keyId: sigCheck.keyId,
    ...(manifest === null ? {} : { manifest }),
    problems,
  };
}

async function checkFile(
  root: string,
  f: Manifest['files'][number],
  opts: VerifyOptions,
  progress: (n: number) => void,
): Promise<VerifyProblem | null> {
  const path = join(root, ...f.path.split('/'));
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return { code: 'missing-file', path: f.path, message: `${f.path} is missing` };
    }
    return {
      code: 'missing-file',
      path: f.path,
      message: `${f.path} cannot be read: ${(err as Error).message}`,
    };
  }
  if (st.isSymbolicLink()) {
    return { code: 'symlink', path: f.path, message: `${f.path} is a symbolic link, not a file` };
  }
  if (!st.isFile()) {
    return { code: 'missing-file', path: f.path, message: `${f.path} is not a regular file` };
  }
  // A parent directory may be a link leading elsewhere: the file's real path must stay inside the artifact.
  const real = await realpath(path);
  if (!isInside(root, real)) {
    return {
      code: 'path-escape',
      path: f.path,
      message: `${f.path} resolves outside the artifact directory (through a linked directory)`,
    };
  }
  if (st.size !== f.bytes) {
    return {
      code: 'size-mismatch',
      path: f.path,
      message: `${f.path} is ${st.size} bytes, the manifest says ${f.bytes}`,
    };
  }
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | O_NOFOLLOW);
  } catch (err) {
    if (errCode(err) === 'ELOOP') {
      return { code: 'symlink', path: f.path, message: `${f.path} is a symbolic link, not a file` };
    }
    return {
      code: 'missing-file',
      path: f.path,
      message: `${f.path} cannot be read: ${(err as Error).message}`,
    };
  }
  try {
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      throwIfAborted(opts.signal);
      const b = chunk as Buffer;
      hash.update(b);
      n += b.length;
      progress(b.length);
    }
    if (n !== f.bytes) {
      return {
        code: 'size-mismatch',
        path: f.path,
        message: `${f.path} changed while being read (${n} bytes)`,
      };
    }
    const digest = hash.digest('hex');
    if (digest !== f.sha256) {
      return {
        code: 'hash-mismatch',
        path: f.path,
        message: `${f.path} has sha256 ${digest.slice(0, 16)}…, the manifest says ${f.sha256.slice(0, 16)}…`,
      };
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** Walks dir (never following links) for files not listed and links anywhere. */
async function findExtras(
  root: string,
  listed: Set<string>,
  signal: AbortSignal | undefined,
): Promise<VerifyProblem[]> {
  const problems: VerifyProblem[] = [];
  let more = 0;
  const report = (p: VerifyProblem): void => {
    if (problems.length < MAX_LISTED_EXTRAS) problems.push(p);
    else more++;
  };
  const walk = async (abs: string, rel: string): Promise<void> => {
    throwIfAborted(signal);
    let entries: Dirent[];
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      report({
        code: 'extra-file',
        path: rel || '.',
        message: `cannot list ${rel || '.'}: ${(err as Error).message}`,
      });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      if (rel === '' && (e.name === MANIFEST_FILE || e.name === SIGNATURE_FILE)) continue;
      if (e.isSymbolicLink()) {
        // A listed path that is a link was reported by checkFile.
        if (!listed.has(p))
          report({
            code: 'symlink',
            path: p,
            message: `${p} is a symbolic link (not allowed in an artifact)`,
          });
      } else if (e.isDirectory()) {
        await walk(join(abs, e.name), p);
      } else if (!listed.has(p)) {
        report({
          code: 'extra-file',
          path: p,
          message: `${p} is not listed in the manifest${e.isFile() ? '' : ' (and is not a regular file)'}`,
        });
      }
    }
  };
  await walk(root, '');
  if (more > 0) {
    problems.push({ code: 'extra-file', message: `... and ${more} more unlisted files or links` });
  }
  return problems;
}
