import { canonicalRequest, formatAmzDate, sha256Hex, signatureOf, signingKey, stringToSign } from '../src/crypto/sigv4.js';

/** The benchmarks' AWS client: JSON 1.1 requests signed with SigV4 as the SDKs sign them. */

/** An AWS request (headers and body) signed now; servers accept it for the 5-minute skew window. */
export function signedRequest(address: string, target: string, payload: unknown, accessKeyId: string, secretAccessKey: string, region = 'us-east-1') {
  const body = JSON.stringify(payload);
  const amzDate = formatAmzDate(Date.now());
  const host = new URL(address).host;
  const headers: Record<string, string> = {
    'content-type': 'application/x-amz-json-1.1', host, 'x-amz-date': amzDate, 'x-amz-target': `secretsmanager.${target}`,
  };
  const signedHeaders = Object.keys(headers).sort();
  const canonical = canonicalRequest({ method: 'POST', path: '/', query: '', headers, signedHeaders, payloadHash: sha256Hex(body) });
  const scope = `${amzDate.slice(0, 8)}/${region}/secretsmanager/aws4_request`;
  const signature = signatureOf(signingKey(secretAccessKey, amzDate.slice(0, 8), region, 'secretsmanager'), stringToSign(amzDate, scope, canonical));
  const { host: _host, ...sent } = headers;
  return {
    headers: { ...sent, authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}` },
    body,
  };
}

/** One signed call; throws on a non-2xx answer. */
export async function awsCall(address: string, target: string, payload: unknown, key: { id: string; secret: string }): Promise<unknown> {
  const request = signedRequest(address, target, payload, key.id, key.secret);
  const response = await fetch(address + '/', { method: 'POST', headers: request.headers, body: request.body });
  const text = await response.text();
  if (!response.ok) throw new Error(`${target} failed: ${response.status} ${text}`);
  return JSON.parse(text);
}
