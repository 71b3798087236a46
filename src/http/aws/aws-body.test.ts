import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { AppError } from '../../errors/app-error.js';
import { readRawBody } from './aws-body.js';

/** A real IncomingMessage as Node's parser leaves it: headers set, `bytes` pushed, maybe not yet complete. */
function message(headers: Record<string, string>, bytes: Buffer[], complete: boolean): IncomingMessage {
  const request = new IncomingMessage(new Socket());
  request.headers = headers;
  for (const chunk of bytes) request.push(chunk);
  if (complete) {
    request.complete = true;
    request.push(null);
  }
  return request;
}

function read(request: IncomingMessage, limit = 1024): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => readRawBody(request, limit, (error, body) => (error ? reject(error) : resolve(body!))));
}

describe('readRawBody', () => {
  test('takes a body whose every declared byte is buffered at once, before the parser marks the message complete', async () => {
    // Node's parser lets Fastify run between pushing a body and setting `complete`: this is
    // the state every small AWS request is in when its content-type parser is called.
    const body = Buffer.from('{"SecretId":"prod/app/db"}');
    const request = message({ 'content-length': String(body.length) }, [body.subarray(0, 10), body.subarray(10)], false);
    let taken: Buffer | undefined;
    readRawBody(request, 1024, (error, received) => {
      assert.equal(error, null);
      taken = received;
    });
    assert.deepEqual(taken, body, 'answered synchronously, without waiting for stream events');
  });

  test('waits for the rest of a body that is not all buffered, then returns all of it', async () => {
    const body = Buffer.from('{"SecretId":"prod/app/db"}');
    const request = message({ 'content-length': String(body.length) }, [body.subarray(0, 10)], false);
    const reading = read(request);
    request.push(body.subarray(10));
    request.complete = true;
    request.push(null);
    assert.deepEqual(await reading, body);
  });

  test('reads a chunked body (no Content-Length) as it comes', async () => {
    const request = message({ 'transfer-encoding': 'chunked' }, [Buffer.from('{"a":'), Buffer.from('1}')], true);
    assert.equal((await read(request)).toString(), '{"a":1}');
  });

  test('an empty body with Content-Length 0 is an empty buffer', async () => {
    const request = message({ 'content-length': '0' }, [], false);
    assert.equal((await read(request)).length, 0);
  });

  test('refuses bodies over the limit, declared or streamed', async () => {
    const declared = message({ 'content-length': '2048' }, [], false);
    await assert.rejects(read(declared), (e: unknown) => e instanceof AppError && e.code === 'payload_too_large');
    const streamed = message({ 'transfer-encoding': 'chunked' }, [Buffer.alloc(600), Buffer.alloc(600)], true);
    await assert.rejects(read(streamed), (e: unknown) => e instanceof AppError && e.code === 'payload_too_large');
  });
});
