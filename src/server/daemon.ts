import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserStore, randomPassword } from '../store/users.js';
import { cleanDebris } from '../store/debris.js';
import { makeDirs, startFailure } from '../store/fs-errors.js';
import { StartupError } from '../core/errors.js';
import { Authenticator } from './auth.js';
import type { Config } from '../core/config.js';
import { EventHub } from '../core/events.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Router } from './router.js';
import type { DaemonServices as Services } from './services.js';
import { Transport } from './transport.js';
import type { HttpFacade } from './http-facade.js';
import { StateDirLock } from './state-lock.js';
import { TaskQueue } from '../queue/queue.js';
import { IsoStore } from '../store/iso-store.js';
import { ImageStore } from '../provision/image-store.js';
import { DistStore } from '../store/dist-store.js';
import { VmStore } from '../store/vm-store.js';
import { VmEngine } from '../hypervisor/engine.js';
import { QemuDriver } from '../hypervisor/qemu/driver.js';
import { BhyveDriver } from '../hypervisor/bhyve/driver.js';
import { detectAccelerator, readable } from '../hypervisor/host.js';
import { VERSION } from '../core/version.js';
import { Tickets } from '../core/tickets.js';
import { UploadSlots } from '../classes/uploads.js';
import { removeUploadTemps } from '../store/store-names.js';

const CLASSES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../classes');

