// Signed build artifacts: the manifest, its signature file, the result of verifying an artifact, and the
// build records the fleet log keeps. Pure zod + TypeScript (the renderer imports this).
import { z } from 'zod';

export const ARTIFACT_SCHEMA = 'edge-console.artifact/v1';
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';
/** Names an artifact reserves at its top level (compared case-insensitively: macOS/Windows file systems). */
export const RESERVED_NAMES: readonly string[] = [MANIFEST_FILE, SIGNATURE_FILE];

/** semver.org's regular expression (2.0.0), anchored. */
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const SemVer = z
  .string()
  .max(128, 'version: at most 128 characters')
  .regex(SEMVER_RE, 'expected a semantic version such as 1.4.0 or 2.0.0-rc.1');

/** Artifact (model) names end up in directory and archive names: letters, digits, . _ - only. */
export const ArtifactName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'name: 1-128 chars of letters, digits, . _ - (no spaces)');

/** Free-form identifiers (target profile id, build mode): printable, no control characters. */
const Label = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');

export const Precision = z.enum(['fp32', 'fp16', 'int8']);
export type Precision = z.infer<typeof Precision>;

export const FileRole = z.enum(['model', 'external-data', 'engine', 'report', 'other']);
export type FileRole = z.infer<typeof FileRole>;

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256)');
/** First 16 hex digits of sha256(raw 32-byte Ed25519 public key). */
export const KeyId = z.string().regex(/^[0-9a-f]{16}$/, 'expected a key id of 16 lowercase hex digits');

const base64Of = (bytes: number, what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/, `${what}: expected base64`)
    .refine((s) => base64Length(s) === bytes, `${what}: expected ${bytes} bytes`);

