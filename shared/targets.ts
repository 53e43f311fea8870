/**
 * Deployment targets (what a model is built for) and the compatibility report the Builds page shows for a model on
 * one of them. Pure: zod + TypeScript, shared with the renderer.
 *
 * Every fact below comes from a source listed in the profile's `sources`:
 * - TensorRT operator lists: onnx-tensorrt `docs/operators.md` on the release branch of that TensorRT version.
 * - TensorRT Q/DQ rules: the onnx-tensorrt importer (QuantDequantLinearHelper) and the TensorRT developer guide.
 * - Edge TPU operator list: coral.ai "TensorFlow models on the Edge TPU", table of supported operations.
 */
import { z } from 'zod';
import { AppError } from './errors.js';

export const Precision = z.enum(['fp32', 'fp16', 'int8']);
export type Precision = z.infer<typeof Precision>;

export const TargetKind = z.enum(['cpu', 'jetson', 'coral']);
export type TargetKind = z.infer<typeof TargetKind>;

export const PrecisionSupport = z.object({ supported: z.boolean(), note: z.string() });
export type PrecisionSupport = z.infer<typeof PrecisionSupport>;

/** How activations may be quantized: onnxruntime takes both; TensorRT only symmetric int8 (zero point 0). */
export const ActivationEncoding = z.enum(['uint8-asymmetric', 'int8-symmetric']);
export type ActivationEncoding = z.infer<typeof ActivationEncoding>;

export const Int8Requirements = z.object({
  /** Activation encodings the runtime accepts. */
  activations: z.array(ActivationEncoding).min(1),
  /** Weights: int8 with zero point 0, one scale per output channel (or one per tensor). */
  weights: z.literal('int8-symmetric-per-channel'),
  /** Every operator must run on quantized tensors (Edge TPU): a float op is a CPU fallback, or not allowed. */
  fullInteger: z.boolean(),
  /** What the quantized model is handed over as. */
  format: z.enum(['onnx-qdq', 'tflite-full-integer']),
  note: z.string(),
});
export type Int8Requirements = z.infer<typeof Int8Requirements>;

