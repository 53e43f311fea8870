import { z } from 'zod';
import {
  ArtifactName,
  BuildListQuery,
  BuildRecord,
  Precision,
  SemVer,
  Sha256Hex,
  VerifyResult,
} from './artifact.js';
import { WireError } from './errors.js';
import { DeviceRow, DeviceStatus, FleetEvent, Series, SeriesQuery, SparklineQuery } from './fleet.js';
import { CompatReport, TARGET_IDS, TargetProfile } from './targets.js';
import { DeviceId, DeviceIdentity } from './telemetry.js';

// ---------------------------------------------------------------- uploads, models and builds

/**
 * Raw-byte uploads (a model, its external data, calibration images) go to this path, not through a call:
 * `POST /api/upload?name=<file name>[&uploadId=<id>]`, body = the file's bytes, same bearer token as /api/call/.
 * Files sent with the same uploadId land in one folder. The answer is a CallResult whose value is an UploadResult.
 */
export const UPLOAD_PATH = '/api/upload';
/** Default upper bound of one uploaded file (the server answers 413 above it). */
export const MAX_UPLOAD_BYTES = 4 * 1024 ** 3;

export const UploadId = z.uuid();
export const UploadResult = z.object({
  uploadId: UploadId,
  /** The file name as stored (sanitized). */
  name: z.string().min(1).max(255),
  bytes: z.number().int().nonnegative(),
  sha256: Sha256Hex,
});
export type UploadResult = z.infer<typeof UploadResult>;

/** A file name inside an upload folder: no separators, no '.'/'..', no control characters. */
export const UploadFileName = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !/[/\\\p{Cc}]/u.test(s) && s !== '.' && s !== '..', 'must be a plain file name');

const ShapeDim = z.union([z.number(), z.string()]);
export const ValueInfo = z.object({
  name: z.string(),
  elemType: z.string(),
  shape: z.array(ShapeDim).nullable(),
  source: z.enum(['model', 'onnxruntime']),
});
export type ValueInfo = z.infer<typeof ValueInfo>;

export const GraphNode = z.object({
  name: z.string(),
  opType: z.string(),
  domain: z.string(),
  inputs: z.array(z.string()),
  outputs: z.array(z.string()),
  attributes: z.record(z.string(), z.string()),
});
export type GraphNode = z.infer<typeof GraphNode>;

/** Calibration data the build can generate for a model, when it looks like one of the PP-OCR models. */
export const GeneratedCalibrationKind = z.enum(['ocr-pages', 'ocr-lines']);
export type GeneratedCalibrationKind = z.infer<typeof GeneratedCalibrationKind>;

export const PresetName = z.enum(['ppocr-det', 'ppocr-rec', 'ppocr-cls', 'imagenet', 'raw01']);
export type PresetName = z.infer<typeof PresetName>;

export const CalibrationMethod = z.enum(['minmax', 'percentile', 'entropy']);
export type CalibrationMethod = z.infer<typeof CalibrationMethod>;

