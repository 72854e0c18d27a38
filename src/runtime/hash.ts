/**
 * A fast 53-bit string hash (cyrb53), for remembering what was published
 * without keeping the payload: comparing a new payload with the digest of
 * the last one published on the same topic. Not cryptographic.
 *
 * @module
 */

/** The 53-bit digest of `text`, a safe integer. */
export function digest(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const float = new Float64Array(1);
/** The two 32-bit halves of `float`'s one value. */
const words = new Uint32Array(float.buffer);

/**
 * The 53-bit digest of a list of numbers, equal for lists equal value by
 * value: every NaN alike (a missing value), -0 as 0.
 */
export function digestNumbers(values: readonly number[], seed = 0): number {
  let h1 = 0xdeadbeef ^ seed ^ values.length;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    float[0] = value !== value ? NaN : value === 0 ? 0 : value;
    const low = words[0]!;
    const high = words[1]!;
    h1 = Math.imul(h1 ^ low, 2654435761);
    h2 = Math.imul(h2 ^ high, 1597334677);
    h1 = Math.imul(h1 ^ high, 2246822507);
    h2 = Math.imul(h2 ^ low, 3266489909);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