export const RuntimeInfo = z.object({
  /** 'onnxruntime', 'TensorRT', 'Edge TPU runtime (libedgetpu)'. */
  name: z.string(),
  version: z.string(),
  /** The software release that ships it on the device: 'JetPack 6.1 / 6.2 (Jetson Linux 36.4)', ... */
  platform: z.string(),
  note: z.string().optional(),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfo>;

export const CompileTool = z.object({
  /** Executable (or in-process component) that turns the model into what the device runs. */
  name: z.string(),
  version: z.string(),
  /** Where the tool can run. */
  runsOn: z.string(),
  /** A command line a user can run by hand, with placeholders. */
  example: z.string(),
});
export type CompileTool = z.infer<typeof CompileTool>;

export const OpSupport = z.object({
  /** Where the list comes from. */
  source: z.string(),
  /** Default-domain opset range the converter/parser documents; null where it documents none. */
  opsetMin: z.number().int().nullable(),
  opsetMax: z.number().int().nullable(),
  /** ONNX operators (default domain) it takes. */
  supported: z.array(z.string()),
  /** Operators taken only under conditions, with the condition. */
  conditions: z.record(z.string(), z.string()),
  /** ONNX operator → what it becomes on the device (Edge TPU: the TFLite ops the compiler maps). */
  mapsTo: z.record(z.string(), z.string()).optional(),
});
export type OpSupport = z.infer<typeof OpSupport>;

export const TargetProfile = z.object({
  id: z.string().regex(/^[a-z0-9_-]+$/),
  label: z.string(),
  kind: TargetKind,
  /** CPU architecture of the device ('any' for the Coral accelerator, which attaches to a host over USB/PCIe). */
  arch: z.enum(['x86_64', 'aarch64', 'any']),
  accelerator: z.string().nullable(),
  precisions: z.object({ fp32: PrecisionSupport, fp16: PrecisionSupport, int8: PrecisionSupport }),
  runtime: RuntimeInfo,
  /** Device RAM (Jetson: shared by CPU and GPU); Coral: on-chip SRAM that caches parameters. null: host-dependent. */
  memoryBytes: z.number().int().positive().nullable(),
  memoryKind: z.enum(['host-ram', 'shared-ram', 'parameter-sram']),
  memoryNote: z.string(),
  /** null where int8 is not supported. */
  int8: Int8Requirements.nullable(),
  compile: CompileTool,
  /** null: every operator onnxruntime runs (the CPU targets). */
  ops: OpSupport.nullable(),
  sources: z.array(z.string().url()).min(1),
});
export type TargetProfile = z.infer<typeof TargetProfile>;

// ---------------------------------------------------------------------------------------------------------------
// TensorRT ONNX parser operator lists ("Supported: Y" rows of onnx-tensorrt docs/operators.md per release branch)
// ---------------------------------------------------------------------------------------------------------------

// prettier-ignore
const TRT_8_2_OPS = [
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool',
  'BatchNormalization', 'Cast', 'Ceil', 'Celu', 'Clip', 'Concat', 'Constant', 'ConstantOfShape', 'Conv',
  'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'DequantizeLinear', 'Div', 'Dropout', 'Einsum', 'Elu',
  'Equal', 'Erf', 'Exp', 'Expand', 'EyeLike', 'Flatten', 'Floor', 'Gather', 'GatherElements', 'GatherND', 'Gemm',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'GRU', 'HardSigmoid',
  'Identity', 'If', 'ImageScaler', 'InstanceNormalization', 'IsNaN', 'LeakyRelu', 'Less', 'LessOrEqual', 'Log',
  'LogSoftmax', 'Loop', 'LRN', 'LSTM', 'LpNormalization', 'LpPool', 'MatMul', 'Max', 'MaxPool', 'Mean', 'Min',
  'Mul', 'Neg', 'NonMaxSuppression', 'Not', 'Or', 'Pad', 'ParametricSoftplus', 'Pow', 'PRelu', 'QuantizeLinear',
  'RandomUniform', 'RandomUniformLike', 'Range', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu', 'Reshape',
  'Resize', 'ReverseSequence', 'RNN', 'Round', 'ScaledTanh', 'Scan', 'Scatter', 'ScatterElements', 'ScatterND',
  'Selu', 'Shape', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Size', 'Slice', 'Softmax', 'Softplus', 'Softsign',
  'SpaceToDepth', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'TopK',
  'Transpose', 'Unsqueeze', 'Upsample', 'Where',
];

/** 8.5 adds these to 8.2's list. */
// prettier-ignore
const TRT_8_5_ADDED = [
  'GridSample', 'HardSwish', 'MeanVarianceNormalization', 'Mod', 'NonZero', 'OneHot', 'RandomNormal',
  'RandomNormalLike', 'Reciprocal', 'RoiAlign', 'Shrink', 'Trilu', 'Xor',
];
const TRT_8_5_OPS = [...TRT_8_2_OPS, ...TRT_8_5_ADDED];
/** 10.x (10.1-GA branch) adds these to 8.5's list (8.6 added GroupNormalization, IsInf, LayerNormalization). */
// prettier-ignore
const TRT_10_ADDED = [
  'GroupNormalization', 'IsInf', 'LayerNormalization', 'CastLike', 'DeformConv', 'Gelu', 'Hardmax', 'Mish',
];
const TRT_10_OPS = [...TRT_8_5_OPS, ...TRT_10_ADDED];

const TRT_QDQ_CONDITION =
  'INT8 only, zero point must be all zeros (TensorRT supports only symmetric quantization), scales must be positive; per-channel scales only for weights (constant inputs), along the output-channel axis';

/** Restrictions the operators.md of that TensorRT version (8.2 → 8.2, 8.5 → 8.5, 10.x → 10) lists. */
function trtConditions(version: number): Record<string, string> {
  return {
    QuantizeLinear: TRT_QDQ_CONDITION,
    DequantizeLinear: TRT_QDQ_CONDITION,
    Resize:
      'modes nearest and linear only (no cubic); coordinate transformation half_pixel, pytorch_half_pixel, tf_half_pixel_for_nn, asymmetric or align_corners',
    Slice: '`axes` must be an initializer',
    AveragePool: '2D or 3D pooling only',
    ...(version < 8.5
      ? {
          Conv: '2D or 3D convolutions only; weights W must be an initializer',
          ConvTranspose: '2D or 3D deconvolutions only; weights W must be an initializer',
        }
      : {}),
    ...(version >= 10 ? { Pad: '`axes` must be an initializer' } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Edge TPU: the operations of coral.ai's table, in ONNX terms (what onnx2tf turns each ONNX op into)
// ---------------------------------------------------------------------------------------------------------------

/** ONNX op → TFLite op(s) the Edge TPU compiler maps (coral.ai table of supported operations). */
const EDGETPU_MAPS_TO: Record<string, string> = {
  Add: 'ADD',
  Sub: 'SUB',
  Mul: 'MUL',
  Max: 'MAXIMUM',
  Min: 'MINIMUM',
  Conv: 'CONV_2D / DEPTHWISE_CONV_2D',
  ConvTranspose: 'TRANSPOSE_CONV',
  BatchNormalization: 'folded into the preceding CONV_2D by the converter (else MUL + ADD)',
  Gemm: 'FULLY_CONNECTED',
  MatMul: 'FULLY_CONNECTED (2-D input, constant weights)',
  AveragePool: 'AVERAGE_POOL_2D',
  MaxPool: 'MAX_POOL_2D',
  GlobalAveragePool: 'MEAN over x/y',
  GlobalMaxPool: 'REDUCE_MAX over x/y',
  ReduceMean: 'MEAN',
  ReduceMax: 'REDUCE_MAX',
  ReduceMin: 'REDUCE_MIN',
  ReduceSum: 'SUM',
  Concat: 'CONCATENATION',
  Split: 'SPLIT',
  Slice: 'SLICE / STRIDED_SLICE',
  Pad: 'PAD',
  Reshape: 'RESHAPE',
  Flatten: 'RESHAPE',
  Squeeze: 'SQUEEZE / RESHAPE',
  Unsqueeze: 'EXPAND_DIMS / RESHAPE',
  Transpose: 'TRANSPOSE',
  SpaceToDepth: 'SPACE_TO_DEPTH',
  Resize: 'RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR',
  Upsample: 'RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR',
  Relu: 'RELU',
  Clip: 'RELU6 / RELU_N1_TO_1 / MINIMUM + MAXIMUM',
  PRelu: 'PRELU',
  Sigmoid: 'LOGISTIC',
  Tanh: 'TANH',
  Softmax: 'SOFTMAX',
  LpNormalization: 'L2_NORMALIZATION',
  LSTM: 'UNIDIRECTIONAL_SEQUENCE_LSTM',
  QuantizeLinear: 'QUANTIZE (requantization; the input QUANTIZE of a float input runs on the CPU)',
  Div: 'MUL by the reciprocal (divisor must be a constant)',
  HardSigmoid: 'no TFLite builtin: converters lower it to MUL/ADD plus a clamp',
};

const EDGETPU_CONDITIONS: Record<string, string> = {
  Conv: '2-D convolutions only',
  AveragePool: 'no fused activation function',
  MaxPool: 'no fused activation function',
  Concat: 'no fused activation; a compile-time constant input must be all zeros, with only 2 inputs',
  Gemm: 'only default weight format; output tensor is one-dimensional',
  MatMul: 'only as FULLY_CONNECTED: 2-D input and constant weights (BATCH_MATMUL is not supported)',
  ReduceMean: 'reduction along x and/or y only (NCHW axes 2 and 3)',
  Pad: 'padding along x and/or y only',
  Resize:
    '2-D nearest or linear; 3-dimensional input/output; depending on sizes the compiler may keep it on the CPU to avoid precision loss',
  Softmax: '1-D input with at most 16,000 elements',
  Squeeze: 'only when the squeezed dimensions are leading 1s (no relayout)',
  Slice: 'StridedSlice only with all strides 1',
  LSTM: 'unidirectional only',
  Clip: 'ranges [0, 6] or [-1, 1] map to RELU6 / RELU_N1_TO_1; other ranges become MINIMUM + MAXIMUM',
  Div: 'only division by a constant (DIV itself is not an Edge TPU operation)',
  HardSigmoid: 'depends on how the converter lowers it; check the edgetpu_compiler operation log',
  BatchNormalization: 'only when the converter folds it into a convolution or elementwise ops',
};

const EDGETPU_OPS = Object.keys(EDGETPU_MAPS_TO);

// ---------------------------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------------------------

const SRC = {
  ortGraphOpt: 'https://onnxruntime.ai/docs/performance/model-optimizations/graph-optimizations.html',
  ortQuant: 'https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html',
  trtOps82: 'https://github.com/onnx/onnx-tensorrt/blob/8.2-GA/docs/operators.md',
  trtOps85: 'https://github.com/onnx/onnx-tensorrt/blob/8.5-GA/docs/operators.md',
  trtOps10: 'https://github.com/onnx/onnx-tensorrt/blob/10.1-GA/docs/operators.md',
  trtQdqImporter85: 'https://github.com/onnx/onnx-tensorrt/blob/8.5-GA/builtin_op_importers.cpp',
  trtQdqImporter10: 'https://github.com/onnx/onnx-tensorrt/blob/10.1-GA/onnxOpImporters.cpp',
  trtExplicitQuant:
    'https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/quantized-types-explicit-quantization.html',
  trtSupportMatrix825:
    'https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-825/support-matrix/index.html',
  torch2trtPrecision: 'https://nvidia-ai-iot.github.io/torch2trt/v0.2.0/usage/reduced_precision.html',
  jetpack61: 'https://pytorch.org/TensorRT/getting_started/jetpack.html',
  jetpack51: 'https://developer.nvidia.com/embedded/jetpack-sdk-51',
  jetpack46: 'https://gist.github.com/Tiryoh/2b5dc1f86ab6bc3e6922e97a4c1ac2f2',
  coralModels: 'https://coral.ai/docs/edgetpu/models-intro/',
  coralCompiler: 'https://coral.ai/docs/edgetpu/compiler/',
} as const;

const TRT_EXAMPLE = (extra: string): string =>
  `/usr/src/tensorrt/bin/trtexec --onnx=model.onnx ${extra}--saveEngine=model.engine`;

const JETSON_INT8: Int8Requirements = {
  activations: ['int8-symmetric'],
  weights: 'int8-symmetric-per-channel',
  fullInteger: false,
  format: 'onnx-qdq',
  note: 'Explicit quantization: QuantizeLinear/DequantizeLinear pairs with int8 zero points of 0 (TensorRT supports only symmetric quantization), per-tensor activation scales, per-channel weight scales along the output-channel axis. Ops outside Q/DQ regions run in FP16/FP32.',
};

// ---------------------------------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------------------------------

const CPU_INT8: Int8Requirements = {
  activations: ['uint8-asymmetric', 'int8-symmetric'],
  weights: 'int8-symmetric-per-channel',
  fullInteger: false,
  format: 'onnx-qdq',
  note: 'onnxruntime runs QDQ models with uint8 (asymmetric) or int8 activations; ops it has no int8 kernel for run in float between a DequantizeLinear and a QuantizeLinear.',
};

const ORT_VERSION = '1.30.0';

export const TARGETS: readonly TargetProfile[] = [
  {
    id: 'cpu-x86_64',
    label: 'CPU (x86-64, onnxruntime)',
    kind: 'cpu',
    arch: 'x86_64',
    accelerator: null,
    precisions: {
      fp32: { supported: true, note: 'Native.' },
      fp16: {
        supported: false,
        note: 'The CPU execution provider computes in fp32; an fp16 model only saves file size.',
      },
      int8: { supported: true, note: 'QDQ models; fastest with VNNI (AVX512-VNNI / AVX-VNNI) CPUs.' },
    },
    runtime: {
      name: 'onnxruntime',
      version: ORT_VERSION,
      platform: 'onnxruntime-node (bundled with the app)',
    },
    memoryBytes: null,
    memoryKind: 'host-ram',
    memoryNote: 'Host RAM; depends on the machine.',
    int8: CPU_INT8,
    compile: {
      name: 'onnxruntime graph optimizer',
      version: ORT_VERSION,
      runsOn: 'any host (in process)',
      example:
        'SessionOptions { graphOptimizationLevel: "extended", optimizedModelFilePath: "model.opt.onnx" }',
    },
    ops: null,
    sources: [SRC.ortGraphOpt, SRC.ortQuant],
  },
  {
    id: 'cpu-arm64',
    label: 'CPU (ARM64, onnxruntime)',
    kind: 'cpu',
    arch: 'aarch64',
    accelerator: null,
    precisions: {
      fp32: { supported: true, note: 'Native.' },
      fp16: {
        supported: false,
        note: 'Most CPU kernels compute in fp32; an fp16 model only saves file size.',
      },
      int8: {
        supported: true,
        note: 'QDQ models; uses the dot-product instructions of ARMv8.2+ cores when present.',
      },
    },
    runtime: { name: 'onnxruntime', version: ORT_VERSION, platform: 'onnxruntime for linux-arm64' },
    memoryBytes: null,
    memoryKind: 'host-ram',
    memoryNote: 'Device RAM; depends on the board.',
    int8: CPU_INT8,
    compile: {
      name: 'onnxruntime graph optimizer',
      version: ORT_VERSION,
      runsOn: 'any host (in process); layout-level optimizations only on the device itself',
      example:
        'SessionOptions { graphOptimizationLevel: "extended", optimizedModelFilePath: "model.opt.onnx" }',
    },
    ops: null,
    sources: [SRC.ortGraphOpt, SRC.ortQuant],
  },
  {
    id: 'jetson-orin',
    label: 'NVIDIA Jetson Orin (Nano / NX / AGX), JetPack 6',
    kind: 'jetson',
    arch: 'aarch64',
    accelerator: 'NVIDIA Ampere GPU, compute capability 8.7 (plus DLA on Orin NX / AGX)',
    precisions: {
      fp32: { supported: true, note: 'TF32 tensor cores on Ampere.' },
      fp16: { supported: true, note: 'FP16 tensor cores.' },
      int8: { supported: true, note: 'INT8 tensor cores; explicit quantization from a Q/DQ ONNX model.' },
    },
    runtime: {
      name: 'TensorRT',
      version: '10.3',
      platform: 'JetPack 6.1 / 6.2 (CUDA 12.6, cuDNN 9.3)',
      note: 'JetPack 6.0 ships TensorRT 8.6. Engines are tied to the TensorRT version and GPU they were built on.',
    },
    memoryBytes: 4 * 1024 ** 3,
    memoryKind: 'shared-ram',
    memoryNote:
      'Smallest module of the family (Orin Nano 4GB); Orin NX has 8/16 GB, AGX Orin 32/64 GB. CPU and GPU share it.',
    int8: JETSON_INT8,
    compile: {
      name: 'trtexec',
      version: 'TensorRT 10.3',
      runsOn: 'the Jetson itself (engines are not portable across GPUs or TensorRT versions)',
      example: TRT_EXAMPLE('--int8 --fp16 '),
    },
    ops: {
      source:
        'onnx-tensorrt 10.1-GA docs/operators.md (newest stored release notes for TensorRT 10; 10.3 may take a few more ops)',
      opsetMin: 9,
      opsetMax: 20,
      supported: TRT_10_OPS,
      conditions: trtConditions(10),
    },
    sources: [
      SRC.trtOps10,
      SRC.trtQdqImporter10,
      SRC.trtExplicitQuant,
      SRC.trtSupportMatrix825,
      SRC.jetpack61,
    ],
  },
  {
    id: 'jetson-xavier-nx',
    label: 'NVIDIA Jetson Xavier NX, JetPack 5.1',
    kind: 'jetson',
    arch: 'aarch64',
    accelerator: 'NVIDIA Volta GPU, compute capability 7.2 (plus 2 DLA cores)',
    precisions: {
      fp32: { supported: true, note: 'Native.' },
      fp16: { supported: true, note: 'FP16 tensor cores.' },
      int8: { supported: true, note: 'INT8 tensor cores; explicit quantization from a Q/DQ ONNX model.' },
    },
    runtime: {
      name: 'TensorRT',
      version: '8.5.2',
      platform: 'JetPack 5.1.x (Jetson Linux 35, CUDA 11.4, cuDNN 8.6)',
      note: 'JetPack 5 is the last release for Xavier. Engines are tied to the TensorRT version and GPU.',
    },
    memoryBytes: 8 * 1024 ** 3,
    memoryKind: 'shared-ram',
    memoryNote: '8 GB module (a 16 GB module exists). CPU and GPU share it.',
    int8: JETSON_INT8,
    compile: {
      name: 'trtexec',
      version: 'TensorRT 8.5.2',
      runsOn: 'the Jetson itself',
      example: TRT_EXAMPLE('--int8 --fp16 '),
    },
    ops: {
      source: 'onnx-tensorrt 8.5-GA docs/operators.md',
      opsetMin: null,
      opsetMax: 17,
      supported: TRT_8_5_OPS,
      conditions: trtConditions(8.5),
    },
    sources: [
      SRC.trtOps85,
      SRC.trtQdqImporter85,
      SRC.trtExplicitQuant,
      SRC.trtSupportMatrix825,
      SRC.jetpack51,
    ],
  },
  {
    id: 'jetson-nano',
    label: 'NVIDIA Jetson Nano, JetPack 4.6',
    kind: 'jetson',
    arch: 'aarch64',
    accelerator: 'NVIDIA Maxwell GPU, compute capability 5.3',
    precisions: {
      fp32: { supported: true, note: 'Native.' },
      fp16: { supported: true, note: 'Native FP16 arithmetic (no tensor cores).' },
      int8: {
        supported: false,
        note: 'Maxwell (SM 5.3) has no INT8 support in TensorRT (hardware precision matrix: INT8 No). Build FP16.',
      },
    },
    runtime: {
      name: 'TensorRT',
      version: '8.2.1',
      platform: 'JetPack 4.6.1 / 4.6.2 (Jetson Linux R32.7, CUDA 10.2)',
      note: 'JetPack 4.6 is the last release for the Nano.',
    },
    memoryBytes: 4 * 1024 ** 3,
    memoryKind: 'shared-ram',
    memoryNote: '4 GB (the 2 GB developer kit has half). CPU and GPU share it.',
    int8: null,
    compile: {
      name: 'trtexec',
      version: 'TensorRT 8.2.1',
      runsOn: 'the Jetson itself',
      example: TRT_EXAMPLE('--fp16 '),
    },
    ops: {
      source: 'onnx-tensorrt 8.2-GA docs/operators.md',
      opsetMin: null,
      opsetMax: 13,
      supported: TRT_8_2_OPS,
      conditions: trtConditions(8.2),
    },
    sources: [SRC.trtOps82, SRC.trtSupportMatrix825, SRC.torch2trtPrecision, SRC.jetpack46],
  },
  {
    id: 'coral-edgetpu',
    label: 'Google Coral Edge TPU (USB / M.2 / PCIe / Dev Board)',
    kind: 'coral',
    arch: 'any',
    accelerator: 'Edge TPU (4 TOPS int8)',
    precisions: {
      fp32: { supported: false, note: 'The Edge TPU runs only 8-bit quantized TensorFlow Lite models.' },
      fp16: { supported: false, note: 'The Edge TPU runs only 8-bit quantized TensorFlow Lite models.' },
      int8: {
        supported: true,
        note: 'Full-integer: every tensor int8/uint8, every op quantized; the first op that is not runs on the CPU, and everything after it too.',
      },
    },
    runtime: {
      name: 'Edge TPU runtime (libedgetpu)',
      version: '16',
      platform: 'TensorFlow Lite interpreter with the Edge TPU delegate',
    },
    memoryBytes: 8 * 1024 ** 2,
    memoryKind: 'parameter-sram',
    memoryNote:
      'About 8 MB of on-chip SRAM caches parameters; what does not fit streams from host memory on every inference (slower). The compiler reports the real split.',
    int8: {
      activations: ['uint8-asymmetric', 'int8-symmetric'],
      weights: 'int8-symmetric-per-channel',
      fullInteger: true,
      format: 'tflite-full-integer',
      note: 'Tensor parameters 8-bit (int8 or uint8), sizes constant at compile time, at most 3 innermost dimensions larger than 1. A static INT8 build exports the full-integer TFLite model (model.tflite) that edgetpu_compiler takes.',
    },
    compile: {
      name: 'edgetpu_compiler',
      version: '16.0',
      runsOn: 'x86-64 Debian/Ubuntu only (or Coral’s Colab notebook)',
      example: 'edgetpu_compiler -s -o out/ model_full_integer_quant.tflite',
    },
    ops: {
      source:
        'coral.ai "TensorFlow models on the Edge TPU", supported operations table, mapped to the ONNX ops a converter turns into them',
      opsetMin: null,
      opsetMax: null,
      supported: EDGETPU_OPS,
      conditions: EDGETPU_CONDITIONS,
      mapsTo: EDGETPU_MAPS_TO,
    },
    sources: [SRC.coralModels, SRC.coralCompiler],
  },
];

export const TARGET_IDS = TARGETS.map((t) => t.id);

/** The profile with this id; NOT_FOUND naming the valid ids otherwise. */
export function getTarget(id: string): TargetProfile {
  const t = TARGETS.find((p) => p.id === id);
  if (!t) {
    throw new AppError('NOT_FOUND', `Unknown target "${id}".`, {
      hint: `Valid targets: ${TARGET_IDS.join(', ')}.`,
    });
  }
  return t;
}

/** TensorRT major.minor of a Jetson profile (10.3 → 10.3, 8.5.2 → 8.5); undefined for other kinds. */
export function tensorRtVersion(target: TargetProfile): { major: number; minor: number } | undefined {
  if (target.kind !== 'jetson') return undefined;
  const m = /^(\d+)\.(\d+)/.exec(target.runtime.version);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Compatibility report (models/compat/report.ts fills it; the UI shows it)
// ---------------------------------------------------------------------------------------------------------------

export const Severity = z.enum(['error', 'warning', 'info']);
export type Severity = z.infer<typeof Severity>;

export const IssueCategory = z.enum(['ops', 'precision', 'partition', 'memory', 'shapes', 'opset']);
export type IssueCategory = z.infer<typeof IssueCategory>;

export const NodeRef = z.object({
  /** First few node names (or `OpType#index` for unnamed nodes). */
  names: z.array(z.string()),
  count: z.number().int().nonnegative(),
});
export type NodeRef = z.infer<typeof NodeRef>;

export const CompatIssue = z.object({
  severity: Severity,
  category: IssueCategory,
  /** Stable machine code, e.g. 'unsupported-op', 'qdq-nonzero-zero-point'. */
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  nodes: NodeRef.optional(),
});
export type CompatIssue = z.infer<typeof CompatIssue>;

export const UnsupportedOp = z.object({
  opType: z.string(),
  domain: z.string(),
  nodes: NodeRef,
  reason: z.string(),
});
export type UnsupportedOp = z.infer<typeof UnsupportedOp>;

export const PartitionSide = z.object({
  nodes: z.number().int().nonnegative(),
  /** By operator, most frequent first. */
  ops: z.array(z.object({ op: z.string(), count: z.number().int().positive() })),
  /** Parameter bytes once quantized to 8 bits (approximate: one byte per weight element). */
  weightBytes: z.number().int().nonnegative(),
});
export type PartitionSide = z.infer<typeof PartitionSide>;

export const EdgeTpuPartition = z.object({
  /** The first operation that cannot run on the Edge TPU: it and everything after it run on the CPU. */
  splitAt: z
    .object({ name: z.string(), opType: z.string(), index: z.number().int(), reason: z.string() })
    .nullable(),
  tpu: PartitionSide,
  cpu: PartitionSide,
  /** Nodes that disappear in conversion (constants, shape arithmetic on static shapes, Q/DQ folded into tensors). */
  folded: z.number().int().nonnegative(),
  note: z.string(),
});
export type EdgeTpuPartition = z.infer<typeof EdgeTpuPartition>;

export const MemoryCheck = z.object({
  /** Parameter bytes as stored in the model. */
  modelWeightBytes: z.number().int().nonnegative(),
  /** Parameter bytes at the deployed precision (fp16 halves float weights, int8 quarters them). */
  deployedWeightBytes: z.number().int().nonnegative(),
  limitBytes: z.number().int().positive().nullable(),
  limitKind: z.enum(['host-ram', 'shared-ram', 'parameter-sram']),
  fits: z.boolean().nullable(),
  note: z.string(),
});
export type MemoryCheck = z.infer<typeof MemoryCheck>;

export const DynamicInput = z.object({
  name: z.string(),
  shape: z.array(z.union([z.number(), z.string()])).nullable(),
  /** Indices of the dimensions that are not fixed numbers. */
  dynamicDims: z.array(z.number().int().nonnegative()),
});
export type DynamicInput = z.infer<typeof DynamicInput>;

export const CompatReport = z.object({
  targetId: z.string(),
  targetLabel: z.string(),
  precision: Precision,
  /** No issue of severity 'error'. */
  ok: z.boolean(),
  /** One sentence for the UI. */
  verdict: z.string(),
  model: z.object({
    nodes: z.number().int().nonnegative(),
    opsets: z.array(z.object({ domain: z.string(), version: z.number().int() })),
    /** Has QuantizeLinear/DequantizeLinear (QDQ format) or QLinearConv / ConvInteger-style ops (QOperator format). */
    quantized: z.enum(['none', 'qdq', 'qoperator']),
  }),
  unsupportedOps: z.array(UnsupportedOp),
  issues: z.array(CompatIssue),
  partition: EdgeTpuPartition.nullable(),
  memory: MemoryCheck,
  dynamicInputs: z.array(DynamicInput),
});
export type CompatReport = z.infer<typeof CompatReport>;
