import type { IncomingMessage } from 'node:http';
import { AppError } from '../../errors/app-error.js';

/**
 * The raw body of an AWS request as one Buffer, for Fastify's content-type parser (SigV4 signs
 * the exact bytes, so nothing is decoded here).
 *
 * AWS requests are small and arrive in the same packet as their headers, so by the time Fastify
 * asks for the body, Node's HTTP parser has usually pushed all of it into the request stream.
 * Then it is taken at once, without the listeners, ticks and events of a stream read. The test
 * is the byte count against Content-Length, not `payload.complete`: Node's parser runs queued
 * microtasks (where Fastify continues after its async onRequest hooks) between pushing the body
 * and marking the message complete, so `complete` is still false here even when every byte is
 * buffered. The parser never pushes more
 * than Content-Length bytes for a message, so equal counts mean the whole body.
 * Otherwise, for a body still arriving or sent chunked, it is read as it comes. Over `limit`
 * bytes is payload_too_large, as Fastify's own parser answers.
 */
export function readRawBody(payload: IncomingMessage, limit: number, done: (error: Error | null, body?: Buffer) => void): void {
  const declared = Number(payload.headers['content-length']);
  if (declared > limit) return done(tooLarge());
  if (payload.readableLength === declared) {
    // Node's parser copies each body chunk out of the socket's memory, so this is the
    // request's own buffer (one chunk) or a fresh concatenation (several).
    const buffered = payload.read() as Buffer | null;
    return done(null, buffered ?? Buffer.alloc(0));
  }
  const chunks: Buffer[] = [];
  let received = 0;
  const finish = (error: Error | null, body?: Buffer) => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(error, body);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) return finish(tooLarge());
    chunks.push(chunk);
  };
  const onEnd = () => finish(null, Buffer.concat(chunks, received));
  const onError = () => finish(new AppError('invalid_request', 'the request body could not be read'));
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
}

const tooLarge = () => new AppError('payload_too_large', 'the request body is too large');