export interface Daemon {
  services: Services;
  url: string;
  /** Stops listening, drains requests (503 to those not done within `graceMs`), releases the state dir; VMs are left running. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Locks the state dir (one daemon per dir) before anything touches it, the log file included, then
 * starts. A failed start (e.g. the address is in use) releases what it took, so the process exits.
 */
export async function startDaemon(config: Config, facades: readonly HttpFacade[] = []): Promise<Daemon> {
  try {
    await makeDirs(config.state_dir, 0o700);
    const lock = await StateDirLock.acquire(config.state_dir);
    try {
      return await start(config, lock, facades);
    } catch (err) {
      await lock.release();
      throw err;
    }
  } catch (err) {
    const why = startFailure(err, config.state_dir);
    throw why ? new StartupError(why) : err;
  }
}

async function start(config: Config, lock: StateDirLock, facades: readonly HttpFacade[]): Promise<Daemon> {
  // The state dir holds users and VM definitions: only the daemon's user may look in.
  await chmod(config.state_dir, 0o700);
  const log = createLogger(config.log.level, path.resolve(config.state_dir, config.log.file));
  for (const file of await cleanDebris(config.state_dir)) log.warn(`removed ${file}, left by a write that was cut off`);
  const users = new UserStore(config.state_dir);
  await users.refresh(true);
  await ensureAdmin(users, config.state_dir, log);
  users.watch();

  const events = new EventHub(config.events.journal_size, config.events.max_buffered_bytes);
  events.defineType('audit', { permission: 'admin' });
  events.defineType('dispatcher', { permission: 'task.view', gidOf: (a) => a.gid as string });
  const tasks = new TaskQueue(path.join(config.state_dir, 'tasks'), events, log, config.tasks);
  await tasks.init();
  const isos = new IsoStore(path.join(config.state_dir, 'images', 'iso'));
  await isos.init();
  const images = new ImageStore(path.join(config.state_dir, 'images', 'ova'));
  for (const file of await images.init()) log.warn(`removed ${file} from the image store, an upload cut off by a stop`);
  const dists = new DistStore(path.join(config.state_dir, 'images', 'dist'));
  await dists.init();
  for (const dir of [isos.dir, dists.dir]) for (const file of await removeUploadTemps(dir)) log.warn(`removed ${path.join(dir, file)}, an upload cut off by a stop`);
  events.defineType('vm', { permission: 'vm.view', gidOf: (a) => a.gid as string });
  const accelerator = await detectAccelerator(config.accelerator);
  const { driver, efi } = await makeDriver(config);
  const vms = new VmEngine({ config, log, events, store: new VmStore(config.state_dir), isos, driver, discs: driver, accelerator, efi });
  // Re-adoption mostly waits on each QEMU's answers, loading the classes (schema compilation) is
  // CPU: they overlap. Both are done before the daemon listens.
  const adopting = vms.init();
  adopting.catch(() => {});
  log.info(`hypervisor ${driver.name} with ${accelerator}${efi ? ', UEFI firmware found' : ', no UEFI firmware'}`);
  const auth = new Authenticator(users, config.token_timeout_s, config.blacklist);
  // Everything but the listener: open QMP sockets to re-adopted VMs would keep a failed start from exiting.
  const teardown = async () => {
    await tasks.stop();
    vms.detachAll();
    auth.sessions.close();
    users.unwatch();
  };
  const router = new Router();
  const services: Services = {
    config,
    log,
    users,
    auth,
    events,
    tasks,
    isos,
    images,
    dists,
    uploads: new UploadSlots(),
    vms,
    tickets: new Tickets(config.console.ticket_ttl_s * 1000),
    host: { hypervisor: driver.name, accelerator, ...driver.capabilities() },
    version: VERSION,
    router,
    catalog: router,
  };
  let url: string;
  let transport: Transport;
  try {
    await Promise.all([router.load(services, CLASSES_DIR), adopting]);
    transport = new Transport(services, facades);
    url = await transport.listen();
  } catch (err) {
    // VMs still being adopted would attach after the teardown detached the others.
    await adopting.catch(() => {});
    await teardown();
    throw err;
  }
  log.info('started', { version: VERSION, url, state_dir: config.state_dir });
  return {
    services,
    url,
    async stop(graceMs = 10_000) {
      await transport.close(graceMs);
      await teardown();
      await lock.release();
    },
  };
}

/** The configured hypervisor, with the UEFI firmware it can use (null when not installed). */
async function makeDriver(config: Config): Promise<{ driver: QemuDriver | BhyveDriver; efi: { code: string; vars: string } | null }> {
  const kind = config.hypervisor === 'auto' ? (process.platform === 'freebsd' ? 'bhyve' : 'qemu') : config.hypervisor;
  const firmware = kind === 'qemu' ? { code: config.qemu.efi_code, vars: config.qemu.efi_vars } : { code: config.bhyve.uefi_code, vars: config.bhyve.uefi_vars };
  const efi = (await readable(firmware.code)) && (await readable(firmware.vars)) ? firmware : null;
  const driver =
    kind === 'qemu'
      ? new QemuDriver({ binary: config.qemu.binary, imgBinary: config.qemu.img_binary, passt: config.qemu.passt }, efi !== null)
      : new BhyveDriver({ bhyve: '/usr/sbin/bhyve', bhyvectl: '/usr/sbin/bhyvectl', ifconfig: '/sbin/ifconfig', uefiCode: efi?.code ?? null });
  return { driver, efi };
}

/**
 * First start (no users.json): create `admin` with a random password, shown once and kept 0600.
 * A users.json without a usable user is not a first start: writing over it would lose the users a
 * repair could bring back, so the daemon runs with no sign-in until the operator acts.
 */
async function ensureAdmin(users: UserStore, stateDir: string, log: Logger): Promise<void> {
  if (users.list().length > 0) return;
  if (users.exists) {
    const dir = JSON.stringify(stateDir);
    log.error(
      `${users.file} holds no usable user: nobody can sign in. It is left as it is (a damaged one is also copied to users.json.corrupt-<time>). ` +
        `Repair it, or put a good copy back, or create an admin (this rewrites users.json): hyved user add NAME --admin --state-dir ${dir}. ` +
        'The daemon picks up the change without a restart.',
    );
    return;
  }
  const password = randomPassword();
  await users.add('admin', password, { admin: true, perms: {} });
  const file = path.join(stateDir, 'admin-password');
  await writeFile(file, password + '\n', { mode: 0o600 });
  // Straight to stdout, not through the logger: the password must not reach the log file.
  process.stdout.write(`\nCreated user 'admin' with password: ${password}\n(also saved in ${file}, mode 0600)\n\n`);
}
