import { readFile } from 'node:fs/promises';
import { CallError, HyvedClient } from './client.js';
import { UsageError } from './cli-output.js';

export const DEFAULT_URL = 'http://127.0.0.1:12150';

/** How hyvectl reaches and signs in to a daemon, from flags first and the environment second. */
export interface SessionFlags {
  url?: string;
  user?: string;
  token?: string;
  'password-file'?: string;
  'password-stdin'?: boolean;
  insecure?: boolean;
}

export type Credentials = { token: string } | { username: string; password: string };

export function urlOf(flags: SessionFlags, env: NodeJS.ProcessEnv): string {
  return flags.url ?? (env.HYVED_URL || DEFAULT_URL);
}

/**
 * One way to sign in: an explicit flag wins over the environment (and two explicit ways at once is
 * a usage error); in the environment a token wins over a password.
 */
export async function credentialsOf(flags: SessionFlags, env: NodeJS.ProcessEnv, stdin: NodeJS.ReadableStream): Promise<Credentials> {
  const explicit = (['token', 'password-file', 'password-stdin'] as const).filter((f) => flags[f] !== undefined && flags[f] !== false);
  if (explicit.length > 1) throw new UsageError(`use only one of ${explicit.map((f) => '--' + f).join(', ')}`);
  const username = flags.user ?? (env.HYVED_USER || 'admin');
  if (flags.token !== undefined) return { token: nonEmpty(flags.token, '--token') };
  if (flags['password-file'] !== undefined) {
    const file = flags['password-file'];
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new Error(`cannot read password file ${file}: ${err.message}`);
    });
    return { username, password: nonEmpty(chomp(text), `password file ${file}`) };
  }
  if (flags['password-stdin']) return { username, password: nonEmpty(chomp(await readAll(stdin)), 'standard input') };
  if (env.HYVED_TOKEN) return { token: env.HYVED_TOKEN };
  if (env.HYVED_PASSWORD) return { username, password: env.HYVED_PASSWORD };
  throw new UsageError('no credentials: set HYVED_PASSWORD or HYVED_TOKEN, or use --password-file, --password-stdin or --token');
}

export async function connect(url: string, flags: SessionFlags): Promise<HyvedClient> {
  try {
    return await HyvedClient.connect(url, { rejectUnauthorized: !flags.insecure });
  } catch (err) {
    // A refused upgrade arrives as a CallError with the HTTP status: report it as the daemon's answer.
    if (err instanceof CallError) throw err;
    throw new Error(`cannot connect to ${url}: ${(err as Error).message}`);
  }
}

/** Signs the connection in; resolves with sysadm's [token, seconds_valid]. */
export function signIn(client: HyvedClient, creds: Credentials): Promise<[string, number]> {
  return 'token' in creds
    ? client.call('rpc', 'auth_token', { token: creds.token })
    : client.call('rpc', 'auth', { username: creds.username, password: creds.password });
}

function chomp(text: string): string {
  return text.replace(/\r?\n$/, '');
}

function nonEmpty(secret: string, from: string): string {
  if (!secret) throw new UsageError(`empty credential from ${from}`);
  return secret;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}