/** What models.inspect answers: the model's interface, operators, parameters and the head of its graph. */
export const ModelInfo = z.object({
  fileName: z.string(),
  fileBytes: z.number().int().nonnegative(),
  producer: z.object({ name: z.string(), version: z.string() }),
  irVersion: z.number().int(),
  domain: z.string(),
  modelVersion: z.number(),
  docString: z.string(),
  opsets: z.array(z.object({ domain: z.string(), version: z.number().int() })),
  inputs: z.array(ValueInfo),
  outputs: z.array(ValueInfo),
  /** Most frequent first. */
  operators: z.array(z.object({ op: z.string(), count: z.number().int() })),
  nodeCount: z.number().int().nonnegative(),
  parameters: z.object({
    count: z.number().nonnegative(),
    bytes: z.number().nonnegative(),
    initializers: z.number().int().nonnegative(),
    constants: z.number().int().nonnegative(),
    byType: z.record(z.string(), z.object({ count: z.number(), bytes: z.number() })),
  }),
  externalData: z.array(z.object({ location: z.string(), tensors: z.number().int(), bytes: z.number() })),
  metadata: z.record(z.string(), z.string()),
  /** The first nodes of the main graph (see `total`). */
  graph: z.object({ name: z.string(), nodes: z.array(GraphNode), total: z.number().int().nonnegative() }),
  /** Preprocessing the model's interface suggests (null: unsure) and the generated data that fits it. */
  suggested: z.object({
    preset: PresetName.nullable(),
    calibration: GeneratedCalibrationKind.nullable(),
  }),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const BuildCalibration = z.discriminatedUnion('kind', [
  /** `gen:ocr-pages:<n>[:seed]` (PP-OCR det) or `gen:ocr-lines:<n>[:seed]` (rec / cls). */
  z
    .object({
      kind: z.literal('generated'),
      spec: z
        .string()
        .regex(
          /^gen:ocr-(lines|pages):\d{1,6}(:\d{1,9})?$/,
          'expected gen:ocr-pages:<n> or gen:ocr-lines:<n>',
        ),
    })
    .strict(),
  /** Images or .npy files uploaded into one upload folder. */
  z.object({ kind: z.literal('upload'), uploadId: UploadId }).strict(),
  /** A folder (or one .npy) on the machine the console runs on. */
  z.object({ kind: z.literal('path'), path: z.string().min(1).max(4096) }).strict(),
]);
export type BuildCalibration = z.infer<typeof BuildCalibration>;

/** Finite numbers the build computed; Infinity/NaN (identical outputs, empty sets) arrive as null in JSON. */
const Measure = z.number().nullable();

const Agreement = z.object({ cosine: Measure, minCosine: Measure, sqnrDb: Measure });

const ModelFacts = z.object({
  nodes: z.number().int().nonnegative(),
  opCounts: z.record(z.string(), z.number().int()),
  parameters: z.number().nonnegative(),
  parameterBytes: z.number().nonnegative(),
  fileBytes: z.number().nonnegative(),
  opset: z.number().int(),
});

/** Why a node stayed float, as a category the CLI and the Builds page summarize and filter by. */
export const KEPT_FLOAT_KINDS = [
  'accuracy',
  'crushed',
  'slower',
  'no-gain',
  'excluded',
  'unsupported',
  'depthwise',
  'unfed',
] as const;
export type KeptFloatKind = (typeof KEPT_FLOAT_KINDS)[number];
export const KeptFloatNode = z.object({
  node: z.string(),
  opType: z.string(),
  reason: z.string(),
  /** Absent in reports of older builds and in FP16's list. */
  kind: z.enum(KEPT_FLOAT_KINDS).optional(),
});
export type KeptFloatNode = z.infer<typeof KeptFloatNode>;
export const LayerSqnr = z.object({
  node: z.string(),
  opType: z.string(),
  tensor: z.string(),
  sqnrDb: Measure,
});
export type LayerSqnr = z.infer<typeof LayerSqnr>;

const TfliteIo = z.object({
  name: z.string(),
  shape: z.array(z.number()),
  onnxShape: z.array(z.number()),
  layout: z.enum(['NHWC', 'as-is']),
  /** 'frontier': a value the ONNX tail of a split export reads, not a model output. */
  role: z.literal('frontier').optional(),
});

/** build-report.json as the Builds page reads it (models/build/build.ts writes it). */
export const BuildReport = z.object({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  target: z.string(),
  precision: Precision,
  mode: z.string().nullable(),
  source: ModelFacts.extend({ fileName: z.string(), sha256: z.string() }),
  output: ModelFacts.extend({
    quantizedNodes: z.number().int().nonnegative(),
    floatNodes: z.number().int().nonnegative(),
  }),
  cleanup: z.object({
    foldedConstants: z.number(),
    fusedBatchNorms: z.number(),
    removedNodes: z.number(),
    fused: z.object({
      foldedIntoConvOutput: z.number(),
      foldedIntoConvInput: z.number(),
      hardSwish: z.number(),
      nodesBefore: z.number(),
      nodesAfter: z.number(),
    }),
    opset: z.object({ from: z.number(), to: z.number(), rewritten: z.number() }),
    /** x86-64 CPU builds: scalar Mul/Add turned into BatchNormalization for onnxruntime's NCHWc layout. */
    affineToBatchNorm: z.number().optional(),
  }),
  fp16: z
    .object({
      convertedInitializers: z.number(),
      convertedNodes: z.number(),
      castsInserted: z.number(),
      keptFloat32: z.array(KeptFloatNode),
      clamped: z.array(
        z.object({ tensor: z.string(), count: z.number(), maxAbs: Measure, flushed: z.number() }),
      ),
      bytesBefore: z.number(),
      bytesAfter: z.number(),
    })
    .nullable(),
  quantization: z
    .object({
      mode: z.enum(['static', 'dynamic']),
      quantized: z.array(z.string()),
      keptFloat: z.array(KeptFloatNode),
      layers: z.array(LayerSqnr),
      calibration: z
        .object({
          method: z.string(),
          samples: z.number(),
          tensors: z.number(),
          inferenceMs: z.number(),
          totalMs: z.number(),
        })
        .nullable(),
      agreement: Agreement.nullable(),
      /** The samples `agreement` was measured on (absent in reports of older builds). */
      agreementSamples: z.object({ count: z.number(), heldOut: z.boolean() }).optional(),
      /** How the weights of layers kept float are stored (absent in reports of older builds). */
      floatWeights: z
        .object({ storage: z.enum(['float32', 'float16', 'int8']), tensors: z.number() })
        .optional(),
      /** The speed pass, when the build ran one (absent otherwise). */
      speed: z
        .object({
          islands: z.number(),
          /** Islands estimated from the profiles (absent in reports of older builds: none). */
          screened: z.number().optional(),
          /** Why onnxruntime's profiler failed, when it did (the pass then timed groups one by one). */
          profileError: z.string().optional(),
          /** Islands timed (absent in reports of older builds: all). */
          tested: z.number().optional(),
          droppedIslands: z.number(),
          droppedNodes: z.number(),
          beforeMs: z.number(),
          afterMs: z.number(),
          ms: z.number(),
        })
        .optional(),
    })
    .nullable(),
  compat: CompatReport,
  /** Full-integer targets (Coral): the exported TFLite model and its check in TensorFlow Lite, or why none. */
  tflite: z
    .union([
      z.object({
        file: z.string(),
        bytes: z.number(),
        inputs: z.array(TfliteIo),
        outputs: z.array(TfliteIo),
        operators: z.record(z.string(), z.number()),
        tensors: z.number(),
        /** Where the export split the model: the rest ships as an ONNX model (file) for the device's CPU. */
        split: z
          .object({
            at: z.object({ node: z.string(), opType: z.string(), reason: z.string() }),
            file: z.string(),
            nodes: z.number().int(),
            inputs: z.array(z.string()),
            outputs: z.array(z.string()),
          })
          .optional(),
        check: z.union([
          z.object({ cosine: Measure, minCosine: Measure, samples: z.number().int() }),
          z.object({ skipped: z.string() }),
        ]),
      }),
      z.object({ error: z.string() }),
    ])
    .optional(),
  compile: z.object({
    tool: z.string(),
    toolVersion: z.string().nullable(),
    status: z.enum(['compiled', 'skipped', 'failed']),
    message: z.string(),
    files: z.array(z.object({ path: z.string(), role: z.string() })),
    details: z.record(z.string(), z.unknown()),
  }),
  check: z.union([Agreement.extend({ samples: z.number().int() }), z.object({ skipped: z.string() })]),
  sizeRatio: z.number(),
  durationMs: z.number(),
  stages: z.array(z.object({ stage: z.string(), ms: z.number() })),
});
export type BuildReport = z.infer<typeof BuildReport>;

/** A build still running (builds.list), so a reopened page can follow it. */
export const RunningBuild = z.object({
  buildId: z.uuid(),
  jobId: z.string(),
  name: ArtifactName,
  version: z.string(),
  target: z.string(),
  precision: Precision,
  mode: z.string().nullable(),
  sourceName: z.string(),
  startedAt: z.number().int(),
  fraction: z.number().min(0).max(1),
  message: z.string(),
});
export type RunningBuild = z.infer<typeof RunningBuild>;

/**
 * The one API contract. Every call: name -> { input, output }. Both transports (Electron IPC and
 * loopback HTTP/WebSocket) dispatch into one handler table typed from this object, and validate
 * input before a handler sees it and output before it leaves.
 */
export const contract = {
  'app.info': {
    input: z.object({}).strict(),
    output: z.object({
      name: z.string(),
      version: z.string(),
      transport: z.enum(['electron', 'http']),
      dataDir: z.string(),
      deviceCount: z.number().int(),
      startedTs: z.number().int(),
    }),
  },
  'fleet.list': {
    input: z
      .object({
        search: z.string().max(200).optional(),
        status: z.array(DeviceStatus).optional(),
      })
      .strict(),
    output: z.object({
      devices: z.array(DeviceRow),
      counts: z.record(z.string(), z.number().int()),
      asOfTs: z.number().int(),
    }),
  },
  'fleet.get': {
    input: z.object({ deviceId: DeviceId }).strict(),
    output: z.object({
      device: DeviceRow,
      identity: DeviceIdentity.nullable(),
      events: z.array(FleetEvent),
    }),
  },
  'fleet.series': {
    input: SeriesQuery,
    output: Series,
  },
  'fleet.sparklines': {
    input: SparklineQuery,
    output: z.object({
      metric: z.string(),
      fromTs: z.number().int(),
      stepMs: z.number().int(),
      series: z.record(z.string(), z.array(z.number().nullable())),
    }),
  },
  'fleet.events': {
    input: z
      .object({
        deviceId: DeviceId.optional(),
        limit: z.number().int().min(1).max(1000).default(200),
        beforeId: z.number().int().optional(),
      })
      .strict(),
    output: z.object({ events: z.array(FleetEvent) }),
  },
  'fleet.enroll': {
    input: z
      .object({
        url: z
          .string()
          .url()
          .refine((u) => /^https?:\/\//.test(u), 'agent URL must be http:// or https://'),
        token: z.string().min(16).max(512),
        name: z.string().max(128).optional(),
      })
      .strict(),
    output: z.object({ device: DeviceRow }),
  },
  'fleet.remove': {
    input: z.object({ deviceId: DeviceId }).strict(),
    output: z.object({ removed: z.boolean() }),
  },
  'models.inspect': {
    input: z.union([
      z
        .object({
          uploadId: UploadId,
          /** Which file of the upload, when it holds more than one .onnx. */
          file: UploadFileName.optional(),
          nodeLimit: z.number().int().min(0).max(5000).optional(),
        })
        .strict(),
      z
        .object({
          /** An .onnx file on the machine the console runs on (absolute path). */
          path: z.string().min(1).max(4096),
          nodeLimit: z.number().int().min(0).max(5000).optional(),
        })
        .strict(),
    ]),
    output: ModelInfo,
  },
  'targets.list': {
    input: z.object({}).strict(),
    output: z.object({ targets: z.array(TargetProfile) }),
  },
  'builds.start': {
    input: z
      .object({
        uploadId: UploadId,
        file: UploadFileName.optional(),
        /** Artifact name; default: the model file's name. */
        name: ArtifactName.optional(),
        version: SemVer,
        target: z.string().refine((t) => TARGET_IDS.includes(t), `target: one of ${TARGET_IDS.join(', ')}`),
        precision: Precision,
        mode: z.enum(['static', 'dynamic']).optional(),
        calibration: BuildCalibration.optional(),
        calibrate: CalibrationMethod.optional(),
        preset: PresetName.optional(),
        samples: z.number().int().min(1).max(100_000).optional(),
        exclude: z.array(z.string().min(1).max(256)).max(1000).optional(),
        accuracyBudget: z.number().gt(0).lte(1).optional(),
        sensitivity: z.enum(['channel', 'layer']).optional(),
        /** INT8 on CPU targets: storage of the weights of layers kept float (default auto). */
        floatWeights: z.enum(['auto', 'float32', 'float16', 'int8']).optional(),
        /** Static INT8 for this computer's CPU type: keep float the int8 node groups measured slower here. */
        speedPass: z.boolean().optional(),
      })
      .strict(),
    output: z.object({ jobId: z.string(), buildId: z.uuid(), outDir: z.string() }),
  },
  'builds.list': {
    input: BuildListQuery.strict(),
    output: z.object({ builds: z.array(BuildRecord), running: z.array(RunningBuild) }),
  },
  'builds.get': {
    input: z.object({ id: z.uuid() }).strict(),
    output: z.object({
      record: BuildRecord,
      /** build-report.json of the artifact; null for failed builds or when it cannot be read. */
      report: BuildReport.nullable(),
      /** Why `report` is null for a succeeded build. */
      reportProblem: z.string().nullable(),
    }),
  },
  'builds.verify': {
    input: z.object({ id: z.uuid() }).strict(),
    output: VerifyResult,
  },
  'jobs.cancel': {
    input: z.object({ jobId: z.string() }).strict(),
    output: z.object({ cancelled: z.boolean() }),
  },
} as const;

export type Contract = typeof contract;
export type CallName = keyof Contract;
export type CallInput<K extends CallName> = z.input<Contract[K]['input']>;
export type CallParsedInput<K extends CallName> = z.output<Contract[K]['input']>;
export type CallOutput<K extends CallName> = z.output<Contract[K]['output']>;

export const CALL_NAMES = Object.keys(contract) as CallName[];
export function isCallName(name: unknown): name is CallName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(contract, name);
}

/** Push events from the core to every client. */
export const events = {
  /** Rows whose state changed since the last push (coalesced, at most a few per second). */
  'fleet.updated': z.object({ devices: z.array(DeviceRow), asOfTs: z.number().int() }),
  'fleet.event': FleetEvent,
  'job.progress': z.object({
    jobId: z.string(),
    kind: z.string(),
    fraction: z.number().min(0).max(1),
    message: z.string(),
  }),
  'job.done': z.object({
    jobId: z.string(),
    kind: z.string(),
    ok: z.boolean(),
    error: WireError.optional(),
  }),
  /** A build finished (succeeded, failed or cancelled) and is in the fleet log. Sent before its job.done. */
  'build.recorded': z.object({ jobId: z.string(), record: BuildRecord }),
} as const;

export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<K extends EventName> = z.output<Events[K]>;
export const EVENT_NAMES = Object.keys(events) as EventName[];
export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

/** Wire envelopes shared by both transports. */
export const CallResult = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: WireError }),
]);
export type CallResult = z.infer<typeof CallResult>;

/** WebSocket frames server -> client. */
export const WsServerFrame = z.object({ event: z.string(), payload: z.unknown() });
