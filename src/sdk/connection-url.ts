/**
 * Connection URLs from JSON connection secrets (the AWS RDS/Redshift secret shape:
 * engine, host, port, dbname, username, password, ssl_mode; Snowflake adds account,
 * warehouse, role, schema). Every user-controlled part is percent-encoded so passwords
 * with `@ / : ? # %` survive any URL parser; the host is validated, never encoded.
 *
 * Supported families (the scheme written is the driver exactly as given, so SQLAlchemy
 * forms such as `postgresql+psycopg2` work):
 *   postgres, postgresql, redshift   default port 5432 (redshift 5439), ?sslmode=
 *   mysql, mariadb                   default port 3306, ?ssl-mode=
 *   mssql, sqlserver                 default port 1433, ?encrypt=true when ssl_mode is set and not "disable"
 *   snowflake                        snowflake://user:pw@ACCOUNT/db[/schema]?warehouse=&role=
 */
export class ConnectionUrlError extends Error {
  override name = 'ConnectionUrlError';
  readonly code = 'invalid_connection_secret';
}

export type ConnectionSecret = Record<string, unknown>;

const FAMILY: Record<string, 'pg' | 'mysql' | 'mssql' | 'snowflake'> = {
  postgres: 'pg', postgresql: 'pg', redshift: 'pg', mysql: 'mysql', mariadb: 'mysql', mssql: 'mssql', sqlserver: 'mssql', snowflake: 'snowflake',
};
const DEFAULT_PORT: Record<string, number> = { postgres: 5432, postgresql: 5432, redshift: 5439, mysql: 3306, mariadb: 3306, mssql: 1433, sqlserver: 1433 };

export const SUPPORTED_DRIVERS = Object.keys(FAMILY);

// Strict percent-encoding: encodeURIComponent leaves !'()* alone, which are legal in
// userinfo but some hand-written parsers split on them; encoding them costs nothing.
const pct = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function str(secret: ConnectionSecret, ...keys: string[]): string | undefined {
  for (const key of keys) {
    const v = secret[key];
    if (v !== undefined && v !== null && v !== '') return String(v);
  }
  return undefined;
}

function hostPart(host: string): string {
  if (host.includes(':') && !host.startsWith('[')) {
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) throw new ConnectionUrlError('host is not a valid hostname or IP address');
    return `[${host}]`;
  }
  if (!/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)$/.test(host)) throw new ConnectionUrlError('host is not a valid hostname or IP address');
  return host;
}

/** Builds the URL; throws ConnectionUrlError (never including the password) on a bad secret. */
export function buildConnectionUrl(secret: ConnectionSecret, options: { driver?: string } = {}): string {
  const driver = (options.driver ?? str(secret, 'engine', 'driver') ?? '').toLowerCase();
  if (!driver) throw new ConnectionUrlError('no driver given and the secret has no "engine" field');
  if (!/^[a-z][a-z0-9+.-]*$/.test(driver)) throw new ConnectionUrlError(`"${driver}" is not a valid URL scheme`);
  const base = driver.split('+')[0]!;
  const family = FAMILY[base];
  if (!family) throw new ConnectionUrlError(`unsupported driver "${driver}" (supported: ${SUPPORTED_DRIVERS.join(', ')}, optionally with +dialect)`);

  const username = str(secret, 'username', 'user');
  const password = str(secret, 'password');
  if (!username) throw new ConnectionUrlError('the secret has no "username"');
  const userinfo = pct(username) + (password !== undefined ? ':' + pct(password) : '') + '@';

  const query: [string, string][] = [];
  let authority: string;
  let path = '';
  if (family === 'snowflake') {
    const account = str(secret, 'account', 'host');
    if (!account) throw new ConnectionUrlError('a snowflake secret needs "account"');
    authority = hostPart(account);
    const db = str(secret, 'dbname', 'database');
    const schema = str(secret, 'schema');
    if (db) path = '/' + pct(db) + (schema ? '/' + pct(schema) : '');
    for (const key of ['warehouse', 'role'] as const) {
      const v = str(secret, key);
      if (v) query.push([key, v]);
    }
  } else {
    const host = str(secret, 'host');
    if (!host) throw new ConnectionUrlError('the secret has no "host"');
    const portText = str(secret, 'port') ?? String(DEFAULT_PORT[base]);
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConnectionUrlError('port is not an integer in 1-65535');
    authority = `${hostPart(host)}:${port}`;
    const db = str(secret, 'dbname', 'database');
    if (db) path = '/' + pct(db);
    const ssl = str(secret, 'ssl_mode', 'sslmode');
    if (ssl) {
      if (family === 'pg') query.push(['sslmode', ssl]);
      else if (family === 'mysql') query.push(['ssl-mode', ssl]);
      else query.push(['encrypt', ssl.toLowerCase() === 'disable' ? 'false' : 'true']);
    }
  }
  const qs = query.length ? '?' + query.map(([k, v]) => `${k}=${pct(v)}`).join('&') : '';
  return `${driver}://${userinfo}${authority}${path || (qs ? '/' : '')}${qs}`;
}
