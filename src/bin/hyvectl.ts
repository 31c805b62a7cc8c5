#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { HyvedClient } from '../client/client.js';
import { UsageError, describeError, printJson, sketchSchema, table } from '../client/cli-output.js';
import { ProgressRenderer, formatBytes, type DispatcherEvent } from '../client/cli-progress.js';
import { connect, credentialsOf, signIn, urlOf, type SessionFlags } from '../client/cli-session.js';
import { runConsole } from '../client/cli-console.js';

const USAGE = `usage: hyvectl [options] COMMAND

commands:
  identify                         the daemon's hostname and version (no sign-in needed)
  call NAMESPACE NAME [JSON-ARGS]  send any request; prints the reply args as JSON
  nic list                         host network interfaces, offered for bridging or not
  schema [NAMESPACE [NAME]]        the actions you may call; with NAME, their full JSON Schemas
  events TYPE...                   print pushed events (audit, vm, dispatcher...) as JSON lines until interrupted
  iso list                         the ISOs in the store with their size and modification time
  iso fetch URL                    download an ISO into the store, showing progress on stderr until it is done;
                                   Ctrl-C cancels the download
  console NAME|VMID                attach this terminal to a running VM's serial console: the last screenful,
                                   then live; Ctrl-] detaches. --read-only watches without the keyboard,
                                   --since OFFSET replays the output from that byte on
  login                            sign in and print a token for --token / HYVED_TOKEN
  help                             this text

options:
  --url URL             the daemon (env HYVED_URL, default http://127.0.0.1:12150); https:// for TLS
  --user NAME           the user to sign in as (env HYVED_USER, default admin)
  --password-file FILE  read the password from FILE (default: env HYVED_PASSWORD)
  --password-stdin      read the password from standard input
  --token TOKEN         sign in with a token from 'hyvectl login' (env HYVED_TOKEN)
  --insecure            do not verify the daemon's TLS certificate
  --json                print results as raw JSON (iso fetch: the task's final event)
  --name NAME           iso fetch: store the ISO as NAME instead of the URL's last path segment
  --overwrite           iso fetch: replace an existing ISO of that name
  --read-only           console: never type into the VM
  --group GID           console: the group of the VM NAME (default: default)
  --since OFFSET        console: replay from this output offset (see 'call sysadm console {"action":"log",...}')
  -h, --help            this text

exit status: 0 done, 1 the daemon answered with an error, could not be reached or the task failed,
2 usage error, 130 interrupted (iso fetch: the task was canceled); console: 0 detached, 3 the VM
stopped, 4 the connection was lost (daemon restart, session ended, too far behind), 143 SIGTERM`;

