import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { RunningServer } from './custos-server.js';
import { api } from './custos-server.js';

/** An AWS SDK v3 client pointed at a Custos server: only the endpoint and credentials change. */
export function awsClient(server: Pick<RunningServer, 'address'>, options: { region?: string; accessKeyId?: string; secretAccessKey?: string; maxAttempts?: number; systemClockOffset?: number } = {}): SecretsManagerClient {
  const client = new SecretsManagerClient({
    endpoint: server.address,
    region: options.region ?? 'us-east-1',
    credentials: { accessKeyId: options.accessKeyId ?? 'test', secretAccessKey: options.secretAccessKey ?? 'test' },
    maxAttempts: options.maxAttempts ?? 1,
  });
  if (options.systemClockOffset !== undefined) client.config.systemClockOffset = options.systemClockOffset;
  return client;
}

/** Creates an access key through the native API with the given policies (root token by default). */
export async function createAwsKey(server: Pick<RunningServer, 'address' | 'token'>, policies: string[], env?: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const created = await api(server, 'POST', '/v1/aws/keys', { token: server.token, body: { policies, env } });
  if (created.status !== 201) throw new Error(`aws key creation failed: ${created.status} ${JSON.stringify(created.body)}`);
  return { accessKeyId: created.body.access_key_id, secretAccessKey: created.body.secret_access_key };
}

/** The error an SDK call rejects with (fails the test if it resolves). */
export async function awsError(promise: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the AWS call to fail');
}
