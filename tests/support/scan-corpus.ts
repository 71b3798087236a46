import { randomBytes } from 'node:crypto';
import { crc32, gzipSync } from 'node:zlib';

/**
 * Generated material for scanner tests and the scan benchmark: fake credentials in every
 * provider's format (random, never real), the files they hide in, and decoys that look
 * random but are not secrets. Also minimal tar and zip writers, so archives and `docker save`
 * images are built in memory by the test itself.
 */
export interface Plant {
  /** The rule family expected to report it. */
  rule: string;
  secret: string;
  /** A line of code or config carrying it. */
  line: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const B64 = ALNUM + '+/';

export function randomString(alphabet: string, length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[bytes[i]! % alphabet.length];
  return out;
}

/** A password with every character class (so no rule could dismiss it as a word). */
const password = () => `${randomString(ALNUM, 10)}x9K${randomString(ALNUM, 4)}`;

/** One fake credential of each provider format, in the shape it appears in code. */
export function plants(): Plant[] {
  const akia = `AKIA${randomString(B32, 16)}`;
  const asia = `ASIA${randomString(B32, 16)}`;
  const awsSecret = `${randomString(ALNUM, 12)}/${randomString(ALNUM, 13)}+${randomString(ALNUM, 13)}`;
  const ghp = `ghp_${randomString(ALNUM, 36)}`;
  const gho = `gho_${randomString(ALNUM, 36)}`;
  const ghs = `ghs_${randomString(ALNUM, 36)}`;
  const pat = `github_pat_${randomString(ALNUM, 22)}_${randomString(ALNUM, 59)}`;
  const slack = `xoxb-${randomString('0123456789', 12)}-${randomString('0123456789', 13)}-${randomString(ALNUM, 24)}`;
  const slackUser = `xoxp-${randomString('0123456789', 12)}-${randomString('0123456789', 12)}-${randomString(ALNUM, 32)}`;
  const stripe = `sk_live_${randomString(ALNUM, 24)}`;
  const stripeRestricted = `rk_live_${randomString(ALNUM, 24)}`;
  const sfPassword = password();
  const sfUrlPassword = password();
  const pemBody = Array.from({ length: 8 }, () => randomString(B64, 64)).join('\n');
  const sfKeyBody = Array.from({ length: 6 }, () => randomString(B64, 64)).join('\n');
  const jdbc = password();
  const sqlalchemy = password();
  const kafka = password();
  const cst = `cst_${randomString(ALNUM + '_-', 43)}`;
  const generic = password();
  const genericYaml = password();
  return [
    { rule: 'aws-access-key-id', secret: akia, line: `AWS_ACCESS_KEY_ID = "${akia}"` },
    { rule: 'aws-secret-access-key', secret: awsSecret, line: `aws_secret_access_key = "${awsSecret}"` },
    { rule: 'aws-access-key-id', secret: asia, line: `session = boto3.Session(aws_access_key_id="${asia}")` },
    { rule: 'github-token', secret: ghp, line: `GITHUB_TOKEN: ${ghp}` },
    { rule: 'github-token', secret: gho, line: `const oauth = '${gho}';` },
    { rule: 'github-token', secret: ghs, line: `git clone https://x-access-token:${ghs}@github.com/org/repo.git` },
    { rule: 'github-token', secret: pat, line: `export GH_PAT=${pat}` },
    { rule: 'slack-token', secret: slack, line: `slack_client = WebClient(token="${slack}")` },
    { rule: 'slack-token', secret: slackUser, line: `"slack": "${slackUser}",` },
    { rule: 'stripe-key', secret: stripe, line: `stripe.api_key = "${stripe}"` },
    { rule: 'stripe-key', secret: stripeRestricted, line: `STRIPE_RESTRICTED=${stripeRestricted}` },
    { rule: 'snowflake-credentials', secret: sfPassword, line: `snowflake_password = "${sfPassword}"` },
    { rule: 'connection-url-password', secret: sfUrlPassword, line: `engine = create_engine("snowflake://etl_user:${sfUrlPassword}@acme-xy12345/analytics/public")` },
    { rule: 'pem-private-key', secret: pemBody, line: `-----BEGIN RSA PRIVATE KEY-----\n${pemBody}\n-----END RSA PRIVATE KEY-----` },
    { rule: 'pem-private-key', secret: sfKeyBody, line: `# snowflake key-pair auth\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n${sfKeyBody}\n-----END ENCRYPTED PRIVATE KEY-----` },
    { rule: 'jdbc-password', secret: jdbc, line: `spark.read.jdbc("jdbc:postgresql://warehouse:5432/dw?user=etl&password=${jdbc}", "events")` },
    { rule: 'connection-url-password', secret: sqlalchemy, line: `SQLALCHEMY_DATABASE_URI = "postgresql+psycopg2://airflow:${sqlalchemy}@db.internal:5432/airflow"` },
    { rule: 'kafka-sasl-jaas', secret: kafka, line: `sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="etl" password="${kafka}";` },
    { rule: 'custos-token', secret: cst, line: `CUSTOS_TOKEN=${cst}` },
    { rule: 'generic-secret-assignment', secret: generic, line: `db_password = "${generic}"` },
    { rule: 'generic-secret-assignment', secret: genericYaml, line: `  client_secret: ${genericYaml}` },
  ];
}

const LOREM = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.';

/** Lines that look random or secret-adjacent but hold no secret: no rule may fire on them. */
export function decoys(): string[] {
  const uuid = () => [8, 4, 4, 4, 12].map((n) => randomString('0123456789abcdef', n)).join('-');
  const hex = (n: number) => randomString('0123456789abcdef', n);
  return [
    `request_id = "${uuid()}"`,
    `run_id: ${uuid()}`,
    `checksum = "${hex(64)}"`,
    `commit ${hex(40)}`,
    `sha256:${hex(64)}`,
    `etag: "${hex(32)}"`,
    `<img src="data:image/png;base64,${randomString(B64, 600)}=="/>`,
    `"image/png": "${randomString(B64, 400)}"`,
    LOREM,
    `password = os.environ["DB_PASSWORD"]`,
    `password: \${DB_PASSWORD}`,
    `token = config.get("api_token")`,
    `secret_name = "prod/analytics/warehouse"`,
    `password_length = 32`,
    `api_key = "<your-api-key>"`,
    `PASSWORD=changeme`,
    `token_url = "https://auth.example.com/oauth/token"`,
    `DATABASE_URL=postgres://app@localhost:5432/app`,
    `key = "${hex(16)}"`,
    `version = "1.24.3-${hex(7)}"`,
    `const digest = crypto.createHash('sha256').update(body).digest('hex');`,
    `aws_region = "eu-west-1"`,
    `github_repository = "org/project"`,
  ];
}

/** Minimal ustar writer (regular files only). */
export function tar(files: { path: string; data: Buffer | string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const f of files) {
    const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data);
    const header = Buffer.alloc(512);
    header.write(f.path.slice(0, 100), 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\u000000', 257, 'latin1');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export const tarGz = (files: { path: string; data: Buffer | string }[]) => gzipSync(tar(files));

/** Minimal zip writer (stored entries): wheels and jars are zips. */
export function zip(files: { path: string; data: Buffer | string }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const data = Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data);
    const name = Buffer.from(f.path);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const centralBytes = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralBytes, end]);
}

