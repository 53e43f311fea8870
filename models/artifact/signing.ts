// The console's Ed25519 signing key and signature checks. The private key lives in <keysDir>/artifact-signing.key
// (PKCS#8 PEM, mode 0600, directory 0700), created on first use and never overwritten.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrustedKey } from '../../shared/artifact.js';
import { AppError } from '../../shared/errors.js';

export type { TrustedKey, TrustStore } from '../../shared/artifact.js';

export const SIGNING_KEY_FILE = 'artifact-signing.key';

export interface SigningKey {
  /** First 16 hex digits of sha256(publicKeyRaw). */
  keyId: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKeyRaw: Buffer;
  /** SPKI PEM of the public key (what a device is given at enrolment, or use trustedKeyOf). */
  publicKeyPem: string;
  /** Ed25519 signature (64 bytes) over bytes. */
  sign(bytes: Uint8Array): Buffer;
}

/** DER prefix of an SPKI-wrapped Ed25519 public key (RFC 8410); the raw 32 bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function keyIdOf(publicKeyRaw: Uint8Array): string {
  return createHash('sha256').update(publicKeyRaw).digest('hex').slice(0, 16);
}

/** A KeyObject for a raw 32-byte Ed25519 public key. */
export function publicKeyFromRaw(publicKeyRaw: Uint8Array): KeyObject {
  if (publicKeyRaw.length !== 32) {
    throw new AppError('BAD_INPUT', `Ed25519 public key must be 32 bytes, got ${publicKeyRaw.length}`);
  }
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, publicKeyRaw]),
    format: 'der',
    type: 'spki',
  });
}

function rawPublicKey(key: KeyObject): Buffer {
  const der = createPublicKey(key).export({ format: 'der', type: 'spki' });
  if (der.length !== 44 || !der.subarray(0, 12).equals(ED25519_SPKI_PREFIX)) {
    throw new AppError('INTERNAL', 'unexpected Ed25519 public key encoding');
  }
  return Buffer.from(der.subarray(12));
}

/** The TrustStore entry for a key (the console trusts its own; devices get it at enrolment). */
export function trustedKeyOf(key: Pick<SigningKey, 'keyId' | 'publicKeyRaw'>): TrustedKey {
  return { keyId: key.keyId, publicKey: key.publicKeyRaw.toString('base64') };
}

/** Checks an Ed25519 signature; false (never throws) for a malformed key or signature. */
export function verifySignature(publicKeyRaw: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
  if (publicKeyRaw.length !== 32 || signature.length !== 64) return false;
  try {
    return cryptoVerify(null, bytes, publicKeyFromRaw(publicKeyRaw), signature);
  } catch {
    return false;
  }
}

function signingKeyFrom(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AppError(
      'ENVIRONMENT',
      `signing key is ${privateKey.asymmetricKeyType ?? 'unknown'}, not Ed25519`,
      {
        hint: 'move the key file aside; a new Ed25519 key is created on next use (devices must then be given the new public key)',
      },
    );
  }
  const publicKeyRaw = rawPublicKey(privateKey);
  const publicKeyPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  return {
    keyId: keyIdOf(publicKeyRaw),
    publicKeyRaw,
    publicKeyPem,
    sign: (bytes) => cryptoSign(null, bytes, privateKey),
  };
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

async function readExistingKey(path: string): Promise<SigningKey | null> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw new AppError('ENVIRONMENT', `cannot read signing key ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!st.isFile()) {
    throw new AppError('FORBIDDEN', `signing key ${path} is not a regular file`, {
      hint: 'replace it with the key file itself (not a link), or move it aside to create a new key',
    });
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new AppError(
      'FORBIDDEN',
      `signing key ${path} is readable by other users (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')})`,
      { hint: `restrict it: chmod 600 '${path}'` },
    );
  }
  const pem = await readFile(path, 'utf8');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new AppError('ENVIRONMENT', `signing key ${path} is not a valid PEM private key`, {
      hint: 'restore it from a backup, or move it aside to create a new key (devices then need the new public key)',
      cause: err,
    });
  }
  return signingKeyFrom(key);
}

/**
 * Loads the console's Ed25519 signing key from keysDir, creating it (and keysDir, 0700) on first use. The
 * new key is written to a temporary 0600 file, synced and then hard-linked into place, so it appears
 * atomically and an existing key (say, one created by a concurrent process) is never overwritten. An
 * existing key file that is group/world accessible is refused (FORBIDDEN).
 */
export async function loadOrCreateSigningKey(keysDir: string): Promise<SigningKey> {
  const path = join(keysDir, SIGNING_KEY_FILE);
  const existing = await readExistingKey(path);
  if (existing !== null) return existing;

  try {
    const made = await mkdir(keysDir, { recursive: true, mode: 0o700 });
    if (made !== undefined) await chmod(keysDir, 0o700);
  } catch (err) {
    throw new AppError('ENVIRONMENT', `cannot create key directory ${keysDir}: ${(err as Error).message}`, {
      hint: 'check that the data directory exists and is writable',
      cause: err,
    });
  }

  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.writeFile(pem, 'utf8');
      await fh.chmod(0o600); // the umask cannot widen it, but be explicit
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path); // EEXIST instead of replacing a key that appeared meanwhile
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        const raced = await readExistingKey(path);
        if (raced !== null) return raced;
      }
      if (!isErrno(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV')) throw err;
      // No hard links on this file system: rename (only after checking the name is still free).
      const other = await readExistingKey(path);
      if (other !== null) return other;
      await rename(tmp, path);
    }
    await syncDir(keysDir);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('ENVIRONMENT', `cannot write signing key ${path}: ${(err as Error).message}`, {
      hint: 'check that the key directory is writable',
      cause: err,
    });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return signingKeyFrom(privateKey);
}

/** fsync a directory so a rename/link in it survives power loss (best effort: not every OS allows it). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Windows cannot open directories; durability of the rename is then the OS's business.
  }
}
