/**
 * Partition of a token: FNV-1a (32-bit) of the address bytes, mod PARTITION_COUNT. Computed in
 * TS and stored in tokens.partition, so every instance (and any future SQL) agrees on it without
 * a server-side hash function. Addresses are ASCII base58, so char codes are the UTF-8 bytes.
 */
import { PARTITION_COUNT } from './types.js';

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function partitionOf(address: string, count: number = PARTITION_COUNT): number {
  return fnv1a32(address) % count;
}
