// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * Binary arguments across the comm: like Socket.IO's own attachments, every binary value
 * is replaced by a placeholder `{"_jrt_buffer": n}` and sent as the n-th comm buffer.
 */

const KEY = '_jrt_buffer';

function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** Split binary values out of `value`; returns the JSON part and the buffers. */
export function deconstruct(value: unknown): {
  json: unknown;
  buffers: ArrayBuffer[];
} {
  const buffers: ArrayBuffer[] = [];
  const walk = (v: unknown): unknown => {
    if (isBinary(v)) {
      const bytes =
        v instanceof ArrayBuffer
          ? v
          : v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength);
      buffers.push(bytes as ArrayBuffer);
      return { [KEY]: buffers.length - 1 };
    }
    if (Array.isArray(v)) {
      return v.map(walk);
    }
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        out[k] = walk(item);
      }
      return out;
    }
    return v;
  };
  return { json: walk(value), buffers };
}

/** Put comm buffers back where their placeholders are. */
export function reconstruct(
  value: unknown,
  buffers: (ArrayBuffer | ArrayBufferView)[] | undefined
): unknown {
  if (!buffers || buffers.length === 0) {
    return value;
  }
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      return v.map(walk);
    }
    if (v !== null && typeof v === 'object') {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj);
      if (keys.length === 1 && keys[0] === KEY) {
        const index = obj[KEY];
        if (
          typeof index === 'number' &&
          Number.isInteger(index) &&
          index >= 0 &&
          index < buffers.length
        ) {
          const b = buffers[index];
          return b instanceof ArrayBuffer
            ? b
            : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
        }
        return obj;
      }
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(obj)) {
        out[k] = walk(item);
      }
      return out;
    }
    return v;
  };
  return walk(value);
}
