import { describe, expect, it } from 'vitest';
import { onnx } from './schema.js';
import { int64 } from './tensors.js';

describe('int64 fields', () => {
  it('survive decode and encode exactly, including the INT64_MAX "to the end" sentinel', () => {
    // Slice ends are commonly written as INT64_MAX in attributes; a lossy codec turns them into INT64_MIN.
    const bytes = onnx.AttributeProto.encode({
      name: 'ends',
      type: onnx.AttributeProto.AttributeType.INTS,
      ints: [onnx.AttributeProto.fromObject({ ints: ['9223372036854775807'] }).ints[0]!, -1, 3],
    }).finish();
    const decoded = onnx.AttributeProto.decode(bytes);
    expect(String(decoded.ints[0])).toBe('9223372036854775807');
    expect(String(decoded.ints[1])).toBe('-1');
    expect(int64(decoded.ints[2])).toBe(3);
    expect(Buffer.from(onnx.AttributeProto.encode(decoded).finish())).toEqual(Buffer.from(bytes));
  });
});