/** A `docker save`-shaped image: manifest.json naming layer tarballs, each a tar of the layer's files. */
export function dockerSave(layers: { path: string; data: string }[][]): Buffer {
  const layerPaths = layers.map((_, i) => `${randomString('0123456789abcdef', 64)}/layer.tar`);
  const files = layers.map((layer, i) => ({ path: layerPaths[i]!, data: tar(layer) }));
  const manifest = [{ Config: 'config.json', RepoTags: ['pipeline:latest'], Layers: layerPaths }];
  return tar([{ path: 'manifest.json', data: JSON.stringify(manifest) }, { path: 'config.json', data: '{}' }, ...files]);
}

/** A Jupyter notebook with `source` lines in cells and `outputs` text, plus an image output. */
export function notebook(cells: { source: string[]; output?: string[] }[]): string {
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5, metadata: {},
    cells: cells.map((c) => ({
      cell_type: 'code', metadata: {}, execution_count: 1, source: c.source.map((l) => l + '\n'),
      outputs: [
        ...(c.output ? [{ output_type: 'stream', name: 'stdout', text: c.output.map((l) => l + '\n') }] : []),
        { output_type: 'display_data', data: { 'image/png': randomString(B64, 800), 'text/plain': ['<Figure size 640x480 with 1 Axes>'] }, metadata: {} },
      ],
    })),
  }, null, 1);
}
