import { gunzipSync, inflateRawSync } from 'node:zlib';

/**
 * Readers for the archive formats build artifacts and images come in: tar (plain or gzip),
 * zip (wheels, jars, wars are zips), `docker save` tarballs and OCI image layouts. They work on
 * in-memory buffers (artifacts are scanned one at a time) and never execute or extract to disk.
 */
export interface ArchiveEntry {
  path: string;
  data: Buffer;
}

/** Entries bigger than this are skipped: scanning is for text, not for multi-gigabyte blobs. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

export function isGzip(data: Buffer): boolean {
  return data.length > 2 && data[0] === 0x1f && data[1] === 0x8b;
}

export function isZip(data: Buffer): boolean {
  return data.length > 4 && data.readUInt32LE(0) === 0x04034b50;
}

/** ustar magic at offset 257 ("ustar" + NUL or space). */
export function isTar(data: Buffer): boolean {
  return data.length >= 512 && data.toString('latin1', 257, 262) === 'ustar';
}

function cString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

function octal(block: Buffer, start: number, length: number): number {
  // GNU base-256 for sizes over 8 GiB: high bit of the first byte.
  if (block[start]! & 0x80) {
    let value = 0;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i]!;
    return value;
  }
  const text = cString(block, start, length).trim();
  return text ? parseInt(text, 8) : 0;
}

function paxPath(data: Buffer): string | undefined {
  // Records are "<len> key=value\n".
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(data.toString('latin1', offset, space), 10);
    if (!length) break;
    const record = data.toString('utf8', space + 1, offset + length - 1);
    if (record.startsWith('path=')) return record.slice(5);
    offset += length;
  }
  return undefined;
}

/** Regular files of a tar archive (ustar, GNU long names, pax paths). */
export function readTar(data: Buffer): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= data.length) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156]! || 0x30);
    const prefix = cString(header, 345, 155);
    const name = cString(header, 0, 100);
    const body = data.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = cString(body, 0, body.length);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(body) ?? longName;
      continue;
    }
    if (type === 'g') continue;
    const path = longName ?? (prefix ? `${prefix}/${name}` : name);
    longName = undefined;
    if ((type === '0' || type === '7') && size <= MAX_ENTRY_BYTES) entries.push({ path, data: Buffer.from(body) });
  }
  return entries;
}

/** Files of a zip archive, found through its central directory (stored or deflated entries). */
export function readZip(data: Buffer): ArchiveEntry[] {
  let eocd = -1;
  for (let i = data.length - 22; i >= Math.max(0, data.length - 22 - 65_535); i--) {
    if (data.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd === -1) return [];
  const count = data.readUInt16LE(eocd + 10);
  let offset = data.readUInt32LE(eocd + 16);
  const entries: ArchiveEntry[] = [];
  for (let n = 0; n < count && offset + 46 <= data.length; n++) {
    if (data.readUInt32LE(offset) !== 0x02014b50) break;
    const method = data.readUInt16LE(offset + 10);
    const compressedSize = data.readUInt32LE(offset + 20);
    const size = data.readUInt32LE(offset + 24);
    const nameLength = data.readUInt16LE(offset + 28);
    const extraLength = data.readUInt16LE(offset + 30);
    const commentLength = data.readUInt16LE(offset + 32);
    const localOffset = data.readUInt32LE(offset + 42);
    const name = data.toString('utf8', offset + 46, offset + 46 + nameLength);
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/') || size > MAX_ENTRY_BYTES) continue;
    const localNameLength = data.readUInt16LE(localOffset + 26);
    const localExtraLength = data.readUInt16LE(localOffset + 28);
    const start = localOffset + 30 + localNameLength + localExtraLength;
    const raw = data.subarray(start, start + compressedSize);
    try {
      if (method === 0) entries.push({ path: name, data: Buffer.from(raw) });
      else if (method === 8) entries.push({ path: name, data: inflateRawSync(raw) });
    } catch {
      // a damaged entry: skip it, keep the rest
    }
  }
  return entries;
}

export interface ImageLayer {
  /** The layer's digest or path in the image archive. */
  id: string;
  entries: ArchiveEntry[];
}

function parseJson(data: Buffer | undefined): unknown {
  if (!data) return undefined;
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
}

function layerEntries(blob: Buffer): ArchiveEntry[] {
  const tar = isGzip(blob) ? gunzipSync(blob) : blob;
  // Whiteouts (.wh.*) only delete files of lower layers; there is nothing to scan in them.
  return readTar(tar).filter((e) => !e.path.split('/').pop()!.startsWith('.wh.'));
}

/**
 * The layers of a `docker save` tarball (manifest.json naming layer tars) or an OCI image
 * layout (index.json → manifests → layer blobs), in order; null if `entries` is neither.
 */
export function readImage(entries: ArchiveEntry[]): ImageLayer[] | null {
  const byPath = new Map(entries.map((e) => [e.path.replace(/^\.\//, ''), e.data]));
  const manifest = parseJson(byPath.get('manifest.json'));
  const layers: ImageLayer[] = [];
  const seen = new Set<string>();
  const addLayer = (id: string, blob: Buffer | undefined) => {
    if (!blob || seen.has(id)) return;
    seen.add(id);
    layers.push({ id, entries: layerEntries(blob) });
  };
  if (Array.isArray(manifest) && manifest.every((m) => m && Array.isArray((m as { Layers?: unknown }).Layers))) {
    for (const image of manifest as { Layers: string[] }[]) for (const layer of image.Layers) addLayer(layer, byPath.get(layer));
    return layers;
  }
  const index = parseJson(byPath.get('index.json')) as { manifests?: { digest?: string }[] } | undefined;
  if (byPath.has('oci-layout') && index && Array.isArray(index.manifests)) {
    const blob = (digest: string) => byPath.get(`blobs/${digest.replace(':', '/')}`);
    const visit = (digest: string, depth: number) => {
      const doc = parseJson(blob(digest)) as { manifests?: { digest: string }[]; layers?: { digest: string }[] } | undefined;
      if (!doc || depth > 3) return;
      for (const m of doc.manifests ?? []) visit(m.digest, depth + 1);
      for (const l of doc.layers ?? []) addLayer(l.digest, blob(l.digest));
    };
    for (const m of index.manifests) if (m.digest) visit(m.digest, 0);
    return layers;
  }
  return null;
}
