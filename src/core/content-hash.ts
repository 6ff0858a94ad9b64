/**
 * Content ids and digest terms (DESIGN §6): SplitMix64's finalizer, computed on two 32-bit halves.
 * The write path mixes twice per extent written (its content id, then its share of the digest), ~30,000
 * times a tick at 10,000 VMs; on BigInt each mix allocated a dozen intermediate values, on halves it
 * allocates nothing until the result becomes a bigint.
 */

/** The halves of the last mix: [high 32 bits, low 32 bits]. */
const mixed = new Uint32Array(2);

/** (hi:lo × mh:ml) mod 2^64 into `mixed`: lo × ml in 16-bit pieces, so every partial product is exact. */
function multiply(hi: number, lo: number, mh: number, ml: number): void {
  const a0 = lo & 0xffff;
  const a1 = lo >>> 16;
  const b0 = ml & 0xffff;
  const b1 = ml >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const middle = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  mixed[1] = (middle << 16) | (p00 & 0xffff);
  mixed[0] = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (middle >>> 16) + Math.imul(hi, ml) + Math.imul(lo, mh);
}

/** SplitMix64's finalizer of the 64-bit value hi:lo (unsigned halves) into `mixed`: a bijection on 64 bits. */
function mix(hi: number, lo: number): void {
  let l = (lo + 0x7f4a7c15) >>> 0;
  let h = (hi + 0x9e3779b9 + (l < lo ? 1 : 0)) >>> 0;
  l = (l ^ ((l >>> 30) | (h << 2))) >>> 0;
  h = (h ^ (h >>> 30)) >>> 0;
  multiply(h, l, 0xbf58476d, 0x1ce4e5b9);
  h = mixed[0];
  l = mixed[1];
  l = (l ^ ((l >>> 27) | (h << 5))) >>> 0;
  h = (h ^ (h >>> 27)) >>> 0;
  multiply(h, l, 0x94d049bb, 0x133111eb);
  h = mixed[0];
  l = mixed[1];
  mixed[1] = l ^ ((l >>> 31) | (h << 1));
  mixed[0] = h ^ (h >>> 31);
}

const TWO_32 = 2 ** 32;

/**
 * The content id of sequence number `n` (a safe integer: content_seq would need 2^33 blocks to pass
 * 2^53), as the signed 64-bit value the bigint column stores. Distinct numbers, distinct ids.
 */
export function contentIdOf(n: number): bigint {
  mix(Math.floor(n / TWO_32), n >>> 0);
  return BigInt.asIntN(64, (BigInt(mixed[0]) << 32n) | BigInt(mixed[1]));
}

/** The mixed halves of each extent index, computed once: a digest term costs one mix instead of two. */
const indexHigh: number[] = [];
const indexLow: number[] = [];

/**
 * One extent's share of a digest: the mix of its content id xor its index's mix. The digest is the sum
 * of these mod 2^64, so a write updates it in O(1).
 */
export function digestTerm(index: number, contentId: bigint): bigint {
  if (indexHigh[index] === undefined) {
    mix(0, index);
    indexHigh[index] = mixed[0];
    indexLow[index] = mixed[1];
  }
  const unsigned = BigInt.asUintN(64, contentId);
  mix((Number(unsigned >> 32n) ^ indexHigh[index]) >>> 0, (Number(unsigned & 0xffffffffn) ^ indexLow[index]) >>> 0);
  return (BigInt(mixed[0]) << 32n) | BigInt(mixed[1]);
}
