// onnx-proto is CommonJS that assigns its namespace in a way Node's ESM loader cannot see as a named export, so
// `import { onnx } from 'onnx-proto'` fails under plain Node (tsx, scripts). This re-export is one Node can see.
'use strict';
exports.onnx = require('onnx-proto').onnx;
