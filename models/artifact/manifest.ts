// manifest.json and manifest.sig: canonical bytes and parsing. The bytes written are the bytes signed; a
// verifier never re-serialises (it checks the signature over the file as it is on disk).
import { createHash } from 'node:crypto';
import {
  ARTIFACT_SCHEMA,
  Manifest,
  SignatureFile,
  artifactPathProblem,
  isReservedPath,
  type VerifyProblem,
} from '../../shared/artifact.js';
import { AppError, formatZodError } from '../../shared/errors.js';

/** Top-level keys in this order (readable: what it is first); nested objects have their keys sorted. */
const MANIFEST_KEY_ORDER = [
  'schema',
  'name',
  'version',
  'target',
  'precision',
  'mode',
  'createdAt',
  'source',
  'files',
  'quantization',
  'calibration',
  'tools',
  'build',
  'signer',
] as const;

/** Recursively sorts object keys (code-unit order); arrays keep their order. */
function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v !== null && typeof v === 'object') {
    const src = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(src).sort()) {
      if (src[k] !== undefined) out[k] = sortDeep(src[k]);
    }
    return out;
  }
  return v;
}

/** 2-space JSON, trailing newline: what manifest.json and manifest.sig hold. */
function jsonBytes(v: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(v, null, 2)}\n`, 'utf8');
}

/**
 * The canonical bytes of a manifest: validated, files sorted by path, top-level keys in MANIFEST_KEY_ORDER,
 * every nested object's keys sorted, 2-space JSON with a trailing newline. Same manifest, same bytes.
 */
export function serializeManifest(m: Manifest): Buffer {
  const parsed = Manifest.safeParse(m);
  if (!parsed.success) {
    throw new AppError('BAD_INPUT', `manifest: ${formatZodError(parsed.error)}`);
  }
  const data = parsed.data;
  const files = [...data.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const withSorted: Record<string, unknown> = { ...data, files };
  const out: Record<string, unknown> = {};
  for (const k of MANIFEST_KEY_ORDER) {
    if (withSorted[k] !== undefined) out[k] = sortDeep(withSorted[k]);
  }
  return jsonBytes(out);
}

export function serializeSignature(s: SignatureFile): Buffer {
  const parsed = SignatureFile.parse(s);
  return jsonBytes({ alg: parsed.alg, keyId: parsed.keyId, signature: parsed.signature });
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

function parseJson(bytes: Uint8Array, what: string): Parsed<unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, message: `${what} is not UTF-8` };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, message: `${what} is not JSON: ${(err as Error).message}` };
  }
}

/** Parses manifest.json bytes (JSON + schema). Never throws. */
export function parseManifest(bytes: Uint8Array): Parsed<Manifest> {
  const json = parseJson(bytes, 'manifest.json');
  if (!json.ok) return json;
  const schema = (json.value as { schema?: unknown } | null)?.schema;
  if (schema !== undefined && schema !== ARTIFACT_SCHEMA) {
    return {
      ok: false,
      message: `manifest.json has schema ${JSON.stringify(schema)}; this version understands ${ARTIFACT_SCHEMA}`,
    };
  }
  const r = Manifest.safeParse(json.value);
  return r.success
    ? { ok: true, value: r.data }
    : { ok: false, message: `manifest.json: ${formatZodError(r.error)}` };
}

/** Parses manifest.sig bytes. Never throws. */
export function parseSignatureFile(bytes: Uint8Array): Parsed<SignatureFile> {
  const json = parseJson(bytes, 'manifest.sig');
  if (!json.ok) return json;
  const r = SignatureFile.safeParse(json.value);
  return r.success
    ? { ok: true, value: r.data }
    : { ok: false, message: `manifest.sig: ${formatZodError(r.error)}` };
}

/**
 * Problems with a list of artifact paths: unsafe paths (path-escape), reserved names, duplicates (also by
 * case: they collide on macOS/Windows) and a path that is both a file and a directory. Returns the paths
 * that are safe to look at on disk.
 */
export function checkArtifactPaths(paths: readonly string[]): {
  problems: VerifyProblem[];
  safe: Set<string>;
} {
  const problems: VerifyProblem[] = [];
  const safe = new Set<string>();
  const seen = new Map<string, string>();
  for (const p of paths) {
    const bad = artifactPathProblem(p);
    if (bad !== null) {
      problems.push({ code: 'path-escape', path: p, message: `${JSON.stringify(p)}: ${bad}` });
      continue;
    }
    if (isReservedPath(p)) {
      problems.push({ code: 'manifest-invalid', path: p, message: `${p} is a reserved name` });
      continue;
    }
    const key = p.toLowerCase();
    const prev = seen.get(key);
    if (prev !== undefined) {
      problems.push({
        code: 'manifest-invalid',
        path: p,
        message: `${p} is listed twice${prev === p ? '' : ` (as ${prev}: names differing only in case)`}`,
      });
      continue;
    }
    seen.set(key, p);
    safe.add(p);
  }
  for (const key of seen.keys()) {
    const parts = key.split('/');
    for (let i = 1; i < parts.length; i++) {
      const asFile = seen.get(parts.slice(0, i).join('/'));
      if (asFile !== undefined && safe.has(asFile)) {
        problems.push({
          code: 'manifest-invalid',
          path: asFile,
          message: `${asFile} is listed as a file and also used as a directory`,
        });
        safe.delete(asFile);
      }
    }
  }
  return { problems, safe };
}

/** checkArtifactPaths over a (schema-valid) manifest's file list. */
export function checkManifestPaths(m: Manifest): { problems: VerifyProblem[]; safe: Set<string> } {
  return checkArtifactPaths(m.files.map((f) => f.path));
}
