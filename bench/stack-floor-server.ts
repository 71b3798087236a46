import Fastify from 'fastify';
import { readRawBody } from '../src/http/aws/aws-body.js';
import { AWS_JSON_CONTENT_TYPE } from '../src/http/aws/aws-protocol.js';

/**
 * The floor under the aws-read comparison: Fastify with no Custos code, answering the same two
 * request shapes with the same-sized JSON. GET /v1/values/* stands for the native read, POST /
 * for GetSecretValue (its body read the way Custos reads it, parsed, and answered as AWS
 * shapes it). What this server's POST costs over its GET is what the protocol's request shape
 * costs on this stack before any verification or lookup. Run as its own process by the suite;
 * prints its address.
 */
const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/analytics-pipeline/warehouse-db-AbCdEf';
const VERSION_ID = '3894b726-36c8-486c-8301-f96988ef9918';
const VALUE = JSON.stringify({ username: 'etl', password: 'bench-password-123' });

const app = Fastify({ logger: false });
// Custos runs async onRequest hooks on every route; one here keeps the body's timing the same
// (Node's parser has buffered it by the time the route asks for it).
app.addHook('onRequest', async () => {});
app.addContentTypeParser(AWS_JSON_CONTENT_TYPE, (_request, payload, done) => readRawBody(payload, 1024 * 1024, done));
app.get('/v1/values/*', async (request) => ({
  name: (request.params as { '*': string })['*'], arn: ARN, version_id: VERSION_ID, labels: ['CURRENT'], created_at: new Date(1_795_000_000_123).toISOString(), value: VALUE,
}));
app.post('/', async (request, reply) => {
  const input = JSON.parse((request.body as Buffer).toString('utf8')) as { SecretId: string };
  reply.header('content-type', AWS_JSON_CONTENT_TYPE).header('x-amzn-requestid', request.id);
  return JSON.stringify({ ARN, Name: input.SecretId, VersionId: VERSION_ID, SecretString: VALUE, VersionStages: ['AWSCURRENT'], CreatedDate: 1_795_000_000.123 });
});
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as { port: number };
process.stdout.write(`http://127.0.0.1:${port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
