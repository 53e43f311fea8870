import { createPublicKey } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  keyIdOf,
  loadOrCreateSigningKey,
  SIGNING_KEY_FILE,
  trustedKeyOf,
  verifySignature,
} from './signing.js';
import { rejectionOf } from '../../test/fixtures/errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'artifact-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const posix = process.platform !== 'win32';

describe('signing key', () => {
  it('is created on first use (key 0600, directory 0700) and loaded afterwards', async () => {
    const keysDir = join(dir, 'keys');
    const key = await loadOrCreateSigningKey(keysDir);
    const file = join(keysDir, SIGNING_KEY_FILE);
    if (posix) {
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(keysDir).mode & 0o777).toBe(0o700);
    }
    expect(readdirSync(keysDir)).toEqual([SIGNING_KEY_FILE]); // no temporary file left behind
    expect(key.publicKeyRaw).toHaveLength(32);
    expect(key.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(key.keyId).toBe(keyIdOf(key.publicKeyRaw));
    expect(createPublicKey(key.publicKeyPem).asymmetricKeyType).toBe('ed25519');

    const again = await loadOrCreateSigningKey(keysDir);
    expect(again.keyId).toBe(key.keyId);
    expect(again.publicKeyRaw.equals(key.publicKeyRaw)).toBe(true);

    const msg = Buffer.from('manifest bytes');
    const sig = key.sign(msg);
    expect(sig).toHaveLength(64);
    expect(verifySignature(again.publicKeyRaw, msg, sig)).toBe(true);
    expect(verifySignature(again.publicKeyRaw, Buffer.from('manifest bytez'), sig)).toBe(false);
    expect(verifySignature(Buffer.alloc(31), msg, sig)).toBe(false);
    expect(trustedKeyOf(key)).toEqual({ keyId: key.keyId, publicKey: key.publicKeyRaw.toString('base64') });
  });

  it('concurrent first uses end up with one key', async () => {
    const keysDir = join(dir, 'keys');
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateSigningKey(keysDir)));
    expect(new Set(keys.map((k) => k.keyId)).size).toBe(1);
    expect(readdirSync(keysDir)).toEqual([SIGNING_KEY_FILE]);
  });

  it.runIf(posix)('refuses a key file other users can read (FORBIDDEN, hint chmod 600)', async () => {
    const keysDir = join(dir, 'keys');
    const key = await loadOrCreateSigningKey(keysDir);
    const file = join(keysDir, SIGNING_KEY_FILE);
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(file, mode);
      const err = await rejectionOf(loadOrCreateSigningKey(keysDir));
      expect(err.code).toBe('FORBIDDEN');
      expect(err.message).toContain(mode.toString(8));
      expect(err.hint).toContain('chmod 600');
    }
    chmodSync(file, 0o600);
    expect((await loadOrCreateSigningKey(keysDir)).keyId).toBe(key.keyId); // never replaced
  });

  it.runIf(posix)('refuses a linked key file and a file that is not a PEM key', async () => {
    const keysDir = join(dir, 'keys');
    await loadOrCreateSigningKey(keysDir);
    const other = join(dir, 'other');
    await loadOrCreateSigningKey(other);
    rmSync(join(keysDir, SIGNING_KEY_FILE));
    symlinkSync(join(other, SIGNING_KEY_FILE), join(keysDir, SIGNING_KEY_FILE));
    expect((await rejectionOf(loadOrCreateSigningKey(keysDir))).code).toBe('FORBIDDEN');

    rmSync(join(keysDir, SIGNING_KEY_FILE));
    writeFileSync(join(keysDir, SIGNING_KEY_FILE), 'not a key', { mode: 0o600 });
    const err = await rejectionOf(loadOrCreateSigningKey(keysDir));
    expect(err.code).toBe('ENVIRONMENT');
    expect(err.message).toMatch(/not a valid PEM/);
  });
});
