/**
 * A copy of `source` in an allocation of exactly its length. Node hands out small buffers
 * (Buffer.from, Buffer.concat, under 4 KiB) as slices of shared 8 KiB slabs, and one live slice
 * keeps its whole slab alive: a long-lived cache of small values built from such slices holds
 * up to 8 KiB per entry whatever its byte bound says. Anything kept for long gets its own bytes.
 */
export function ownedCopy(source: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(source.length);
  source.copy(copy);
  return copy;
}
