/**
 * Models and builds in the console: uploads (raw bytes streamed to <dataDir>/uploads/<id>/<name>), model
 * inspection, target profiles, and model builds run as jobs in a worker thread (main/builds/runner.ts), so the
 * thread that serves the UI never runs a calibration or an onnxruntime session. Every build, succeeded, failed or
 * cancelled, is recorded in the fleet log.
 *
 * Heavy modules (onnxruntime, the canvas used by preprocessing, the build pipeline) load on first use: the HTTP
 * server imports this module for the upload endpoint.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  BuildReport,
  MAX_UPLOAD_BYTES,
  UploadId,
  type CallOutput,
  type CallParsedInput,
  type ModelInfo,
  type RunningBuild,
  type UploadResult,
} from '../../shared/contract.js';
import type { BuildRecord } from '../../shared/artifact.js';
import { AppError } from '../../shared/errors.js';
import { TARGETS } from '../../shared/targets.js';
import type { BuildReport as PipelineReport } from '../../models/build/build.js';
import { checkBuildSettings } from '../../models/build/settings.js';
import { verifyArtifact } from '../../models/artifact/verify.js';
import { loadOrCreateSigningKey, trustedKeyOf } from '../../models/artifact/signing.js';
import {
  defaultBuildWorkerPath,
  inspectInWorker,
  runBuildInWorker,
  type BuildJobRequest,
} from '../builds/runner.js';
import { inspectModelFile } from '../builds/inspect.js';

export { inspectModelFile };
import type { FleetStore } from '../fleetlog/types.js';
import type { Handlers } from './dispatcher.js';
import type { EventBus } from './events.js';
import type { JobRegistry } from './jobs.js';
import { keysDir } from './paths.js';

// The wire schema of build-report.json must accept what the pipeline writes: a compile-time drift check.
type AcceptsPipelineReport<T extends BuildReport> = T;
export type _ReportDriftCheck = AcceptsPipelineReport<PipelineReport>;

// ---------------------------------------------------------------------------------------------------------------
// Uploads

export function uploadsDir(dataDir: string): string {
  return join(dataDir, 'uploads');
}

export function artifactsDir(dataDir: string): string {
  return join(dataDir, 'artifacts');
}

/** Over the upload size limit: the HTTP transport answers 413. */
export class UploadTooLargeError extends AppError {
  constructor(limit: number) {
    super('BAD_INPUT', `The file is larger than the upload limit of ${formatBytes(limit)}.`, {
      hint: 'Give the model as a path on this machine instead (models.inspect { path }), or split its weights into external data.',
    });
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(n % 1024 ** 3 === 0 ? 0 : 1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/**
 * The name an uploaded file is stored under. A name with a path in it (separators, `..`) is refused rather than
 * guessed at; characters that file systems reject or that hide a file are replaced.
 */
export function sanitizeUploadName(raw: string | null | undefined): string {
  const name = (raw ?? '').normalize('NFC');
  const refuse = (why: string): never => {
    throw new AppError('BAD_INPUT', `Upload name ${JSON.stringify(name.slice(0, 80))} ${why}.`, {
      hint: 'Send the bare file name, e.g. ?name=model.onnx.',
    });
  };
  if (name.trim() === '') refuse('is empty');
  if (name.includes('/') || name.includes('\\')) refuse('contains a path separator');
  if (name.split('.').every((p) => p === '') || name.includes('..')) refuse("contains '..'");
  let clean = name
    .replace(/\p{Cc}/gu, '')
    .replace(/[<>:"|?*]/g, '_')
    .trim()
    .replace(/[. ]+$/, '');
  if (clean.startsWith('.')) clean = `_${clean.slice(1)}`;
  if (WINDOWS_RESERVED.test(clean)) clean = `_${clean}`;
  if (Buffer.byteLength(clean) > 200) {
    const ext = /\.[A-Za-z0-9]{1,10}$/.exec(clean)?.[0] ?? '';
    while (Buffer.byteLength(clean) > 200) clean = clean.slice(0, -1 - ext.length) + ext;
  }
  if (clean === '') refuse('has no usable characters');
  return clean;
}

function isInside(root: string, inner: string): boolean {
  const rel = relative(root, inner);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function errno(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

export interface ReceiveOptions {
  /** File name as the client sent it (sanitized here). */
  name: string | null | undefined;
  /** Add to an existing upload folder. */
  uploadId?: string | null | undefined;
  /** Content-Length, when the client sent one: checked up front and against what arrived. */
  declaredBytes?: number | undefined;
}

/** Uploaded files: one folder per upload id, several files per folder (a model and its data, image sets). */
export class UploadStore {
  readonly root: string;
  readonly maxBytes: number;
  constructor(opts: { root: string; maxBytes?: number }) {
    this.root = resolve(opts.root);
    this.maxBytes = opts.maxBytes ?? MAX_UPLOAD_BYTES;
  }

  private checkId(uploadId: string): string {
    if (!UploadId.safeParse(uploadId).success) {
      throw new AppError('BAD_INPUT', 'uploadId is not an upload id.', {
        hint: 'Use the uploadId an earlier upload answered with.',
      });
    }
    return join(this.root, uploadId.toLowerCase());
  }

  /** The folder of an existing upload. */
  async dir(uploadId: string): Promise<string> {
    const dir = this.checkId(uploadId);
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) {
      throw new AppError('NOT_FOUND', `No upload ${uploadId} on this console.`, {
        hint: 'Uploads are kept for a week; upload the file again.',
      });
    }
    return dir;
  }

  /** The files of an upload (names, no partial uploads). */
  async files(uploadId: string): Promise<string[]> {
    const dir = await this.dir(uploadId);
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  /**
   * The model file of an upload: `file` when given, else the one .onnx in it (or its only file, so that a
   * mislabelled upload still gets a proper "not an ONNX model" answer from the reader).
   */
  async modelFile(uploadId: string, file?: string): Promise<string> {
    const dir = await this.dir(uploadId);
    const files = await this.files(uploadId);
    if (file !== undefined) {
      const name = sanitizeUploadName(file);
      if (!files.includes(name)) {
        throw new AppError('NOT_FOUND', `Upload ${uploadId} has no file ${JSON.stringify(name)}.`, {
          hint: `It holds: ${files.join(', ') || 'nothing'}.`,
        });
      }
      return join(dir, name);
    }
    const onnx = files.filter((f) => /\.onnx$/i.test(f));
    if (onnx.length === 1) return join(dir, onnx[0]!);
    if (onnx.length === 0 && files.length === 1) return join(dir, files[0]!);
    if (onnx.length === 0) {
      throw new AppError('MODEL_MALFORMED', `Upload ${uploadId} holds no .onnx model.`, {
        hint: 'Upload the model’s .onnx file (and its external data files next to it).',
      });
    }
    throw new AppError('BAD_INPUT', `Upload ${uploadId} holds ${onnx.length} .onnx files; say which one.`, {
      hint: `Pass file: one of ${onnx.join(', ')}.`,
    });
  }

  /** Streams one file into the upload folder: hashed and counted as it arrives, published only when complete. */
  async receive(body: AsyncIterable<Uint8Array>, opts: ReceiveOptions): Promise<UploadResult> {
    const name = sanitizeUploadName(opts.name);
    if (opts.declaredBytes !== undefined && opts.declaredBytes > this.maxBytes) {
      throw new UploadTooLargeError(this.maxBytes);
    }
    let uploadId: string;
    let dir: string;
    let created = false;
    if (opts.uploadId) {
      dir = await this.dir(opts.uploadId);
      uploadId = basename(dir);
    } else {
      uploadId = randomUUID();
      dir = join(this.root, uploadId);
      await mkdir(this.root, { recursive: true, mode: 0o700 });
      await mkdir(dir, { mode: 0o700 });
      created = true;
    }
    const final = join(dir, name);
    if (!isInside(dir, final)) throw new AppError('BAD_INPUT', 'Upload name leaves the upload folder.');
    const part = join(dir, `.part-${randomUUID()}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const fh = await open(part, 'wx', 0o600);
    try {
      try {
        for await (const chunk of body) {
          bytes += chunk.byteLength;
          if (bytes > this.maxBytes) throw new UploadTooLargeError(this.maxBytes);
          hash.update(chunk);
          let off = 0;
          while (off < chunk.byteLength) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
            off += bytesWritten;
          }
        }
      } finally {
        await fh.close();
      }
      if (opts.declaredBytes !== undefined && bytes !== opts.declaredBytes) {
        throw new AppError('BAD_INPUT', `The upload stopped after ${bytes} of ${opts.declaredBytes} bytes.`, {
          hint: 'Try again.',
        });
      }
      try {
        // link() refuses to replace an existing name: two uploads of one name cannot clobber each other.
        await link(part, final);
      } catch (err) {
        if (errno(err) === 'EEXIST') {
          throw new AppError('CONFLICT', `Upload ${uploadId} already has a file named ${name}.`, {
            hint: 'Rename the file, or start a new upload (without uploadId).',
          });
        }
        throw err;
      }
      await unlink(part).catch(() => undefined);
      return { uploadId, name, bytes, sha256: hash.digest('hex') };
    } catch (err) {
      await rm(part, { force: true }).catch(() => undefined);
      if (created) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (err instanceof AppError) throw err;
      if (errno(err) === 'ENOSPC') {
        throw new AppError('ENVIRONMENT', 'The disk is full; the upload was discarded.', { cause: err });
      }
      // A client that disconnects mid-upload ends the body stream with an error.
      throw new AppError('BAD_INPUT', 'The upload was interrupted before it was complete.', {
        hint: 'Try again.',
        cause: err,
      });
    }
  }

  /** Removes upload folders not touched for maxAgeMs. Returns how many went. */
  async prune(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory() || !UploadId.safeParse(e.name).success) continue;
      const dir = join(this.root, e.name);
      const st = await stat(dir).catch(() => null);
      if (st && now - st.mtimeMs > maxAgeMs) {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}

/** Upload stores by handler table: the HTTP server finds the core's store from the handlers it serves. */
const uploadStores = new WeakMap<object, UploadStore>();
export function attachUploads(handlers: Handlers, uploads: UploadStore): void {
  uploadStores.set(handlers, uploads);
}
export function uploadsOf(handlers: Handlers): UploadStore | undefined {
  return uploadStores.get(handlers);
}

// ---------------------------------------------------------------------------------------------------------------
// Models

// Reading and decoding a model (and, when shapes are missing, loading it in onnxruntime) runs in the build
// worker: for a large model that is seconds of work the thread serving the UI must not do.
async function inspectOffThread(
  file: string,
  nodeLimit: number | undefined,
  workerPath?: string,
): Promise<ModelInfo> {
  const path = workerPath ?? defaultBuildWorkerPath();
  if (!existsSync(path)) return inspectModelFile(file, nodeLimit);
  return inspectInWorker(file, nodeLimit, path);
}

// ---------------------------------------------------------------------------------------------------------------
// Builds

/** An error whose message names files in the console's upload folders by what the user picked instead. */
function tidyUploadPaths(err: unknown, names: [string, string][]): unknown {
  if (!(err instanceof AppError)) return err;
  let message = err.message;
  for (const [from, to] of names) message = message.split(from).join(to);
  if (message === err.message) return err;
  return new AppError(err.code, message, {
    ...(err.hint !== undefined ? { hint: err.hint } : {}),
    cause: err,
  });
}

/** A default artifact name from a file name: letters, digits, . _ - only. */
export function artifactNameFrom(fileName: string): string {
  const base = fileName.replace(/\.onnx$/i, '');
  let name = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  name = name.slice(0, 128).replace(/[-.]+$/, '');
  return name || 'model';
}

type BuildHandlerNames =
  'models.inspect' | 'targets.list' | 'builds.start' | 'builds.list' | 'builds.get' | 'builds.verify';

export interface BuildServiceOptions {
  dataDir: string;
  store: FleetStore;
  jobs: JobRegistry;
  bus: EventBus;
  uploads?: UploadStore;
  /** dist/build.worker.cjs by default. */
  workerPath?: string;
  /** Builds at once (each is a worker thread running onnxruntime); more answer CONFLICT. Default 2. */
  maxConcurrent?: number;
  /** Upload folders older than this are removed at start (default a week; 0 = never). */
  uploadMaxAgeMs?: number;
  clock?: () => number;
  log?: (msg: string) => void;
}

export interface BuildService {
  handlers: Pick<Handlers, BuildHandlerNames>;
  uploads: UploadStore;
  /** Waits (up to timeoutMs) for running builds to stop and be recorded; call after cancelling them. */
  settle(timeoutMs?: number): Promise<void>;
}

interface Running extends RunningBuild {
  outDir: string;
  done: Promise<unknown>;
}

const MAX_REPORT_BYTES = 64 * 1024 * 1024;

export function createBuildService(opts: BuildServiceOptions): BuildService {
  const { dataDir, store, jobs, bus } = opts;
  const clock = opts.clock ?? Date.now;
  const log = opts.log ?? (() => undefined);
  const uploads = opts.uploads ?? new UploadStore({ root: uploadsDir(dataDir) });
  const maxConcurrent = opts.maxConcurrent ?? 2;
  const running = new Map<string, Running>();
  const maxAge = opts.uploadMaxAgeMs ?? 7 * 24 * 3600_000;
  if (maxAge > 0) void uploads.prune(maxAge).catch(() => undefined);

  const record = async (rec: BuildRecord, jobId: string): Promise<void> => {
    await store.recordBuild(rec);
    bus.emit('build.recorded', { jobId, record: rec });
  };

  const calibrationSpec = async (
    c: NonNullable<CallParsedInput<'builds.start'>['calibration']>,
  ): Promise<string> => {
    switch (c.kind) {
      case 'generated':
        return c.spec;
      case 'upload': {
        const files = await uploads.files(c.uploadId);
        if (files.length === 0) {
          throw new AppError('BAD_INPUT', 'The calibration upload holds no files.', {
            hint: 'Pick the images (or .npy files) again.',
          });
        }
        return uploads.dir(c.uploadId);
      }
      case 'path': {
        if (!isAbsolute(c.path)) {
          throw new AppError('BAD_INPUT', `Calibration path ${c.path} is not absolute.`, {
            hint: 'Give the full path of a folder of images or .npy files on the machine the console runs on.',
          });
        }
        if (!existsSync(c.path)) {
          throw new AppError('NOT_FOUND', `No calibration data at ${c.path}.`, {
            hint: 'Give a folder of images or .npy files, or one .npy of [N, ...] samples.',
          });
        }
        return c.path;
      }
    }
  };

  const handlers: BuildService['handlers'] = {
    'models.inspect': async (input) => {
      if (!('uploadId' in input)) {
        if (!isAbsolute(input.path)) {
          throw new AppError('BAD_INPUT', `${input.path} is not an absolute path.`, {
            hint: 'Give the full path of the .onnx file on the machine the console runs on.',
          });
        }
        return inspectOffThread(input.path, input.nodeLimit, opts.workerPath);
      }
      const file = await uploads.modelFile(input.uploadId, input.file);
      try {
        return await inspectOffThread(file, input.nodeLimit, opts.workerPath);
      } catch (err) {
        // The upload folder is this console's business: name the file as the user picked it.
        throw tidyUploadPaths(err, [[file, basename(file)]]);
      }
    },

    'targets.list': () => Promise.resolve({ targets: [...TARGETS] }),

    'builds.start': async (input) => {
      // The build's own checks, before anything is queued: the form hears at once and keeps its values.
      const { target, mode } = checkBuildSettings({
        target: input.target,
        precision: input.precision,
        ...(input.mode ? { mode: input.mode } : {}),
        ...(input.calibration ? { calibration: 'given' } : {}),
        ...(input.accuracyBudget !== undefined ? { accuracyBudget: input.accuracyBudget } : {}),
        ...(input.speedPass !== undefined ? { speedPass: input.speedPass } : {}),
      });
      const modelPath = await uploads.modelFile(input.uploadId, input.file);
      const name = input.name ?? artifactNameFrom(basename(modelPath));
      const outDir = join(artifactsDir(dataDir), `${name}-${input.version}-${target.id}-${input.precision}`);
      const sameBuild = `${name} ${input.version} for ${target.id} (${input.precision})`;
      if ([...running.values()].some((r) => r.outDir === outDir)) {
        throw new AppError('CONFLICT', `${sameBuild} is being built right now.`, {
          hint: 'Wait for it to finish, or cancel it.',
        });
      }
      const earlier = (await store.listBuilds({ name, limit: 1000 })).find(
        (b) =>
          b.status === 'succeeded' &&
          b.version === input.version &&
          b.target === target.id &&
          b.precision === input.precision,
      );
      if (earlier || existsSync(outDir)) {
        throw new AppError('CONFLICT', `${sameBuild} was already built; versions are immutable.`, {
          hint: 'Bump the version (e.g. 0.1.1) or change the name.',
        });
      }
      if (running.size >= maxConcurrent) {
        throw new AppError('CONFLICT', `${running.size} builds are running already.`, {
          hint: 'Wait for one to finish, or cancel one.',
        });
      }
      const calibration = input.calibration ? await calibrationSpec(input.calibration) : undefined;
      await mkdir(artifactsDir(dataDir), { recursive: true, mode: 0o700 });

      const buildId = randomUUID();
      const req: BuildJobRequest = {
        modelPath,
        name,
        version: input.version,
        target: target.id,
        precision: input.precision,
        outDir,
        keysDir: keysDir(dataDir),
        id: buildId,
        ...(mode ? { mode } : {}),
        ...(calibration ? { calibration } : {}),
        ...(input.calibrate ? { calibrate: input.calibrate } : {}),
        ...(input.preset ? { preset: input.preset } : {}),
        ...(input.samples !== undefined ? { samples: input.samples } : {}),
        ...(input.exclude?.length ? { exclude: input.exclude } : {}),
        ...(input.accuracyBudget !== undefined ? { accuracyBudget: input.accuracyBudget } : {}),
        ...(input.sensitivity ? { sensitivity: input.sensitivity } : {}),
        ...(input.floatWeights ? { floatWeights: input.floatWeights } : {}),
        ...(input.speedPass !== undefined ? { speedPass: input.speedPass } : {}),
      };
      const started = clock();
      const entry: Running = {
        buildId,
        jobId: '',
        name,
        version: input.version,
        target: target.id,
        precision: input.precision,
        mode: mode ?? null,
        sourceName: basename(modelPath),
        startedAt: started,
        fraction: 0,
        message: 'Starting the build worker',
        outDir,
        done: Promise.resolve(),
      };
      running.set(buildId, entry);
      const job = jobs.start('build', async (signal, progress) => {
        try {
          progress(0, entry.message);
          const res = await runBuildInWorker(req, {
            signal,
            ...(opts.workerPath ? { workerPath: opts.workerPath } : {}),
            onProgress: (p) => {
              entry.fraction = Math.max(0, Math.min(1, p.fraction));
              entry.message = p.message;
              progress(p.fraction, p.message);
            },
          });
          // The console names the build before it starts (builds.start answers with the id).
          const rec: BuildRecord = { ...res.record, id: buildId };
          await record(rec, entry.jobId);
          return rec;
        } catch (caught) {
          const err = tidyUploadPaths(caught, [
            [modelPath, basename(modelPath)],
            ...(input.calibration?.kind === 'upload' && calibration
              ? ([[calibration, 'the uploaded calibration files']] as [string, string][])
              : []),
          ]);
          const { failedRecord } = await import('../../models/build/build.js');
          const rec = failedRecord(req, buildId, started, err);
          await record(rec, entry.jobId).catch((e: unknown) =>
            log(`could not record build ${buildId}: ${String(e)}`),
          );
          throw err;
        } finally {
          running.delete(buildId);
        }
      });
      entry.jobId = job.jobId;
      entry.done = job.done.catch(() => undefined);
      return { jobId: job.jobId, buildId, outDir };
    },

    'builds.list': async (q) => {
      const builds = await store.listBuilds({
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.name !== undefined ? { name: q.name } : {}),
      });
      const live = [...running.values()]
        .filter((r) => r.jobId !== '')
        .map(({ outDir: _o, done: _d, ...r }) => r)
        .sort((a, b) => b.startedAt - a.startedAt);
      return { builds, running: live };
    },

    'builds.get': async ({ id }) => {
      const rec = await store.getBuild(id);
      if (!rec) {
        throw new AppError('NOT_FOUND', `No build ${id} in the fleet log.`, {
          hint: 'Pick a build from the list of past builds.',
        });
      }
      let report: CallOutput<'builds.get'>['report'] = null;
      let reportProblem: string | null = null;
      if (rec.artifactDir) {
        const file = join(rec.artifactDir, 'build-report.json');
        try {
          const st = await stat(file);
          if (st.size > MAX_REPORT_BYTES) throw new Error(`it is over ${formatBytes(MAX_REPORT_BYTES)}`);
          const parsed = BuildReport.safeParse(JSON.parse(await readFile(file, 'utf8')));
          if (parsed.success) report = parsed.data;
          else reportProblem = `build-report.json does not match this console’s report format.`;
        } catch (err) {
          reportProblem =
            errno(err) === 'ENOENT'
              ? `The artifact (or its build-report.json) is gone from ${rec.artifactDir}.`
              : `Cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`;
        }
      }
      return { record: rec, report, reportProblem };
    },

    'builds.verify': async ({ id }) => {
      const rec = await store.getBuild(id);
      if (!rec) throw new AppError('NOT_FOUND', `No build ${id} in the fleet log.`);
      if (!rec.artifactDir) {
        throw new AppError('NOT_FOUND', `Build ${id} ${rec.status}: it has no artifact.`, {
          hint: 'Only succeeded builds have an artifact to verify.',
        });
      }
      const key = await loadOrCreateSigningKey(keysDir(dataDir));
      return verifyArtifact(rec.artifactDir, { trusted: [trustedKeyOf(key)] });
    },
  };

  return {
    handlers,
    uploads,
    async settle(timeoutMs = 35_000) {
      const all = [...running.values()].map((r) => r.done);
      if (all.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(all),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
    },
  };
}