const options = {
  url: { type: 'string' },
  user: { type: 'string' },
  'password-file': { type: 'string' },
  'password-stdin': { type: 'boolean' },
  token: { type: 'string' },
  insecure: { type: 'boolean' },
  json: { type: 'boolean' },
  name: { type: 'string' },
  overwrite: { type: 'boolean' },
  'read-only': { type: 'boolean' },
  group: { type: 'string' },
  since: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Context {
  client: HyvedClient;
  json: boolean;
  /** sysadm's [token, seconds_valid] when the command signed in. */
  session: [string, number] | null;
  insecure: boolean;
}

type Runner = (ctx: Context) => Promise<void>;

/** Flags that only some commands take. */
interface CommandFlags { name?: string; overwrite?: boolean; 'read-only'?: boolean; since?: string; group?: string }

/** Ends hyvectl with `status`, after printing `hyvectl: message` on stderr when there is one. */
class ExitStatus extends Error {
  constructor(readonly status: number, message = '') {
    super(message);
  }
}

/** Each command checks its arguments before anything touches the network, then returns its runner. */
interface Command {
  signIn: boolean;
  prepare(args: string[], flags: CommandFlags): Runner;
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
  console: {
    signIn: true,
    prepare(args, flags) {
      arity('console NAME|VMID [--group GID] [--read-only] [--since OFFSET]', args, 1, 1);
      const since = flags.since === undefined ? undefined : Number(flags.since);
      if (since !== undefined && !(Number.isSafeInteger(since) && since >= 0)) throw new UsageError('--since takes an output offset: a whole number from 0');
      return async ({ client, insecure }) => {
        const status = await runConsole(client, {
          target: args[0], gid: flags.group ?? 'default', readOnly: Boolean(flags['read-only']), since, rejectUnauthorized: !insecure,
          stdin: process.stdin, stdout: process.stdout, stderr: process.stderr,
        });
        if (status !== 0) throw new ExitStatus(status);
      };
    },
  },
  login: {
    signIn: true,
    prepare: (args) => (arity('login', args, 0, 0), login),
  },
  iso: {
    signIn: true,
    prepare(args, flags) {
      const [sub, ...rest] = args;
      if (sub === 'list') {
        arity('iso list', rest, 0, 0);
        return isoList;
      }
      if (sub === 'fetch') {
        arity('iso fetch URL [--name NAME] [--overwrite]', rest, 1, 1);
        return (ctx) => isoFetch(ctx, rest[0], flags);
      }
      throw new UsageError("iso: the subcommands are 'iso list' and 'iso fetch URL'");
    },
  },
};

/** Which flags belong to which command: anywhere else they are a usage error. */
const COMMAND_FLAGS: Record<keyof CommandFlags, string> = { name: 'iso fetch', overwrite: 'iso fetch', 'read-only': 'console', since: 'console', group: 'console' };

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
  for (const [flag, owner] of Object.entries(COMMAND_FLAGS) as [keyof CommandFlags, string][]) {
    if (flags[flag] !== undefined && command !== owner && [command, args[0]].join(' ') !== owner) throw new UsageError(`--${flag} applies only to '${owner}'`);
  }
  const run = spec.prepare(args, flags);
  const sessionFlags: SessionFlags = flags;
  const creds = spec.signIn ? await credentialsOf(sessionFlags, process.env, process.stdin) : null;
  const client = await connect(urlOf(sessionFlags, process.env), sessionFlags);
  try {
    const session = creds ? await signIn(client, creds) : null;
    await run({ client, json: Boolean(flags.json), session, insecure: Boolean(flags.insecure) });
  } finally {
    client.close();
  }
}

async function identify({ client, json }: Context): Promise<void> {
  const info = await client.request('rpc/identify', {});
  if (json) return printJson(info);
  for (const [key, value] of Object.entries(info)) process.stdout.write(`${key}: ${String(value)}\n`);
}

interface Nic { nicid?: string; identifier: string; description: string; state: string; mac?: string; mtu?: number; bridge?: boolean }

async function nicList({ client, json }: Context): Promise<void> {
  const reply = await client.request('sysadm/nic/list', {});
  if (json) return printJson(reply);
  const row = (n: Nic, offered: boolean) => [
    n.nicid ?? '-', n.identifier, offered ? 'yes' : 'no', n.state, n.mac ?? '-', n.mtu === undefined ? '-' : String(n.mtu),
    n.bridge ? 'yes' : 'no', n.description,
  ];
  const rows = [...reply.host_nics.map((n) => row(n, true)), ...reply.other_nics.map((n) => row(n, false))];
  process.stdout.write(table(['NICID', 'INTERFACE', 'OFFERED', 'STATE', 'MAC', 'MTU', 'BRIDGE', 'DESCRIPTION'], rows));
}

