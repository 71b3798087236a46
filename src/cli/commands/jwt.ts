import { loginWith, readCredentialFile } from './auth.js';

/** `custos login jwt --role R --jwt-file F`: the JWT is sent in the body, never in a URL or argument. */
export async function loginCommand(o: { mount: string; role: string; jwtFile: string; json?: boolean }): Promise<void> {
  const jwt = await readCredentialFile(o.jwtFile, 'jwt');
  await loginWith(o.mount, { role: o.role, jwt }, o.json);
}
