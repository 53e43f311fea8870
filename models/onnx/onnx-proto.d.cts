export { onnx } from 'onnx-proto';