/** Decoded length of a (syntactically valid) base64 string. */
function base64Length(s: string): number {
  if (s.length % 4 !== 0) return -1;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** An Ed25519 public key, raw 32 bytes, base64. */
export const PublicKeyB64 = base64Of(32, 'public key');
/** An Ed25519 signature, 64 bytes, base64. */
export const SignatureB64 = base64Of(64, 'signature');

/** Any JSON value (finite numbers, no undefined): free-form parts of the manifest and build summaries. */
export const JsonObject = z.record(z.string(), z.json());
export type JsonObject = z.infer<typeof JsonObject>;

/**
 * Why a relative artifact path is unsafe or malformed, or null when it is fine. Paths are POSIX, relative,
 * normalised (no '.', '..', empty segments, trailing slash), without backslashes or control characters, so
 * they mean the same thing on every OS and cannot leave the artifact directory. Reserved top-level names
 * (manifest.json, manifest.sig) are checked separately (isReservedPath).
 */
export function artifactPathProblem(p: string): string | null {
  if (p.length === 0) return 'path is empty';
  if (p.length > 1024) return 'path is longer than 1024 characters';
  if (p.includes('\\')) return 'path contains a backslash (use / as separator)';
  if (/\p{Cc}/u.test(p)) return 'path contains control characters';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'path is absolute (must be relative to the artifact)';
  for (const seg of p.split('/')) {
    if (seg === '') return 'path has an empty segment (// or a trailing /)';
    if (seg === '.' || seg === '..') return `path contains a '${seg}' segment`;
    if (seg.length > 255) return 'a path segment is longer than 255 characters';
  }
  return null;
}

/** manifest.json / manifest.sig (case-insensitively): the names an artifact's listed files cannot take. */
export function isReservedPath(p: string): boolean {
  const lower = p.toLowerCase();
  return RESERVED_NAMES.includes(lower);
}

export const ArtifactPath = z.string().min(1).max(1024);

/** How onnxruntime must load a model file of the artifact (absent: no requirement beyond its defaults). */
export const ModelLoad = z.object({
  /**
   * The lowest graphOptimizationLevel the file is meant for: 'disabled' for a file onnxruntime already optimized,
   * 'basic' for one that also holds compact weights (int8 or float16 behind Cast nodes) to fold once at load.
   */
  graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']),
});
export type ModelLoad = z.infer<typeof ModelLoad>;

export const ArtifactFile = z.object({
  /** Relative POSIX path inside the artifact directory (see artifactPathProblem). */
  path: ArtifactPath,
  sha256: Sha256Hex,
  bytes: z.number().int().nonnegative(),
  role: FileRole,
  load: ModelLoad.optional(),
});
export type ArtifactFile = z.infer<typeof ArtifactFile>;

export const ArtifactSource = z.object({
  /** Base name of the ONNX file the build started from. */
  fileName: z.string().min(1).max(255),
  sha256: Sha256Hex,
  bytes: z.number().int().nonnegative(),
});
export type ArtifactSource = z.infer<typeof ArtifactSource>;

export const ArtifactTools = z
  .object({
    /** Edge Console version that built the artifact. */
    edgeConsole: z.string().min(1).max(64),
    onnxruntime: z.string().min(1).max(64).optional(),
  })
  .catchall(z.string().max(256));
export type ArtifactTools = z.infer<typeof ArtifactTools>;

export const ArtifactBuildInfo = z
  .object({
    id: z.string().min(1).max(128),
    durationMs: z.number().nonnegative().optional(),
  })
  .catchall(z.json());
export type ArtifactBuildInfo = z.infer<typeof ArtifactBuildInfo>;

export const ArtifactSigner = z.object({
  keyId: KeyId,
  /** Raw 32-byte Ed25519 public key, base64. Informational: trust comes from the verifier's TrustStore. */
  publicKey: PublicKeyB64,
});
export type ArtifactSigner = z.infer<typeof ArtifactSigner>;

/**
 * manifest.json. Objects are parsed loosely (unknown keys are ignored, not rejected): an incompatible change
 * bumps `schema`. Integrity never depends on re-serialising: the signature covers the file's exact bytes.
 */
export const Manifest = z.object({
  schema: z.literal(ARTIFACT_SCHEMA),
  name: ArtifactName,
  version: SemVer,
  /** Target profile id. */
  target: Label,
  precision: Precision,
  mode: Label.optional(),
  /** ISO 8601 UTC, e.g. 2025-01-01T12:00:00.000Z. */
  createdAt: z.iso.datetime(),
  source: ArtifactSource,
  /** Every file of the artifact except manifest.json and manifest.sig, sorted by path. */
  files: z.array(ArtifactFile).min(1).max(10_000),
  /** Quantization settings (free-form); null for a build that does not quantize. */
  quantization: JsonObject.nullable(),
  /** Calibration summary (samples, method, ranges count, ...); null when no calibration ran. */
  calibration: JsonObject.nullable(),
  tools: ArtifactTools,
  build: ArtifactBuildInfo,
  signer: ArtifactSigner,
});
export type Manifest = z.infer<typeof Manifest>;

/** What a caller of writeArtifact supplies: the manifest minus what the writer fills in. */
export const ManifestInput = Manifest.omit({
  schema: true,
  files: true,
  signer: true,
  createdAt: true,
}).extend({
  /** Default: now. */
  createdAt: z.iso.datetime().optional(),
});
export type ManifestInput = z.infer<typeof ManifestInput>;

/** manifest.sig: an Ed25519 signature over the exact bytes of manifest.json. */
export const SignatureFile = z.object({
  alg: z.literal('ed25519'),
  keyId: KeyId,
  signature: SignatureB64,
});
export type SignatureFile = z.infer<typeof SignatureFile>;

/** A key the verifier trusts (the console trusts its own; devices get the console's at enrolment). */
export const TrustedKey = z.object({
  keyId: KeyId,
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: PublicKeyB64,
});
export type TrustedKey = z.infer<typeof TrustedKey>;
export type TrustStore = readonly TrustedKey[];

export const VerifyProblemCode = z.enum([
  'signature',
  'untrusted-key',
  'missing-file',
  'hash-mismatch',
  'size-mismatch',
  'extra-file',
  'path-escape',
  'symlink',
  'manifest-invalid',
  /** Archives only: not a tar, a device/fifo entry, a duplicate entry, a size limit exceeded, ... */
  'archive-invalid',
]);
export type VerifyProblemCode = z.infer<typeof VerifyProblemCode>;

export const VerifyProblem = z.object({
  code: VerifyProblemCode,
  /** Relative path inside the artifact, when the problem is about one file. */
  path: z.string().optional(),
  message: z.string(),
});
export type VerifyProblem = z.infer<typeof VerifyProblem>;

export const VerifyResult = z.object({
  /** No problems at all: the signature is valid and every listed file (and nothing else) is intact. */
  ok: z.boolean(),
  /**
   * The signature was checked against a key from the caller's TrustStore. False when verifying with
   * trusted: 'embedded' (the manifest's own signer key: proves integrity, not origin) or when the key is unknown.
   */
  trusted: z.boolean(),
  /** keyId named by manifest.sig (null when the signature file is missing or unreadable). */
  keyId: KeyId.nullable(),
  /** The parsed manifest when it is valid (present even when other checks failed). */
  manifest: Manifest.optional(),
  problems: z.array(VerifyProblem),
});
export type VerifyResult = z.infer<typeof VerifyResult>;

// ---------------------------------------------------------------- builds (fleet log)

export const BuildStatus = z.enum(['succeeded', 'failed', 'cancelled']);
export type BuildStatus = z.infer<typeof BuildStatus>;

/**
 * One build as the fleet log keeps it and the UI lists it. A succeeded build names its artifact (dir,
 * manifest hash, signing key); failed and cancelled builds carry what was known when they stopped.
 * A given name + version + target + precision can succeed only once (versions are immutable).
 */
export const BuildRecord = z
  .object({
    id: z.uuid(),
    name: ArtifactName,
    version: SemVer,
    target: Label,
    precision: Precision,
    mode: Label.nullable(),
    status: BuildStatus,
    /** Start of the build, ms UTC. */
    createdAt: z.number().int().nonnegative(),
    durationMs: z.number().int().nonnegative().nullable(),
    sourceSha256: Sha256Hex.nullable(),
    sourceName: z.string().min(1).max(255).nullable(),
    artifactDir: z.string().min(1).max(4096).nullable(),
    /** sha256 of manifest.json's bytes: identifies the artifact. */
    manifestSha256: Sha256Hex.nullable(),
    keyId: KeyId.nullable(),
    /** Free-form: sizes, node counts, agreement with the fp32 model, compatibility verdict, ... */
    summary: JsonObject,
    /** Why it failed or was cancelled; null for a succeeded build. */
    error: z.string().max(10_000).nullable(),
  })
  .superRefine((b, ctx) => {
    if (b.status === 'succeeded') {
      for (const k of ['artifactDir', 'manifestSha256', 'keyId'] as const) {
        if (b[k] === null)
          ctx.addIssue({ code: 'custom', path: [k], message: 'required for a succeeded build' });
      }
      if (b.error !== null)
        ctx.addIssue({ code: 'custom', path: ['error'], message: 'a succeeded build has no error' });
    } else if (b.error === null) {
      ctx.addIssue({ code: 'custom', path: ['error'], message: `a ${b.status} build says why (error)` });
    }
  });
export type BuildRecord = z.infer<typeof BuildRecord>;

export const BuildListQuery = z.object({
  /** Default 100, at most 1000. */
  limit: z.number().int().min(1).max(1000).optional(),
  name: ArtifactName.optional(),
});
export type BuildListQuery = z.infer<typeof BuildListQuery>;
