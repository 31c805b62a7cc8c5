import { startedUp } from './footprint.js';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type ConfigOverrides } from '../core/config.js';
import { startDaemon } from '../server/daemon.js';
import { bytemark } from '../facades/bytemark/index.js';
import { deltacloud } from '../facades/deltacloud/index.js';
import { vss } from '../facades/vss/index.js';
import { StartupError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { UserError, UserStore, randomPassword } from '../store/users.js';
import { CHECKSUM_PATTERN } from '../store/keys.js';
import { ALL_GROUPS, isPermission } from '../core/permissions.js';
import { readFile } from 'node:fs/promises';

const USAGE = `usage:
  hyved [serve] [--config FILE] [--listen HOST:PORT] [--state-dir DIR]
  hyved user add NAME [--admin] [--perm PERM ...] [--group GID --perm PERM ...] [--password-stdin]
  hyved user del NAME
  hyved user passwd NAME [--password-stdin]
  hyved user list
  hyved user key add NAME [--nickname N] [--email E] [--file KEY.pem]   (else the key is read from stdin)
  hyved user key list NAME
  hyved user key del NAME CHECKSUM
  (user commands take --config and --state-dir too)
  hyved --version`;

const options = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'state-dir': { type: 'string' },
  admin: { type: 'boolean' },
  group: { type: 'string', multiple: true },
  perm: { type: 'string', multiple: true },
  'password-stdin': { type: 'boolean' },
  nickname: { type: 'string' },
  email: { type: 'string' },
  file: { type: 'string' },
  version: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(): Promise<number> {
  const parsed = parseArgs({ options, allowPositionals: true, tokens: true });
  const { values, positionals } = parsed;
  if (values.help) return print(USAGE, 0);
  if (values.version) return print(VERSION, 0);
  const overrides: ConfigOverrides = { config: values.config, listen: values.listen, stateDir: values['state-dir'] };
  const [command = 'serve', sub, name, ...rest] = positionals;
  if (command === 'user' && sub === 'key') return userKey(positionals.slice(2), overrides, values);
  if (rest.length) return print(`unexpected arguments: ${rest.join(' ')}\n${USAGE}`, 2);
  if (command === 'serve') return serve(overrides);
  if (command === 'user') return user(sub, name, overrides, parsed.tokens ?? [], values);
  return print(`unknown command '${command}'\n${USAGE}`, 2);
}

async function serve(overrides: ConfigOverrides): Promise<number> {
  const daemon = await startDaemon(loadConfig(overrides), [deltacloud, bytemark, vss]);
  startedUp();
  const log = daemon.services.log;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: draining requests and exiting; VMs keep running`);
    daemon.stop().then(
      () => log.flushAndClose().then(() => process.exit(0)),
      (err) => {
        log.error(`shutdown failed: ${(err as Error).stack}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.reopen();
    log.info('SIGHUP: log file reopened');
  });
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  // Printed once the signal handlers are in place: whoever waits for this line may signal at once.
  // Always on stdout, whatever the log level: scripts and the README rely on this line.
  process.stdout.write(`hyved ${VERSION} is listening on ${daemon.url}\n`);
  return new Promise<number>(() => {});
}

type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/** --perm before any --group grants everywhere; after --group GID it grants on that group. */
function grantsFrom(tokens: Token[]): Record<string, string[]> {
  const perms: Record<string, string[]> = {};
  let group = ALL_GROUPS;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    if (t.name === 'group') group = t.value ?? '';
    if (t.name === 'perm') {
      const p = t.value ?? '';
      if (!isPermission(p)) throw new UserError(`unknown permission '${p}'`);
      (perms[group] ??= []).push(p);
    }
  }
  return perms;
}

async function readPassword(fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: randomPassword(), generated: true };
  return { password: (await readStdin()).replace(/\r?\n$/, ''), generated: false };
}

