import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { aeadDecrypt, aeadEncrypt, deriveKey, generateMaterial, hmacWith, NONCE_BYTES, privateKeyOf, signWith, TAG_BYTES, verifyWith } from './key-types.js';
import { decodeBase64, formatVersioned, parseVersioned } from './ciphertext.js';

/** Known answers for the primitives the engine runs (the same functions, with imported key material). */
const hex = (s: string) => Buffer.from(s, 'hex');

// RFC 8032 section 7.1, TEST 1-3: secret key (seed), public key, message, signature.
const RFC8032 = [
  { seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b' },
  { seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00' },
  { seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7', pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a' },
];

test('ed25519: RFC 8032 test vectors sign and verify through the engine primitives', () => {
  for (const v of RFC8032) {
    const privateKey = privateKeyOf('ed25519', hex(v.seed));
    const publicKey = createPublicKey(privateKey);
    const rawPublic = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    assert.equal(rawPublic.toString('hex'), v.pub);
    assert.equal(signWith('ed25519', privateKey, hex(v.msg)).toString('hex'), v.sig);
    assert.equal(verifyWith('ed25519', publicKey, hex(v.msg), hex(v.sig)), true);
    const flipped = hex(v.sig);
    flipped[0]! ^= 1;
    assert.equal(verifyWith('ed25519', publicKey, hex(v.msg), flipped), false);
  }
});

// RFC 4231 test cases 1, 2, 3 and 6 (key longer than a block).
const RFC4231 = [
  { key: Buffer.alloc(20, 0x0b), data: Buffer.from('Hi There'),
    sha256: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    sha512: '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854' },
  { key: Buffer.from('Jefe'), data: Buffer.from('what do ya want for nothing?'),
    sha256: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    sha512: '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737' },
  { key: Buffer.alloc(20, 0xaa), data: Buffer.alloc(50, 0xdd),
    sha256: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
    sha512: 'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb' },
  { key: Buffer.alloc(131, 0xaa), data: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'),
    sha256: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    sha512: '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598' },
];

test('hmac: RFC 4231 test vectors (SHA-256 and SHA-512) through the engine primitive', () => {
  for (const v of RFC4231) {
    assert.equal(hmacWith(v.key, 'sha2-256', v.data).toString('hex'), v.sha256);
    assert.equal(hmacWith(v.key, 'sha2-512', v.data).toString('hex'), v.sha512);
  }
});

test('AEAD round trips with associated data; any change fails authentication', () => {
  for (const type of ['aes256-gcm96', 'chacha20-poly1305'] as const) {
    const key = generateMaterial(type);
    const plaintext = Buffer.from('canary-value-123');
    const aad = Buffer.from('row 42');
    const sealed = aeadEncrypt(type, key, plaintext, aad);
    assert.equal(sealed.length, NONCE_BYTES + plaintext.length + TAG_BYTES);
    assert.deepEqual(aeadDecrypt(type, key, sealed, aad), plaintext);
    assert.throws(() => aeadDecrypt(type, key, sealed, Buffer.from('row 43')));
    assert.throws(() => aeadDecrypt(type, key, sealed, undefined));
    const tampered = Buffer.from(sealed);
    tampered[NONCE_BYTES]! ^= 1;
    assert.throws(() => aeadDecrypt(type, key, tampered, aad));
    // random nonces: the same plaintext never gives the same ciphertext
    assert.notDeepEqual(aeadEncrypt(type, key, plaintext, aad), sealed);
  }
});

test('derived keys differ per context and are stable for one', () => {
  const material = generateMaterial('aes256-gcm96');
  assert.deepEqual(deriveKey(material, Buffer.from('tenant-a')), deriveKey(material, Buffer.from('tenant-a')));
  assert.notDeepEqual(deriveKey(material, Buffer.from('tenant-a')), deriveKey(material, Buffer.from('tenant-b')));
});

test('ECDSA P-256 and RSA-PSS sign and verify; a signature over other input fails', () => {
  for (const type of ['ecdsa-p256', 'rsa-2048'] as const) {
    const privateKey = privateKeyOf(type, generateMaterial(type));
    const publicKey = createPublicKey(privateKey);
    const signature = signWith(type, privateKey, Buffer.from('message'));
    assert.equal(verifyWith(type, publicKey, Buffer.from('message'), signature), true);
    assert.equal(verifyWith(type, publicKey, Buffer.from('massage'), signature), false);
    assert.equal(verifyWith(type, publicKey, Buffer.from('message'), Buffer.from('junk')), false);
  }
});

test('the custos:v<N>:<base64> format parses strictly', () => {
  const text = formatVersioned(7, Buffer.from('abc'));
  assert.equal(text, 'custos:v7:YWJj');
  assert.deepEqual(parseVersioned(text), { version: 7, bytes: Buffer.from('abc') });
  for (const bad of ['vault:v1:YWJj', 'custos:v0:YWJj', 'custos:v01:YWJj', 'custos:vx:YWJj', 'custos:v1:YWJ', 'custos:v1:YW*j', 'custos:v1', 'custos:v99999999999:YWJj', 42]) {
    assert.throws(() => parseVersioned(bad), (e: { code?: string }) => e.code === 'transit_invalid_ciphertext', String(bad));
  }
});

test('base64 inputs are decoded strictly: skipped characters or stray padding are refused', () => {
  assert.deepEqual(decodeBase64('YWJj', 'f'), Buffer.from('abc'));
  assert.deepEqual(decodeBase64('YQ==', 'f'), Buffer.from('a'));
  assert.deepEqual(decodeBase64('', 'f'), Buffer.alloc(0));
  for (const bad of ['YW!j', 'YW j', 'YWJ', 'Y===', 'YQ=a', 'YWJj\n']) {
    assert.throws(() => decodeBase64(bad, 'f'), (e: { code?: string }) => e.code === 'validation_failed', JSON.stringify(bad));
  }
});
