#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { HyvedClient } from '../client/client.js';
import { UsageError, describeError, printJson, sketchSchema, table } from '../client/cli-output.js';
import { connect, credentialsOf, signIn, urlOf, type SessionFlags } from '../client/cli-session.js';

const USAGE = `usage: hyvectl [options] COMMAND

commands:
  identify                         the daemon's hostname and version (no sign-in needed)
  call NAMESPACE NAME [JSON-ARGS]  send any request; prints the reply args as JSON
  nic list                         host network interfaces, offered for bridging or not
  schema [NAMESPACE [NAME]]        the actions you may call; with NAME, their full JSON Schemas
  events TYPE...                   print pushed events (audit, vm, dispatcher...) as JSON lines until interrupted
  login                            sign in and print a token for --token / HYVED_TOKEN
  help                             this text

options:
  --url URL             the daemon (env HYVED_URL, default http://127.0.0.1:12150); https:// for TLS
  --user NAME           the user to sign in as (env HYVED_USER, default admin)
  --password-file FILE  read the password from FILE (default: env HYVED_PASSWORD)
  --password-stdin      read the password from standard input
  --token TOKEN         sign in with a token from 'hyvectl login' (env HYVED_TOKEN)
  --insecure            do not verify the daemon's TLS certificate
  --json                print results as raw JSON
  -h, --help            this text

exit status: 0 done, 1 the daemon answered with an error or could not be reached, 2 usage error`;

const options = {
  url: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  'password-stdin': { type: 'boolean' },
  token: { type: 'string' },
  insecure: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Context {
  client: HyvedClient;
  json: boolean;
  /** sysadm's [token, seconds_valid] when the command signed in. */
  session: [string, number] | null;
}

type Runner = (ctx: Context) => Promise<void>;

/** Each command checks its arguments before anything touches the network, then returns its runner. */
interface Command {
  signIn: boolean;
  prepare(args: string[]): Runner;
}

const COMMANDS: Record<string, Command> = {
  identify: {
    signIn: false,
    prepare: (args) => (arity('identify', args, 0, 0), identify),
  },
  call: {
    signIn: true,
    prepare(args) {
      arity('call NAMESPACE NAME [JSON-ARGS]', args, 2, 3);
      const [namespace, name, json] = args;
      const callArgs = json === undefined ? undefined : parseJson(json);
      return async ({ client }) => printJson(await client.call(namespace, name, callArgs));
    },
  },
  nic: {
    signIn: true,
    prepare(args) {
      if (args.length !== 1 || args[0] !== 'list') throw new UsageError("nic: the only subcommand is 'nic list'");
      return nicList;
    },
  },
  schema: {
    signIn: true,
    prepare(args) {
      arity('schema [NAMESPACE [NAME]]', args, 0, 2);
      const [namespace, name] = args;
      return (ctx) => schema(ctx, namespace, name);
    },
  },
  events: {
    signIn: true,
    prepare(args) {
      arity('events TYPE...', args, 1, Infinity);
      return (ctx) => events(ctx, args);
    },
  },
  login: {
    signIn: true,
    prepare: (args) => (arity('login', args, 0, 0), login),
  },
};

async function main(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  const [command, ...args] = positionals;
  if (flags.help || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (!command) throw new UsageError('no command given');
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command '${command}'`);
  const run = spec.prepare(args);
  const sessionFlags: SessionFlags = flags;
  const creds = spec.signIn ? await credentialsOf(sessionFlags, process.env, process.stdin) : null;
  const client = await connect(urlOf(sessionFlags, process.env), sessionFlags);
  try {
    const session = creds ? await signIn(client, creds) : null;
    await run({ client, json: Boolean(flags.json), session });
  } finally {
    client.close();
  }
}

async function identify({ client, json }: Context): Promise<void> {
  const info = await client.call<Record<string, unknown>>('rpc', 'identify');
  if (json) return printJson(info);
  for (const [key, value] of Object.entries(info)) process.stdout.write(`${key}: ${String(value)}\n`);
}

interface Nic { nicid?: string; identifier: string; description: string; state: string; mac?: string; mtu?: number; bridge?: boolean }

async function nicList({ client, json }: Context): Promise<void> {
  const reply = await client.call<{ host_nics: Nic[]; other_nics: Nic[] }>('sysadm', 'nic', { action: 'list' });
  if (json) return printJson(reply);
  const row = (n: Nic, offered: boolean) => [
    n.nicid ?? '-', n.identifier, offered ? 'yes' : 'no', n.state, n.mac ?? '-', n.mtu === undefined ? '-' : String(n.mtu),
    n.bridge ? 'yes' : 'no', n.description,
  ];
  const rows = [...reply.host_nics.map((n) => row(n, true)), ...reply.other_nics.map((n) => row(n, false))];
  process.stdout.write(table(['NICID', 'INTERFACE', 'OFFERED', 'STATE', 'MAC', 'MTU', 'BRIDGE', 'DESCRIPTION'], rows));
}

type SchemaListing = Record<string, Record<string, { permission: string | null; args: unknown; result: unknown }>>;

async function schema({ client, json }: Context, namespace?: string, name?: string): Promise<void> {
  const listing = await client.call<SchemaListing>('rpc', 'schema', { namespace, name });
  if (json || name !== undefined) return printJson(listing);
  const rows = Object.entries(listing).flatMap(([cls, actions]) =>
    Object.entries(actions).map(([action, s]) => [cls, action, s.permission ?? '-', sketchSchema(s.args)]),
  );
  process.stdout.write(table(['CLASS', 'ACTION', 'PERMISSION', 'ARGS'], rows));
}

/** One JSON line per event until SIGINT/SIGTERM; the daemon closing the connection is an error. */
async function events({ client }: Context, types: string[]): Promise<void> {
  client.on('event', (name: string, args: unknown) => process.stdout.write(JSON.stringify({ event: name, args }) + '\n'));
  await client.call('events', 'subscribe', types);
  // Listening starts in the same tick as the reply: a close after it cannot go unnoticed.
  await new Promise<void>((resolve, reject) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    client.once('close', (code: number, reason: string) => reject(new Error(`connection closed by the daemon (${code}${reason ? ' ' + reason : ''})`)));
  });
}

async function login({ session, json }: Context): Promise<void> {
  if (!session) throw new Error('not signed in');
  if (json) return printJson(session);
  process.stdout.write(session[0] + '\n');
}

function arity(usage: string, args: string[], min: number, max: number): void {
  if (args.length < min || args.length > max) throw new UsageError(`usage: hyvectl ${usage}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`JSON-ARGS is not valid JSON: ${(err as Error).message}`);
  }
}

// `hyvectl ... | head` closing the pipe early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (err) => {
    const usage = err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    process.stderr.write(usage ? `hyvectl: ${(err as Error).message}\nrun 'hyvectl help' for usage\n` : describeError(err) + '\n');
    process.exitCode = usage ? 2 : 1;
  },
);