async function schema({ client, json }: Context, namespace?: string, name?: string): Promise<void> {
  const listing = await client.request('rpc/schema', { namespace, name });
  if (json || name !== undefined) return printJson(listing);
  const rows = Object.entries(listing).flatMap(([cls, actions]) =>
    Object.entries(actions).map(([action, s]) => [cls, action, [s.permission ?? '-'].flat().join(','), sketchSchema(s.args)]),
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

async function isoList({ client, json }: Context): Promise<void> {
  const reply = await client.request('sysadm/iohyve/listisos', {});
  if (json) return printJson(reply);
  const when = (iso: string) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace(/\.\d+Z$/, 'Z');
  };
  process.stdout.write(table(['NAME', 'SIZE', 'MODIFIED'], reply.isos.map((i) => [i.name, formatBytes(i.size), when(i.modified)])));
}

/** How long a canceled fetch may take to report itself finished before hyvectl stops waiting. */
const CANCEL_WAIT_MS = 5000;

/**
 * Queues the download and follows the task's dispatcher events until it finishes. The subscription
 * comes first, so that no event of the task can be missed; events that arrive before the reply
 * (which names the task) are kept and sorted out afterwards. Ctrl-C asks the daemon to kill the
 * task, waits for it to finish (at most CANCEL_WAIT_MS) and ends with 130; a second Ctrl-C at once.
 */
async function isoFetch({ client, json }: Context, url: string, flags: CommandFlags): Promise<void> {
  let taskId: string | null = null;
  let early: DispatcherEvent[] = [];
  let deliver: ((ev: DispatcherEvent) => void) | null = null;
  client.on('event', (type: string, ev: DispatcherEvent) => {
    if (type !== 'dispatcher' || !ev || typeof ev !== 'object') return;
    if (taskId === null) early.push(ev);
    else if (ev.process_id === taskId) deliver?.(ev);
  });
  await client.call('events', 'subscribe', ['dispatcher']);

  let renderer: ProgressRenderer | null = null;
  let interrupted = false;
  let onInterrupt: () => void = () => {};
  const interruption = new Promise<void>((resolve) => (onInterrupt = resolve));
  let killing = false;
  const kill = () => {
    if (killing || taskId === null) return;
    killing = true;
    client.request('rpc/dispatcher/kill', { job_id: taskId }).catch((err) => {
      const line = `${describeError(err)} (while canceling task ${taskId})`;
      if (renderer) renderer.note(line);
      else process.stderr.write(line + '\n');
    });
  };
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    const line = 'hyvectl: interrupted, canceling the download (Ctrl-C again to stop waiting)';
    if (renderer) renderer.note(line);
    else process.stderr.write(line + '\n');
    kill();
    onInterrupt();
  };
  process.on('SIGINT', onSigint);
  try {
    const reply = await client.request('sysadm/iohyve/fetchiso', {
      url,
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      ...(flags.overwrite ? { overwrite: true } : {}),
    });
    const { queueid, name } = reply.fetchiso;
    taskId = queueid;
    const progress = (renderer = new ProgressRenderer(process.stderr, { name }));
    const finished = new Promise<DispatcherEvent>((resolve, reject) => {
      deliver = (ev) => {
        progress.update(ev);
        if (ev.state === 'finished') resolve(ev);
      };
      for (const ev of early) if (ev.process_id === queueid) deliver(ev);
      early = [];
      client.once('close', (code: number, reason: string) =>
        reject(new Error(`connection closed by the daemon (${code}${reason ? ' ' + reason : ''}) while task ${queueid} was not finished`)),
      );
    });
    // Interrupted before the reply named the task: cancel it now.
    if (interrupted) kill();
    let timer: NodeJS.Timeout | undefined;
    const final = await Promise.race([
      finished,
      interruption.then(() =>
        Promise.race([finished, new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), CANCEL_WAIT_MS)))]),
      ),
    ]).finally(() => clearTimeout(timer));
    progress.finish();
    if (final === null) throw new ExitStatus(130, `task ${queueid} did not finish within ${CANCEL_WAIT_MS / 1000} s of the kill request`);
    if (json) printJson(final);
    if (final.result === 'success') {
      if (!json) process.stdout.write(`fetched ${name}\n`);
      if (interrupted) throw new ExitStatus(130);
      return;
    }
    const failure = `fetch ${name} ${final.result ?? 'finished'}: ${final.error ?? 'no reason given'}`;
    throw interrupted ? new ExitStatus(130, failure) : new Error(failure);
  } catch (err) {
    // After Ctrl-C the status says "interrupted", whatever else went wrong.
    if (interrupted && !(err instanceof ExitStatus)) throw new ExitStatus(130, describeError(err).replace(/^hyvectl: /, ''));
    throw err;
  } finally {
    renderer?.finish();
    process.off('SIGINT', onSigint);
  }
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
    if (err instanceof ExitStatus) {
      if (err.message) process.stderr.write(`hyvectl: ${err.message}\n`);
      process.exitCode = err.status;
      return;
    }
    const usage = err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    process.stderr.write(usage ? `hyvectl: ${(err as Error).message}\nrun 'hyvectl help' for usage\n` : describeError(err) + '\n');
    process.exitCode = usage ? 2 : 1;
  },
);