/** The users of the configured state dir, for `hyved user ...`. */
async function openUsers(overrides: ConfigOverrides): Promise<UserStore> {
  const { state_dir } = loadConfig(overrides);
  // Root and developer runs default to different dirs (README, Command line): say which one this is.
  process.stderr.write(`hyved: state dir ${state_dir}\n`);
  const store = new UserStore(state_dir);
  await store.refresh();
  return store;
}

async function user(
  sub: string | undefined,
  name: string | undefined,
  overrides: ConfigOverrides,
  tokens: Token[],
  values: { admin?: boolean; 'password-stdin'?: boolean },
): Promise<number> {
  const store = await openUsers(overrides);
  if (sub === 'list') {
    for (const u of store.list()) {
      const grants = Object.entries(u.perms).map(([g, p]) => `${g === ALL_GROUPS ? 'everywhere' : g}: ${p.join(',')}`);
      const keys = u.keys?.length ? `  keys: ${u.keys.length}` : '';
      process.stdout.write(`${u.username}${u.admin ? ' (admin)' : ''}${grants.length ? '  ' + grants.join('; ') : ''}${keys}\n`);
    }
    return 0;
  }
  if (!name) return print(`user ${sub ?? ''}: NAME is required\n${USAGE}`, 2);
  if (sub === 'add') {
    const { password, generated } = await readPassword(values['password-stdin']);
    await store.add(name, password, { admin: Boolean(values.admin), perms: grantsFrom(tokens) });
    return print(`added user ${name}${generated ? ` with password: ${password}` : ''}`, 0);
  }
  if (sub === 'del') {
    await store.remove(name);
    return print(`removed user ${name}`, 0);
  }
  if (sub === 'passwd') {
    const { password, generated } = await readPassword(values['password-stdin']);
    await store.setPassword(name, password);
    return print(`password of ${name} changed${generated ? ` to: ${password}` : ''}`, 0);
  }
  return print(`unknown user command '${sub ?? ''}'\n${USAGE}`, 2);
}

/** `hyved user key add|list|del`: the public keys a user signs in with (rpc/auth_ssl); a running daemon sees changes at once. */
async function userKey(
  args: string[],
  overrides: ConfigOverrides,
  values: { nickname?: string; email?: string; file?: string },
): Promise<number> {
  const [verb, name, ...rest] = args;
  const expected = verb === 'del' ? 1 : 0;
  if (!name) return print(`user key ${verb ?? ''}: NAME is required\n${USAGE}`, 2);
  if (rest.length !== expected) return print(`user key ${verb}: ${rest.length < expected ? 'CHECKSUM is required' : `unexpected arguments: ${rest.slice(expected).join(' ')}`}\n${USAGE}`, 2);
  const store = await openUsers(overrides);
  if (verb === 'list') {
    if (!store.get(name)) throw new UserError(`no user '${name}'`);
    for (const { checksum, key } of store.keysOf(name)) {
      process.stdout.write(`${checksum}  ${key.added}  ${key.nickname ?? '-'}${key.email ? ` <${key.email}>` : ''}\n`);
    }
    return 0;
  }
  if (verb === 'add') {
    const key =
      values.file === undefined
        ? await readStdin()
        : await readFile(values.file, 'utf8').catch((err: NodeJS.ErrnoException) => {
            throw new UserError(`cannot read ${values.file}: ${err.code ?? err.message}`);
          });
    const { checksum, added } = await store.addKey(name, key, { nickname: values.nickname, email: values.email });
    return print(`${added ? 'added key' : 'key already registered, nickname and email updated:'} ${checksum} for ${name}`, 0);
  }
  if (verb === 'del') {
    const checksum = rest[0];
    if (!CHECKSUM_PATTERN.test(checksum)) throw new UserError(`'${checksum}' is not a key checksum (as 'hyved user key list' shows them)`);
    await store.removeKey(name, checksum);
    return print(`removed key ${checksum} of ${name}`, 0);
  }
  return print(`unknown user key command '${verb ?? ''}'\n${USAGE}`, 2);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function print(text: string, code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(text + '\n');
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof UserError || err instanceof StartupError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`hyved: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`hyved: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
