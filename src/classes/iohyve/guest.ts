import path from 'node:path';
import { badRequest, conflict, notFound } from '../../core/errors.js';
import type { CallContext, Services } from '../context.js';
import { writeFileAtomic } from '../../store/atomic.js';
import { RecordSchema, readRecord } from '../../store/json-records.js';
import type { TaskContext } from '../../core/task.js';
import { queueFor, type Queued } from '../queued.js';

/** iohyve's VMs are the default group's, addressed by name. */
export const IOHYVE_GROUP = 'default';

/** The guest `name`; the router has checked the action's permission on IOHYVE_GROUP. */
export function guest(ctx: CallContext, name: string) {
  const rt = ctx.services.vms.byName(IOHYVE_GROUP, name);
  if (!rt) throw notFound(`No such guest: ${name}`);
  return rt;
}

/**
 * 409 while a VM's definition attaches the ISO `mid`: removing or replacing it would break or
 * change what that VM boots, in whichever group it is. Only VMs the caller may view are named.
 */
export function refuseAttached(ctx: CallContext, mid: string): void {
  const users = ctx.services.vms.usersOfMedium(mid);
  if (users.length === 0) return;
  const named = users.filter((u) => ctx.can('vm.view', u.def.gid)).map((u) => u.def.name);
  const others = users.length - named.length;
  const hidden = others === 0 ? [] : [`${others} VM${others === 1 ? '' : 's'} in groups you cannot view`];
  throw conflict(`ISO '${mid}' is attached to ${[...named.map((n) => `VM ${n}`), ...hidden].join(', ')}`);
}

/** The largest disc `vm create` accepts too (64 TiB). */
const MAX_MIB = 64 * 1024 * 1024;

const UNITS: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** iohyve sizes ("8G", "512M", "1T", "100K") in MiB, rounded up. */
export function parseSize(size: string, field = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?B?$/i.exec(size.trim());
  const mib = m ? Math.ceil(Number(m[1]) * UNITS[(m[2] ?? 'M').toUpperCase()]) : NaN;
  if (!Number.isSafeInteger(mib) || mib < 1 || mib > MAX_MIB) {
    throw badRequest(`${field}: '${size}' is not a size like 8G or 512M (at most 64T)`, [{ path: `/args/${field}`, message: 'must be a size such as 8G, 512M or 1T, at most 64T' }]);
  }
  return mib;
}

export function formatSize(mib: number): string {
  if (mib % (1024 * 1024) === 0) return `${mib / (1024 * 1024)}T`;
  if (mib % 1024 === 0) return `${mib / 1024}G`;
  return `${mib}M`;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * A new guest's description, the creation time in local time as sysadm's iohyve documentation
 * shows it: "February 1, 2016 at 03:11:57 PM EST". (iohyve itself stored date(1)'s output, whose
 * form depends on the host's locale; this is the one sysadm's clients were shown.)
 */
export function creationDescription(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const hour12 = d.getHours() % 12 || 12;
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')!.value;
  return `${MONTHS[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()} at ${two(hour12)}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getHours() < 12 ? 'AM' : 'PM'} ${zone}`;
}

/** sysadm sends flags as "true"/"false" strings; hyved also takes booleans. */
export function flag(v: boolean | string | undefined): boolean {
  return v === true || v === 'true' || v === 'YES' || v === '1';
}

export interface IohyveSettings { pool: string | null; nic: string | null }

/** What `setup` recorded (iohyve.json in the state dir): the storage grade and NICID iohyve uses. */
const SETTINGS = new RecordSchema<IohyveSettings>('iohyve');

/** A damaged file is moved aside by readRecord and iohyve reads as not set up. */
export async function readSettings(services: Services): Promise<IohyveSettings> {
  const file = settingsFile(services);
  try {
    return await readRecord(file, SETTINGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') services.log.error(`ignoring iohyve settings ${file}: ${(err as Error).message}`);
    return { pool: null, nic: null };
  }
}

export async function writeSettings(services: Services, s: IohyveSettings): Promise<void> {
  await writeFileAtomic(settingsFile(services), JSON.stringify(s) + '\n', 0o600);
}

function settingsFile(services: Services): string {
  return path.join(services.config.state_dir, 'iohyve.json');
}

/** The storage grade for iohyve discs: the one `setup` chose, or `pool` when named, else the first. */
export async function gradeFor(services: Services, pool?: string): Promise<string> {
  const grades = services.config.storage_grades;
  const wanted = pool ?? (await readSettings(services)).pool ?? Object.keys(grades)[0];
  const byDir = Object.entries(grades).find(([, dir]) => dir === path.resolve(wanted));
  const grade = Object.hasOwn(grades, wanted) ? wanted : byDir?.[0];
  if (!grade) throw notFound(`No such pool: ${wanted} (pools are the storage grades: ${Object.keys(grades).join(', ')})`);
  return grade;
}

/** The next free "diskN" label. */
export function nextDiskLabel(labels: string[]): string {
  for (let i = 0; ; i++) if (!labels.includes(`disk${i}`)) return `disk${i}`;
}


/**
 * Queues an iohyve task on `key` (one at a time per ISO or guest) and answers as iohyve did. `gid`
 * is the group whose task grants reach it: IOHYVE_GROUP for guests, ALL_GROUPS for the ISO store.
 */
export function queueTask(ctx: CallContext, gid: string, action: string, command: string, key: string, run: (t: TaskContext) => Promise<unknown>, filename?: string): Queued {
  return queueFor(ctx, { queue: 'sysadm/iohyve', gid, action, command, key, run, ...(filename ? { filename } : {}) });
}
