import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/**
 * The SOC 2 evidence archive: a plain POSIX tar (readable by `tar xf` anywhere) holding the
 * evidence files, a manifest with the SHA-256 of each, an Ed25519 signature of the manifest
 * (raw 64 bytes) and the signing public key. The operator's private key never leaves their
 * machine; the auditor checks the signature against the public key published out of band.
 */
const BLOCK = 512;

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  const field = (value: string, offset: number, length: number) => h.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0') + '\0';
  if (Buffer.byteLength(name) > 100) throw new Error(`archive member name too long: ${name}`);
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(size, 12), 124, 12);
  field(octal(Math.floor(mtime / 1000), 12), 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const byte of h) sum += byte;
  field(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export function tarArchive(files: { name: string; data: Buffer }[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f.name, f.data.length, mtime), f.data);
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}

/** Reads back a tar written by tarArchive (for verification and tests). */
export function untar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const h = archive.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('ascii').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    files.set(name, archive.subarray(offset + BLOCK, offset + BLOCK + size));
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

export function generateSigningKey(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

export const VERIFY_README = `Custos SOC 2 evidence archive

manifest.json lists every file with its SHA-256; manifest.sig is the raw Ed25519 signature of
manifest.json by the key whose public half is signing-key.pub.pem. Check the signature against
the public key the operator gave you separately (its SHA-256 fingerprint is in the manifest),
not only against the copy in this archive:

  openssl pkeyutl -verify -pubin -inkey TRUSTED-signing-key.pub.pem -rawin -in manifest.json -sigfile manifest.sig
  sha256sum -c SHA256SUMS      # every file matches the signed manifest (SHA256SUMS mirrors it)

or: custos report verify-evidence evidence.tar --public-key TRUSTED-signing-key.pub.pem
`;

/** Packs and signs the evidence; `files` are the JSON documents by file name. */
export function buildEvidenceArchive(evidence: { period: string; period_start: string; period_end: string; generated_at: string; files: Record<string, unknown> }, privatePem: string, mtime: number): Buffer {
  const privateKey = createPrivateKey(privatePem);
  const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const docs = Object.entries(evidence.files).map(([name, content]) => ({ name, data: Buffer.from(JSON.stringify(content, null, 2) + '\n') }));
  docs.push({ name: 'README.txt', data: Buffer.from(VERIFY_README) });
  const manifest = {
    format: 'custos-evidence/1', period: evidence.period, period_start: evidence.period_start, period_end: evidence.period_end, generated_at: evidence.generated_at,
    signature: { algorithm: 'ed25519', file: 'manifest.sig', public_key_sha256: sha256(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })) },
    files: Object.fromEntries(docs.map((d) => [d.name, sha256(d.data)])),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  const signature = sign(null, manifestBytes, privateKey);
  const sums = Buffer.from(docs.map((d) => `${sha256(d.data)}  ${d.name}\n`).join(''));
  return tarArchive([...docs, { name: 'manifest.json', data: manifestBytes }, { name: 'manifest.sig', data: signature }, { name: 'SHA256SUMS', data: sums }, { name: 'signing-key.pub.pem', data: Buffer.from(publicPem) }], mtime);
}

/** Checks an archive against a trusted public key: the manifest signature, then every file's hash. Returns problems (empty: valid). */
export function verifyEvidenceArchive(archive: Buffer, trustedPublicPem: string): string[] {
  const files = untar(archive);
  const manifestBytes = files.get('manifest.json');
  const signature = files.get('manifest.sig');
  if (!manifestBytes || !signature) return ['manifest.json or manifest.sig is missing'];
  const key: KeyObject = createPublicKey(trustedPublicPem);
  if (!verify(null, manifestBytes, key, signature)) return ['the manifest signature does not verify with this public key'];
  const manifest = JSON.parse(manifestBytes.toString()) as { files: Record<string, string> };
  const problems: string[] = [];
  for (const [name, digest] of Object.entries(manifest.files)) {
    const data = files.get(name);
    if (!data) problems.push(`${name} is missing`);
    else if (sha256(data) !== digest) problems.push(`${name} does not match the manifest`);
  }
  return problems;
}
